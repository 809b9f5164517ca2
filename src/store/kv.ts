/**
 * The run store on Deno KV (`kv:`, `kv:./path`, `kv::memory:`), for Deno
 * Deploy. Written against the few KV calls it needs, so that it type-checks
 * without Deno's unstable types.
 *
 * A fenced write reads the job's claim, checks its epoch and lease, and
 * commits with an atomic `check` on the claim's versionstamp: a takeover
 * committed in between makes the write fail and be judged again. KV has no
 * clock of its own, and no instance trusts another's: a lease runs out for
 * an instance when it saw the lease unchanged for its length by its own
 * clock, and a running run is judged by its claim, not by a heartbeat
 * written from another clock (see `_kv_claims.ts`).
 *
 * @module
 */
import { TriggerKitError } from "../errors.ts";
import type { DeliveryReceipt } from "../delivery/journal.ts";
import {
  type Claim,
  type ClaimRequest,
  type ClaimResult,
  type DedupeRecord,
  type HistoryOptions,
  type Lease,
  type PruneOptions,
  type PruneResult,
  runningRecord,
  type RunRecord,
  type RunReport,
  type RunStart,
  type RunStore,
  type RunSummary,
  STALE_AFTER_MS,
  type UnseenKeys,
} from "./contract.ts";
import { type Clock, realClock } from "../clock.ts";
import { KvAlertStore } from "./kv_alerts.ts";
import { idRange } from "./_id_prefix.ts";
import { KvClaims } from "./_kv_claims.ts";
import { lockTolerant } from "./_kv_locks.ts";
import {
  BATCH,
  GET_MANY,
  type KvKey,
  type KvLike,
  kvPart,
  ROOT,
  type StoredClaim,
  type StoredDelivery,
  type StoredRun,
  unseenKeys,
} from "./_kv_records.ts";
import { KvRuns, runKey } from "./_kv_runs.ts";

export type { KvLike } from "./_kv_records.ts";

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
  readonly #claims: KvClaims;
  readonly #runs: KvRuns;

  /**
   * @param kv The open database.
   * @param options The clock of leases, heartbeats and staleness.
   */
  constructor(opened: Promise<KvLike>, options: { clock?: Clock } = {}) {
    const kv = opened.then(lockTolerant);
    this.#kv = kv;
    this.#clock = options.clock ?? realClock;
    this.#claims = new KvClaims(kv, this.#clock);
    this.#runs = new KvRuns(kv, this.#clock, this.#claims);
    this.#kv.catch(() => {});
    this.alerts = new KvAlertStore(
      kv,
      (db, fence, what, build) => this.#claims.fenced(db, fence, what, build),
    );
  }

  claim(jobName: string, request: ClaimRequest): Promise<ClaimResult> {
    return this.#claims.claim(jobName, request);
  }

  takeOver(
    jobName: string,
    request: Omit<ClaimRequest, "slot">,
  ): Promise<Claim | undefined> {
    return this.#claims.takeOver(jobName, request);
  }

  renew(claim: Claim): Promise<boolean> {
    return this.#claims.renew(claim);
  }

  release(claim: Claim): Promise<void> {
    return this.#claims.release(claim);
  }

  lease(jobName: string): Promise<Lease | undefined> {
    return this.#claims.lease(jobName);
  }

  skipSlot(jobName: string, slot: number): Promise<boolean> {
    return this.#claims.skipSlot(jobName, slot);
  }

  #now(): number {
    return this.#clock.now();
  }

  async start(run: RunStart, claim?: Claim): Promise<void> {
    const kv = await this.#kv;
    const record = runningRecord(run);
    const stored = this.#runs.stored(record, "running", claim);
    if (!claim) {
      await this.#runs.create(kv.atomic(), record, stored).commit();
      return;
    }
    // Written already by a try given up on: done.
    if ((await kv.get(runKey(run.runId))).value) return;
    await this.#claims.fenced(
      kv,
      claim,
      "recording the run's start",
      (atomic) => this.#runs.create(atomic, record, stored),
    );
  }

  async progress(report: RunReport, claim?: Claim): Promise<void> {
    const kv = await this.#kv;
    const stored = this.#runs.stored(report, "running", claim);
    if (!claim) {
      await this.#runs.update(kv.atomic(), report, stored).commit();
      return;
    }
    await this.#claims.fenced(
      kv,
      claim,
      "recording the run's progress",
      (atomic) => this.#runs.update(atomic, report, stored),
    );
  }

  async finish(
    report: RunReport,
    claim?: Claim,
    dedupe?: DedupeRecord,
  ): Promise<void> {
    const kv = await this.#kv;
    const key = runKey(report.runId);
    const stored = this.#runs.stored(report, report.status, claim);
    if (!claim) {
      await this.#runs.update(kv.atomic(), report, stored).commit();
      return;
    }
    // Written already by a try given up on: done.
    const existing = await kv.get<StoredRun>(key);
    if (existing.value?.status === report.status) return;
    if (dedupe) await this.#remember(kv, claim, dedupe);
    // The report, the release and the generation in one atomic operation.
    await this.#claims.fenced(kv, claim, "recording the run's outcome", (
      atomic,
      current,
    ) => {
      let next = this.#runs.update(atomic, report, stored).set(
        this.#claims.claimKey(claim.jobName),
        {
          ...current,
          done: true,
          ...(dedupe?.viewDigest
            ? {
              keyDigest: dedupe.viewDigest.digest,
              keyValidUntil: dedupe.viewDigest.validUntil,
            }
            : {}),
          // The keys written by this claim become seen with its report.
          ...(dedupe ? { keysEpoch: claim.epoch } : {}),
        },
      );
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
      await this.#claims.fenced(
        kv,
        claim,
        "recording dedupe keys",
        (atomic) => {
          for (const key of batch) {
            atomic = atomic.set(
              [ROOT, "dedupe", claim.jobName, kvPart(key)],
              { epoch: claim.epoch, expiresAt: dedupe.expiresAt },
              { expireIn },
            );
          }
          return atomic;
        },
      );
    }
  }

  async record(report: RunReport): Promise<void> {
    const kv = await this.#kv;
    const existing = await kv.get<StoredRun>(runKey(report.runId));
    if (existing.value) return;
    const stored = this.#runs.stored(report, report.status);
    await this.#runs.create(kv.atomic().check(existing), report, stored)
      .commit();
  }

  history(options: HistoryOptions = {}): Promise<RunRecord[]> {
    return this.#runs.history(options);
  }

  get(runId: string): Promise<RunRecord | undefined> {
    return this.#runs.get(runId);
  }

  findByIdPrefix(prefix: string, limit: number): Promise<RunRecord[]> {
    if (!(limit >= 1)) return Promise.resolve([]);
    const { start, end } = idRange(prefix);
    const runs: KvKey = [ROOT, "runs"];
    return this.#runs.findByIdPrefix(
      end === undefined
        ? { prefix: runs, start: [...runs, start] }
        : { start: [...runs, start], end: [...runs, end] },
      limit,
    );
  }

  recentRuns(
    jobs: readonly string[],
    perJob: number,
  ): Promise<Map<string, RunSummary[]>> {
    return this.#runs.recentRuns(jobs, perJob);
  }

  async unseen(
    jobName: string,
    keys: readonly string[],
    now: number,
  ): Promise<UnseenKeys> {
    return unseenKeys(await this.#kv, jobName, keys, now);
  }

  async sameKeySet(
    jobName: string,
    digest: string,
    now: number,
  ): Promise<boolean> {
    const kv = await this.#kv;
    const { value } = await kv.get<StoredClaim>(this.#claims.claimKey(jobName));
    if (value?.keyDigest !== digest || (value.keyValidUntil ?? 0) <= now) {
      return false;
    }
    // Keys deleted behind the store's back (a reset) void the digest.
    if (digest.endsWith(":0")) return true;
    for await (
      const _ of kv.list({ prefix: [ROOT, "dedupe", jobName] }, { limit: 1 })
    ) return true;
    return false;
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
      await this.#claims.fenced(kv, claim, "recording deliveries", (atomic) => {
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
      if (entry.value && !entry.value.done) keep.add(entry.value.runId);
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

  /** Closes the database (once: closed already, by its owner or before, is fine). */
  async close(): Promise<void> {
    try {
      (await this.#kv).close();
    } catch (error) {
      if (!(error instanceof Deno.errors.BadResource)) throw error;
    }
  }
}
