/**
 * What the Deno KV run store keeps, and how: the part of `Deno.Kv` it uses,
 * the shapes of its records (runs, their per-job summaries, claims, dedupe
 * keys, deliveries), its key layout, and the read of unseen dedupe keys.
 *
 * @module
 */
import { createHash } from "node:crypto";
import type { DeliveryReceipt } from "../delivery/journal.ts";
import type { Holder, RunRecord, RunSummary, UnseenKeys } from "./contract.ts";

export type KvKey = readonly (string | number | bigint | boolean)[];

export interface KvEntry<T> {
  key: KvKey;
  value: T | null;
  versionstamp: string | null;
}

export interface KvAtomic {
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
    selector:
      | { prefix: KvKey }
      | { prefix: KvKey; start: KvKey }
      | { prefix: KvKey; end: KvKey }
      | { start: KvKey; end: KvKey },
    options?: { reverse?: boolean; limit?: number; batchSize?: number },
  ): AsyncIterable<KvEntry<T>>;
  atomic(): KvAtomic;
  close(): void;
}

export interface StoredRun {
  status: RunRecord["status"];
  heartbeatAt: number;
  report: string;
  jobName?: string;
  startedAt?: string;
  /** The epoch of the claim it ran under (absent: a run without a claim, a dry run). */
  epoch?: number;
}

/**
 * A run's summary, the value of its entry in the per-job index
 * (`runs_by_job`): what the status page reads of a job's latest runs,
 * without the record. Written with every write of the record; an index
 * entry written before summaries holds the run id alone.
 */
export interface StoredSummary extends Omit<RunSummary, "jobName"> {
  /** As the record's: judged by `runStatus` when `running`. */
  heartbeatAt: number;
  /** As the record's. */
  epoch?: number;
}

/** A run's key in the per-job index. */
export function jobIndexKey(
  run: Pick<RunRecord, "jobName" | "startedAt" | "runId">,
): KvKey {
  return [ROOT, "runs_by_job", run.jobName, run.startedAt, run.runId];
}

/** The summary a run record's write puts in the per-job index. */
export function storedSummary(
  record: Pick<RunRecord, keyof RunSummary>,
  stored: Pick<StoredRun, "status" | "heartbeatAt" | "epoch">,
): StoredSummary {
  return {
    runId: record.runId,
    dryRun: record.dryRun,
    status: stored.status,
    startedAt: record.startedAt,
    finishedAt: record.finishedAt,
    rowCount: record.rowCount,
    newRowCount: record.newRowCount,
    heartbeatAt: stored.heartbeatAt,
    ...(stored.epoch === undefined ? {} : { epoch: stored.epoch }),
  };
}

export interface StoredClaim {
  epoch: number;
  runId: string;
  holder: Holder;
  slot: number | null;
  lastSlot: number;
  /** Written by the holder from its own clock: judged by the holder only. */
  leaseUntil: number;
  /** The holder's lease length, in ms (absent in records written before it was kept). */
  leaseMs?: number;
  /** Renewals of this epoch: every renewal writes a new version of the lease. */
  beat?: number;
  done: boolean;
  attempt: number;
  generation: string;
  keyDigest?: string;
  keyValidUntil?: number;
  /** The epoch whose run kept its dedupe keys last: keys of epochs up to it are seen. */
  keysEpoch?: number;
}

/**
 * A dedupe key's value: when it expires (as written before), or that and
 * the epoch of the run that wrote it — seen once that run finished
 * (`keysEpoch`), so that a run that lost its claim between two batches of
 * keys leaves none of them seen.
 */
export type StoredKey = number | { epoch: number; expiresAt: number };

/**
 * When a stored dedupe key expires, as far as runs can see it: 0 (not seen)
 * for a key whose run has not kept its keys.
 *
 * @param value The key's stored value (null: absent).
 * @param keysEpoch The job's claim's `keysEpoch`.
 */
export function keyExpiry(value: StoredKey | null, keysEpoch = 0): number {
  if (typeof value === "number") return value;
  return value && value.epoch <= keysEpoch ? value.expiresAt : 0;
}

/**
 * The keys among `keys` that the job's finished runs have not seen (or saw
 * expire), and when the first seen one expires: `RunStore.unseen` on KV.
 */
export async function unseenKeys(
  kv: KvLike,
  jobName: string,
  keys: readonly string[],
  now: number,
): Promise<UnseenKeys> {
  const found = new Set<string>();
  let seenUntil = Infinity;
  const claim = await kv.get<StoredClaim>([ROOT, "claims", jobName]);
  const keysEpoch = claim.value?.keysEpoch ?? 0;
  for (let i = 0; i < keys.length; i += GET_MANY) {
    const batch = keys.slice(i, i + GET_MANY);
    const entries = await kv.getMany<StoredKey>(
      batch.map((key) => [ROOT, "dedupe", jobName, kvPart(key)]),
    );
    entries.forEach((entry, j) => {
      const until = keyExpiry(entry.value, keysEpoch);
      if (until > now) seenUntil = Math.min(seenUntil, until);
      else found.add(batch[j]!);
    });
  }
  return { keys: [...found], seenUntil };
}

export interface StoredDelivery extends DeliveryReceipt {
  generation: string;
}

export const ROOT = "triggerkit";
/** KV's getMany limit. */
export const GET_MANY = 10;
/** Mutations per atomic operation, under KV's limit of 1000. */
export const BATCH = 500;
/** Unit and row keys longer than this are hashed into the KV key (KV keys are at most 2 KiB). */
const LONG_KEY = 1_000;

/** A unit or row key as a KV key part: hashed when too long for a KV key (at most 2 KiB). */
export function kvPart(key: string): string {
  if (key.length <= LONG_KEY) return key;
  return `#${createHash("sha256").update(key).digest("base64url")}`;
}
