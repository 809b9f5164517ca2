/**
 * Schedules: when a job's next slot is.
 *
 * - `every N seconds|minutes|hours|days|weeks`: fixed intervals counted from
 *   the Unix epoch, the same in every time zone.
 * - `every minute`, `hourly`, `daily at HH:MM` and 5-field cron
 *   (`*\/5 * * * *`): wall-clock times in the job's time zone (IANA, UTC by
 *   default), so `daily at 06:00` stays at 06:00 across DST changes.
 *
 * @module
 */
import { TriggerKitError } from "../errors.ts";

/** A parsed schedule. */
export interface Schedule {
  /** The schedule as written. */
  readonly source: string;
  /** The first slot strictly after `after` (ms since the epoch). */
  next(after: number): number;
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
    return { source, next: (after) => Math.floor(after / ms) * ms + ms };
  }
  if (text === "every minute") {
    return cronSchedule(source, "* * * * *", timeZone);
  }
  if (text === "hourly" || text === "every hour") {
    return cronSchedule(source, "0 * * * *", timeZone);
  }
  const daily = /^daily at (\d{1,2}):(\d{2})$/.exec(text);
  if (daily) {
    const [hour, minute] = [Number(daily[1]), Number(daily[2])];
    if (hour > 23 || minute > 59) {
      throw invalid(source, "the time must be between 00:00 and 23:59");
    }
    return cronSchedule(source, `${minute} ${hour} * * *`, timeZone);
  }
  if (text.split(" ").length === 5) {
    const schedule = cronSchedule(source, text, timeZone);
    schedule.next(0); // fails now, not at 3 a.m., on a date that never comes
    return schedule;
  }
  throw invalid(
    source,
    'use "every N seconds|minutes|hours|days|weeks", "every minute", "hourly", "daily at HH:MM" or a 5-field cron expression',
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

interface CronFields {
  minute: Set<number>;
  hour: Set<number>;
  day: Set<number>;
  month: Set<number>;
  weekday: Set<number>;
  dayRestricted: boolean;
  weekdayRestricted: boolean;
}

const MONTHS = [
  "jan",
  "feb",
  "mar",
  "apr",
  "may",
  "jun",
  "jul",
  "aug",
  "sep",
  "oct",
  "nov",
  "dec",
];
const WEEKDAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

function parseField(
  source: string,
  field: string,
  name: string,
  [min, max]: [number, number],
  names: string[] = [],
): Set<number> {
  const values = new Set<number>();
  const value = (text: string) => {
    const index = names.indexOf(text);
    const number = index >= 0
      ? index + (name === "month" ? 1 : 0)
      : Number(text);
    if (!/^\d+$/.test(text) && index < 0) {
      throw invalid(source, `${name} "${text}" is not a number`);
    }
    if (number < min || number > max) {
      throw invalid(source, `${name} ${number} is outside ${min}-${max}`);
    }
    return number;
  };
  for (const part of field.split(",")) {
    const [range, stepText] = part.split("/");
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!Number.isInteger(step) || step < 1) {
      throw invalid(
        source,
        `${name} step "${stepText}" must be a positive whole number`,
      );
    }
    let [from, to] = [min, max];
    if (range !== "*") {
      const [a, b] = range!.split("-");
      from = value(a!);
      to = b === undefined ? (stepText === undefined ? from : max) : value(b);
      if (to < from) {
        throw invalid(source, `${name} range ${from}-${to} is backwards`);
      }
    }
    for (let v = from; v <= to; v += step) {
      values.add(name === "weekday" && v === 7 ? 0 : v);
    }
  }
  return values;
}

function parseCron(source: string, expression: string): CronFields {
  const [minute, hour, day, month, weekday] = expression.split(" ") as [
    string,
    string,
    string,
    string,
    string,
  ];
  return {
    minute: parseField(source, minute, "minute", [0, 59]),
    hour: parseField(source, hour, "hour", [0, 23]),
    day: parseField(source, day, "day of month", [1, 31]),
    month: parseField(source, month, "month", [1, 12], MONTHS),
    weekday: parseField(source, weekday, "weekday", [0, 7], WEEKDAYS),
    dayRestricted: day !== "*",
    weekdayRestricted: weekday !== "*",
  };
}

interface LocalTime {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  weekday: number;
}

function localTimeReader(timeZone: string): (instant: number) => LocalTime {
  const format = new Intl.DateTimeFormat("en-US", {
    timeZone,
    hourCycle: "h23",
    year: "numeric",
    month: "numeric",
    day: "numeric",
    hour: "numeric",
    minute: "numeric",
    weekday: "short",
  });
  return (instant) => {
    const parts: Record<string, string> = {};
    for (const part of format.formatToParts(instant)) {
      parts[part.type] = part.value;
    }
    return {
      year: Number(parts.year),
      month: Number(parts.month),
      day: Number(parts.day),
      hour: Number(parts.hour),
      minute: Number(parts.minute),
      weekday: WEEKDAYS.indexOf(parts.weekday!.toLowerCase()),
    };
  };
}

function cronSchedule(
  source: string,
  expression: string,
  timeZone: string,
): Schedule {
  const fields = parseCron(source, expression);
  const local = localTimeReader(timeZone);
  const dayMatches = (time: LocalTime) => {
    const byDay = fields.day.has(time.day);
    const byWeekday = fields.weekday.has(time.weekday);
    // Cron's rule: when both are restricted, either may match.
    if (fields.dayRestricted && fields.weekdayRestricted) {
      return byDay || byWeekday;
    }
    return byDay && byWeekday;
  };
  return {
    source,
    next(after) {
      let instant = Math.floor(after / 60_000) * 60_000 + 60_000;
      // At most a few years of days, then hours, then minutes: bounded.
      for (let steps = 0; steps < 200_000; steps++) {
        const time = local(instant);
        if (!fields.month.has(time.month) || !dayMatches(time)) {
          instant += ((23 - time.hour) * 60 + (60 - time.minute)) * 60_000;
        } else if (!fields.hour.has(time.hour)) {
          instant += (60 - time.minute) * 60_000;
        } else if (!fields.minute.has(time.minute)) {
          instant += 60_000;
        } else {
          return instant;
        }
      }
      throw invalid(source, "it never matches a date");
    },
  };
}

/** Parses a duration such as `30s`, `15m`, `12h`, `30d`, `2w` into ms. */
export function parseDuration(text: string, where: string): number {
  const match = /^\s*(\d+)\s*(ms|s|m|h|d|w)\s*$/i.exec(String(text));
  if (!match) {
    throw new TriggerKitError(
      "INVALID_JOB",
      `Invalid duration "${text}" in ${where}: use a number and a unit (ms, s, m, h, d, w), such as "30d"`,
    );
  }
  const unit =
    { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }[
      match[2]!.toLowerCase() as "ms"
    ];
  return Number(match[1]) * unit;
}
