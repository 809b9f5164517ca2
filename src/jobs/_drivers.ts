/**
 * The two ways `serve()` wakes: its own timers on the registry's clock
 * (`timer`), or `Deno.cron` every minute (`deno-cron`, for Deno Deploy).
 * Both hand due slots to the slot runner, which claims and runs them.
 *
 * @module
 */
import type { Clock } from "../clock.ts";
import { TriggerKitError } from "../errors.ts";
import type { Job } from "./definitions.ts";
import type { Missed, SlotRunner } from "./_slot_runner.ts";
import { type DueSlots, dueSlots, missedReason } from "./_missed.ts";

/** The cron function of Deno Deploy (`--unstable-cron` elsewhere). */
export type DenoCron = (
  name: string,
  schedule: string,
  options: { signal?: AbortSignal },
  handler: () => Promise<void>,
) => Promise<void>;

/** How the status server follows the scheduler loop (internal to `serve`). */
export interface SchedulerHooks {
  /** Called when the loop starts and each time it wakes. */
  onTick?: (now: number) => void;
  /** Keep running with no scheduled job, until stopped. */
  keepAlive?: boolean;
  /**
   * Called once when the scheduler stops, with its grace period: other runs
   * to drain (the status server's) are drained beside the scheduler's, in
   * the same grace period, not after it.
   */
  onStop?: (graceMs: number) => Promise<void>;
}

/** Wakes for each job's next slot, and every half lease to rescue dead instances' runs. */
export async function timerDriver(
  jobs: Job[],
  runner: SlotRunner,
  clock: Clock,
  leaseMs: number,
  stop: AbortSignal,
  hooks: SchedulerHooks = {},
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
      // Woke late (a pause, a machine asleep): the latest due slot runs for the others.
      const due = dueSlots(plan.job.parsedSchedule!, plan.next, now);
      plan.next = plan.job.parsedSchedule!.next(due.run);
      runner.start(plan.job, due.run, plan.next, late(due));
    }
  }
}

/**
 * Lets `Deno.cron` wake the scheduler every minute (its finest grain): each
 * tick runs every slot that came since the last tick. Schedules finer than a
 * minute cannot be driven this way.
 */
export async function cronDriver(
  jobs: Job[],
  runner: SlotRunner,
  clock: Clock,
  stop: AbortSignal,
  cron: DenoCron | undefined,
  hooks: SchedulerHooks = {},
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
    return cron(cronName(job.name), "* * * * *", { signal: stop }, () => {
      const now = clock.now();
      runner.rescue(job);
      const first = job.parsedSchedule!.next(last);
      last = now;
      if (first <= now) {
        const due = dueSlots(job.parsedSchedule!, first, now);
        runner.start(job, due.run, undefined, late(due));
      }
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

/**
 * A job's `Deno.cron` name: Deno allows only letters, digits, spaces, `-` and
 * `_`, at most 64 characters, and a job name may hold anything else. Other
 * characters become `_`, and a hash of the whole name keeps two names apart.
 */
export function cronName(jobName: string): string {
  const plain = `triggerkit ${jobName}`;
  if (plain.length <= 64 && /^[A-Za-z0-9 _-]+$/.test(plain)) return plain;
  let hash = 0x811c9dc5;
  for (let i = 0; i < jobName.length; i++) {
    hash = Math.imul(hash ^ jobName.charCodeAt(i), 0x01000193);
  }
  const suffix = (hash >>> 0).toString(16).padStart(8, "0");
  const safe = jobName.replace(/[^A-Za-z0-9 _-]/g, "_").slice(0, 44);
  return `triggerkit ${safe} ${suffix}`;
}

/** Slots due before the one that runs, when the scheduler woke after them. */
function late(due: DueSlots): Missed | undefined {
  return due.each.length === 0 && !due.rest
    ? undefined
    : { due, reason: missedReason("late", due.run) };
}
