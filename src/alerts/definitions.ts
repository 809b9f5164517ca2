/**
 * The alerting blocks of a job definition — `alert` (firing → resolved,
 * `pendingFor`, `repeatEvery`, `resolved` and `summary` steps), `onFailure`
 * and `onRecovery` (notices about the job itself) — and their checks: strict
 * keys with the closest known key, durations, steps checked like the job's.
 *
 * @module
 */
import { describeType, TriggerKitError } from "../errors.ts";
import { didYouMean } from "../_suggest.ts";
import { isPlainObject } from "../_plain.ts";
import { parseDuration } from "../jobs/duration.ts";

/** A step as written in a definition: an action name, or a step object. */
export type StepLike<S> = string | S;

/** The `alert` block: every key of `dedupe.key` gets a firing → resolved lifecycle. */
export interface AlertDefinition<S> {
  /** A key fires only once present this long (`"10m"`); default: at once. */
  pendingFor?: string;
  /** Still-firing keys are delivered again at this interval (`"4h"`); default: never. */
  repeatEvery?: string;
  /** Steps run on the rows that resolved, with their last seen values. */
  resolved?: Array<StepLike<S>>;
  /**
   * Steps run once per run in which some key was delivered (fired or
   * repeated) or resolved: on the firing rows, then the resolved rows;
   * `{{context.alert.new}}`, `.repeated`, `.resolved` count them.
   */
  summary?: Array<StepLike<S>>;
}

/** The `onFailure` block: a notice when the job keeps failing or goes stale. */
export interface FailureNoticeDefinition<S> {
  /** The notice's steps; they get one row (see {@linkcode NoticeRow}). */
  actions: Array<StepLike<S>>;
  /** Consecutive failed runs that open an incident (default 1). */
  after?: number;
  /** Also open one when no run succeeded for this long (`"2h"`), checked by `serve`. */
  stale?: string;
}

/** The `onRecovery` block: a notice on the first success after `onFailure` fired. */
export interface RecoveryNoticeDefinition<S> {
  /** The notice's steps; they get one row (see {@linkcode NoticeRow}). */
  actions: Array<StepLike<S>>;
}

/** The alerting keys of a job definition. */
export interface AlertingDefinition<S = unknown> {
  /** Per-key alert lifecycle; needs `dedupe.key`. */
  alert?: AlertDefinition<S>;
  /** Notice when the job fails `after` times in a row, or goes `stale`. */
  onFailure?: FailureNoticeDefinition<S>;
  /** Notice on the first success after `onFailure` fired. */
  onRecovery?: RecoveryNoticeDefinition<S>;
}

/** The row a notice's steps get. */
export interface NoticeRow {
  /** The job's name. */
  jobName: string;
  /** The run that opened or closed the incident; null for `stale`. */
  runId: string | null;
  /** What happened. */
  status: "failed" | "stale" | "recovered";
  /** Why (the run's reason, or how long since the last success). */
  reason: string | null;
  /** The run's error, or the first failed action's. */
  error: { code: string; message: string } | null;
  /** Failed runs in a row (before the recovery, for `recovered`). */
  consecutiveFailures: number;
  /** The last successful run's start, ISO 8601, or null. */
  lastSuccessAt: string | null;
}

/** An `alert` block as checked. */
export interface AlertPlan<S> {
  /** `pendingFor` in ms (0: fire at once). */
  pendingForMs: number;
  /** `repeatEvery` in ms, when set. */
  repeatEveryMs?: number;
  /** The `resolved` steps. */
  resolvedSteps: S[];
  /** The `summary` steps. */
  summarySteps: S[];
}

/** `onFailure` and `onRecovery` as checked. */
export interface NoticePlan<S> {
  /** The `onFailure` steps (none: no failure notice). */
  failureSteps: S[];
  /** Consecutive failed runs that open an incident. */
  after: number;
  /** `onFailure.stale` in ms, when set. */
  staleMs?: number;
  /** The `onRecovery` steps. */
  recoverySteps: S[];
}

/** What a checked job carries for alerting. */
export interface AlertingPlans<S = unknown> {
  /** The checked `alert` block. */
  alertPlan?: AlertPlan<S>;
  /** The checked `onFailure`/`onRecovery` blocks. */
  noticePlan?: NoticePlan<S>;
}

/** The job definition keys this module owns (for a strict key list). */
export const ALERTING_KEYS: readonly string[] = [
  "alert",
  "onFailure",
  "onRecovery",
];

const BLOCK_KEYS = {
  alert: ["pendingFor", "repeatEvery", "resolved", "summary"],
  onFailure: ["actions", "after", "stale"],
  onRecovery: ["actions"],
} as const;

/**
 * Checks a job definition's alerting blocks.
 *
 * @param definition The job definition (its `name` and `dedupe` are read too).
 * @param checkStep Checks one step as the job's steps are checked; `where` is its path (`alert.resolved[0]`).
 * @returns The plans to keep on the job.
 * @throws {TriggerKitError} `INVALID_JOB` naming the path and the closest known key; what `checkStep` throws.
 *
 * @example An alert needs dedupe.key
 * ```ts ignore
 * checkAlerting({ name: "j", alert: {} }, check); // INVALID_JOB
 * ```
 */
export function checkAlerting<S>(
  definition: AlertingDefinition<unknown> & {
    name?: unknown;
    dedupe?: { key?: unknown };
  },
  checkStep: (step: unknown, where: string) => S,
): AlertingPlans<S> {
  const name = typeof definition.name === "string"
    ? `"${definition.name}"`
    : "(unnamed)";
  const fail = (reason: string) =>
    new TriggerKitError("INVALID_JOB", `Invalid job ${name}: ${reason}`);
  const block = (key: keyof typeof BLOCK_KEYS) => {
    const value = definition[key];
    if (value === undefined) return undefined;
    if (!isPlainObject(value)) {
      throw fail(`${key} must be an object, received ${describeType(value)}`);
    }
    for (const field of Object.keys(value)) {
      if (!(BLOCK_KEYS[key] as readonly string[]).includes(field)) {
        throw fail(
          `unknown key "${field}" in ${key}${
            didYouMean(field, BLOCK_KEYS[key])
          }`,
        );
      }
    }
    return value as Record<string, unknown>;
  };
  const steps = (value: unknown, where: string, required: boolean): S[] => {
    if (value === undefined && !required) return [];
    if (!Array.isArray(value) || (required && value.length === 0)) {
      throw fail(
        required
          ? `${where} must list at least one step`
          : `${where} must be a list of steps`,
      );
    }
    return value.map((step, i) => checkStep(step, `${where}[${i}]`));
  };
  const duration = (value: unknown, where: string): number => {
    if (typeof value !== "string") {
      throw fail(
        `${where} must be a duration such as "10m", received ${
          describeType(value)
        }`,
      );
    }
    const ms = parseDuration(value, `job ${name} ${where}`);
    if (ms <= 0) throw fail(`${where} must be longer than 0`);
    return ms;
  };
  const plans: AlertingPlans<S> = {};
  const alert = block("alert");
  if (alert) {
    const key = definition.dedupe?.key;
    if (!Array.isArray(key) || key.length === 0) {
      throw fail(
        "alert needs dedupe.key: the columns that name a row, so that each key can fire and resolve",
      );
    }
    plans.alertPlan = {
      pendingForMs: alert.pendingFor === undefined
        ? 0
        : duration(alert.pendingFor, "alert.pendingFor"),
      resolvedSteps: steps(alert.resolved, "alert.resolved", false),
      summarySteps: steps(alert.summary, "alert.summary", false),
    };
    if (alert.repeatEvery !== undefined) {
      plans.alertPlan.repeatEveryMs = duration(
        alert.repeatEvery,
        "alert.repeatEvery",
      );
    }
  }
  const failure = block("onFailure");
  const recovery = block("onRecovery");
  if (recovery && !failure) {
    throw fail(
      "onRecovery needs onFailure: a recovery is the first success after a failure notice",
    );
  }
  if (failure) {
    const after = failure.after ?? 1;
    if (!Number.isInteger(after) || (after as number) < 1) {
      throw fail(
        `onFailure.after must be a whole number of 1 or more, received ${
          JSON.stringify(after)
        }`,
      );
    }
    plans.noticePlan = {
      failureSteps: steps(failure.actions, "onFailure.actions", true),
      after: after as number,
      recoverySteps: recovery
        ? steps(recovery.actions, "onRecovery.actions", true)
        : [],
    };
    if (failure.stale !== undefined) {
      plans.noticePlan.staleMs = duration(failure.stale, "onFailure.stale");
    }
  }
  return plans;
}
