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
  type Lease,
  type RunReport,
  type RunStore,
} from "../store/contract.ts";
import { logger } from "../logger.ts";
import { retryStore } from "./_claim.ts";
import { skipAll } from "./_pipeline.ts";
import { drainRuns } from "./_drain.ts";
import { type DueSlots, dueSlots, missedReason, SkipQueue } from "./_missed.ts";

const log = logger("scheduler");
/** Skipped slots: their own category, so that a caller printing runs (`serve`'s lines) can leave them out. */
const skipLog = logger("scheduler", "skipped");

/** Slots due before the one that runs, and why they did not run. */
export interface Missed {
  /** The due slots (the one that runs is `due.run`). */
  due: DueSlots;
  /** Their records' reason. */
  reason: string;
}

/** The slots a job missed while no instance ran, found when `serve` starts. */
export interface MissedAtStart {
  /** The due slots: the latest runs (unless the job is held), the others are recorded skipped. */
  due: DueSlots;
  /** The job's unfinished run, when it has one: it stands for every due slot. */
  held?: Lease;
}

/** What a slot runner needs. */
export interface SlotRunnerOptions {
  clock: Clock;
  leaseMs: number;
  instance: string;
  onRun?: (report: RunReport) => void;
  /** How long a run's store call is retried (default: the registry's). */
  storeRetryMs?: number;
}

/** Starts runs for slots, at most one per job at a time across instances. */
export class SlotRunner {
  readonly #jobs: Jobs;
  readonly #store: () => RunStore;
  readonly #options: SlotRunnerOptions;
  readonly #running = new Set<Promise<unknown>>();
  readonly #abort = new AbortController();
  /**
   * Slots waiting to be recorded skipped, by job: missed ones, and those
   * that could not be claimed because the store did not answer (bounded).
   */
  readonly #pending = new Map<string, SkipQueue>();
  /** The writing of each job's pending records under way. */
  readonly #recording = new Map<string, Promise<void>>();
  /** Each job's slot claims, one after the other. */
  readonly #claiming = new Map<string, Promise<void>>();

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

  /**
   * Runs a slot of a job if this instance claims it; records it skipped
   * when the job is held. Slots `missed` before it are recorded skipped
   * first (a claim of this one would hide them: it moves the job's last
   * slot on).
   */
  start(job: Job, slot: number, until?: number, missed?: Missed): void {
    if (missed) this.#queue(job).addDue(missed.due, missed.reason);
    const turn = this.#turn(job.name);
    this.#track(job.name, async () => {
      let claimed: { claim: Claim; claimedAt: number } | undefined;
      try {
        await turn.ready;
        claimed = await this.#claimSlot(job, slot, until);
      } finally {
        turn.done();
      }
      if (claimed) await this.#execute(job, claimed.claim, claimed.claimedAt);
    });
  }

  /**
   * Claims a slot, or records it skipped (when the job is held) or pending
   * (when the store does not answer before `until`, the next slot).
   */
  async #claimSlot(
    job: Job,
    slot: number,
    until: number | undefined,
  ): Promise<{ claim: Claim; claimedAt: number } | undefined> {
    if (this.#jobs.isRunning(job.name)) {
      await this.#recordPending(job).catch(() => {});
      await this.#skip(
        job,
        slot,
        `a run of this job is already in progress: held by ${
          describeHolder(this.#jobs.holder(this.#options.instance))
        } (this instance)`,
        { until: this.#until(slot, until) },
      ).catch(() => this.#missed(job, slot));
      return undefined;
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
          // Earlier slots are recorded first: a claim of this one would
          // hide them (it moves the job's last slot on).
          await this.#recordPending(job);
          return await this.#store().claim(job.name, {
            runId,
            holder: this.#jobs.holder(this.#options.instance),
            leaseMs,
            slot,
          });
        },
        {
          // Not past the next slot: that one is claimed on its own.
          forMs: Math.max(1_000, this.#until(slot, until) - claimedAt),
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
      return undefined;
    }
    if (result.claimed) return { claim: result.claim, claimedAt };
    // Another instance has this slot: nothing to do.
    if (result.lease.lastSlot >= slot) return undefined;
    await this.#skip(job, slot, heldReason(result.lease), {
      heldBy: result.lease.holder,
      until: this.#until(slot, until),
    }).catch(() => this.#missed(job, slot));
    return undefined;
  }

  /**
   * Until when a slot's store calls are retried: not past the next slot
   * (each is claimed in turn), nor past a lease for a slot with none.
   */
  #until(slot: number, next: number | undefined): number {
    return next ?? Math.max(slot, this.#options.clock.now()) +
        this.#options.leaseMs;
  }

  /**
   * The job's turn to claim a slot: after the claims of its earlier slots
   * are settled (claimed, recorded, or given up and queued), so that a
   * late claim of one slot never passes over an earlier one unrecorded.
   */
  #turn(jobName: string): { ready: Promise<void>; done: () => void } {
    const ready = this.#claiming.get(jobName) ?? Promise.resolve();
    let done!: () => void;
    const mine = new Promise<void>((resolve) => done = resolve);
    const chained = ready.then(() => mine);
    this.#claiming.set(jobName, chained);
    void chained.then(() => {
      if (this.#claiming.get(jobName) === chained) {
        this.#claiming.delete(jobName);
      }
    });
    return { ready, done };
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

  /** The slots the job missed since its last slot while no instance ran, if any. */
  async missed(job: Job): Promise<MissedAtStart | undefined> {
    const lease = await this.#store().lease(job.name);
    const schedule = job.parsedSchedule;
    if (!lease || !schedule || lease.lastSlot === 0) return undefined;
    const now = this.#options.clock.now();
    const first = schedule.next(lease.lastSlot);
    if (first > now) return undefined;
    const due = dueSlots(schedule, first, now);
    return lease.done ? { due } : { due, held: lease };
  }

  /**
   * Catches up after downtime: the latest missed slot runs, and stands for
   * the others, recorded skipped. A job whose run is unfinished (its
   * instance died, or a run started by hand goes on) runs none of them:
   * that run stands for them all (taken over once its lease runs out).
   */
  catchUp(job: Job, missed: MissedAtStart): void {
    const { due, held } = missed;
    if (!held) {
      this.start(job, due.run, undefined, {
        due,
        reason: missedReason("down", due.run),
      });
      return;
    }
    const reason = `missed: no instance was running at its time; ${
      heldReason(held)
    }`;
    const queue = this.#queue(job);
    queue.addDue(due, reason);
    queue.add(due.run, reason);
    this.#track(job.name, async () => {
      await retryStore(
        this.#options.clock,
        "recording missed slots",
        () => this.#recordPending(job),
        { signal: this.#abort.signal },
      ).catch((error) =>
        log.error("Job {jobName}: missed slots not recorded yet: {error}", {
          jobName: job.name,
          error: (error as Error).message,
        })
      );
    });
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
    const { clock, storeRetryMs } = this.#options;
    const report = await this.#jobs.runClaimed(job.name, claim, {
      signal: this.#abort.signal,
      claimAgeMs: clock.now() - claimedAt,
      ...(storeRetryMs === undefined ? {} : { storeRetryMs }),
    });
    this.#options.onRun?.(report);
  }

  /**
   * Records a slot that does not run (or slots up to `through`, in one
   * record), once across instances, in one log line.
   */
  async #skip(
    job: Job,
    slot: number,
    reason: string,
    options: {
      heldBy?: RunReport["heldBy"];
      /** Retried until then (ms); absent: one try. */
      until?: number;
      through?: number;
    } = {},
  ): Promise<void> {
    const { clock } = this.#options;
    const { heldBy, until, through = slot } = options;
    const store = this.#store();
    const mark = () => store.skipSlot(job.name, through);
    if (
      !(until === undefined ? await mark() : await retryStore(
        clock,
        "marking a slot skipped",
        mark,
        {
          forMs: Math.max(1_000, until - clock.now()),
          signal: this.#abort.signal,
        },
      ))
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
    this.#queue(job).add(
      slot,
      "the run store could not be reached to claim it",
    );
  }

  /** The job's slots waiting to be recorded skipped. */
  #queue(job: Job): SkipQueue {
    let queue = this.#pending.get(job.name);
    if (!queue) this.#pending.set(job.name, queue = new SkipQueue());
    return queue;
  }

  /**
   * Records the job's slots waiting to be recorded skipped, oldest first,
   * now that the store may answer; throws (keeping the rest) while it
   * still does not. One writer per job at a time: two would write the
   * same record's slot and drop the next one.
   */
  #recordPending(job: Job): Promise<void> {
    const before = this.#recording.get(job.name) ?? Promise.resolve();
    const mine = before.catch(() => {}).then(() => this.#writePending(job));
    this.#recording.set(job.name, mine);
    mine.catch(() => {}).finally(() => {
      if (this.#recording.get(job.name) === mine) {
        this.#recording.delete(job.name);
      }
    });
    return mine;
  }

  async #writePending(job: Job): Promise<void> {
    const queue = this.#pending.get(job.name);
    for (let next = queue?.peek(); next; next = queue!.peek()) {
      await this.#skip(job, next.slot, next.reason, { through: next.through });
      queue!.shift();
    }
  }
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
