import assert from "node:assert/strict";
import { parseSchedule } from "../src/jobs/schedule.ts";
import { parseDuration } from "../src/jobs/duration.ts";
import { throwsWithCode } from "./_helpers.ts";

const at = (iso: string) => Date.parse(iso);
const iso = (ms: number) => new Date(ms).toISOString();

Deno.test("schedule: every N units are intervals from the epoch", () => {
  assert.equal(
    iso(parseSchedule("every 15 minutes").next(at("2026-03-01T10:07:12Z"))),
    "2026-03-01T10:15:00.000Z",
  );
  assert.equal(
    iso(parseSchedule("every 15 minutes").next(at("2026-03-01T10:15:00Z"))),
    "2026-03-01T10:30:00.000Z",
  );
  assert.equal(
    iso(parseSchedule("every 30 seconds").next(at("2026-03-01T10:00:29.5Z"))),
    "2026-03-01T10:00:30.000Z",
  );
  assert.equal(
    iso(parseSchedule("every 1 day").next(at("2026-03-01T10:00:00Z"))),
    "2026-03-02T00:00:00.000Z",
  );
  assert.equal(
    iso(parseSchedule("Every 2 Hours").next(at("2026-03-01T01:00:00Z"))),
    "2026-03-01T02:00:00.000Z",
  );
});

Deno.test("schedule: every minute, hourly and daily at HH:MM", () => {
  assert.equal(
    iso(parseSchedule("every minute").next(at("2026-03-01T10:07:12Z"))),
    "2026-03-01T10:08:00.000Z",
  );
  assert.equal(
    iso(parseSchedule("hourly").next(at("2026-03-01T10:07:12Z"))),
    "2026-03-01T11:00:00.000Z",
  );
  assert.equal(
    iso(parseSchedule("daily at 06:00").next(at("2026-03-01T10:07:12Z"))),
    "2026-03-02T06:00:00.000Z",
  );
  assert.equal(
    iso(parseSchedule("daily at 06:00").next(at("2026-03-01T05:59:00Z"))),
    "2026-03-01T06:00:00.000Z",
  );
});

Deno.test("schedule: cron fields, steps, ranges, lists and names", () => {
  const after = at("2026-03-01T10:07:12Z"); // a Sunday
  assert.equal(
    iso(parseSchedule("*/5 * * * *").next(after)),
    "2026-03-01T10:10:00.000Z",
  );
  assert.equal(
    iso(parseSchedule("0 9-17/4 * * *").next(after)),
    "2026-03-01T13:00:00.000Z",
  );
  assert.equal(
    iso(parseSchedule("30 8 * * mon-fri").next(after)),
    "2026-03-02T08:30:00.000Z",
  );
  assert.equal(
    iso(parseSchedule("0 0 1 jan,jul *").next(after)),
    "2026-07-01T00:00:00.000Z",
  );
  assert.equal(
    iso(parseSchedule("0 12 13 * 5").next(after)),
    "2026-03-06T12:00:00.000Z",
  ); // Friday or the 13th
  assert.equal(
    iso(parseSchedule("0 0 * * 7").next(after)),
    "2026-03-08T00:00:00.000Z",
  ); // 7 is Sunday
});

Deno.test("schedule: cron nicknames (@hourly, @daily, @weekly, @monthly, @yearly)", () => {
  const after = at("2026-03-01T10:07:12Z"); // a Sunday
  assert.equal(
    iso(parseSchedule("@hourly").next(after)),
    "2026-03-01T11:00:00.000Z",
  );
  assert.equal(
    iso(parseSchedule("@daily").next(after)),
    "2026-03-02T00:00:00.000Z",
  );
  assert.equal(
    iso(parseSchedule("@weekly").next(after)),
    "2026-03-08T00:00:00.000Z",
  );
  assert.equal(
    iso(parseSchedule("@monthly").next(after)),
    "2026-04-01T00:00:00.000Z",
  );
  assert.equal(
    iso(parseSchedule("@yearly").next(after)),
    "2027-01-01T00:00:00.000Z",
  );
  assert.equal(
    iso(parseSchedule("@daily", "Europe/Paris").next(after)),
    "2026-03-01T23:00:00.000Z",
  );
});

Deno.test("schedule: a slot is strictly after the time given", () => {
  const daily = parseSchedule("daily at 06:00");
  assert.equal(
    iso(daily.next(at("2026-03-01T06:00:00Z"))),
    "2026-03-02T06:00:00.000Z",
  );
  assert.equal(
    iso(parseSchedule("*/5 * * * *").next(at("2026-03-01T10:10:00Z"))),
    "2026-03-01T10:15:00.000Z",
  );
});

Deno.test("schedule: wall-clock schedules follow the time zone across DST", () => {
  const paris = parseSchedule("daily at 06:00", "Europe/Paris");
  // Paris is UTC+1 before 29 March 2026 and UTC+2 after.
  assert.equal(
    iso(paris.next(at("2026-03-27T12:00:00Z"))),
    "2026-03-28T05:00:00.000Z",
  );
  assert.equal(
    iso(paris.next(at("2026-03-28T12:00:00Z"))),
    "2026-03-29T04:00:00.000Z",
  );
  const kolkata = parseSchedule("hourly", "Asia/Kolkata"); // UTC+5:30
  assert.equal(
    iso(kolkata.next(at("2026-03-01T10:07:00Z"))),
    "2026-03-01T10:30:00.000Z",
  );
});

Deno.test("schedule: bad strings are INVALID_SCHEDULE with the reason", () => {
  throwsWithCode(
    () => parseSchedule("every fortnight"),
    "INVALID_SCHEDULE",
    /use "every N/,
  );
  throwsWithCode(
    () => parseSchedule("daily at 25:00"),
    "INVALID_SCHEDULE",
    /between 00:00 and 23:59/,
  );
  throwsWithCode(
    () => parseSchedule("61 * * * *"),
    "INVALID_SCHEDULE",
    /Invalid value for minute: 61/,
  );
  throwsWithCode(
    () => parseSchedule("*/0 * * * *"),
    "INVALID_SCHEDULE",
    /illegal stepping: 0/,
  );
  throwsWithCode(
    () => parseSchedule("0 0 31 2 *"),
    "INVALID_SCHEDULE",
    /never matches/,
  );
  throwsWithCode(
    () => parseSchedule("hourly", "Mars/Olympus"),
    "INVALID_SCHEDULE",
    /unknown time zone "Mars\/Olympus"/,
  );
  throwsWithCode(() => parseSchedule(""), "INVALID_SCHEDULE", /is required/);
  throwsWithCode(
    () => parseSchedule("0 0 * * * *"),
    "INVALID_SCHEDULE",
    /5-field cron/,
  );
  throwsWithCode(
    () => parseSchedule("@fortnightly"),
    "INVALID_SCHEDULE",
    /fortnightly/,
  );
});

Deno.test("parseDuration() reads units and rejects the rest with INVALID_JOB", () => {
  assert.equal(parseDuration("30d", "x"), 30 * 86_400_000);
  assert.equal(parseDuration("15m", "x"), 900_000);
  throwsWithCode(
    () => parseDuration("soon", "dedupe.ttl"),
    "INVALID_JOB",
    /dedupe\.ttl/,
  );
});
