/**
 * One step of a job run: its action called, retried on transient failures
 * with exponential backoff on the registry's clock, and its outcome.
 *
 * @module
 */
import { isTriggerKitError, TriggerKitError } from "../errors.ts";
import type { Clock } from "../clock.ts";
import type { ActionResult, Row } from "../types.ts";
import type { DeliveryScope, StepRunOptions } from "../delivery/journal.ts";
import type { ActionOutcome } from "../store/contract.ts";
import type { JobStep } from "./definitions.ts";

/** What running a step needs of the registry. */
export interface StepHost {
  run(
    action: string,
    data: Row[],
    options: StepRunOptions,
  ): Promise<ActionResult>;
  readonly clock: Clock;
}

/** What a step is run with: the run's rows and context. */
export interface StepInput {
  data: Row[];
  context: Record<string, unknown>;
  jobName: string;
  runId: string;
  dryRun: boolean;
  signal?: AbortSignal;
  /** The step's delivery scope (journal, step key, row keys, alert state). */
  delivery?: DeliveryScope;
}

/** Failures worth another attempt (when the step asks for retries). */
const TRANSIENT = new Set([
  "ACTION_FAILED",
  "ACTION_TIMEOUT",
  "DATABASE_ERROR",
]);

/** Runs a step's action, retrying transient failures; never throws. */
export async function runStep(
  host: StepHost,
  step: JobStep,
  input: StepInput,
): Promise<ActionOutcome> {
  const started = performance.now();
  const retries = Math.max(0, Math.floor(step.retries ?? 0));
  const { signal } = input;
  for (let attempt = 0;; attempt++) {
    try {
      const options: StepRunOptions = {
        context: input.context,
        config: step.config,
        jobName: input.jobName,
        runId: input.runId,
        dryRun: input.dryRun || step.dryRun === true,
        ...(signal ? { signal } : {}),
        ...(input.delivery ? { delivery: input.delivery } : {}),
      };
      const result = await host.run(step.action, input.data, options);
      return withAttempts({
        action: step.action,
        status: "succeeded",
        durationMs: since(started),
        result,
      }, attempt);
    } catch (error) {
      const coded = isTriggerKitError(error)
        ? error
        : new TriggerKitError("ACTION_FAILED", String(error), {
          cause: error,
        });
      if (attempt < retries && TRANSIENT.has(coded.code) && !signal?.aborted) {
        const delay = (step.retryDelayMs ?? 1000) * 2 ** attempt;
        if (
          await host.clock.sleep(delay, signal).then(() => true, () => false)
        ) {
          continue;
        }
      }
      return withAttempts({
        action: step.action,
        status: "failed",
        durationMs: since(started),
        error: { code: coded.code, message: coded.message },
      }, attempt);
    }
  }
}

function withAttempts(outcome: ActionOutcome, attempt: number): ActionOutcome {
  if (attempt > 0) outcome.attempts = attempt + 1;
  return outcome;
}

/** A step's duration in ms (µs precision): a stopwatch, not the wall clock. */
function since(started: number): number {
  return Math.round((performance.now() - started) * 1000) / 1000;
}
