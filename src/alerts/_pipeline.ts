/**
 * Runs a list of steps on rows as a job's pipeline does — in order, on frozen
 * rows, one shared context, a failure stopping the rest unless its step says
 * `continueOnError` — with a delivery scope per step whose row keys carry
 * each key's incident and delivery number.
 *
 * @module
 */
import { rowHash, stepKeyOf } from "../delivery/journal.ts";
import { describeType } from "../errors.ts";
import { isPlainObject } from "../_plain.ts";
import type { DeliveryJournal } from "../delivery/journal.ts";
import type { ActionOutcome } from "../store/contract.ts";
import type { JobStep } from "../jobs/definitions.ts";
import { runStep, type StepHost } from "../jobs/_step.ts";
import type { Row } from "../types.ts";

/**
 * Wraps one step's run, all its attempts: the run observer's `runAction`
 * (metrics, traces); `call` is called exactly once.
 */
export type StepWrapper = (
  step: { action: string; index: number; rows: number },
  call: () => Promise<ActionOutcome>,
) => Promise<ActionOutcome>;

/** What one pipeline is run with. */
export interface PipelineInput {
  /** The job. */
  jobName: string;
  /** The run's id. */
  runId: string;
  /** A dry run. */
  dryRun: boolean;
  /** The run's signal. */
  signal?: AbortSignal;
  /** The run's shared context. */
  context: Record<string, unknown>;
  /** Where delivered units are recorded. */
  journal: DeliveryJournal;
  /** The pipeline's part of the step keys (`alert`, `resolved`, `onFailure`, …). */
  part: string;
  /** One key per row (with its incident and delivery number). */
  rowKeys: string[];
  /** `{{state}}` of the rows: `firing` or `resolved`. */
  state?: string;
  /** Told of each step's outcome. */
  onOutcome?: (outcome: ActionOutcome, index: number) => void;
  /** Wraps each step's run (default: runs it as is). */
  observe?: StepWrapper;
}

/** What a pipeline did. */
export interface PipelineResult {
  /** One outcome per step, in order. */
  outcomes: ActionOutcome[];
  /** A step failed without `continueOnError`, or the run was aborted. */
  failed: boolean;
}

/** Every step marked skipped (not run). */
export function skippedSteps(steps: readonly JobStep[]): ActionOutcome[] {
  return steps.map((step) => ({
    action: step.action,
    status: "skipped",
    durationMs: 0,
  }));
}

/**
 * Runs the steps on the rows.
 *
 * @param host Runs actions; the clock of retries.
 * @param steps The steps.
 * @param rows The rows (frozen before the first step).
 * @param input The run, the journal and the rows' keys.
 * @returns The outcomes, and whether the pipeline failed.
 */
export async function runPipeline(
  host: StepHost,
  steps: readonly JobStep[],
  rows: readonly Row[],
  input: PipelineInput,
): Promise<PipelineResult> {
  let data = frozen(rows);
  // A copy: a step with `output: "rows"` gives the next steps its row keys.
  input = { ...input };
  // No rows (a `when: "always"` run): a unit of its own each run.
  const generation = rows.length === 0
    ? `${input.part}@${input.runId}`
    : input.part;
  const outcomes: ActionOutcome[] = [];
  let failed = false;
  for (const [index, step] of steps.entries()) {
    if (failed || input.signal?.aborted) {
      failed = true;
      outcomes.push({ action: step.action, status: "skipped", durationMs: 0 });
      continue;
    }
    const call = () =>
      runStep(host, step, {
        data,
        context: input.context,
        jobName: input.jobName,
        runId: input.runId,
        dryRun: input.dryRun,
        ...(input.signal ? { signal: input.signal } : {}),
        delivery: {
          journal: input.journal,
          stepKey: stepKeyOf(input.jobName, generation, {
            index,
            action: step.action,
          }),
          rowKeys: input.rowKeys,
          ...(input.state ? { state: input.state } : {}),
        },
      });
    const outcome = input.observe
      ? await input.observe(
        { action: step.action, index, rows: data.length },
        call,
      )
      : await call();
    outcomes.push(outcome);
    if (outcome.status === "succeeded" && step.output === "rows") {
      const output = rowsOutput(outcome, `${WHERE[input.part]}[${index}]`);
      if (output) {
        input.rowKeys = keysOfOutput(input.rowKeys, output);
        data = output;
      }
    }
    input.onOutcome?.(outcome, index);
    if (outcome.status === "failed" && !step.continueOnError) failed = true;
  }
  return { outcomes, failed: failed || input.signal?.aborted === true };
}

/** Where each part's steps are in a job definition, for messages. */
const WHERE: Record<string, string> = {
  alert: "actions",
  resolved: "alert.resolved",
  summary: "alert.summary",
  onFailure: "onFailure.actions",
  onRecovery: "onRecovery.actions",
};

function frozen(rows: readonly Row[]): Row[] {
  return Object.freeze(rows.map((row) => Object.freeze(row))) as Row[];
}

/**
 * The rows a step with `output: "rows"` hands on (frozen), or `undefined`
 * when its result's `rows` is not a list of plain objects: the outcome then
 * fails with `INVALID_RESULT`.
 */
function rowsOutput(outcome: ActionOutcome, where: string): Row[] | undefined {
  const output = (outcome.result as { rows?: unknown } | undefined)?.rows;
  if (Array.isArray(output) && output.every(isPlainObject)) {
    return frozen(output);
  }
  outcome.status = "failed";
  outcome.error = {
    code: "INVALID_RESULT",
    message:
      `Step ${where} (${outcome.action}) declares output: "rows", but its result's rows is ${
        describeType(output)
      }; an array of plain objects is required`,
  };
  return undefined;
}

/**
 * The delivery keys of enriched rows: the same keys when each row was
 * enriched in place; otherwise row i of this very batch (a key holding every
 * key it came from, with their incident and delivery numbers).
 */
function keysOfOutput(keys: string[], rows: readonly Row[]): string[] {
  if (keys.length === rows.length) return keys;
  const batch = rowHash({ keys: keys.join("\n") });
  return rows.map((_, i) => `${batch}/${i}`);
}
