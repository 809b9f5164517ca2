/**
 * `serve()`: runs every enabled scheduled job on its schedule. Several
 * instances may share one store: each slot of each job is claimed by one
 * instance, under a lease it renews while the run lasts; a run whose
 * instance died is taken over once its lease runs out, and recorded as a
 * retry. A job never overlaps itself, a missed slot runs once after
 * downtime, a slot that does not run is recorded `skipped` with the
 * reason (slots missed while no instance ran too: a few one by one, then
 * one record for the rest), old runs are pruned (at start and daily), and a stop is graceful
 * and bounded: `serve` returns within `graceMs` whatever is hung. Nothing in
 * it can end the process: every failure is logged, store calls retried.
 *
 * Two drivers: `timer` (default) wakes for each slot; `deno-cron` lets
 * `Deno.cron` wake it every minute (Deno Deploy).
 *
 * @module
 */
import { type Clock, realClock, withDeadline } from "../clock.ts";
import { STORE_CALL_MS } from "./_claim.ts";
import {
  cronDriver,
  type DenoCron,
  type SchedulerHooks,
  timerDriver,
} from "./_drivers.ts";
import type { Jobs } from "./engine.ts";
import type { RunReport, RunStore } from "../store/contract.ts";
import { logger } from "../logger.ts";
import { SlotRunner } from "./_slot_runner.ts";
import { watchStale } from "../alerts/notices.ts"; // alerts (issue 14)
import type { StatusServerAddress } from "../observe/listen_address.ts";

export type { DenoCron, SchedulerHooks } from "./_drivers.ts";

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
  /**
   * How long a run's store call is retried while its claim holds, in ms
   * (default 300000). Past it the run fails with `STORE_ERROR` (recorded if
   * the store lets it) and `serve` goes on. Keep it above `leaseMs`: a run
   * then survives every store outage its lease survives.
   */
  storeRetryMs?: number;
  /** This instance's name in the store (default: pid and a random suffix). */
  instance?: string;
  /** `timer` (default): wake for each slot. `deno-cron`: `Deno.cron` wakes it every minute. */
  driver?: "timer" | "deno-cron";
  /** Stop on SIGINT and SIGTERM too (default true; not with `deno-cron`). */
  handleSignals?: boolean;
  /** Only these jobs (default: every enabled job with a schedule). */
  jobs?: string[];
  /** Told of every finished run. */
  onRun?: (report: RunReport) => void;
  /** The clock (tests pass a fake one). */
  clock?: Clock;
  /** `Deno.cron`, for the `deno-cron` driver (tests pass a fake one). */
  cron?: DenoCron;
  /** Run records older than `keepDays` (default 30) are pruned, at start and daily. */
  history?: { keepDays?: number };
  /**
   * Serve the status page, `/healthz`, `/metrics` and the JSON API on
   * `"HOST:PORT"` (port 0 picks a free one; a port alone binds 127.0.0.1).
   * `serve` then runs until aborted even with no scheduled job.
   */
  http?: string;
  /** Enables `POST /api/jobs/<name>/run` with `Authorization: Bearer <token>`. */
  httpToken?: string;
  /**
   * `Host` names the status server answers besides loopback ones (e.g. a
   * reverse proxy's public name). Bound to loopback it refuses any other
   * with 403, against DNS rebinding; bound elsewhere it checks only when
   * these are given.
   */
  httpAllowedHosts?: string[];
  /** Told the status server's address once it listens. */
  onListen?: (address: StatusServerAddress) => void;
}

/** How long run records are kept by default, in days. */
export const DEFAULT_KEEP_DAYS = 30;
const DAY_MS = 86_400_000;
/** How long one pruning may take, in ms. */
const PRUNE_MS = 300_000;

/**
 * Runs scheduled jobs until stopped.
 *
 * @param jobs The registry's jobs.
 * @param store Where slots are claimed and runs recorded.
 * @param options Stop signal, grace period, lease, driver, clock.
 * @param hooks Ticks for the health check; keep running with no job.
 */
export async function runScheduler(
  jobs: Jobs,
  store: () => RunStore,
  options: ServeOptions = {},
  hooks: SchedulerHooks = {},
): Promise<void> {
  const clock = options.clock ?? realClock;
  const leaseMs = options.leaseMs ?? 60_000;
  const instance = options.instance ??
    `${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  const runner = new SlotRunner(jobs, store, {
    clock,
    leaseMs,
    instance,
    ...(options.onRun ? { onRun: options.onRun } : {}),
    ...(options.storeRetryMs === undefined
      ? {}
      : { storeRetryMs: options.storeRetryMs }),
  });
  const wanted = options.jobs ? new Set(options.jobs) : undefined;
  const scheduled = jobs.listJobs().filter((job) =>
    job.parsedSchedule && job.enabled !== false &&
    (!wanted || wanted.has(job.name))
  );
  const stop = new AbortController();
  const onStop = () => stop.abort();
  options.signal?.addEventListener("abort", onStop, { once: true });
  if (options.signal?.aborted) stop.abort();
  const cron = options.driver === "deno-cron";
  const signals: Deno.Signal[] = cron || options.handleSignals === false
    ? []
    : ["SIGINT", "SIGTERM"];
  for (const signal of signals) Deno.addSignalListener(signal, onStop);
  // alerts (issue 14): onFailure.stale, checked at start and every minute.
  const stale = watchStale(jobs, clock, stop.signal);
  // At start, then daily; a stop ends it at once, whatever it waits on.
  const pruning = (async () => {
    do {
      await prune(store, clock, options.history?.keepDays, stop.signal);
    } while (
      await clock.sleep(DAY_MS, stop.signal).then(() => true, () => false)
    );
  })();
  try {
    for (const job of scheduled) {
      // Down while slots passed: run once for them, not once per slot; the
      // others are recorded skipped (bounded: a few, then one for the rest).
      const missed = await withDeadline(
        clock,
        STORE_CALL_MS,
        runner.missed(job),
        () => new Error("the run store did not answer"),
        stop.signal,
      ).catch((error) => {
        log.error("Job {jobName}: missed slots not checked: {error}", {
          jobName: job.name,
          error: (error as Error).message,
        });
        return undefined;
      });
      if (missed !== undefined) runner.catchUp(job, missed);
    }
    log.info("Scheduler {instance} started with {count} jobs", {
      instance,
      count: scheduled.length,
    });
    if (cron) {
      const denoCron = options.cron ??
        (Deno as unknown as { cron?: DenoCron }).cron;
      await cronDriver(scheduled, runner, clock, stop.signal, denoCron, hooks);
    } else {
      await timerDriver(scheduled, runner, clock, leaseMs, stop.signal, hooks);
    }
    await stale; // alerts (issue 14): with nothing scheduled, stale checks go on
  } finally {
    stop.abort(); // ends the stale checks and the pruning
    for (const signal of signals) Deno.removeSignalListener(signal, onStop);
    options.signal?.removeEventListener("abort", onStop);
    const graceMs = options.graceMs ?? 30_000;
    // One grace period for every run, whoever started it.
    const draining = Promise.all([
      runner.drain(graceMs),
      hooks.onStop?.(graceMs),
    ]);
    await pruning;
    await draining;
    await stale;
  }
}

/** Deletes run records older than `keepDays`; a failure is logged, never thrown. */
async function prune(
  store: () => RunStore,
  clock: Clock,
  keepDays = DEFAULT_KEEP_DAYS,
  signal?: AbortSignal,
): Promise<void> {
  const now = clock.now();
  try {
    const { runs } = await withDeadline(
      clock,
      PRUNE_MS,
      store().prune({ before: now - keepDays * DAY_MS, now }),
      () => new Error(`the run store did not finish within ${PRUNE_MS} ms`),
      signal,
    );
    if (runs > 0) {
      log.info("Pruned {runs} run records older than {keepDays} days", {
        runs,
        keepDays,
      });
    }
  } catch (error) {
    if (signal?.aborted) return;
    log.error("Old run records not pruned: {error}", {
      error: (error as Error).message,
    });
  }
}
