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
  GET_MANY,
  type KvAtomic,
  type KvKey,
  type KvLike,
  ROOT,
} from "./_kv_records.ts";
import {
  type AlertFence,
  type AlertStore,
  type FiringPage,
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

/** Mutations per atomic operation: each writes up to three keys, under KV's limit of 1000 with the fence's check. */
const BATCH = 300;
/** Bytes of rows per atomic operation, under KV's limit of 819,200 in all. */
const BATCH_BYTES = 600_000;

/** Commits an atomic operation only while the fence's claim holds (the run store's). */
export type FencedCommit = (
  kv: KvLike,
  fence: AlertFence,
  what: string,
  build: (atomic: KvAtomic) => KvAtomic,
) => Promise<void>;

type Mutation = (atomic: KvAtomic) => void;

/** An {@linkcode AlertStore} on Deno KV. */
export class KvAlertStore implements AlertStore {
  readonly #kv: Promise<KvLike>;
  readonly #fenced: FencedCommit;
  /** KV values are at most 64 KiB. */
  readonly maxRowBytes = 60_000;

  /**
   * @param kv The run store's open database.
   * @param fenced How the run store commits a write fenced by a claim.
   */
  constructor(kv: Promise<KvLike>, fenced: FencedCommit) {
    this.#kv = kv;
    this.#fenced = fenced;
  }

  /** Commits `build`'s mutations, fenced by the claim when there is one. */
  async #commit(
    kv: KvLike,
    fence: AlertFence | undefined,
    what: string,
    build: (atomic: KvAtomic) => KvAtomic,
  ): Promise<boolean> {
    if (!fence) return (await build(kv.atomic()).commit()).ok;
    await this.#fenced(kv, fence, what, build);
    return true;
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

  /**
   * Reads the job's keys in key order until `limit` firing ones; the total
   * comes from the job's summary, which counts them (a full count only when
   * the last run was cut short before writing it).
   */
  async firing(jobName: string, limit: number): Promise<FiringPage> {
    const kv = await this.#kv;
    const summary = await this.summary(jobName);
    const keys: KeyState[] = [];
    if (summary && limit <= 0) return { keys, total: summary.firing };
    let total = 0;
    // With a summary the scan stops after `limit` firing keys: fetch in
    // batches of about that many (KV's cap is 500).
    const batchSize = summary ? Math.min(500, limit + 1) : undefined;
    for await (
      const entry of kv.list<KeyState>(
        { prefix: [ROOT, "alert_keys", jobName] },
        batchSize ? { batchSize } : {},
      )
    ) {
      if (entry.value?.state !== "firing") continue;
      total++;
      if (keys.length < limit) keys.push(entry.value);
      else if (summary) break;
    }
    return { keys, total: summary?.firing ?? total };
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

  async commit(
    jobName: string,
    commit: AlertCommit,
    fence?: AlertFence,
  ): Promise<void> {
    const kv = await this.#kv;
    const summaryKey = [ROOT, "alert_summary", jobName];
    const what = "recording alert state";
    await this.#commit(kv, fence, what, (a) => a.delete(summaryKey));
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
    // Each mutation writes at most three keys, and one row; a batch stays
    // under KV's limits on mutations and on bytes.
    const batches: Mutation[][] = [];
    let batch: Mutation[] = [];
    let bytes = 0;
    for (const [i, mutate] of mutations.entries()) {
      if (
        batch.length === BATCH ||
        (batch.length > 0 && bytes + sizes[i]! > BATCH_BYTES)
      ) {
        batches.push(batch);
        batch = [];
        bytes = 0;
      }
      batch.push(mutate);
      bytes += sizes[i]!;
    }
    if (batch.length > 0) batches.push(batch);
    for (const mutating of batches) {
      await this.#commit(kv, fence, what, (atomic) => {
        for (const mutate of mutating) mutate(atomic);
        return atomic;
      });
    }
    const summary = commit.summary;
    if (summary) {
      await this.#commit(kv, fence, what, (a) => a.set(summaryKey, summary));
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
    fence?: AlertFence,
  ): Promise<boolean> {
    const kv = await this.#kv;
    const key = [ROOT, "alert_notices", jobName];
    const write = (atomic: KvAtomic) =>
      atomic.check({ key, versionstamp: expected }).set(key, state);
    if (!fence) return (await write(kv.atomic()).commit()).ok;
    // The fenced commit retries a failed check: a moved notice is seen first.
    const current = await kv.get(key);
    if (current.versionstamp !== expected) return false;
    await this.#fenced(kv, fence, "recording the notice state", write);
    return true;
  }
}
