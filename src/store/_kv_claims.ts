/**
 * Deno KV's part of the run store that holds claims: claim, takeover,
 * renewal, release, skipped slots, and fenced writes — each an atomic
 * operation checked on the claim's versionstamp, judged again when it moved.
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
  type Holder,
  type Lease,
  type RunRecord,
  type UnseenKeys,
} from "./contract.ts";
import type { Clock } from "../clock.ts";

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
}

export interface StoredClaim {
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
/** Tries of an atomic operation that lost a race on its check. */
const TRIES = 20;
/** Unit and row keys longer than this are hashed into the KV key (KV keys are at most 2 KiB). */
const LONG_KEY = 1_000;

/** The claims of the jobs in one KV database. */
export class KvClaims {
  readonly #kv: Promise<KvLike>;
  readonly #clock: Clock;

  constructor(kv: Promise<KvLike>, clock: Clock) {
    this.#kv = kv;
    this.#clock = clock;
  }

  #now(): number {
    return this.#clock.now();
  }

  claimKey(jobName: string): KvKey {
    return [ROOT, "claims", jobName];
  }

  async claim(jobName: string, request: ClaimRequest): Promise<ClaimResult> {
    const kv = await this.#kv;
    for (let i = 0; i < TRIES; i++) {
      const entry = await kv.get<StoredClaim>(this.claimKey(jobName));
      const current = entry.value;
      // A try given up on may have won: the lease names this run.
      if (current && current.runId === request.runId && !current.done) {
        return {
          claimed: true,
          claim: {
            jobName,
            epoch: current.epoch,
            runId: request.runId,
            holder: request.holder,
            ...(request.slot === undefined ? {} : { slot: request.slot }),
            attempt: current.attempt,
            generation: current.generation,
            leaseMs: request.leaseMs,
          },
        };
      }
      const free = !current || await this.#free(kv, current);
      // By hand, a job whose holder stopped renewing is taken at once (no
      // scheduler may be there to take it over): its run is interrupted.
      const wanted = request.slot === undefined
        ? free || current!.leaseUntil < this.#now()
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
        if (current && !current.done) await this.#interrupt(kv, current.runId);
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
      const entry = await kv.get<StoredClaim>(this.claimKey(jobName));
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
      await this.fenced(
        kv,
        claim,
        "renewing the lease",
        (atomic, current) =>
          atomic.set(this.claimKey(claim.jobName), {
            ...current,
            leaseUntil: this.#now() + claim.leaseMs,
          }),
      );
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
      const entry = await kv.get<StoredClaim>(this.claimKey(claim.jobName));
      if (entry.value?.epoch !== claim.epoch || entry.value.done) return;
      const next = { ...entry.value, done: true };
      if ((await kv.atomic().check(entry).set(entry.key, next).commit()).ok) {
        return;
      }
    }
  }

  async lease(jobName: string): Promise<Lease | undefined> {
    const kv = await this.#kv;
    const { value } = await kv.get<StoredClaim>(this.claimKey(jobName));
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
      const entry = await kv.get<StoredClaim>(this.claimKey(jobName));
      const current = entry.value;
      if (current && current.lastSlot >= slot) return false;
      const next: StoredClaim = current ? { ...current, lastSlot: slot } : {
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
  async fenced(
    kv: KvLike,
    claim: Pick<Claim, "jobName" | "epoch">,
    what: string,
    build: (atomic: KvAtomic, current: StoredClaim) => KvAtomic,
  ): Promise<void> {
    for (let i = 0; i < TRIES; i++) {
      const entry = await kv.get<StoredClaim>(this.claimKey(claim.jobName));
      const current = entry.value;
      if (
        !current || current.epoch !== claim.epoch || current.done ||
        current.leaseUntil < this.#now()
      ) throw new ClaimLostError(claim, what);
      if ((await build(kv.atomic().check(entry), current).commit()).ok) return;
    }
    throw contention(claim.jobName);
  }
}

/** A unit or row key as a KV key part: hashed when too long for a KV key (at most 2 KiB). */
export function kvPart(key: string): string {
  if (key.length <= LONG_KEY) return key;
  return `#${createHash("sha256").update(key).digest("base64url")}`;
}

function contention(jobName: string): TriggerKitError {
  return new TriggerKitError(
    "STORE_ERROR",
    `Deno KV: too many concurrent changes to job "${jobName}"'s claim; try again`,
  );
}
