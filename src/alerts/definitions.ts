/**
 * The alerting blocks of a job definition — `alert` (firing → resolved,
 * `pendingFor`, `repeatEvery`, `resolved` and `summary` steps), `onFailure`
 * and `onRecovery` (notices about the job itself) — and their checks: strict
 * keys with the closest known key, durations, steps checked like the job's.
 *
 * @module
 */
import { describeType, isTriggerKitError } from "../errors.ts";
import { isPlainObject } from "../_plain.ts";
import { each, type ObjectShape, type Shape, shapeOf } from "../_strict.ts";
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

/**
 * The keys of the alerting blocks, for a job's strict shape: unknown keys in
 * them (and in their steps) are reported with their path, like the job's own.
 *
 * @param step The shape of one step.
 * @returns The shapes of `alert`, `onFailure` and `onRecovery`.
 */
export function alertingShapes(
  step: Shape,
): { [K in keyof Required<AlertingDefinition>]: ObjectShape } {
  return {
    alert: shapeOf<AlertDefinition<unknown>>({
      pendingFor: null,
      repeatEvery: null,
      resolved: each(step),
      summary: each(step),
    }),
    onFailure: shapeOf<FailureNoticeDefinition<unknown>>({
      actions: each(step),
      after: null,
      stale: null,
    }),
    onRecovery: shapeOf<RecoveryNoticeDefinition<unknown>>({
      actions: each(step),
    }),
  };
}

/**
 * Checks a job definition's alerting blocks and reports every problem with
 * its path in the definition (`alert.pendingFor`, `onFailure.after`). Unknown
 * keys are left to the job's strict shape ({@linkcode alertingShapes}).
 *
 * @param definition The job definition (its `name` and `dedupe` are read too).
 * @param checkStep Checks one step as the job's steps are checked; `where` is its path (`alert.resolved[0]`).
 * @param bad Told of each problem (code `INVALID_JOB`): its path and message.
 * @returns The plans to keep on the job (valid only when nothing was reported).
 *
 * @example An alert needs dedupe.key
 * ```ts ignore
 * checkAlerting({ name: "j", alert: {} }, check, report); // reports "alert"
 * ```
 */
export function checkAlerting<S>(
  definition: AlertingDefinition<unknown> & {
    name?: unknown;
    dedupe?: { key?: unknown };
  },
  checkStep: (step: unknown, where: string) => S,
  bad: (path: string, message: string) => void,
): AlertingPlans<S> {
  const name = typeof definition.name === "string"
    ? `"${definition.name}"`
    : "(unnamed)";
  const block = (key: keyof AlertingDefinition) => {
    const value = definition[key];
    if (value === undefined) return undefined;
    if (!isPlainObject(value)) {
      bad(key, `${key} must be an object, received ${describeType(value)}`);
      return undefined;
    }
    return value as Record<string, unknown>;
  };
  const steps = (value: unknown, where: string, required: boolean): S[] => {
    if (value === undefined && !required) return [];
    if (!Array.isArray(value) || (required && value.length === 0)) {
      bad(
        where,
        required
          ? `${where} must list at least one step`
          : `${where} must be a list of steps`,
      );
      return [];
    }
    return value.map((step, i) => checkStep(step, `${where}[${i}]`));
  };
  const duration = (value: unknown, where: string): number | undefined => {
    if (value === undefined) return undefined;
    if (typeof value !== "string") {
      bad(
        where,
        `${where} must be a duration such as "10m", received ${
          describeType(value)
        }`,
      );
      return undefined;
    }
    try {
      const ms = parseDuration(value, `job ${name} ${where}`);
      if (ms > 0) return ms;
      bad(where, `${where} must be longer than 0`);
    } catch (error) {
      if (!isTriggerKitError(error)) throw error;
      bad(where, error.message);
    }
    return undefined;
  };
  const plans: AlertingPlans<S> = {};
  const alert = block("alert");
  if (alert) {
    const key = definition.dedupe?.key;
    if (!Array.isArray(key) || key.length === 0) {
      bad(
        "alert",
        "alert needs dedupe.key: the columns that name a row, so that each key can fire and resolve",
      );
    }
    const pendingForMs = duration(alert.pendingFor, "alert.pendingFor") ?? 0;
    const repeatEveryMs = duration(alert.repeatEvery, "alert.repeatEvery");
    const plan: AlertPlan<S> = {
      pendingForMs,
      resolvedSteps: steps(alert.resolved, "alert.resolved", false),
      summarySteps: steps(alert.summary, "alert.summary", false),
    };
    if (repeatEveryMs !== undefined) plan.repeatEveryMs = repeatEveryMs;
    plans.alertPlan = plan;
  }
  const failure = block("onFailure");
  const recovery = block("onRecovery");
  if (recovery && !failure && definition.onFailure === undefined) {
    bad(
      "onRecovery",
      "onRecovery needs onFailure: a recovery is the first success after a failure notice",
    );
  }
  if (failure) {
    const after = failure.after ?? 1;
    if (!Number.isInteger(after) || (after as number) < 1) {
      bad(
        "onFailure.after",
        `onFailure.after must be a whole number of 1 or more, received ${
          JSON.stringify(after)
        }`,
      );
    }
    const plan: NoticePlan<S> = {
      failureSteps: steps(failure.actions, "onFailure.actions", true),
      after: after as number,
      recoverySteps: recovery
        ? steps(recovery.actions, "onRecovery.actions", true)
        : [],
    };
    const staleMs = duration(failure.stale, "onFailure.stale");
    if (staleMs !== undefined) plan.staleMs = staleMs;
    plans.noticePlan = plan;
  }
  return plans;
}
