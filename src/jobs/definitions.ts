/**
 * View and job definitions, and their checks: everything that can be wrong
 * with one fails when it is defined, not at 3 a.m.
 *
 * @module
 */
import { describeType, isTriggerKitError, TriggerKitError } from "../errors.ts";
import { didYouMean } from "../_suggest.ts";
import { isName, NAME_RULE } from "../_names.ts";
import { isPlainObject } from "../_plain.ts";
import { parseSchedule, type Schedule } from "./schedule.ts";
import { parseDuration } from "./duration.ts";

/** A view: a SQL query on a database. */
export interface ViewDefinition {
  /** The name, unique among its kind. */
  name: string;
  /** A database URL, or the name of one in the config's `databases`. */
  database: string;
  /** The query; its rows are what the job's actions receive. */
  sql: string;
  /** What it is for. */
  description?: string;
  /** The query's deadline in ms (default 60000): past it the query is cancelled and the run fails with `DATABASE_ERROR`. */
  timeoutMs?: number;
}

/** One step of a job's pipeline. */
export interface JobStep {
  /** The action's name. */
  action: string;
  /** The action's config for this step, validated against its schema. */
  config?: Record<string, unknown>;
  /** A failure does not stop the run. */
  continueOnError?: boolean;
  /** Retries on transient failures (ACTION_FAILED, ACTION_TIMEOUT, DATABASE_ERROR); default 0. */
  retries?: number;
  /** First retry delay in ms, doubled each retry (default 1000). */
  retryDelayMs?: number;
  /** Always run this step as a dry run. */
  dryRun?: boolean;
}

/** A job: a view and the actions to run on what it yields. */
export interface JobDefinition {
  /** The name, unique among its kind. */
  name: string;
  /** The name of the view whose rows the actions receive. */
  view: string;
  /** The pipeline: action names, or steps with config; at least one. */
  actions: Array<string | JobStep>;
  /** When to run: "every 15 minutes", "hourly", "daily at 06:00", or 5-field cron. */
  schedule?: string;
  /** IANA time zone of wall-clock schedules (default "UTC"). */
  timezone?: string;
  /** Whether `serve` runs it (default true). */
  enabled?: boolean;
  /** "rows" (default): no rows, no actions. "always": run the actions anyway. */
  when?: "rows" | "always";
  /** Act only on rows whose key was not seen in an earlier successful run. */
  dedupe?: { key: string[]; ttl?: string };
  /** What it is for. */
  description?: string;
}

/** A job as validated: its steps normalized, its schedule parsed. */
export interface Job extends Omit<JobDefinition, "actions"> {
  /** The steps, normalized from `actions`. */
  steps: JobStep[];
  /** The parsed schedule, when there is one. */
  parsedSchedule?: Schedule;
  /** How long dedupe remembers a row, in ms. */
  dedupeTtlMs?: number;
}

/** What checking a job needs to know of its registry. */
export interface JobContext {
  views: ReadonlyMap<string, ViewDefinition>;
  hasAction(name: string): boolean;
  actionNames(): Iterable<string>;
  validateConfig(action: string, config: unknown): void;
}

function invalid(
  what: "view" | "job",
  name: unknown,
  reason: string,
): TriggerKitError {
  const label = typeof name === "string" && name ? `"${name}"` : "(unnamed)";
  const code = what === "view" ? "INVALID_VIEW" : "INVALID_JOB";
  return new TriggerKitError(code, `Invalid ${what} ${label}: ${reason}`);
}

/**
 * Checks a view definition.
 *
 * @throws {TriggerKitError} `INVALID_VIEW` naming what is wrong.
 */
export function checkView(
  definition: ViewDefinition,
  hasDatabase: (name: string) => boolean,
): ViewDefinition {
  if (!isPlainObject(definition)) {
    throw invalid(
      "view",
      undefined,
      `a definition object is required, received ${describeType(definition)}`,
    );
  }
  const { name, database, sql } = definition;
  if (!isName(name)) {
    throw invalid("view", name, `name must be ${NAME_RULE}`);
  }
  if (typeof sql !== "string" || sql.trim() === "") {
    throw invalid("view", name, "sql must be a non-empty string");
  }
  if (typeof database !== "string" || database === "") {
    throw invalid(
      "view",
      name,
      "database must be a database URL or a configured database name",
    );
  }
  if (
    definition.timeoutMs !== undefined &&
    !(typeof definition.timeoutMs === "number" && definition.timeoutMs > 0)
  ) {
    throw invalid(
      "view",
      name,
      `timeoutMs must be a positive number of milliseconds, received ${
        JSON.stringify(definition.timeoutMs)
      }`,
    );
  }
  if (!hasDatabase(database)) {
    throw invalid(
      "view",
      name,
      `database "${database}" is neither a database URL nor a configured database name`,
    );
  }
  return { ...definition };
}

/**
 * Checks a job definition: its view and actions must exist, its step
 * configs fit their schemas, its schedule parse.
 *
 * @throws {TriggerKitError} `INVALID_JOB`, `INVALID_SCHEDULE`, `INVALID_CONFIG`, `VIEW_NOT_FOUND`, `ACTION_NOT_FOUND`.
 */
export function checkJob(definition: JobDefinition, context: JobContext): Job {
  if (!isPlainObject(definition)) {
    throw invalid(
      "job",
      undefined,
      `a definition object is required, received ${describeType(definition)}`,
    );
  }
  const { name } = definition;
  const fail = (reason: string) => invalid("job", name, reason);
  if (!isName(name)) {
    throw fail(
      `name must be ${NAME_RULE}`,
    );
  }
  if (typeof definition.view !== "string") {
    throw fail("view must be the name of a view");
  }
  if (!context.views.has(definition.view)) {
    throw new TriggerKitError(
      "VIEW_NOT_FOUND",
      `Invalid job "${name}": unknown view "${definition.view}"${
        didYouMean(definition.view, context.views.keys())
      }`,
    );
  }
  if (!Array.isArray(definition.actions) || definition.actions.length === 0) {
    throw fail("actions must list at least one action");
  }
  const steps = definition.actions.map((step, i) =>
    checkStep(name, step, i, context)
  );
  if (
    definition.when !== undefined && definition.when !== "rows" &&
    definition.when !== "always"
  ) {
    throw fail(
      `when must be "rows" or "always", received ${
        JSON.stringify(definition.when)
      }`,
    );
  }
  if (
    definition.enabled !== undefined &&
    typeof definition.enabled !== "boolean"
  ) throw fail("enabled must be true or false");
  const job: Job = { ...definition, steps };
  delete (job as Partial<JobDefinition>).actions;
  if (definition.schedule !== undefined) {
    try {
      job.parsedSchedule = parseSchedule(
        definition.schedule,
        definition.timezone ?? "UTC",
      );
    } catch (error) {
      if (isTriggerKitError(error)) {
        throw new TriggerKitError(
          "INVALID_SCHEDULE",
          `Invalid job "${name}": ${error.message}`,
          { cause: error },
        );
      }
      throw error;
    }
  } else if (definition.timezone !== undefined) {
    parseSchedule("hourly", definition.timezone);
  }
  if (definition.dedupe !== undefined) {
    const { key, ttl } = definition.dedupe ?? {};
    if (
      !Array.isArray(key) || key.length === 0 ||
      !key.every((k) => typeof k === "string" && k)
    ) {
      throw fail("dedupe.key must list one or more column names");
    }
    job.dedupeTtlMs = parseDuration(ttl ?? "30d", `job "${name}" dedupe.ttl`);
  }
  return job;
}

function checkStep(
  job: string,
  step: string | JobStep,
  index: number,
  context: JobContext,
): JobStep {
  const normalized: JobStep = typeof step === "string"
    ? { action: step }
    : { ...step };
  const where = `actions[${index}]`;
  if (!isPlainObject(normalized) || typeof normalized.action !== "string") {
    throw invalid(
      "job",
      job,
      `${where} must be an action name or { action, config?, continueOnError? }`,
    );
  }
  if (!context.hasAction(normalized.action)) {
    throw new TriggerKitError(
      "ACTION_NOT_FOUND",
      `Invalid job "${job}": ${where} names unknown action "${normalized.action}"${
        didYouMean(normalized.action, context.actionNames())
      }`,
    );
  }
  if (normalized.config !== undefined && !isPlainObject(normalized.config)) {
    throw invalid("job", job, `${where}.config must be an object`);
  }
  try {
    context.validateConfig(normalized.action, normalized.config);
  } catch (error) {
    if (isTriggerKitError(error, "INVALID_CONFIG")) {
      throw new TriggerKitError(
        "INVALID_CONFIG",
        `Invalid job "${job}" ${where}: ${error.message}`,
        {
          cause: error,
          issues: error.issues ?? [],
        },
      );
    }
    throw error;
  }
  return normalized;
}
