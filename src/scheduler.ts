/**
 * `serve()`: runs every enabled scheduled job on its schedule. Several
 * instances may share one store: each slot of each job is claimed by one
 * instance, under a lease it renews while the run lasts; a run whose
 * instance died is taken over once its lease runs out, and recorded as a
 * retry. A job never overlaps itself, a missed slot runs once after
 * downtime, and a stop is graceful.
 *
 * Two drivers: `timer` (default) wakes for each slot; `deno-cron` lets
 * `Deno.cron` wake it every minute (Deno Deploy).
 *
 * @module
 */
import { type Clock, realClock } from "./clock.ts";
import type { Job, Jobs } from "./jobs.ts";
import type { RunReport, RunStore } from "./store.ts";
import { TriggerKitError } from "./errors.ts";
import { logger } from "./logger.ts";
import { SlotRunner } from "./_slot_runner.ts";
import type { StatusServerAddress } from "./observe/listen_address.ts";

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
  /**
   * Serve the status page, `/healthz`, `/metrics` and the JSON API on
   * `"HOST:PORT"` (port 0 picks a free one; a port alone binds 127.0.0.1).
   * `serve` then runs until aborted even with no scheduled job.
   */
  http?: string;
  /** Enables `POST /api/jobs/<name>/run` with `Authorization: Bearer <token>`. */
  httpToken?: string;
  /** Told the status server's address once it listens. */
  onListen?: (address: StatusServerAddress) => void;
}

/** How the status server follows the scheduler loop (internal to `serve`). */
export interface SchedulerHooks {
  /** Called when the loop starts and each time it wakes. */
  onTick?: (now: number) => void;
  /** Keep running with no scheduled job, until stopped. */
  keepAlive?: boolean;
}

/** The cron function of Deno Deploy (`--unstable-cron` elsewhere). */
export type DenoCron = (
  name: string,
  schedule: string,
  options: { signal?: AbortSignal },
  handler: () => Promise<void>,
) => Promise<void>;

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
  try {
    for (const job of scheduled) {
      const missed = await runner.missed(job);
      // Down while slots passed: run once for them, not once per slot.
      if (missed !== undefined) runner.start(job, missed);
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
  } finally {
    for (const signal of signals) Deno.removeSignalListener(signal, onStop);
    options.signal?.removeEventListener("abort", onStop);
    await runner.drain(options.graceMs ?? 30_000);
  }
}

/** Wakes for each job's next slot, and every half lease to rescue dead instances' runs. */
async function timerDriver(
  jobs: Job[],
  runner: SlotRunner,
  clock: Clock,
  leaseMs: number,
  stop: AbortSignal,
  hooks: SchedulerHooks,
) {
  const planned = jobs.map((job) => ({
    job,
    next: job.parsedSchedule!.next(clock.now()),
  }));
  let nextRescue = clock.now();
  hooks.onTick?.(nextRescue);
  while (!stop.aborted && (planned.length > 0 || hooks.keepAlive)) {
    const due = Math.min(nextRescue, ...planned.map((plan) => plan.next));
    const wait = due - clock.now();
    if (wait > 0) {
      try {
        await clock.sleep(wait, stop);
      } catch {
        return;
      }
    }
    const now = clock.now();
    hooks.onTick?.(now);
    if (now >= nextRescue) {
      for (const plan of planned) runner.rescue(plan.job);
      nextRescue = now + leaseMs / 2;
    }
    for (const plan of planned) {
      if (plan.next > now) continue;
      runner.start(plan.job, plan.next);
      plan.next = plan.job.parsedSchedule!.next(Math.max(plan.next, now));
    }
  }
}

/**
 * Lets `Deno.cron` wake the scheduler every minute (its finest grain): each
 * tick runs every slot that came since the last tick. Schedules finer than a
 * minute cannot be driven this way.
 */
async function cronDriver(
  jobs: Job[],
  runner: SlotRunner,
  clock: Clock,
  stop: AbortSignal,
  cron: DenoCron | undefined,
  hooks: SchedulerHooks,
) {
  if (typeof cron !== "function") {
    throw new TriggerKitError(
      "INVALID_CONFIG",
      'serve({ driver: "deno-cron" }) needs Deno.cron: on Deno Deploy it is built in; elsewhere run with --unstable-cron',
    );
  }
  for (const job of jobs) {
    const schedule = job.parsedSchedule!;
    const first = schedule.next(0);
    if (schedule.next(first) - first < 60_000) {
      throw new TriggerKitError(
        "INVALID_SCHEDULE",
        `Invalid job "${job.name}": Deno.cron runs at most once a minute, so "${schedule.source}" cannot be driven by it`,
      );
    }
  }
  const ticks = jobs.map((job) => {
    let last = clock.now();
    return cron(`triggerkit ${job.name}`, "* * * * *", { signal: stop }, () => {
      const now = clock.now();
      runner.rescue(job);
      let slot: number | undefined;
      for (
        let next = job.parsedSchedule!.next(last);
        next <= now;
        next = job.parsedSchedule!.next(next)
      ) slot = next;
      last = now;
      if (slot !== undefined) runner.start(job, slot);
      return Promise.resolve();
    });
  });
  const onTick = hooks.onTick;
  if (onTick) {
    // Slots wake the loop once a minute per job; the health check needs a beat with no job too.
    onTick(clock.now());
    ticks.push(
      cron("triggerkit heartbeat", "* * * * *", { signal: stop }, () => {
        onTick(clock.now());
        return Promise.resolve();
      }),
    );
  }
  await new Promise<void>((resolve) => {
    if (stop.aborted) return resolve();
    stop.addEventListener("abort", () => resolve(), { once: true });
  });
  await Promise.allSettled(ticks);
}
