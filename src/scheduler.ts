/**
 * The scheduler behind `serve()`: runs every enabled scheduled job on its
 * schedule. Several `serve` instances may share one store: each slot of each
 * job is claimed through the store by one instance, under a lease it renews
 * while the run lasts; a run whose instance died is taken over once its
 * lease runs out, and recorded as a retry. A job never overlaps itself, a
 * missed slot runs once after downtime, and a stop is graceful.
 *
 * @module
 */
import { type Clock, realClock } from "./clock.ts";
import type { Job, Jobs } from "./jobs.ts";
import type { RunReport, RunStore } from "./store.ts";
import { logger } from "./logger.ts";

const log = logger("scheduler");

/** Options of `serve()`. */
export interface ServeOptions {
  /** Aborting it stops the scheduler: no new runs, running ones may finish. */
  signal?: AbortSignal;
  /** How long running runs may take to finish after a stop, in ms (default 30000). */
  graceMs?: number;
  /**
   * How long a claimed run stays this instance's without renewal, in ms
   * (default 60000). A run whose instance died is taken over after it.
   */
  leaseMs?: number;
  /** This instance's name in the store (default: pid and a random suffix). */
  instance?: string;
  /** Stop on SIGINT and SIGTERM too (default true). */
  handleSignals?: boolean;
  /** Only these jobs (default: every enabled job with a schedule). */
  jobs?: string[];
  /** Told of every finished run. */
  onRun?: (report: RunReport) => void;
  /** The clock (tests pass a fake one). */
  clock?: Clock;
}

interface Planned {
  job: Job;
  next: number;
}

/**
 * Runs scheduled jobs until stopped.
 *
 * @param jobs The registry's jobs.
 * @param store Where slots are claimed and runs recorded.
 * @param options Stop signal, grace period, lease, clock.
 */
export async function runScheduler(
  jobs: Jobs,
  store: () => RunStore,
  options: ServeOptions = {},
): Promise<void> {
  const clock = options.clock ?? realClock;
  const leaseMs = options.leaseMs ?? 60_000;
  const instance = options.instance ??
    `${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  const stop = new AbortController();
  const runAbort = new AbortController();
  const onStop = () => stop.abort();
  options.signal?.addEventListener("abort", onStop, { once: true });
  if (options.signal?.aborted) stop.abort();
  const signals: Deno.Signal[] = options.handleSignals === false
    ? []
    : ["SIGINT", "SIGTERM"];
  for (const signal of signals) Deno.addSignalListener(signal, onStop);
  const running = new Set<Promise<unknown>>();

  /** Runs a claimed slot, renewing its lease until the run ends. */
  const execute = async (job: Job, slot: number, attempt: number) => {
    const done = new AbortController();
    const renewing = (async () => {
      while (!done.signal.aborted) {
        await clock.sleep(leaseMs / 3, done.signal).catch(() => {});
        if (done.signal.aborted) break;
        if (!(await store().renew(job.name, instance, clock.now() + leaseMs))) {
          log.error("Job {jobName} lost its lease on slot {slot}", {
            jobName: job.name,
            slot: iso(slot),
          });
        }
      }
    })();
    try {
      const report = await jobs.runJob(job.name, {
        slot,
        attempt,
        signal: runAbort.signal,
      });
      options.onRun?.(report);
    } finally {
      done.abort();
      await renewing;
      await store().release(job.name, instance);
    }
  };
  const track = (work: Promise<void>, jobName: string) => {
    const run = work.catch((error) =>
      log.error("Job {jobName} could not run: {error}", { jobName, error })
    );
    running.add(run);
    run.finally(() => running.delete(run));
  };
  const start = (job: Job, slot: number) => {
    if (jobs.isRunning(job.name)) {
      log.warn("Job {jobName} is still running: slot {slot} skipped", {
        jobName: job.name,
        slot: iso(slot),
      });
      return;
    }
    track(
      (async () => {
        if (
          await store().claim(job.name, slot, instance, clock.now() + leaseMs)
        ) await execute(job, slot, 1);
      })(),
      job.name,
    );
  };
  const rescue = (job: Job) => {
    if (jobs.isRunning(job.name)) return;
    track(
      (async () => {
        const lease = await store().takeOver(
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
        await execute(job, lease.slot, lease.attempt);
      })(),
      job.name,
    );
  };

  try {
    const wanted = options.jobs ? new Set(options.jobs) : undefined;
    const planned: Planned[] = [];
    for (const job of jobs.listJobs()) {
      if (
        !job.parsedSchedule || job.enabled === false ||
        (wanted && !wanted.has(job.name))
      ) continue;
      const now = clock.now();
      const lease = await store().lease(job.name);
      if (lease?.done) {
        const missed = job.parsedSchedule.next(lease.slot);
        // Down while slots passed: run once for them, not once per slot.
        if (missed <= now) start(job, missed);
      }
      planned.push({ job, next: job.parsedSchedule.next(now) });
    }
    log.info("Scheduler {instance} started with {count} jobs", {
      instance,
      count: planned.length,
    });
    let nextRescue = clock.now();
    while (!stop.signal.aborted && planned.length > 0) {
      const due = Math.min(nextRescue, ...planned.map((plan) => plan.next));
      const wait = due - clock.now();
      if (wait > 0) {
        try {
          await clock.sleep(wait, stop.signal);
        } catch {
          break;
        }
      }
      const now = clock.now();
      if (now >= nextRescue) {
        for (const plan of planned) rescue(plan.job);
        nextRescue = now + leaseMs / 2;
      }
      for (const plan of planned) {
        if (plan.next > now) continue;
        start(plan.job, plan.next);
        plan.next = plan.job.parsedSchedule!.next(Math.max(plan.next, now));
      }
    }
  } finally {
    for (const signal of signals) Deno.removeSignalListener(signal, onStop);
    options.signal?.removeEventListener("abort", onStop);
    if (running.size > 0) {
      log.info("Scheduler stopping: waiting for {count} running jobs", {
        count: running.size,
      });
      const grace = new AbortController();
      const settled = Promise.all(running).then(() => true);
      const timedOut = clock.sleep(options.graceMs ?? 30_000, grace.signal)
        .then(() => false, () => true);
      if (!(await Promise.race([settled, timedOut]))) {
        runAbort.abort(new Error("The scheduler stopped"));
        await settled;
      }
      grace.abort();
    }
  }
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
