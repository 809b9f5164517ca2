/**
 * Deno KV's part of the run store that holds claims: claim, takeover,
 * renewal, release, skipped slots, and fenced writes — each an atomic
 * operation checked on the claim's versionstamp, judged again when it moved.
 *
 * KV has no clock of its own, and instances' clocks may disagree, so no
 * instance ever compares a time another instance wrote with its own clock
 * (as client-go's leader election does): each remembers, per job, the
 * version of the lease it last saw (epoch and renewal count) and when it
 * first saw it, by its own clock. A lease has run out, for this instance,
 * only when the same version stayed unchanged for a whole `leaseMs` of the
 * holder's (stored in the record) by this instance's clock. The holder
 * gives up earlier: when `leaseMs` passed since its last renewal that got
 * through was sent (`HeldClaim`), which is before the version it wrote was
 * seen by anyone. `leaseUntil` is compared only by the holder, with its own
 * clock (the fence of its own writes). Clocks are assumed to run at the
 * same rate, not to agree.
 *
 * @module
 */
import { TriggerKitError } from "../errors.ts";
import {
  type Claim,
  ClaimLostError,
  type ClaimRequest,
  type ClaimResult,
  type Lease,
  type RunRecord,
} from "./contract.ts";
import type { Clock } from "../clock.ts";
import {
  jobIndexKey,
  type KvAtomic,
  type KvKey,
  type KvLike,
  ROOT,
  type StoredClaim,
  type StoredRun,
  storedSummary,
} from "./_kv_records.ts";

/** Tries of an atomic operation that lost a race on its check. */
const TRIES = 20;

/** The lease length assumed for a record that does not say (the default `leaseMs`). */
const DEFAULT_LEASE_MS = 60_000;

/** A lease's version as this instance saw it, and when it first did, by its clock. */
interface Seen {
  version: string;
  at: number;
}

/** The claims of the jobs in one KV database. */
export class KvClaims {
  readonly #kv: Promise<KvLike>;
  readonly #clock: Clock;
  /** Per job: the lease version last seen, and since when (one entry a job). */
  readonly #seen = new Map<string, Seen>();

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

  /**
   * Notes the lease version seen now; a version seen before keeps its first
   * sighting. Written by this instance: seen when the write returned.
   */
  #observe(jobName: string, stored: StoredClaim): Seen {
    const version = `${stored.epoch}:${stored.beat ?? stored.leaseUntil}`;
    const seen = this.#seen.get(jobName);
    if (seen?.version === version) return seen;
    const fresh = { version, at: this.#now() };
    this.#seen.set(jobName, fresh);
    return fresh;
  }

  /**
   * Whether the lease has run out for this instance: the same version seen
   * unchanged for longer than its holder's `leaseMs`, by this instance's
   * clock alone. A lease seen for the first time is alive.
   */
  #expired(jobName: string, stored: StoredClaim): boolean {
    if (stored.done) return false;
    const seen = this.#observe(jobName, stored);
    return this.#now() - seen.at > (stored.leaseMs ?? DEFAULT_LEASE_MS);
  }

  /**
   * The status to show of a run recorded `running`. One that ran under a
   * claim is judged by the claim, never by a heartbeat another instance
   * wrote from its clock: interrupted when the claim moved on (taken over,
   * another run claimed), was given up, or its lease ran out as this
   * instance saw it. A run without a claim (a dry run) is judged by its
   * heartbeat against this instance's clock.
   */
  async runStatus(
    kv: KvLike,
    stored: StoredRun,
    staleAfterMs: number,
  ): Promise<RunRecord["status"]> {
    if (stored.status !== "running") return stored.status;
    if (stored.epoch === undefined || stored.jobName === undefined) {
      return stored.heartbeatAt < this.#now() - staleAfterMs
        ? "interrupted"
        : "running";
    }
    const { value } = await kv.get<StoredClaim>(this.claimKey(stored.jobName));
    const lost = !value || value.epoch !== stored.epoch || value.done ||
      this.#expired(stored.jobName, value);
    return lost ? "interrupted" : "running";
  }

  async claim(jobName: string, request: ClaimRequest): Promise<ClaimResult> {
    const kv = await this.#kv;
    for (let i = 0; i < TRIES; i++) {
      const entry = await kv.get<StoredClaim>(this.claimKey(jobName));
      const current = entry.value;
      if (current) this.#observe(jobName, current);
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
      // By hand, a job whose holder stopped renewing (seen unchanged for its
      // lease by this instance) is taken at once (no scheduler may be there
      // to take it over): its run is interrupted.
      const wanted = request.slot === undefined
        ? free || this.#expired(jobName, current!)
        : free && (!current || current.lastSlot < request.slot);
      if (!wanted) {
        return { claimed: false, lease: this.#lease(jobName, current!) };
      }
      const generation = await this.#generation(kv, jobName);
      const next: StoredClaim = {
        ...current,
        epoch: (current?.epoch ?? 0) + 1,
        runId: request.runId,
        holder: request.holder,
        slot: request.slot ?? null,
        lastSlot: request.slot ?? current?.lastSlot ?? 0,
        leaseUntil: this.#now() + request.leaseMs,
        leaseMs: request.leaseMs,
        beat: 0,
        done: false,
        attempt: 1,
        generation,
      };
      if ((await kv.atomic().check(entry).set(entry.key, next).commit()).ok) {
        this.#observe(jobName, next);
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
      if (!current || !this.#expired(jobName, current)) return undefined;
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
        leaseMs: request.leaseMs,
        beat: 0,
        attempt: current.attempt + 1,
      };
      if ((await kv.atomic().check(entry).set(entry.key, next).commit()).ok) {
        this.#observe(jobName, next);
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
    let renewed: StoredClaim | undefined;
    try {
      await this.fenced(
        kv,
        claim,
        "renewing the lease",
        (atomic, current) => {
          // A new version every renewal: how other instances see it alive.
          renewed = {
            ...current,
            leaseUntil: this.#now() + claim.leaseMs,
            leaseMs: claim.leaseMs,
            beat: (current.beat ?? 0) + 1,
          };
          return atomic.set(this.claimKey(claim.jobName), renewed);
        },
      );
    } catch (error) {
      if (error instanceof ClaimLostError) return false;
      throw error;
    }
    if (renewed) this.#observe(claim.jobName, renewed);
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
    return value ? this.#lease(jobName, value) : undefined;
  }

  #lease(jobName: string, stored: StoredClaim): Lease {
    const lease: Lease = {
      runId: stored.runId,
      holder: stored.holder,
      epoch: stored.epoch,
      lastSlot: stored.lastSlot,
      done: stored.done,
      expired: this.#expired(jobName, stored),
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
    const stored: StoredRun = { ...run.value, status: "interrupted" };
    let atomic = kv.atomic().check(run).set(run.key, stored);
    if (stored.jobName !== undefined) {
      const record = JSON.parse(stored.report) as RunRecord;
      atomic = atomic.set(jobIndexKey(record), storedSummary(record, stored));
    }
    await atomic.commit();
  }

  /**
   * Commits `build`'s mutations only while `claim` is the job's and alive:
   * checked on the claim's versionstamp, judged again when it moved. Only
   * the holder writes under its epoch, so `leaseUntil`, written from its
   * clock, is compared with the same clock here.
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

function contention(jobName: string): TriggerKitError {
  return new TriggerKitError(
    "STORE_ERROR",
    `Deno KV: too many concurrent changes to job "${jobName}"'s claim; try again`,
  );
}
