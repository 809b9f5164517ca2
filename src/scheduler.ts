/**
 * The scheduler behind `serve()`: runs every enabled scheduled job on its
 * schedule, never two runs of one job at once, one catch-up run for slots
 * missed while it was down, and a graceful stop.
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
 * @param store Where each job's last slot is kept.
 * @param options Stop signal, grace period, clock.
 */
export async function runScheduler(
  jobs: Jobs,
  store: () => RunStore,
  options: ServeOptions = {},
): Promise<void> {
  const clock = options.clock ?? realClock;
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

  const start = (job: Job, slot: number) => {
    if (jobs.isRunning(job.name)) {
      log.warn("Job {jobName} is still running: slot {slot} skipped", {
        jobName: job.name,
        slot: new Date(slot).toISOString(),
      });
      return;
    }
    const run = (async () => {
      await store().setLastSlot(job.name, slot);
      const report = await jobs.runJob(job.name, {
        slot,
        signal: runAbort.signal,
      });
      options.onRun?.(report);
    })().catch((error) =>
      log.error("Job {jobName} could not run: {error}", {
        jobName: job.name,
        error,
      })
    );
    running.add(run);
    run.finally(() => running.delete(run));
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
      const last = await store().lastSlot(job.name);
      if (last !== undefined) {
        const missed = job.parsedSchedule.next(last);
        // Down while slots passed: run once for them, not once per slot.
        if (missed <= now) start(job, missed);
      }
      planned.push({ job, next: job.parsedSchedule.next(now) });
    }
    log.info("Scheduler started with {count} jobs", { count: planned.length });
    while (!stop.signal.aborted && planned.length > 0) {
      const due = Math.min(...planned.map((plan) => plan.next));
      const wait = due - clock.now();
      if (wait > 0) {
        try {
          await clock.sleep(wait, stop.signal);
        } catch {
          break;
        }
      }
      const now = clock.now();
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
