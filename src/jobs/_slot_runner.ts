/**
 * Running scheduled slots, shared by both `serve` drivers: claim the slot in
 * the store, renew the lease while the run lasts, release it after; take
 * over runs whose instance died; stop gracefully.
 *
 * @module
 */
import { type Clock, repeat } from "../clock.ts";
import type { Job } from "./definitions.ts";
import type { Jobs } from "./engine.ts";
import type { RunReport, RunStore } from "../store/contract.ts";
import { logger } from "../logger.ts";

const log = logger("scheduler");

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

  /** Runs a slot of a job if this instance claims it. */
  start(job: Job, slot: number): void {
    if (this.#jobs.isRunning(job.name)) {
      log.info("Job {jobName} is still running: slot {slot} skipped", {
        jobName: job.name,
        slot: iso(slot),
      });
      return;
    }
    const { clock, leaseMs, instance } = this.#options;
    this.#track(job.name, async () => {
      if (
        await this.#store().claim(
          job.name,
          slot,
          instance,
          clock.now() + leaseMs,
        )
      ) await this.#execute(job, slot, 1);
    });
  }

  /** Takes over the job's run if its instance died (its lease ran out). */
  rescue(job: Job): void {
    if (this.#jobs.isRunning(job.name)) return;
    const { clock, leaseMs, instance } = this.#options;
    this.#track(job.name, async () => {
      const lease = await this.#store().takeOver(
        job.name,
        instance,
        clock.now() + leaseMs,
        clock.now(),
      );
      if (!lease) return;
      log.warn(
        "Job {jobName}: taking over slot {slot} from a stopped instance",
        {
          jobName: job.name,
          slot: iso(lease.slot),
          attempt: lease.attempt,
        },
      );
      await this.#execute(job, lease.slot, lease.attempt);
    });
  }

  /** The slot to catch up on after downtime: the first one missed since the last run, if any. */
  async missed(job: Job): Promise<number | undefined> {
    const lease = await this.#store().lease(job.name);
    if (!lease?.done || !job.parsedSchedule) return undefined;
    const next = job.parsedSchedule.next(lease.slot);
    return next <= this.#options.clock.now() ? next : undefined;
  }

  /** Waits for running runs up to `graceMs`, then aborts them. */
  async drain(graceMs: number): Promise<void> {
    if (this.#running.size === 0) return;
    log.info("Scheduler stopping: waiting for {count} running jobs", {
      count: this.#running.size,
    });
    const grace = new AbortController();
    const settled = Promise.all(this.#running).then(() => true);
    const timedOut = this.#options.clock.sleep(graceMs, grace.signal).then(
      () => false,
      () => true,
    );
    if (!(await Promise.race([settled, timedOut]))) {
      this.#abort.abort(new Error("The scheduler stopped"));
      await settled;
    }
    grace.abort();
  }

  #track(jobName: string, work: () => Promise<void>): void {
    const run = work().catch((error) =>
      log.error("Job {jobName} could not run: {error}", { jobName, error })
    );
    this.#running.add(run);
    run.finally(() => this.#running.delete(run));
  }

  /** Runs a claimed slot, renewing its lease until the run ends. */
  async #execute(job: Job, slot: number, attempt: number): Promise<void> {
    const { clock, leaseMs, instance } = this.#options;
    const done = new AbortController();
    const renewing = repeat(clock, leaseMs / 3, async () => {
      try {
        if (
          !(await this.#store().renew(
            job.name,
            instance,
            clock.now() + leaseMs,
          ))
        ) {
          log.error("Job {jobName} lost its lease on slot {slot}", {
            jobName: job.name,
            slot: iso(slot),
          });
        }
      } catch (error) {
        log.error("Job {jobName} could not renew its lease: {error}", {
          jobName: job.name,
          error,
        });
      }
    }, done.signal);
    try {
      const report = await this.#jobs.runJob(job.name, {
        slot,
        attempt,
        signal: this.#abort.signal,
      });
      this.#options.onRun?.(report);
    } finally {
      done.abort();
      await renewing;
      await this.#store().release(job.name, instance);
    }
  }
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
