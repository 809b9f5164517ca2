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
import type { SlotRunner } from "./_slot_runner.ts";

/** The cron function of Deno Deploy (`--unstable-cron` elsewhere). */
export type DenoCron = (
  name: string,
  schedule: string,
  options: { signal?: AbortSignal },
  handler: () => Promise<void>,
) => Promise<void>;

/** Wakes for each job's next slot, and every half lease to rescue dead instances' runs. */
export async function timerDriver(
  jobs: Job[],
  runner: SlotRunner,
  clock: Clock,
  leaseMs: number,
  stop: AbortSignal,
) {
  const planned = jobs.map((job) => ({
    job,
    next: job.parsedSchedule!.next(clock.now()),
  }));
  let nextRescue = clock.now();
  while (!stop.aborted && planned.length > 0) {
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
    if (now >= nextRescue) {
      for (const plan of planned) runner.rescue(plan.job);
      nextRescue = now + leaseMs / 2;
    }
    for (const plan of planned) {
      if (plan.next > now) continue;
      const slot = plan.next;
      plan.next = plan.job.parsedSchedule!.next(Math.max(plan.next, now));
      runner.start(plan.job, slot, plan.next);
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
  await new Promise<void>((resolve) => {
    if (stop.aborted) return resolve();
    stop.addEventListener("abort", () => resolve(), { once: true });
  });
  await Promise.allSettled(ticks);
}
