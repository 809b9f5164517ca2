/**
 * Dedupe at scale: which of a view's rows no earlier successful run acted
 * on. The keys are compared in the store, in batches, so a run's memory
 * grows with its new rows, not with the view; and a view whose key set is
 * the last successful run's (an order-independent digest, every key still
 * seen) costs no lookup at all.
 *
 * @module
 */
import { TriggerKitError } from "../errors.ts";
import { canonicalKey } from "../_key.ts";
import type { KeySetDigest, RunStore } from "../store/contract.ts";
import type { StoreCalls } from "../store/journal.ts";
import type { Row } from "../types.ts";
import type { Job } from "./definitions.ts";

/** Rows per comparison round trip. */
const ROWS_PER_LOOKUP = 10_000;

/** The view's rows that are new, and what a successful run records. */
export interface NewRows {
  /** The new rows, in view order. */
  rows: Row[];
  /** Their keys, aligned with `rows`. */
  rowKeys: string[];
  /** Their distinct keys: recorded as seen after a successful run. */
  newKeys: string[];
  /** The view's key set, when it was looked up (recorded with the run). */
  viewDigest?: KeySetDigest;
}

/**
 * A row's dedupe key: its key columns' values, integers compared by value
 * (a number, a bigint and a digit string are one key).
 *
 * @throws {TriggerKitError} `INVALID_DATA` when a key column is missing.
 */
export function rowKey(job: Job, row: Row, index: number): string {
  const fields = job.dedupe!.key;
  const values = new Array<unknown>(fields.length);
  for (let i = 0; i < fields.length; i++) {
    const field = fields[i]!;
    if (!(field in row)) {
      throw new TriggerKitError(
        "INVALID_DATA",
        `Job "${job.name}": row ${index} of view "${job.view}" has no column "${field}", which dedupe.key uses`,
      );
    }
    values[i] = row[field];
  }
  return canonicalKey(values);
}

/**
 * An order-independent digest of a set of keys (with repeats): per key, two
 * 32-bit hashes, summed and xored into 128 bits, and the count. Equal sets
 * give equal digests; a different set matches by chance with odds of about
 * 2^-96.
 */
export class KeyDigest {
  #sumA = 0;
  #sumB = 0;
  #xorA = 0;
  #xorB = 0;
  #count = 0;

  /** Adds a key. */
  add(key: string): void {
    let a = 0x811c9dc5;
    let b = 0x9747b28c;
    for (let i = 0; i < key.length; i++) {
      const c = key.charCodeAt(i);
      a = Math.imul(a ^ c, 0x01000193);
      b = Math.imul(b ^ c, 0x5bd1e995);
      b ^= b >>> 13;
    }
    a = fmix(a ^ key.length);
    b = fmix(b + key.length);
    this.#sumA = (this.#sumA + a) | 0;
    this.#sumB = (this.#sumB + b) | 0;
    this.#xorA ^= fmix(a ^ Math.imul(b, 0x85ebca6b));
    this.#xorB ^= fmix(b ^ Math.imul(a, 0xc2b2ae35));
    this.#count++;
  }

  /** The digest so far. */
  value(): string {
    return [this.#sumA, this.#sumB, this.#xorA, this.#xorB]
      .map((word) => (word >>> 0).toString(16).padStart(8, "0"))
      .join("") + `:${this.#count}`;
  }
}

/** murmur3's finalizer: every input bit moves every output bit. */
function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/**
 * The rows of the view not seen by an earlier successful run of the job.
 *
 * @param store The run store.
 * @param calls How the run calls the store (retried while its claim holds).
 * @param job The job (with `dedupe`).
 * @param rows The view's rows.
 * @param now Now, on the registry's clock (dedupe keys expire on it).
 */
export async function newRows(
  store: RunStore,
  calls: StoreCalls,
  job: Job,
  rows: readonly Row[],
  now: number,
): Promise<NewRows> {
  const digest = new KeyDigest();
  for (let i = 0; i < rows.length; i++) digest.add(rowKey(job, rows[i]!, i));
  const value = digest.value();
  if (
    await calls.call(
      "comparing the view's keys",
      () => store.sameKeySet(job.name, value, now),
    )
  ) return { rows: [], rowKeys: [], newKeys: [] };
  const fresh: Row[] = [];
  const freshKeys: string[] = [];
  const distinct = new Set<string>();
  let seenUntil = Infinity;
  for (let start = 0; start < rows.length; start += ROWS_PER_LOOKUP) {
    const end = Math.min(rows.length, start + ROWS_PER_LOOKUP);
    const keys = new Array<string>(end - start);
    for (let i = start; i < end; i++) {
      keys[i - start] = rowKey(job, rows[i]!, i);
    }
    const unseen = await calls.call(
      "looking up dedupe keys",
      () => store.unseen(job.name, keys, now),
    );
    seenUntil = Math.min(seenUntil, unseen.seenUntil);
    if (unseen.keys.length === 0) continue;
    const wanted = new Set(unseen.keys);
    keys.forEach((key, j) => {
      if (!wanted.has(key)) return;
      fresh.push(rows[start + j]!);
      freshKeys.push(key);
      distinct.add(key);
    });
  }
  const expiresAt = now + (job.dedupeTtlMs ?? 0);
  return {
    rows: fresh,
    rowKeys: freshKeys,
    newKeys: [...distinct],
    viewDigest: {
      digest: value,
      validUntil: distinct.size > 0
        ? Math.min(seenUntil, expiresAt)
        : seenUntil,
    },
  };
}
