/**
 * One run's pipeline, once the job is claimed: the view queried, its rows
 * deduplicated, and the steps run in order on frozen rows with one shared
 * context. Each step gets its delivery scope (the journal, a step key from
 * the job's generation, the rows' dedupe keys); a step that a run of the
 * same rows already finished (an interrupted run, a takeover) is not run
 * again: its recorded result and context changes are used.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { describeType, isTriggerKitError, TriggerKitError } from "../errors.ts";
import { isPlainObject } from "../_plain.ts";
import { jsonLongerThan, toJson } from "../_json.ts";
import type { Clock } from "../clock.ts";
import {
  type DeliveryJournal,
  type DeliveryScope,
  stepKeyOf,
  unitKeysOf,
} from "../delivery/journal.ts";
import type {
  ActionOutcome,
  KeySetDigest,
  ProgressEvent,
  RunReport,
  RunStore,
} from "../store/contract.ts";
import type { StoreCalls } from "../store/journal.ts";
import { logger } from "../logger.ts";
import type { Row } from "../types.ts";
import { runStep, type StepHost } from "./_step.ts";
import { newRows } from "./_dedupe.ts";
import type { Job } from "./definitions.ts";
import { noObserver, type RunObservation } from "../observe/run_observer.ts";
// alerts (issue 14): an alert job's rows go through its keys' state machine.
import { runAlerts } from "../alerts/run.ts";
import type { AlertFence, AlertStore } from "../alerts/store.ts";

const log = logger("job");

/** A step's receipt (result and context) is kept only under this size: larger, the step runs again on resume. */
const MAX_STEP_RECEIPT = 48 * 1024;

export type { ProgressEvent } from "../store/contract.ts";

/** What the pipeline needs of the engine. */
export interface PipelineHost extends StepHost {
  queryView(name: string, signal?: AbortSignal): Promise<Row[]>;
  readonly store: RunStore & { alerts?: AlertStore };
  readonly clock: Clock;
}

/** How one run goes. */
export interface PipelineOptions {
  /** Fires when the run must stop (aborted, or its claim lost). */
  signal?: AbortSignal;
  /** How the run calls the store. */
  calls: StoreCalls;
  /** The run's delivery journal. */
  journal: DeliveryJournal;
  /** The job's generation (its last successful run's id). */
  generation: string;
  /** Whether the run's claim still holds (checked before each step). */
  holds: () => boolean;
  /** Told as the run goes. */
  onProgress?: (event: ProgressEvent) => void;
  /** The run's observation: the view query and each step go through it. */
  observed?: RunObservation;
  /** The run's claim, which fences alert state writes (none in a dry run). */
  fence?: AlertFence;
}

/** What the run leaves for its record: the dedupe keys of the rows it acted on. */
export interface PipelineOutcome {
  newKeys: string[];
  viewDigest?: KeySetDigest;
}

/** Runs the job's pipeline into `report`. */
export async function executeRun(
  host: PipelineHost,
  job: Job,
  report: RunReport,
  options: PipelineOptions,
): Promise<PipelineOutcome> {
  const fetched = await fetchRows(host, job, report, options);
  if (job.alertPlan) {
    await runAlerts(alertHost(host, options), job, fetched?.rows, report, {
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      observeStep: observation(options).runAction,
    });
    return { newKeys: [] };
  }
  if (!fetched) return { newKeys: [] };
  report.newRowCount = fetched.rows.length;
  options.onProgress?.({
    type: "rows",
    rowCount: report.rowCount,
    newRowCount: report.newRowCount,
  });
  log.info("Job {jobName} fetched {rowCount} rows ({newRowCount} new)", {
    jobName: job.name,
    runId: report.runId,
    rowCount: report.rowCount,
    newRowCount: report.newRowCount,
  });
  if (fetched.rows.length === 0 && (job.when ?? "rows") === "rows") {
    skipAll(job, report, "skipped", "the view yielded no new rows");
    return fetched;
  }
  await runSteps(host, job, fetched, report, options);
  return fetched;
}

interface Fetched extends PipelineOutcome {
  rows: Row[];
  rowKeys?: string[];
}

/** The view's rows not seen before (dedupe), or undefined when the view or the lookup failed. */
async function fetchRows(
  host: PipelineHost,
  job: Job,
  report: RunReport,
  options: PipelineOptions,
): Promise<Fetched | undefined> {
  let rows: Row[];
  try {
    rows = await observation(options).queryView(
      job.view,
      () => host.queryView(job.view, options.signal),
    );
  } catch (error) {
    failBefore(job, report, error, `view "${job.view}" failed`);
    return undefined;
  }
  report.rowCount = rows.length;
  // An alert job's keys are its state's, not dedupe's.
  if (!job.dedupe || job.alertPlan) return { rows, newKeys: [] };
  try {
    const found = await newRows(
      host.store,
      options.calls,
      job,
      rows,
      host.clock.now(),
    );
    return { ...found, rows: found.rows };
  } catch (error) {
    failBefore(job, report, error, "dedupe keys could not be compared");
    return undefined;
  }
}

function failBefore(
  job: Job,
  report: RunReport,
  error: unknown,
  reason: string,
): void {
  const coded = isTriggerKitError(error)
    ? error
    : new TriggerKitError("DATABASE_ERROR", String(error), { cause: error });
  report.error = { code: coded.code, message: coded.message };
  skipAll(job, report, "failed", reason);
}

/** Runs the steps in order on frozen rows; a failure stops the rest unless its step says `continueOnError`. */
async function runSteps(
  host: PipelineHost,
  job: Job,
  fetched: Fetched,
  report: RunReport,
  options: PipelineOptions,
): Promise<void> {
  const { signal } = options;
  // Actions share the run's rows: frozen, so none can change what the next
  // one sees, except a step that declares `output: "rows"`.
  const viewRows = frozenRows(fetched.rows);
  // The rows a step gets (a step with `output: "rows"` may replace them for
  // the next ones: those rows are keyed by their content, not dedupe keys).
  let data = viewRows;
  const observed = observation(options);
  const context: Record<string, unknown> = {};
  let stopped = false;
  for (const [index, step] of job.steps.entries()) {
    if (stopped || signal?.aborted || !options.holds()) {
      report.actions.push({
        action: step.action,
        status: "skipped",
        durationMs: 0,
      });
      continue;
    }
    const scope: DeliveryScope = {
      journal: options.journal,
      stepKey: stepKeyOf(job.name, options.generation, {
        index,
        action: step.action,
      }),
      ...(fetched.rowKeys && data === viewRows
        ? { rowKeys: fetched.rowKeys }
        : {}),
    };
    let outcome: ActionOutcome;
    try {
      outcome = await observed.runAction(
        { action: step.action, index, rows: data.length },
        async () => {
          const done = await runJournaled(host, step, scope, {
            data,
            context,
            jobName: job.name,
            runId: report.runId,
            dryRun: report.dryRun,
            ...(signal ? { signal } : {}),
          });
          if (done.status === "succeeded" && step.output === "rows") {
            const rows = outputRows(done, index);
            if (rows) data = rows;
          }
          return done;
        },
      );
    } catch (error) {
      // The journal could not be read or written: the run stops here.
      const coded = isTriggerKitError(error)
        ? error
        : new TriggerKitError("STORE_ERROR", String(error), { cause: error });
      outcome = {
        action: step.action,
        status: "failed",
        durationMs: 0,
        error: { code: coded.code, message: coded.message },
      };
      report.status = "failed";
      stopped = true;
    }
    report.actions.push(outcome);
    options.onProgress?.({
      type: "action",
      action: step.action,
      status: outcome.status,
      index,
      total: job.steps.length,
    });
    if (outcome.status === "failed" && !step.continueOnError) {
      report.status = "failed";
      stopped = true;
    }
  }
  if (signal?.aborted && report.status === "succeeded") {
    report.status = "failed";
    report.reason = "the run was aborted";
  }
}

/**
 * Runs a step unless a run of the same rows finished it (its receipt in the
 * journal), and records its receipt when it succeeds.
 */
async function runJournaled(
  host: PipelineHost,
  step: Job["steps"][number],
  scope: DeliveryScope,
  input: Parameters<typeof runStep>[2],
): Promise<ActionOutcome> {
  const key = stepReceiptKey(scope, input.data);
  const receipt = (await scope.journal.get([key])).get(key);
  const detail = receipt?.state === "delivered" ? receipt.detail : undefined;
  if (detail && !input.dryRun && !step.dryRun) {
    Object.assign(input.context, detail.context ?? {});
    log.info(
      "Job {jobName}: step {action} was done by an earlier run of these rows",
      {
        jobName: input.jobName,
        runId: input.runId,
        action: step.action,
      },
    );
    return {
      action: step.action,
      status: "succeeded",
      durationMs: 0,
      result: (detail.result ?? {}) as Record<string, unknown>,
      resumed: true,
    };
  }
  const outcome = await runStep(host, step, { ...input, delivery: scope });
  if (outcome.status !== "succeeded" || input.dryRun || step.dryRun) {
    return outcome;
  }
  // Measured first: writing the JSON of a large result (100,000 rows) only
  // to learn that it is too large would block the event loop for tens of ms.
  const done = { result: outcome.result, context: input.context };
  if (jsonLongerThan(done, MAX_STEP_RECEIPT)) return outcome;
  const text = toJson(done);
  if (text === undefined || text.length > MAX_STEP_RECEIPT) return outcome;
  try {
    await scope.journal.record(
      new Map([[key, {
        state: "delivered",
        at: host.clock.now(),
        detail: JSON.parse(text),
      }]]),
    );
  } catch (error) {
    // The step did succeed; a lost claim stops the next ones (its signal fired).
    log.warn(
      "Job {jobName}: step {action}'s receipt was not recorded: {error}",
      {
        jobName: input.jobName,
        runId: input.runId,
        action: step.action,
        error: (error as Error).message,
      },
    );
  }
  return outcome;
}

const ROWS_DIGESTS = new WeakMap<readonly Row[], string>();

/**
 * The journal key of a step's receipt: its step key and its rows — their
 * dedupe keys, or else one digest of the rows' JSON, computed once for the
 * run's frozen rows (a digest per row would cost more than the run).
 */
function stepReceiptKey(scope: DeliveryScope, rows: readonly Row[]): string {
  if (scope.rowKeys) return `${unitKeysOf(scope, rows, false)[0]!}#step`;
  let digest = ROWS_DIGESTS.get(rows);
  if (digest === undefined) {
    let text: string;
    try {
      text = JSON.stringify(rows);
    } catch {
      text = toJson(rows); // bigints
    }
    digest = createHash("sha256").update(text).digest("base64url").slice(
      0,
      22,
    );
    if (Object.isFrozen(rows)) ROWS_DIGESTS.set(rows, digest);
  }
  return `${scope.stepKey}:rows:${digest}#step`;
}

/**
 * The rows a step with `output: "rows"` hands on (frozen); when its result
 * has none, the step's outcome is turned into an `INVALID_RESULT` failure.
 */
function outputRows(outcome: ActionOutcome, index: number): Row[] | undefined {
  const output = (outcome.result as { rows?: unknown }).rows;
  if (Array.isArray(output) && output.every(isPlainObject)) {
    return frozenRows(output as Row[]);
  }
  outcome.status = "failed";
  outcome.error = {
    code: "INVALID_RESULT",
    message:
      `Step actions[${index}] (${outcome.action}) declares output: "rows", but its result's rows is ${
        describeType(output)
      }; an array of plain objects is required`,
  };
  return undefined;
}

function frozenRows(rows: readonly Row[]): Row[] {
  return Object.freeze(rows.map((row) => Object.freeze(row))) as Row[];
}

function observation(options: PipelineOptions): RunObservation {
  return options.observed ?? noObserver.runStarted(NO_RUN);
}

const NO_RUN = { runId: "", jobName: "", dryRun: false, startedAt: "" };

/** What alerts need of the run: its actions, store, clock, fenced journal and claim. */
function alertHost(host: PipelineHost, options: PipelineOptions) {
  return {
    run: host.run.bind(host),
    clock: host.clock,
    store: () => host.store,
    journal: () => options.journal,
    ...(options.fence ? { fence: options.fence } : {}),
  };
}

/** Marks every step skipped: the run ended before its actions. */
export function skipAll(
  job: Job,
  report: RunReport,
  status: "skipped" | "failed",
  reason: string,
): void {
  report.status = status;
  report.reason = reason;
  report.actions = job.steps.map((step) => ({
    action: step.action,
    status: "skipped",
    durationMs: 0,
  }));
}
