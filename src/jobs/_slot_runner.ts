/**
 * Running scheduled slots, shared by both `serve` drivers: claim the slot in
 * the store (the engine renews the claim while the run lasts and releases
 * it after); take over runs whose instance died; record every slot that
 * does not run as `skipped`, with the reason, as soon as the store answers;
 * stop within the grace period whatever is hung.
 *
 * @module
 */
import type { Clock } from "../clock.ts";
import type { Job } from "./definitions.ts";
import { heldReason, type Jobs } from "./engine.ts";
import {
  type Claim,
  describeHolder,
  type RunReport,
  type RunStore,
} from "../store/contract.ts";
import { logger } from "../logger.ts";
import { retryStore } from "./_claim.ts";
import { skipAll } from "./_pipeline.ts";
import { drainRuns } from "./_drain.ts";

const log = logger("scheduler");
/** Skipped slots: their own category, so that a caller printing runs (`serve`'s lines) can leave them out. */
const skipLog = logger("scheduler", "skipped");

/** What a slot runner needs. */
export interface SlotRunnerOptions {
  clock: Clock;
  leaseMs: number;
  instance: string;
  onRun?: (report: RunReport) => void;
}

/** Starts runs for slots, at most one per job at a time across instances. */
export class SlotRunner {
  readonly #jobs: Jobs;
  readonly #store: () => RunStore;
  readonly #options: SlotRunnerOptions;
  readonly #running = new Set<Promise<unknown>>();
  readonly #abort = new AbortController();
  /** Slots that could not be claimed because the store did not answer, by job. */
  readonly #unreachable = new Map<string, number[]>();

  /**
   * @param jobs The registry's jobs.
   * @param store Where slots are claimed.
   * @param options Clock, lease, instance name.
   */
  constructor(jobs: Jobs, store: () => RunStore, options: SlotRunnerOptions) {
    this.#jobs = jobs;
    this.#store = store;
    this.#options = options;
  }

  /** Runs a slot of a job if this instance claims it; records it skipped when the job is held. */
  start(job: Job, slot: number, until?: number): void {
    this.#track(job.name, async () => {
      if (this.#jobs.isRunning(job.name)) {
        await this.#recordUnreachable(job).catch(() => {});
        await this.#skip(
          job,
          slot,
          `a run of this job is already in progress: held by ${
            describeHolder(this.#jobs.holder(this.#options.instance))
          } (this instance)`,
        );
        return;
      }
      const { clock, leaseMs } = this.#options;
      const runId = crypto.randomUUID();
      const claimedAt = clock.now();
      let result;
      try {
        result = await retryStore(
          clock,
          "claiming a slot",
          async () => {
            // Earlier slots the store missed are recorded first: a claim of
            // this one would hide them (it moves the job's last slot on).
            await this.#recordUnreachable(job);
            return await this.#store().claim(job.name, {
              runId,
              holder: this.#jobs.holder(this.#options.instance),
              leaseMs,
              slot,
            });
          },
          {
            // Not past the next slot: that one is claimed on its own.
            forMs: Math.max(1_000, (until ?? claimedAt + leaseMs) - claimedAt),
            signal: this.#abort.signal,
          },
        );
      } catch (error) {
        log.error("Job {jobName}: slot {slot} not claimed: {error}", {
          jobName: job.name,
          slot: iso(slot),
          error: (error as Error).message,
        });
        this.#missed(job, slot);
        return;
      }
      if (result.claimed) {
        await this.#execute(job, result.claim, claimedAt);
        return;
      }
      // Another instance has this slot: nothing to do.
      if (result.lease.lastSlot >= slot) return;
      await this.#skip(job, slot, heldReason(result.lease), result.lease.holder)
        .catch(() => this.#missed(job, slot));
    });
  }

  /** Takes over the job's run if its instance died (its lease ran out). */
  rescue(job: Job): void {
    if (this.#jobs.isRunning(job.name)) return;
    const { clock, leaseMs, instance } = this.#options;
    this.#track(job.name, async () => {
      const claimedAt = clock.now();
      const claim = await this.#store().takeOver(job.name, {
        runId: crypto.randomUUID(),
        holder: this.#jobs.holder(instance),
        leaseMs,
      });
      if (!claim) return;
      log.warn(
        "Job {jobName}: taking over slot {slot} from a stopped instance",
        {
          jobName: job.name,
          slot: claim.slot === undefined ? "-" : iso(claim.slot),
          attempt: claim.attempt,
        },
      );
      await this.#execute(job, claim, claimedAt);
    });
  }

  /** The slot to catch up on after downtime: the first one missed since the last run, if any. */
  async missed(job: Job): Promise<number | undefined> {
    const lease = await this.#store().lease(job.name);
    if (!lease?.done || !job.parsedSchedule || lease.lastSlot === 0) {
      return undefined;
    }
    const next = job.parsedSchedule.next(lease.lastSlot);
    return next <= this.#options.clock.now() ? next : undefined;
  }

  /**
   * Waits for running runs, then aborts them; returns within `graceMs`
   * whatever is hung (a run that ignores its abort is left behind).
   */
  async drain(graceMs: number): Promise<void> {
    if (this.#running.size === 0) return;
    log.info("Scheduler stopping: waiting for {count} running jobs", {
      count: this.#running.size,
    });
    const stopped = await drainRuns(
      this.#options.clock,
      this.#running,
      graceMs,
      () => this.#abort.abort(new Error("The scheduler stopped")),
    );
    if (!stopped) {
      log.error(
        "Scheduler stopped with {count} runs still hung after the grace period",
        { count: this.#running.size },
      );
    }
  }

  #track(jobName: string, work: () => Promise<void>): void {
    const run = work().catch((error) =>
      log.error("Job {jobName} could not run: {error}", { jobName, error })
    );
    this.#running.add(run);
    run.finally(() => this.#running.delete(run));
  }

  /** Runs a claimed slot (the engine renews and releases the claim). */
  async #execute(job: Job, claim: Claim, claimedAt: number): Promise<void> {
    const report = await this.#jobs.runClaimed(job.name, claim, {
      signal: this.#abort.signal,
      claimAgeMs: this.#options.clock.now() - claimedAt,
    });
    this.#options.onRun?.(report);
  }

  /** Records a slot that does not run, once across instances, in one log line. */
  async #skip(
    job: Job,
    slot: number,
    reason: string,
    heldBy?: RunReport["heldBy"],
    retry = true,
  ): Promise<void> {
    const { clock } = this.#options;
    const store = this.#store();
    const mark = () => store.skipSlot(job.name, slot);
    if (
      !(retry
        ? await retryStore(clock, "marking a slot skipped", mark)
        : await mark())
    ) return;
    skipLog.warn("Job {jobName}: slot {slot} skipped: {reason}", {
      jobName: job.name,
      slot: iso(slot),
      reason,
    });
    const report: RunReport = {
      runId: crypto.randomUUID(),
      jobName: job.name,
      dryRun: false,
      status: "skipped",
      startedAt: new Date(clock.now()).toISOString(),
      finishedAt: "",
      rowCount: 0,
      newRowCount: 0,
      actions: [],
      slot: iso(slot),
    };
    skipAll(job, report, "skipped", reason);
    if (heldBy) report.heldBy = heldBy;
    const recorded = await this.#jobs.recordOnly(report);
    this.#options.onRun?.(recorded);
  }

  /** Remembers a slot the store could not be asked about, to record it skipped later. */
  #missed(job: Job, slot: number): void {
    const slots = this.#unreachable.get(job.name) ?? [];
    slots.push(slot);
    this.#unreachable.set(job.name, slots);
  }

  /**
   * Records the slots missed while the store did not answer, now that it
   * may; throws (keeping the rest) while it still does not.
   */
  async #recordUnreachable(job: Job): Promise<void> {
    const slots = this.#unreachable.get(job.name) ?? [];
    while (slots.length > 0) {
      await this.#skip(
        job,
        slots[0]!,
        "the run store could not be reached to claim it",
        undefined,
        false,
      );
      slots.shift();
    }
    this.#unreachable.delete(job.name);
  }
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
