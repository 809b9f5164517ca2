/**
 * The run store on Deno KV (`kv:`, `kv:./path`, `kv::memory:`), for Deno
 * Deploy. Written against the few KV calls it needs, so that it type-checks
 * without Deno's unstable types; leases use KV's atomic checks.
 *
 * @module
 */
import { TriggerKitError } from "../errors.ts";
import {
  type HistoryOptions,
  type Lease,
  runningRecord,
  type RunRecord,
  type RunReport,
  type RunStart,
  type RunStore,
  STALE_AFTER_MS,
} from "./contract.ts";
import { toJson } from "../_json.ts";
import { type Clock, realClock } from "../clock.ts";
import { KvAlertStore } from "./kv_alerts.ts";

type KvKey = readonly (string | number | bigint | boolean)[];

interface KvEntry<T> {
  key: KvKey;
  value: T | null;
  versionstamp: string | null;
}

interface KvAtomic {
  check(
    ...checks: Array<{ key: KvKey; versionstamp: string | null }>
  ): KvAtomic;
  set(key: KvKey, value: unknown, options?: { expireIn?: number }): KvAtomic;
  delete(key: KvKey): KvAtomic;
  commit(): Promise<{ ok: boolean }>;
}

/** The part of `Deno.Kv` the store uses. */
export interface KvLike {
  get<T>(key: KvKey): Promise<KvEntry<T>>;
  getMany<T>(keys: KvKey[]): Promise<KvEntry<T>[]>;
  set(
    key: KvKey,
    value: unknown,
    options?: { expireIn?: number },
  ): Promise<unknown>;
  list<T>(
    selector: { prefix: KvKey },
    options?: { reverse?: boolean; limit?: number },
  ): AsyncIterable<KvEntry<T>>;
  atomic(): KvAtomic;
  close(): void;
}

interface StoredRun {
  status: RunRecord["status"];
  heartbeatAt: number;
  report: string;
}

const ROOT = "triggerkit";
/** KV's getMany limit. */
const GET_MANY = 10;
/** Mutations per atomic operation, under KV's limit. */
const BATCH = 500;

/** Opens Deno KV at a `kv:` URL's path (`kv:` alone: the default database). */
export function openKvStore(url: string, clock: Clock = realClock): KvRunStore {
  const openKv =
    (Deno as unknown as { openKv?: (path?: string) => Promise<KvLike> }).openKv;
  if (typeof openKv !== "function") {
    throw new TriggerKitError(
      "INVALID_CONFIG",
      `The store "${url}" needs Deno KV: on Deno Deploy it is built in; elsewhere run with --unstable-kv`,
    );
  }
  const path = url.slice("kv:".length);
  return new KvRunStore(path ? openKv(path) : openKv(), { clock });
}

/** A {@linkcode RunStore} on Deno KV. */
export class KvRunStore implements RunStore {
  readonly #kv: Promise<KvLike>;
  readonly #clock: Clock;
  /** Alert state, mutes and notices, under keys of their own (issue 14). */
  readonly alerts: KvAlertStore;

  /**
   * @param kv The open database.
   * @param options The clock of heartbeats and staleness.
   */
  constructor(kv: Promise<KvLike>, options: { clock?: Clock } = {}) {
    this.#kv = kv;
    this.#clock = options.clock ?? realClock;
    this.#kv.catch(() => {});
    this.alerts = new KvAlertStore(kv);
  }

  #now(): number {
    return this.#clock.now();
  }

  async start(run: RunStart): Promise<void> {
    const kv = await this.#kv;
    const stored: StoredRun = {
      status: "running",
      heartbeatAt: this.#now(),
      report: JSON.stringify(runningRecord(run)),
    };
    await kv.atomic()
      .set([ROOT, "runs", run.runId], stored)
      .set([ROOT, "runs_by_time", run.startedAt, run.runId], run.runId)
      .set(
        [ROOT, "runs_by_job", run.jobName, run.startedAt, run.runId],
        run.runId,
      )
      .commit();
  }

  async heartbeat(runId: string): Promise<void> {
    const kv = await this.#kv;
    const entry = await kv.get<StoredRun>([ROOT, "runs", runId]);
    if (entry.value?.status !== "running") return;
    await kv.atomic().check(entry).set(entry.key, {
      ...entry.value,
      heartbeatAt: this.#now(),
    }).commit();
  }

  async finish(report: RunReport): Promise<void> {
    const kv = await this.#kv;
    const stored: StoredRun = {
      status: report.status,
      heartbeatAt: this.#now(),
      report: toJson(report),
    };
    await kv.set([ROOT, "runs", report.runId], stored);
  }

  async history(options: HistoryOptions = {}): Promise<RunRecord[]> {
    const kv = await this.#kv;
    const limit = Math.max(1, Math.floor(options.limit ?? 20));
    const prefix: KvKey = options.job === undefined
      ? [ROOT, "runs_by_time"]
      : [ROOT, "runs_by_job", options.job];
    const ids: string[] = [];
    for await (
      const entry of kv.list<string>({ prefix }, { reverse: true, limit })
    ) ids.push(entry.value!);
    const records: RunRecord[] = [];
    for (let i = 0; i < ids.length; i += GET_MANY) {
      const entries = await kv.getMany<StoredRun>(
        ids.slice(i, i + GET_MANY).map((id) => [ROOT, "runs", id]),
      );
      for (const entry of entries) {
        if (entry.value) records.push(this.#record(entry.value));
      }
    }
    return records;
  }

  async get(runId: string): Promise<RunRecord | undefined> {
    const kv = await this.#kv;
    const entry = await kv.get<StoredRun>([ROOT, "runs", runId]);
    return entry.value ? this.#record(entry.value) : undefined;
  }

  #record(stored: StoredRun): RunRecord {
    const record = JSON.parse(stored.report) as RunRecord;
    const stale = stored.status === "running" &&
      stored.heartbeatAt < this.#now() - STALE_AFTER_MS;
    record.status = stale ? "interrupted" : stored.status;
    return record;
  }

  async seen(
    jobName: string,
    keys: readonly string[],
    now: number,
  ): Promise<Set<string>> {
    const kv = await this.#kv;
    const found = new Set<string>();
    for (let i = 0; i < keys.length; i += GET_MANY) {
      const batch = keys.slice(i, i + GET_MANY);
      const entries = await kv.getMany<number>(
        batch.map((key) => [ROOT, "dedupe", jobName, key]),
      );
      entries.forEach((entry, j) => {
        if (entry.value !== null && entry.value > now) found.add(batch[j]!);
      });
    }
    return found;
  }

  async remember(
    jobName: string,
    keys: readonly string[],
    expiresAt: number,
    now: number,
  ): Promise<void> {
    const kv = await this.#kv;
    // KV forgets expired keys itself (expireIn); the value is checked too.
    const expireIn = Math.max(1, expiresAt - now);
    for (let i = 0; i < keys.length; i += BATCH) {
      let atomic = kv.atomic();
      for (const key of keys.slice(i, i + BATCH)) {
        atomic = atomic.set([ROOT, "dedupe", jobName, key], expiresAt, {
          expireIn,
        });
      }
      await atomic.commit();
    }
  }

  async lease(jobName: string): Promise<Lease | undefined> {
    const kv = await this.#kv;
    return (await kv.get<Lease>([ROOT, "leases", jobName])).value ?? undefined;
  }

  async claim(
    jobName: string,
    slot: number,
    instance: string,
    leaseUntil: number,
  ): Promise<boolean> {
    const kv = await this.#kv;
    const entry = await kv.get<Lease>([ROOT, "leases", jobName]);
    if (entry.value && !(entry.value.done && entry.value.slot < slot)) {
      return false;
    }
    const lease: Lease = {
      slot,
      instance,
      leaseUntil,
      done: false,
      attempt: 1,
    };
    return (await kv.atomic().check(entry).set(entry.key, lease).commit()).ok;
  }

  async takeOver(
    jobName: string,
    instance: string,
    leaseUntil: number,
    now: number,
  ): Promise<Lease | undefined> {
    const kv = await this.#kv;
    const entry = await kv.get<Lease>([ROOT, "leases", jobName]);
    const lease = entry.value;
    if (!lease || lease.done || lease.leaseUntil >= now) return undefined;
    const next: Lease = {
      ...lease,
      instance,
      leaseUntil,
      attempt: lease.attempt + 1,
    };
    return (await kv.atomic().check(entry).set(entry.key, next).commit()).ok
      ? next
      : undefined;
  }

  async renew(
    jobName: string,
    instance: string,
    leaseUntil: number,
  ): Promise<boolean> {
    return await this.#update(
      jobName,
      instance,
      (lease) => ({ ...lease, leaseUntil }),
    );
  }

  async release(jobName: string, instance: string): Promise<void> {
    await this.#update(
      jobName,
      instance,
      (lease) => ({ ...lease, done: true }),
    );
  }

  async #update(
    jobName: string,
    instance: string,
    change: (lease: Lease) => Lease,
  ): Promise<boolean> {
    const kv = await this.#kv;
    for (let attempt = 0; attempt < 5; attempt++) {
      const entry = await kv.get<Lease>([ROOT, "leases", jobName]);
      if (
        !entry.value || entry.value.instance !== instance || entry.value.done
      ) return false;
      if (
        (await kv.atomic().check(entry).set(entry.key, change(entry.value))
          .commit()).ok
      ) return true;
    }
    return false;
  }

  /** Closes the database. */
  async close(): Promise<void> {
    (await this.#kv).close();
  }
}
