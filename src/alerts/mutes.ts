/**
 * What the registry's `mute`, `unmute` and `alerts` do: mutes recorded in
 * the store (they survive restarts), and each alert job's pending and firing
 * keys listed with their state, since when, last delivery and whether a
 * mute covers them.
 *
 * @module
 */
import { describeType, TriggerKitError } from "../errors.ts";
import { didYouMean } from "../_suggest.ts";
import { isPlainObject } from "../_plain.ts";
import type { Clock } from "../clock.ts";
import type { Job } from "../jobs/definitions.ts";
import { parseDuration } from "../jobs/duration.ts";
import { iso, mutedAt } from "./state.ts";
import { alertKey } from "./keys.ts";
import { type AlertStore, alertStoreOf, type FiringPage } from "./store.ts";
import type { KeyState } from "./state.ts";

/** Options of `registry.mute()`. */
export interface MuteOptions {
  /** How long: `"30m"`, `"2h"`, `"1d"`. */
  for: string;
  /** Only these keys, each the array of its `dedupe.key` values (default: every key of the job). */
  keys?: unknown[][];
  /** Why, for whoever looks at `alerts()` next. */
  reason?: string;
}

/** A mute as recorded. */
export interface MuteInfo {
  /** Its id. */
  id: string;
  /** The job. */
  jobName: string;
  /** When it ends (ISO 8601). */
  until: string;
  /** The keys it covers, or null: every key. */
  keys: unknown[][] | null;
  /** Why. */
  reason: string | null;
  /** When it was made (ISO 8601). */
  createdAt: string;
}

/** A key of an alert job, as `registry.alerts()` lists it. */
export interface AlertInfo {
  /** The job. */
  jobName: string;
  /** The key's values, in `dedupe.key` order. */
  key: unknown[];
  /** `pending` (not yet present for `pendingFor`) or `firing`. */
  state: "pending" | "firing";
  /** Since when it is in that state (ISO 8601). */
  since: string;
  /** When it was last delivered (ISO 8601), or null. */
  lastDeliveredAt: string | null;
  /** Whether a mute covers it now. */
  muted: boolean;
}

/** What mutes and listings need of the registry. */
export interface AlertingHost {
  /** The run store (its `alerts`). */
  store(): { alerts?: AlertStore };
  /** The registry's clock. */
  readonly clock: Clock;
  /** The registry's jobs. */
  readonly jobs: {
    /** A job by name (`JOB_NOT_FOUND` otherwise). */
    getJob(name: string): Job;
    /** Every job. */
    listJobs(): Job[];
  };
}

const MUTE_KEYS = ["for", "keys", "reason"];

function invalid(message: string): TriggerKitError {
  return new TriggerKitError("INVALID_OPTIONS", message);
}

/** A job name as given to `mute`, `unmute` or `alerts`, or `INVALID_OPTIONS`. */
function jobNameOf(name: unknown, call: string): string {
  if (typeof name === "string") return name;
  throw invalid(
    `${call}() takes a job name first, received ${describeType(name)}`,
  );
}

/** An alert job by name, or `JOB_NOT_FOUND`/`INVALID_OPTIONS`. */
function alertJob(host: AlertingHost, name: string, what: string): Job {
  const job = host.jobs.getJob(jobNameOf(name, what));
  if (!job.alertPlan) {
    throw invalid(
      `Cannot ${what} job "${name}": it has no alert block (only alert jobs have keys that fire)`,
    );
  }
  return job;
}

/** A value for a message: its type, and a short string or number itself. */
function describeValue(value: unknown): string {
  if (typeof value === "string" && value.length <= 60) {
    return `string ${JSON.stringify(value)}`;
  }
  return typeof value === "number" ? `number ${value}` : describeType(value);
}

/**
 * The options of `mute()`, checked: every unknown key (with the closest
 * known one) and every bad value is named, each with the value received.
 */
function muteOptions(
  options: MuteOptions & Record<string, unknown>,
  keyColumns: readonly string[],
): { forMs: number; keys: unknown[][] | undefined } {
  const found: string[] = [];
  for (const key of Object.keys(options)) {
    if (!MUTE_KEYS.includes(key)) {
      found.push(
        `unknown mute() option "${key}"${
          didYouMean(key, MUTE_KEYS) || ` (known: ${MUTE_KEYS.join(", ")})`
        }`,
      );
    }
  }
  let forMs = 0;
  if (typeof options.for !== "string") {
    found.push(
      `mute() needs "for", a duration such as "2h", received ${
        describeValue(options.for)
      }`,
    );
  } else {
    try {
      forMs = parseDuration(options.for, 'mute() option "for"');
      if (forMs <= 0) {
        found.push(
          `mute() "for" must be longer than 0, received ${
            JSON.stringify(options.for)
          }`,
        );
      }
    } catch (error) {
      found.push((error as Error).message);
    }
  }
  const width = keyColumns.length;
  const keys = options.keys;
  if (keys !== undefined) {
    const bad = !Array.isArray(keys)
      ? describeType(keys)
      : keys.findIndex((key) => !Array.isArray(key) || key.length !== width);
    if (bad !== -1) {
      found.push(
        `mute() "keys" must be a list of keys, each an array of ${width} value${
          width === 1 ? "" : "s"
        } (${keyColumns.join(", ")}), received ${
          typeof bad === "string"
            ? bad
            : `keys[${bad}]: ${describeType(keys[bad])}${
              Array.isArray(keys[bad]) ? ` of ${keys[bad].length}` : ""
            }`
        }`,
      );
    }
  }
  if (options.reason !== undefined && typeof options.reason !== "string") {
    found.push(
      `mute() "reason" must be a string, received ${
        describeValue(options.reason)
      }`,
    );
  }
  if (found.length > 0) {
    const message = found.join("; ");
    throw invalid(message.charAt(0).toUpperCase() + message.slice(1));
  }
  return { forMs, keys };
}

/**
 * Mutes a job's alerts for a while.
 *
 * @throws {TriggerKitError} `JOB_NOT_FOUND`; `INVALID_OPTIONS` for an unknown
 * option (naming the closest), a bad duration or keys of the wrong shape.
 */
export async function muteJob(
  host: AlertingHost,
  jobName: string,
  options: MuteOptions,
): Promise<MuteInfo> {
  const job = alertJob(host, jobName, "mute");
  if (!isPlainObject(options)) {
    throw invalid(
      `mute() options must be an object { for, keys?, reason? }, received ${
        describeType(options)
      }`,
    );
  }
  const { forMs, keys } = muteOptions(options, job.dedupe!.key);
  const now = host.clock.now();
  const mute = {
    id: crypto.randomUUID(),
    jobName,
    until: now + forMs,
    keys: keys === undefined ? null : keys.map((key) => alertKey(key)),
    reason: options.reason ?? null,
    createdAt: now,
  };
  await alertStoreOf(host.store()).addMute(mute);
  return {
    id: mute.id,
    jobName,
    until: iso(mute.until)!,
    keys: mute.keys?.map((key) => JSON.parse(key)) ?? null,
    reason: mute.reason,
    createdAt: iso(now)!,
  };
}

/**
 * Ends every mute of a job.
 *
 * @returns How many mutes were in force.
 * @throws {TriggerKitError} `JOB_NOT_FOUND`, `INVALID_OPTIONS` (not an alert job).
 */
export async function unmuteJob(
  host: AlertingHost,
  jobName: string,
): Promise<number> {
  alertJob(host, jobName, "unmute");
  return await alertStoreOf(host.store()).removeMutes(
    jobName,
    host.clock.now(),
  );
}

/**
 * The mutes in force.
 *
 * @param jobName Only this job's (default: every job's).
 */
export async function listMutes(
  host: AlertingHost,
  jobName?: string,
): Promise<MuteInfo[]> {
  if (jobName !== undefined) host.jobs.getJob(jobName);
  const mutes = await alertStoreOf(host.store()).mutes(
    jobName,
    host.clock.now(),
  );
  return mutes.map((mute) => ({
    id: mute.id,
    jobName: mute.jobName,
    until: iso(mute.until)!,
    keys: mute.keys?.map((key) => JSON.parse(key)) ?? null,
    reason: mute.reason,
    createdAt: iso(mute.createdAt)!,
  }));
}

/** Some firing keys of every alert job, and how many fire in all. */
export interface FiringAlerts {
  /** At most the `limit` asked for: job by job (by name), each firing since first. */
  alerts: AlertInfo[];
  /** Firing keys of every alert job, all told. */
  total: number;
}

/**
 * At most `limit` firing keys of the alert jobs, and their total: a bounded
 * read of the store (each job's page and count), where `listAlerts` reads
 * every key. What the status page shows.
 */
export async function firingAlerts(
  host: AlertingHost,
  limit: number,
): Promise<FiringAlerts> {
  const jobs = host.jobs.listJobs().filter((job) => job.alertPlan);
  if (jobs.length === 0) return { alerts: [], total: 0 };
  const alerts = alertStoreOf(host.store());
  const now = host.clock.now();
  const pages = await Promise.all(jobs.map(async (job) => {
    const page = alerts.firing
      ? await alerts.firing(job.name, limit)
      : firingOf(await alerts.keys(job.name), limit);
    const mutes = page.keys.length > 0 ? await alerts.mutes(job.name, now) : [];
    return { job, page, muted: mutedAt(mutes, now) };
  }));
  const listed: AlertInfo[] = [];
  let total = 0;
  for (const { job, page, muted } of pages) {
    total += page.total;
    const shown = page.keys.slice(0, Math.max(0, limit - listed.length));
    shown.sort((a, b) =>
      (a.firingSince ?? a.since) - (b.firingSince ?? b.since) ||
      (a.key < b.key ? -1 : 1)
    );
    for (const state of shown) listed.push(alertInfo(job.name, state, muted));
  }
  return { alerts: listed, total };
}

/** A store's keys cut to a page, for a store without `firing()`. */
function firingOf(states: KeyState[], limit: number): FiringPage {
  const firing = states.filter((state) => state.state === "firing");
  return { keys: firing.slice(0, Math.max(0, limit)), total: firing.length };
}

function alertInfo(
  jobName: string,
  state: KeyState,
  muted: { has(key: string): boolean },
): AlertInfo {
  return {
    jobName,
    key: JSON.parse(state.key),
    state: state.state,
    since: iso(state.firingSince ?? state.since)!,
    lastDeliveredAt: iso(state.lastDeliveredAt),
    muted: muted.has(state.key),
  };
}

/**
 * The pending and firing keys of one alert job, or of every one: firing
 * first, then by since.
 *
 * @throws {TriggerKitError} `JOB_NOT_FOUND`.
 */
export async function listAlerts(
  host: AlertingHost,
  jobName?: string,
): Promise<AlertInfo[]> {
  const jobs = jobName === undefined
    ? host.jobs.listJobs().filter((job) => job.alertPlan)
    : [host.jobs.getJob(jobNameOf(jobName, "alerts"))].filter((job) =>
      job.alertPlan
    );
  if (jobs.length === 0) return [];
  const alerts = alertStoreOf(host.store());
  const now = host.clock.now();
  const listed: AlertInfo[] = [];
  for (const job of jobs) {
    const [states, mutes] = await Promise.all([
      alerts.keys(job.name),
      alerts.mutes(job.name, now),
    ]);
    const muted = mutedAt(mutes, now);
    const rank = (state: string) => state === "firing" ? 0 : 1;
    states.sort((a, b) =>
      rank(a.state) - rank(b.state) ||
      (a.firingSince ?? a.since) - (b.firingSince ?? b.since) ||
      (a.key < b.key ? -1 : 1)
    );
    for (const state of states) listed.push(alertInfo(job.name, state, muted));
  }
  return listed;
}

/**
 * How many keys fire now, per alert job: what `/metrics` and the status
 * page's job list show. It reads the summary the last complete run left (no
 * key state), and counts the keys only for a job that has none.
 *
 * @returns Firing keys by job name (alert jobs only).
 */
export async function firingCounts(
  host: AlertingHost,
): Promise<Map<string, number>> {
  const jobs = host.jobs.listJobs().filter((job) => job.alertPlan);
  if (jobs.length === 0) return new Map();
  const alerts = alertStoreOf(host.store());
  const counts = await Promise.all(jobs.map(async (job) => {
    const summary = await alerts.summary(job.name);
    if (summary) return summary.firing;
    const states = await alerts.keys(job.name);
    return states.filter((state) => state.state === "firing").length;
  }));
  return new Map(jobs.map((job, i) => [job.name, counts[i]!]));
}
