/**
 * Schedules: when a job's next slot is.
 *
 * - `every N seconds|minutes|hours|days|weeks`: fixed intervals counted from
 *   the Unix epoch, the same in every time zone.
 * - `every minute`, `hourly`, `daily at HH:MM`, 5-field cron (`*\/5 * * * *`)
 *   and cron nicknames (`@hourly`, `@daily`, `@weekly`, `@monthly`,
 *   `@yearly`): wall-clock times in the job's time zone (IANA, UTC by
 *   default), so `daily at 06:00` stays at 06:00 across DST changes. Cron is
 *   read by `npm:croner`; the word forms are thin mappings onto cron.
 *
 * @module
 */
import { Cron } from "croner";
import { TriggerKitError } from "../errors.ts";

/** A parsed schedule. */
export interface Schedule {
  /** The schedule as written. */
  readonly source: string;
  /** The first slot strictly after `after` (ms since the epoch). */
  next(after: number): number;
  /**
   * For `every N seconds|minutes|…`: the interval in ms (its slots are the
   * multiples of it since the epoch). Absent for wall-clock schedules.
   */
  readonly intervalMs?: number;
}

const UNITS: Record<string, number> = {
  second: 1_000,
  minute: 60_000,
  hour: 3_600_000,
  day: 86_400_000,
  week: 604_800_000,
};

function invalid(schedule: string, reason: string): TriggerKitError {
  return new TriggerKitError(
    "INVALID_SCHEDULE",
    `Invalid schedule "${schedule}": ${reason}`,
  );
}

/**
 * Parses a schedule.
 *
 * @param source The schedule text.
 * @param timeZone An IANA time zone for wall-clock schedules (default UTC).
 * @returns The schedule.
 * @throws {TriggerKitError} `INVALID_SCHEDULE` with the reason.
 *
 * @example The next slots of a schedule
 * ```ts
 * import { parseSchedule } from "@triggerkit/triggerkit";
 * import assert from "node:assert/strict";
 *
 * const after = Date.parse("2026-03-01T10:07:00Z");
 * const daily = parseSchedule("daily at 06:00", "Europe/Paris");
 * assert.equal(new Date(daily.next(after)).toISOString(), "2026-03-02T05:00:00.000Z");
 * const hourly = parseSchedule("@hourly");
 * assert.equal(new Date(hourly.next(after)).toISOString(), "2026-03-01T11:00:00.000Z");
 * ```
 */
export function parseSchedule(source: string, timeZone = "UTC"): Schedule {
  if (typeof source !== "string" || source.trim() === "") {
    throw invalid(
      String(source),
      'a schedule such as "every 15 minutes", "daily at 06:00" or "*/5 * * * *" is required',
    );
  }
  assertTimeZone(source, timeZone);
  const text = source.trim().toLowerCase().replace(/\s+/g, " ");
  const every = /^every (\d+) (second|minute|hour|day|week)s?$/.exec(text);
  if (every) {
    const count = Number(every[1]);
    if (count < 1) throw invalid(source, "the interval must be at least 1");
    const ms = count * UNITS[every[2]!]!;
    return {
      source,
      next: (after) => Math.floor(after / ms) * ms + ms,
      intervalMs: ms,
    };
  }
  return cronSchedule(source, toCron(source, text), timeZone);
}

/** The cron expression a schedule's text stands for. */
function toCron(source: string, text: string): string {
  if (text === "every minute") return "* * * * *";
  if (text === "hourly" || text === "every hour") return "0 * * * *";
  const daily = /^daily at (\d{1,2}):(\d{2})$/.exec(text);
  if (daily) {
    const [hour, minute] = [Number(daily[1]), Number(daily[2])];
    if (hour > 23 || minute > 59) {
      throw invalid(source, "the time must be between 00:00 and 23:59");
    }
    return `${minute} ${hour} * * *`;
  }
  if (text.startsWith("@") || text.split(" ").length === 5) return text;
  throw invalid(
    source,
    'use "every N seconds|minutes|hours|days|weeks", "every minute", "hourly", "daily at HH:MM", a 5-field cron expression or a nickname such as "@daily"',
  );
}

function assertTimeZone(source: string, timeZone: string): void {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone });
  } catch {
    throw invalid(
      source,
      `unknown time zone "${timeZone}" (use an IANA name such as "Europe/Paris")`,
    );
  }
}

function cronSchedule(
  source: string,
  expression: string,
  timeZone: string,
): Schedule {
  let cron: Cron;
  try {
    // 5-part: minutes are the finest grain; day of month OR day of week, as cron has it.
    cron = new Cron(expression, {
      timezone: timeZone,
      mode: "5-part",
      domAndDow: false,
      paused: true,
    });
  } catch (error) {
    const reason = (error as Error).message.replace(/^CronPattern: /, "");
    throw invalid(source, reason);
  }
  const schedule: Schedule = {
    source,
    next(after) {
      const next = cron.nextRun(new Date(after));
      if (next === null) throw invalid(source, "it never matches a date");
      return next.getTime();
    },
  };
  schedule.next(0); // fails now, not at 3 a.m., on a date that never comes
  return schedule;
}
