/**
 * The alert store on the run store's Deno KV, under keys of its own:
 * `alert_keys` (pending and firing keys), `alert_rows` (their last seen
 * rows), `alert_tombs` (last incident numbers of resolved keys, expiring),
 * `alert_summary`, `alert_mutes` (expiring with the mute) and
 * `alert_notices` (written with a versionstamp check).
 *
 * @module
 */
import type { Row } from "../types.ts";
import {
  type AlertStore,
  type NoticeState,
  TOMBSTONE_MS,
  type VersionedNotice,
} from "../alerts/store.ts";
import type {
  AlertCommit,
  AlertSummary,
  KeyState,
  Mute,
} from "../alerts/state.ts";
import { byteSize } from "../alerts/_rows.ts";

const ROOT = "triggerkit";
/** KV's getMany limit. */
const GET_MANY = 10;
/** Mutations per atomic operation, under KV's limit of 1000. */
const BATCH = 300;
/** Bytes of rows per atomic operation, under KV's limit of 819,200 in all. */
const BATCH_BYTES = 600_000;

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

/** The part of `Deno.Kv` the alert store uses (the run store's `KvLike` has it). */
export interface AlertKv {
  get<T>(key: KvKey): Promise<KvEntry<T>>;
  getMany<T>(keys: KvKey[]): Promise<KvEntry<T>[]>;
  set(
    key: KvKey,
    value: unknown,
    options?: { expireIn?: number },
  ): Promise<unknown>;
  list<T>(selector: { prefix: KvKey }): AsyncIterable<KvEntry<T>>;
  atomic(): KvAtomic;
}

type Mutation = (atomic: KvAtomic) => void;

/** An {@linkcode AlertStore} on Deno KV. */
export class KvAlertStore implements AlertStore {
  readonly #kv: Promise<AlertKv>;
  /** KV values are at most 64 KiB. */
  readonly maxRowBytes = 60_000;

  /**
   * @param kv The run store's open database.
   */
  constructor(kv: Promise<AlertKv>) {
    this.#kv = kv;
  }

  async summary(jobName: string): Promise<AlertSummary | undefined> {
    const kv = await this.#kv;
    const entry = await kv.get<AlertSummary>([ROOT, "alert_summary", jobName]);
    return entry.value ?? undefined;
  }

  async keys(jobName: string): Promise<KeyState[]> {
    const kv = await this.#kv;
    const states: KeyState[] = [];
    for await (
      const entry of kv.list<KeyState>({
        prefix: [ROOT, "alert_keys", jobName],
      })
    ) states.push(entry.value!);
    return states;
  }

  async #getMany<T>(
    part: string,
    jobName: string,
    keys: readonly string[],
  ): Promise<Map<string, T>> {
    const kv = await this.#kv;
    const found = new Map<string, T>();
    for (let i = 0; i < keys.length; i += GET_MANY) {
      const batch = keys.slice(i, i + GET_MANY);
      const entries = await kv.getMany<T>(
        batch.map((key) => [ROOT, part, jobName, key]),
      );
      entries.forEach((entry, j) => {
        if (entry.value !== null) found.set(batch[j]!, entry.value);
      });
    }
    return found;
  }

  tombstones(
    jobName: string,
    keys: readonly string[],
  ): Promise<Map<string, number>> {
    return this.#getMany<number>("alert_tombs", jobName, keys);
  }

  rows(jobName: string, keys: readonly string[]): Promise<Map<string, Row>> {
    return this.#getMany<Row>("alert_rows", jobName, keys);
  }

  async commit(jobName: string, commit: AlertCommit): Promise<void> {
    const kv = await this.#kv;
    const summaryKey = [ROOT, "alert_summary", jobName];
    await kv.atomic().delete(summaryKey).commit();
    const mutations: Mutation[] = [];
    const sizes: number[] = [];
    for (const { state, row } of commit.upserts) {
      sizes[mutations.length] = row ? byteSize(row) : 0;
      mutations.push((a) => {
        a.set([ROOT, "alert_keys", jobName, state.key], state);
        if (!row) return;
        // A new key (it always has a row) may come back from a tombstone.
        a.set([ROOT, "alert_rows", jobName, state.key], { ...row });
        a.delete([ROOT, "alert_tombs", jobName, state.key]);
      });
    }
    for (const { key, incident } of commit.resolved) {
      mutations.push((a) => {
        a.delete([ROOT, "alert_keys", jobName, key]);
        a.delete([ROOT, "alert_rows", jobName, key]);
        a.set([ROOT, "alert_tombs", jobName, key], incident, {
          expireIn: TOMBSTONE_MS,
        });
      });
    }
    // Each mutation writes at most three keys, and one row.
    let atomic = kv.atomic();
    let count = 0;
    let bytes = 0;
    for (const [i, mutate] of mutations.entries()) {
      if (count === BATCH || (count > 0 && bytes + sizes[i]! > BATCH_BYTES)) {
        await atomic.commit();
        atomic = kv.atomic();
        count = 0;
        bytes = 0;
      }
      mutate(atomic);
      count++;
      bytes += sizes[i]!;
    }
    if (count > 0) await atomic.commit();
    if (commit.summary) {
      await kv.atomic().set(summaryKey, commit.summary).commit();
    }
  }

  async mutes(jobName: string | undefined, now: number): Promise<Mute[]> {
    const kv = await this.#kv;
    const prefix = jobName === undefined
      ? [ROOT, "alert_mutes"]
      : [ROOT, "alert_mutes", jobName];
    const mutes: Mute[] = [];
    for await (const entry of kv.list<Mute>({ prefix })) {
      if (entry.value && entry.value.until > now) mutes.push(entry.value);
    }
    return mutes.sort((a, b) =>
      a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1)
    );
  }

  async addMute(mute: Mute): Promise<void> {
    const kv = await this.#kv;
    await kv.set([ROOT, "alert_mutes", mute.jobName, mute.id], mute, {
      expireIn: Math.max(1, mute.until - mute.createdAt),
    });
  }

  async removeMutes(jobName: string, now: number): Promise<number> {
    const kv = await this.#kv;
    const keys: KvKey[] = [];
    let active = 0;
    for await (
      const entry of kv.list<Mute>({ prefix: [ROOT, "alert_mutes", jobName] })
    ) {
      keys.push(entry.key);
      if (entry.value && entry.value.until > now) active++;
    }
    for (let i = 0; i < keys.length; i += BATCH) {
      const atomic = kv.atomic();
      for (const key of keys.slice(i, i + BATCH)) {
        atomic.delete(key);
      }
      await atomic.commit();
    }
    return active;
  }

  async notice(jobName: string): Promise<VersionedNotice | undefined> {
    const kv = await this.#kv;
    const entry = await kv.get<NoticeState>([ROOT, "alert_notices", jobName]);
    return entry.value && entry.versionstamp
      ? { state: entry.value, version: entry.versionstamp }
      : undefined;
  }

  async putNotice(
    jobName: string,
    state: NoticeState,
    expected: string | null,
  ): Promise<boolean> {
    const kv = await this.#kv;
    const key = [ROOT, "alert_notices", jobName];
    const result = await kv.atomic().check({ key, versionstamp: expected })
      .set(key, state).commit();
    return result.ok;
  }
}
