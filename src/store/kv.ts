/**
 * The run store on Deno KV (`kv:`, `kv:./path`, `kv::memory:`), for Deno
 * Deploy. Written against the few KV calls it needs, so that it type-checks
 * without Deno's unstable types.
 *
 * A fenced write reads the job's claim, checks its epoch and lease, and
 * commits with an atomic `check` on the claim's versionstamp: a takeover
 * committed in between makes the write fail and be judged again. KV has no
 * clock of its own: leases run on the store's `Clock` (the instance's), so
 * instances sharing a KV database must keep their clocks in step (NTP) —
 * a skew shortens or lengthens leases by as much.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { TriggerKitError } from "../errors.ts";
import type { DeliveryReceipt } from "../delivery/journal.ts";
import {
  type Claim,
  ClaimLostError,
  type ClaimRequest,
  type ClaimResult,
  type DedupeRecord,
  type HistoryOptions,
  type Holder,
  type Lease,
  type PruneOptions,
  type PruneResult,
  runningRecord,
  type RunRecord,
  type RunReport,
  type RunStart,
  type RunStore,
  STALE_AFTER_MS,
  type UnseenKeys,
} from "./contract.ts";
import { toJson } from "../_json.ts";
import { type Clock, realClock } from "../clock.ts";

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
  delete(key: KvKey): Promise<void>;
  list<T>(
    selector: { prefix: KvKey } | { prefix: KvKey; end: KvKey },
    options?: { reverse?: boolean; limit?: number },
  ): AsyncIterable<KvEntry<T>>;
  atomic(): KvAtomic;
  close(): void;
}

interface StoredRun {
  status: RunRecord["status"];
  heartbeatAt: number;
  report: string;
  jobName?: string;
  startedAt?: string;
}

interface StoredClaim {
  epoch: number;
  runId: string;
  holder: Holder;
  slot: number | null;
  lastSlot: number;
  leaseUntil: number;
  done: boolean;
  attempt: number;
  generation: string;
  keyDigest?: string;
  keyValidUntil?: number;
}

interface StoredDelivery extends DeliveryReceipt {
  generation: string;
}

const ROOT = "triggerkit";
/** KV's getMany limit. */
const GET_MANY = 10;
/** Mutations per atomic operation, under KV's limit of 1000. */
const BATCH = 500;
/** Tries of an atomic operation that lost a race on its check. */
const TRIES = 20;
/** Unit and row keys longer than this are hashed into the KV key (KV keys are at most 2 KiB). */
const LONG_KEY = 1_000;

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

  /**
   * @param kv The open database.
   * @param options The clock of leases, heartbeats and staleness.
   */
  constructor(kv: Promise<KvLike>, options: { clock?: Clock } = {}) {
    this.#kv = kv;
    this.#clock = options.clock ?? realClock;
    this.#kv.catch(() => {});
  }

  #now(): number {
    return this.#clock.now();
  }

  #claimKey(jobName: string): KvKey {
    return [ROOT, "claims", jobName];
  }

  async claim(jobName: string, request: ClaimRequest): Promise<ClaimResult> {
    const kv = await this.#kv;
    for (let i = 0; i < TRIES; i++) {
      const entry = await kv.get<StoredClaim>(this.#claimKey(jobName));
      const current = entry.value;
      const free = !current || await this.#free(kv, current);
      const wanted = request.slot === undefined
        ? free
        : free && (!current || current.lastSlot < request.slot);
      if (!wanted) return { claimed: false, lease: this.#lease(current!) };
      const generation = await this.#generation(kv, jobName);
      const next: StoredClaim = {
        ...current,
        epoch: (current?.epoch ?? 0) + 1,
        runId: request.runId,
        holder: request.holder,
        slot: request.slot ?? null,
        lastSlot: request.slot ?? current?.lastSlot ?? 0,
        leaseUntil: this.#now() + request.leaseMs,
        done: false,
        attempt: 1,
        generation,
      };
      if ((await kv.atomic().check(entry).set(entry.key, next).commit()).ok) {
        return {
          claimed: true,
          claim: {
            jobName,
            epoch: next.epoch,
            runId: request.runId,
            holder: request.holder,
            ...(request.slot === undefined ? {} : { slot: request.slot }),
            attempt: 1,
            generation,
            leaseMs: request.leaseMs,
          },
        };
      }
    }
    throw contention(jobName);
  }

  async takeOver(
    jobName: string,
    request: Omit<ClaimRequest, "slot">,
  ): Promise<Claim | undefined> {
    const kv = await this.#kv;
    for (let i = 0; i < TRIES; i++) {
      const entry = await kv.get<StoredClaim>(this.#claimKey(jobName));
      const current = entry.value;
      if (!current || current.done || current.leaseUntil >= this.#now()) {
        return undefined;
      }
      if (current.slot === null || await this.#finished(kv, current.runId)) {
        // A run started by hand is not run again, nor one that finished.
        await kv.atomic().check(entry).set(entry.key, {
          ...current,
          done: true,
        }).commit();
        return undefined;
      }
      const next: StoredClaim = {
        ...current,
        epoch: current.epoch + 1,
        runId: request.runId,
        holder: request.holder,
        leaseUntil: this.#now() + request.leaseMs,
        attempt: current.attempt + 1,
      };
      if ((await kv.atomic().check(entry).set(entry.key, next).commit()).ok) {
        await this.#interrupt(kv, current.runId);
        return {
          jobName,
          epoch: next.epoch,
          runId: request.runId,
          holder: request.holder,
          slot: current.slot,
          attempt: next.attempt,
          generation: current.generation,
          leaseMs: request.leaseMs,
        };
      }
    }
    throw contention(jobName);
  }

  async renew(claim: Claim): Promise<boolean> {
    const kv = await this.#kv;
    try {
      await this.#fenced(kv, claim, "renewing the lease", (atomic, current) =>
        atomic.set(this.#claimKey(claim.jobName), {
          ...current,
          leaseUntil: this.#now() + claim.leaseMs,
        }));
    } catch (error) {
      if (error instanceof ClaimLostError) return false;
      throw error;
    }
    const run = await kv.get<StoredRun>([ROOT, "runs", claim.runId]);
    if (run.value?.status === "running") {
      await kv.atomic().check(run).set(run.key, {
        ...run.value,
        heartbeatAt: this.#now(),
      }).commit();
    }
    return true;
  }

  async release(claim: Claim): Promise<void> {
    const kv = await this.#kv;
    for (let i = 0; i < TRIES; i++) {
      const entry = await kv.get<StoredClaim>(this.#claimKey(claim.jobName));
      if (entry.value?.epoch !== claim.epoch || entry.value.done) return;
      const next = { ...entry.value, done: true };
      if ((await kv.atomic().check(entry).set(entry.key, next).commit()).ok) {
        return;
      }
    }
  }

  async lease(jobName: string): Promise<Lease | undefined> {
    const kv = await this.#kv;
    const { value } = await kv.get<StoredClaim>(this.#claimKey(jobName));
    return value ? this.#lease(value) : undefined;
  }

  #lease(stored: StoredClaim): Lease {
    const lease: Lease = {
      runId: stored.runId,
      holder: stored.holder,
      epoch: stored.epoch,
      lastSlot: stored.lastSlot,
      done: stored.done,
      expired: stored.leaseUntil < this.#now(),
      attempt: stored.attempt,
    };
    if (stored.slot !== null) lease.slot = stored.slot;
    return lease;
  }

  async skipSlot(jobName: string, slot: number): Promise<boolean> {
    const kv = await this.#kv;
    for (let i = 0; i < TRIES; i++) {
      const entry = await kv.get<StoredClaim>(this.#claimKey(jobName));
      const current = entry.value;
      if (current && current.lastSlot >= slot) return false;
      const next: StoredClaim = current
        ? { ...current, lastSlot: slot }
        : {
          epoch: 0,
          runId: "",
          holder: { instance: "", host: "", pid: 0 },
          slot: null,
          lastSlot: slot,
          leaseUntil: 0,
          done: true,
          attempt: 0,
          generation: "",
        };
      if ((await kv.atomic().check(entry).set(entry.key, next).commit()).ok) {
        return true;
      }
    }
    throw contention(jobName);
  }

  /** Whether the claim's run finished (or its lease was given up). */
  async #free(kv: KvLike, stored: StoredClaim): Promise<boolean> {
    return stored.done || await this.#finished(kv, stored.runId);
  }

  async #finished(kv: KvLike, runId: string): Promise<boolean> {
    const { value } = await kv.get<StoredRun>([ROOT, "runs", runId]);
    return value !== null && value.status !== "running";
  }

  async #generation(kv: KvLike, jobName: string): Promise<string> {
    const { value } = await kv.get<string>([ROOT, "last_success", jobName]);
    return value ?? "";
  }

  async #interrupt(kv: KvLike, runId: string): Promise<void> {
    const run = await kv.get<StoredRun>([ROOT, "runs", runId]);
    if (run.value?.status !== "running") return;
    await kv.atomic().check(run).set(run.key, {
      ...run.value,
      status: "interrupted",
    }).commit();
  }

  /**
   * Commits `build`'s mutations only while `claim` is the job's and alive:
   * checked on the claim's versionstamp, judged again when it moved.
   */
  async #fenced(
    kv: KvLike,
    claim: Claim,
    what: string,
    build: (atomic: KvAtomic, current: StoredClaim) => KvAtomic,
  ): Promise<void> {
    for (let i = 0; i < TRIES; i++) {
      const entry = await kv.get<StoredClaim>(this.#claimKey(claim.jobName));
      const current = entry.value;
      if (
        !current || current.epoch !== claim.epoch || current.done ||
        current.leaseUntil < this.#now()
      ) throw new ClaimLostError(claim, what);
      if ((await build(kv.atomic().check(entry), current).commit()).ok) return;
    }
    throw contention(claim.jobName);
  }

  #runSets(atomic: KvAtomic, run: RunStart | RunReport, stored: StoredRun) {
    return atomic
      .set([ROOT, "runs", run.runId], stored)
      .set([ROOT, "runs_by_time", run.startedAt, run.runId], run.runId)
      .set(
        [ROOT, "runs_by_job", run.jobName, run.startedAt, run.runId],
        run.runId,
      );
  }

  async start(run: RunStart, claim?: Claim): Promise<void> {
    const kv = await this.#kv;
    const stored: StoredRun = {
      status: "running",
      heartbeatAt: this.#now(),
      report: JSON.stringify(runningRecord(run)),
      jobName: run.jobName,
      startedAt: run.startedAt,
    };
    if (!claim) {
      await this.#runSets(kv.atomic(), run, stored).commit();
      return;
    }
    await this.#fenced(
      kv,
      claim,
      "recording the run's start",
      (atomic) => this.#runSets(atomic, run, stored),
    );
  }

  async progress(report: RunReport, claim?: Claim): Promise<void> {
    const kv = await this.#kv;
    const key = [ROOT, "runs", report.runId];
    const stored: StoredRun = {
      status: "running",
      heartbeatAt: this.#now(),
      report: toJson(report),
      jobName: report.jobName,
      startedAt: report.startedAt,
    };
    if (!claim) {
      await kv.set(key, stored);
      return;
    }
    await this.#fenced(
      kv,
      claim,
      "recording the run's progress",
      (atomic) => atomic.set(key, stored),
    );
  }

  async finish(
    report: RunReport,
    claim?: Claim,
    dedupe?: DedupeRecord,
  ): Promise<void> {
    const kv = await this.#kv;
    const key = [ROOT, "runs", report.runId];
    const stored: StoredRun = {
      status: report.status,
      heartbeatAt: this.#now(),
      report: toJson(report),
      jobName: report.jobName,
      startedAt: report.startedAt,
    };
    if (!claim) {
      await kv.set(key, stored);
      return;
    }
    if (dedupe) await this.#remember(kv, claim, dedupe);
    // The report, the release and the generation in one atomic operation.
    await this.#fenced(kv, claim, "recording the run's outcome", (
      atomic,
      current,
    ) => {
      let next = atomic.set(key, stored).set(this.#claimKey(claim.jobName), {
        ...current,
        done: true,
        ...(dedupe?.viewDigest
          ? {
            keyDigest: dedupe.viewDigest.digest,
            keyValidUntil: dedupe.viewDigest.validUntil,
          }
          : {}),
      });
      if (report.status === "succeeded" && !report.dryRun) {
        next = next.set([ROOT, "last_success", claim.jobName], report.runId);
      }
      return next;
    });
    if (report.status === "succeeded") {
      await this.#forgetDeliveries(kv, claim.jobName, report.runId);
    }
  }

  async #remember(
    kv: KvLike,
    claim: Claim,
    dedupe: DedupeRecord,
  ): Promise<void> {
    // KV forgets expired keys itself (expireIn); the value is checked too.
    const expireIn = Math.max(1, dedupe.expiresAt - dedupe.now);
    for (let i = 0; i < dedupe.keys.length; i += BATCH) {
      const batch = dedupe.keys.slice(i, i + BATCH);
      await this.#fenced(kv, claim, "recording dedupe keys", (atomic) => {
        for (const key of batch) {
          atomic = atomic.set(
            [ROOT, "dedupe", claim.jobName, kvPart(key)],
            dedupe.expiresAt,
            { expireIn },
          );
        }
        return atomic;
      });
    }
  }

  async record(report: RunReport): Promise<void> {
    const kv = await this.#kv;
    const existing = await kv.get<StoredRun>([ROOT, "runs", report.runId]);
    if (existing.value) return;
    const stored: StoredRun = {
      status: report.status,
      heartbeatAt: this.#now(),
      report: toJson(report),
      jobName: report.jobName,
      startedAt: report.startedAt,
    };
    await this.#runSets(kv.atomic().check(existing), report, stored).commit();
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
        if (!entry.value) continue;
        const record = JSON.parse(entry.value.report) as RunRecord;
        const stale = entry.value.status === "running" &&
          entry.value.heartbeatAt < this.#now() - STALE_AFTER_MS;
        record.status = stale ? "interrupted" : entry.value.status;
        records.push(record);
      }
    }
    return records;
  }

  async unseen(
    jobName: string,
    keys: readonly string[],
    now: number,
  ): Promise<UnseenKeys> {
    const kv = await this.#kv;
    const found = new Set<string>();
    let seenUntil = Infinity;
    for (let i = 0; i < keys.length; i += GET_MANY) {
      const batch = keys.slice(i, i + GET_MANY);
      const entries = await kv.getMany<number>(
        batch.map((key) => [ROOT, "dedupe", jobName, kvPart(key)]),
      );
      entries.forEach((entry, j) => {
        if (entry.value !== null && entry.value > now) {
          seenUntil = Math.min(seenUntil, entry.value);
        } else found.add(batch[j]!);
      });
    }
    return { keys: [...found], seenUntil };
  }

  async sameKeySet(
    jobName: string,
    digest: string,
    now: number,
  ): Promise<boolean> {
    const kv = await this.#kv;
    const { value } = await kv.get<StoredClaim>(this.#claimKey(jobName));
    return value?.keyDigest === digest && (value.keyValidUntil ?? 0) > now;
  }

  async deliveries(
    jobName: string,
    unitKeys: readonly string[],
  ): Promise<Map<string, DeliveryReceipt>> {
    const kv = await this.#kv;
    const found = new Map<string, DeliveryReceipt>();
    for (let i = 0; i < unitKeys.length; i += GET_MANY) {
      const batch = unitKeys.slice(i, i + GET_MANY);
      const entries = await kv.getMany<StoredDelivery>(
        batch.map((key) => [ROOT, "deliveries", jobName, kvPart(key)]),
      );
      entries.forEach((entry, j) => {
        if (!entry.value) return;
        const { generation: _, ...receipt } = entry.value;
        found.set(batch[j]!, receipt);
      });
    }
    return found;
  }

  async recordDeliveries(
    claim: Claim,
    receipts: ReadonlyMap<string, DeliveryReceipt>,
  ): Promise<void> {
    const kv = await this.#kv;
    const all = [...receipts];
    for (let i = 0; i < all.length; i += BATCH) {
      const batch = all.slice(i, i + BATCH);
      await this.#fenced(kv, claim, "recording deliveries", (atomic) => {
        for (const [unitKey, receipt] of batch) {
          const stored: StoredDelivery = {
            ...structuredClone(receipt),
            generation: claim.generation,
          };
          atomic = atomic.set(
            [ROOT, "deliveries", claim.jobName, kvPart(unitKey)],
            stored,
          );
        }
        return atomic;
      });
    }
  }

  async #forgetDeliveries(
    kv: KvLike,
    jobName: string,
    generation: string,
  ): Promise<void> {
    let atomic = kv.atomic();
    let count = 0;
    for await (
      const entry of kv.list<StoredDelivery>({
        prefix: [ROOT, "deliveries", jobName],
      })
    ) {
      if (entry.value?.generation === generation) continue;
      atomic = atomic.delete(entry.key);
      if (++count % BATCH === 0) {
        await atomic.commit();
        atomic = kv.atomic();
      }
    }
    if (count % BATCH !== 0) await atomic.commit();
  }

  async prune(options: PruneOptions): Promise<PruneResult> {
    const kv = await this.#kv;
    const before = new Date(options.before).toISOString();
    const keep = new Set<string>();
    for await (
      const entry of kv.list<StoredClaim>({ prefix: [ROOT, "claims"] })
    ) {
      if (entry.value) keep.add(entry.value.runId);
    }
    for await (
      const entry of kv.list<string>({ prefix: [ROOT, "last_success"] })
    ) {
      if (entry.value) keep.add(entry.value);
      await this.#forgetDeliveries(
        kv,
        String(entry.key.at(-1)),
        entry.value ?? "",
      );
    }
    let runs = 0;
    for await (
      const entry of kv.list<string>({
        prefix: [ROOT, "runs_by_time"],
        end: [ROOT, "runs_by_time", before],
      })
    ) {
      const runId = entry.value!;
      if (keep.has(runId)) continue;
      const run = await kv.get<StoredRun>([ROOT, "runs", runId]);
      const stored = run.value;
      if (
        stored?.status === "running" &&
        stored.heartbeatAt >= options.now - STALE_AFTER_MS
      ) continue;
      let atomic = kv.atomic().delete(entry.key).delete(run.key);
      if (stored?.jobName && stored.startedAt) {
        atomic = atomic.delete([
          ROOT,
          "runs_by_job",
          stored.jobName,
          stored.startedAt,
          runId,
        ]);
      }
      await atomic.commit();
      runs++;
    }
    return { runs };
  }

  /** Closes the database. */
  async close(): Promise<void> {
    (await this.#kv).close();
  }
}

/** A unit or row key as a KV key part: hashed when too long for a KV key (at most 2 KiB). */
function kvPart(key: string): string {
  if (key.length <= LONG_KEY) return key;
  return `#${createHash("sha256").update(key).digest("base64url")}`;
}

function contention(jobName: string): TriggerKitError {
  return new TriggerKitError(
    "STORE_ERROR",
    `Deno KV: too many concurrent changes to job "${jobName}"'s claim; try again`,
  );
}
