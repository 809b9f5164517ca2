/**
 * View and job definitions, and their checks: everything that can be wrong
 * with one fails when it is defined, not at 3 a.m.
 *
 * @module
 */
import { describeType, TriggerKitError } from "../errors.ts";
import { didYouMean } from "../_suggest.ts";
import { nameProblem } from "../_names.ts";
import { isPlainObject } from "../_plain.ts";
import { each, shapeOf, unknownKeys } from "../_strict.ts";
import { parseSchedule, type Schedule } from "./schedule.ts";
import { parseDuration } from "./duration.ts";
import { definitionError, Problems } from "./_problems.ts";
// alerts (issue 14): the alert/onFailure/onRecovery blocks are checked there.
import {
  type AlertingDefinition,
  type AlertingPlans,
  alertingShapes,
  checkAlerting,
} from "../alerts/definitions.ts";

export { problemsOfDefinition } from "./_problems.ts";

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
  /**
   * `"rows"`: the result's `rows` (an array of plain objects) become the
   * rows of the following steps. Dedupe keys still come from the view's rows.
   */
  output?: "rows";
}

/** A job: a view and the actions to run on what it yields. */
export interface JobDefinition extends AlertingDefinition<string | JobStep> {
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

/** Options of `defineView` and `defineJob`. */
export interface DefineOptions {
  /**
   * Replace a view or job of the same name. Default false: defining a name
   * twice is refused (`INVALID_VIEW` / `INVALID_JOB`).
   */
  overwrite?: boolean;
}

/**
 * Refuses a second definition of a name, unless `overwrite` says to replace it.
 *
 * @throws {TriggerKitError} `INVALID_VIEW` / `INVALID_JOB`.
 */
export function refuseTaken(
  what: "view" | "job",
  definition: { name?: unknown } | undefined,
  defined: ReadonlyArray<{ name: string }>,
  options: DefineOptions,
): void {
  const name = definition?.name;
  if (options.overwrite === true || !defined.some((d) => d.name === name)) {
    return;
  }
  throw new TriggerKitError(
    what === "view" ? "INVALID_VIEW" : "INVALID_JOB",
    `Invalid ${what} "${name}": a ${what} of that name is already defined (pass { overwrite: true } to replace it)`,
  );
}

/** The keys a view definition may hold. */
export const VIEW_SHAPE = shapeOf<ViewDefinition>({
  name: null,
  database: null,
  sql: null,
  description: null,
  timeoutMs: null,
});

/** The keys a job step may hold; its `config` is checked by the action's schema. */
export const STEP_SHAPE = shapeOf<JobStep>({
  action: null,
  config: null,
  continueOnError: null,
  retries: null,
  retryDelayMs: null,
  dryRun: null,
  output: null,
});

/** The keys a job definition may hold, at every level. */
export const JOB_SHAPE = shapeOf<JobDefinition>({
  name: null,
  view: null,
  actions: each(STEP_SHAPE),
  schedule: null,
  timezone: null,
  enabled: null,
  when: null,
  dedupe: shapeOf<NonNullable<JobDefinition["dedupe"]>>({
    key: null,
    ttl: null,
  }),
  description: null,
  ...alertingShapes(STEP_SHAPE),
});

/** A job as validated: its steps normalized, its schedule parsed. */
export interface Job
  extends Omit<JobDefinition, "actions">, AlertingPlans<JobStep> {
  /** The steps, normalized from `actions`. */
  steps: JobStep[];
  /** The parsed schedule, when there is one. */
  parsedSchedule?: Schedule;
  /** How long dedupe remembers a row, in ms. */
  dedupeTtlMs?: number;
}

/** A step of a job, wherever it is, with its path in the definition. */
export interface PlacedStep {
  /** The step. */
  step: JobStep;
  /** Its path in the job: `actions[0]`, `alert.resolved[1]`, `onFailure.actions[0]`. */
  path: string;
  /** How messages name it: `step 1` for the job's actions, else its path. */
  label: string;
}

/**
 * Every step of a job: its actions, then its `alert.resolved`,
 * `alert.summary`, `onFailure` and `onRecovery` steps — what `validate`
 * checks (databases, environment variables) wherever a step runs.
 *
 * @param job A checked job.
 * @returns The steps with their paths.
 */
export function jobSteps(job: Job): PlacedStep[] {
  const lists: Array<[string, readonly JobStep[] | undefined]> = [
    ["actions", job.steps],
    ["alert.resolved", job.alertPlan?.resolvedSteps],
    ["alert.summary", job.alertPlan?.summarySteps],
    ["onFailure.actions", job.noticePlan?.failureSteps],
    ["onRecovery.actions", job.noticePlan?.recoverySteps],
  ];
  return lists.flatMap(([where, steps]) =>
    (steps ?? []).map((step, i) => ({
      step,
      path: `${where}[${i}]`,
      label: where === "actions" ? `step ${i + 1}` : `${where}[${i}]`,
    }))
  );
}

/** What checking a job needs to know of its registry. */
export interface JobContext {
  views: ReadonlyMap<string, ViewDefinition>;
  hasAction(name: string): boolean;
  actionNames(): Iterable<string>;
  validateConfig(action: string, config: unknown): void;
}

function notObject(what: "view" | "job", value: unknown): TriggerKitError {
  return definitionError(what, undefined, [{
    path: "",
    code: what === "view" ? "INVALID_VIEW" : "INVALID_JOB",
    message: `a definition object is required, received ${describeType(value)}`,
  }]);
}

/**
 * Checks a view definition and reports every problem at once.
 *
 * @throws {TriggerKitError} `INVALID_VIEW` naming what is wrong.
 */
export function checkView(
  definition: ViewDefinition,
  hasDatabase: (name: string) => boolean,
): ViewDefinition {
  if (!isPlainObject(definition)) throw notObject("view", definition);
  const problems = new Problems();
  const bad = (path: string, message: string) =>
    problems.add("INVALID_VIEW", path, message);
  for (const unknown of unknownKeys(definition, VIEW_SHAPE)) {
    bad(unknown.path, unknown.message);
  }
  const { name, database, sql, description } = definition;
  const badName = nameProblem(name);
  if (badName) bad("name", `name: ${badName}`);
  if (typeof sql !== "string" || sql.trim() === "") {
    bad("sql", "sql must be a non-empty string");
  }
  if (typeof database !== "string" || database === "") {
    bad(
      "database",
      "database must be a database URL or a configured database name",
    );
  } else if (!hasDatabase(database)) {
    bad(
      "database",
      `database "${database}" is neither a database URL nor a configured database name`,
    );
  }
  if (
    definition.timeoutMs !== undefined &&
    !(typeof definition.timeoutMs === "number" && definition.timeoutMs > 0)
  ) {
    bad(
      "timeoutMs",
      `timeoutMs must be a positive number of milliseconds, received ${
        JSON.stringify(definition.timeoutMs)
      }`,
    );
  }
  if (description !== undefined && typeof description !== "string") {
    bad("description", "description must be a string");
  }
  if (problems.found.length > 0) {
    throw definitionError("view", name, problems.found);
  }
  return { ...definition };
}

/**
 * Checks a job definition: its keys, its view and actions, its step
 * configs, its schedule and dedupe. Every problem is reported at once.
 *
 * @throws {TriggerKitError} `INVALID_JOB`, `INVALID_SCHEDULE`, `INVALID_CONFIG`,
 * `VIEW_NOT_FOUND`, `ACTION_NOT_FOUND` (the first problem's code).
 */
export function checkJob(definition: JobDefinition, context: JobContext): Job {
  if (!isPlainObject(definition)) throw notObject("job", definition);
  const problems = new Problems();
  const bad = (path: string, message: string) =>
    problems.add("INVALID_JOB", path, message);
  for (const unknown of unknownKeys(definition, JOB_SHAPE)) {
    bad(unknown.path, unknown.message);
  }
  const { name } = definition;
  const badName = nameProblem(name);
  if (badName) bad("name", `name: ${badName}`);
  if (typeof definition.view !== "string") {
    bad("view", "view must be the name of a view");
  } else if (!context.views.has(definition.view)) {
    problems.add(
      "VIEW_NOT_FOUND",
      "view",
      `unknown view "${definition.view}"${
        didYouMean(definition.view, context.views.keys())
      }`,
    );
  }
  let steps: JobStep[] = [];
  if (!Array.isArray(definition.actions) || definition.actions.length === 0) {
    bad("actions", "actions must list at least one action");
  } else {
    steps = definition.actions.map((step, i) =>
      checkStep(step, `actions[${i}]`, context, problems)
    );
  }
  if (
    definition.when !== undefined && definition.when !== "rows" &&
    definition.when !== "always"
  ) {
    bad(
      "when",
      `when must be "rows" or "always", received ${
        JSON.stringify(definition.when)
      }`,
    );
  }
  for (const key of ["enabled"] as const) {
    if (
      definition[key] !== undefined && typeof definition[key] !== "boolean"
    ) bad(key, `${key} must be true or false`);
  }
  for (const key of ["description", "timezone", "schedule"] as const) {
    if (definition[key] !== undefined && typeof definition[key] !== "string") {
      bad(key, `${key} must be a string`);
    }
  }
  const job: Job = { ...definition, steps };
  delete (job as Partial<JobDefinition>).actions;
  const timezone = definition.timezone ?? "UTC";
  if (typeof definition.schedule === "string") {
    problems.catch("schedule", "", () => {
      job.parsedSchedule = parseSchedule(definition.schedule!, timezone);
    });
  } else if (typeof definition.timezone === "string") {
    problems.catch("timezone", "", () => parseSchedule("hourly", timezone));
  }
  if (definition.dedupe !== undefined) {
    const { key, ttl } = isPlainObject(definition.dedupe)
      ? definition.dedupe
      : { key: undefined, ttl: undefined };
    if (
      !Array.isArray(key) || key.length === 0 ||
      !key.every((k) => typeof k === "string" && k)
    ) {
      bad("dedupe.key", "dedupe.key must list one or more column names");
    }
    problems.catch("dedupe.ttl", "", () => {
      job.dedupeTtlMs = parseDuration(ttl ?? "30d", `job "${name}" dedupe.ttl`);
    });
  }
  Object.assign(
    job,
    checkAlerting(
      definition,
      (step, where) =>
        checkStep(step as string | JobStep, where, context, problems),
      bad,
    ),
  );
  if (problems.found.length > 0) {
    throw definitionError("job", name, problems.found);
  }
  return job;
}

function checkStep(
  step: string | JobStep,
  where: string,
  context: JobContext,
  problems: Problems,
): JobStep {
  const normalized: JobStep = typeof step === "string"
    ? { action: step }
    : { ...step };
  const bad = (path: string, message: string) =>
    problems.add("INVALID_JOB", path, message);
  if (!isPlainObject(step) && typeof step !== "string") {
    bad(
      where,
      `${where} must be an action name or { action, config?, continueOnError?, output? }`,
    );
    return normalized;
  }
  if (typeof normalized.action !== "string") {
    bad(`${where}.action`, `${where}.action must be an action name`);
    return normalized;
  }
  if (!context.hasAction(normalized.action)) {
    problems.add(
      "ACTION_NOT_FOUND",
      `${where}.action`,
      `${where} names unknown action "${normalized.action}"${
        didYouMean(normalized.action, context.actionNames())
      }`,
    );
  } else if (
    normalized.config !== undefined && !isPlainObject(normalized.config)
  ) {
    bad(`${where}.config`, `${where}.config must be an object`);
  } else {
    problems.catch(
      `${where}.config`,
      `${where}: `,
      () => context.validateConfig(normalized.action, normalized.config),
    );
  }
  for (const key of ["continueOnError", "dryRun"] as const) {
    if (
      normalized[key] !== undefined && typeof normalized[key] !== "boolean"
    ) bad(`${where}.${key}`, `${where}.${key} must be true or false`);
  }
  for (const key of ["retries", "retryDelayMs"] as const) {
    const value = normalized[key];
    if (
      value !== undefined &&
      !(typeof value === "number" && Number.isInteger(value) && value >= 0)
    ) bad(`${where}.${key}`, `${where}.${key} must be a whole number ≥ 0`);
  }
  if (normalized.output !== undefined && normalized.output !== "rows") {
    bad(
      `${where}.output`,
      `${where}.output must be "rows" (the result's rows feed the next steps), received ${
        JSON.stringify(normalized.output)
      }`,
    );
  }
  return normalized;
}
