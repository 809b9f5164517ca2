/**
 * The hook the job engine calls for every run of a registry (scheduled, by
 * hand, refused): metrics, traces and the status page's live refresh all
 * hang on it. The view query and each action are wrapped, not just
 * announced, so that a tracer can make its span the active context while
 * they run (an `http_request` then sends it on as `traceparent`).
 *
 * @module
 */
import type { ActionOutcome, RunReport, RunStart } from "../store/contract.ts";
import type { Row } from "../types.ts";
import { logger } from "../logger.ts";

const log = logger("observe");

/** One step of a run, as the observer is told of it. */
export interface ObservedStep {
  /** The action's name. */
  action: string;
  /** The step's position in the job (0-based). */
  index: number;
  /** How many rows the action receives. */
  rows: number;
}

/** What follows one run, from its start to its report. */
export interface RunObservation {
  /** Runs the view query; `query` is called exactly once. */
  queryView(view: string, query: () => Promise<Row[]>): Promise<Row[]>;
  /** Runs one step (all its attempts); `call` is called exactly once. */
  runAction(
    step: ObservedStep,
    call: () => Promise<ActionOutcome>,
  ): Promise<ActionOutcome>;
  /** The run is over (its report is final and, if the store answered, recorded). */
  finished(report: RunReport): void;
}

/** Told of every run of a registry. */
export interface RunObserver {
  /** A run begins, before anything is recorded; refused runs begin too. */
  runStarted(run: RunStart): RunObservation;
}

const passThrough: RunObservation = {
  queryView: (_view, query) => query(),
  runAction: (_step, call) => call(),
  finished: () => {},
};

/** An observer that does nothing. */
export const noObserver: RunObserver = { runStarted: () => passThrough };

/**
 * One observer that tells several, in order: the first one's wrapper is the
 * outermost.
 *
 * @param observers The observers.
 * @returns An observer that fans out to them.
 */
export function combineObservers(...observers: RunObserver[]): RunObserver {
  if (observers.length === 0) return noObserver;
  if (observers.length === 1) return observers[0]!;
  return {
    runStarted(run) {
      const each = observers.map((observer) => observer.runStarted(run));
      return {
        queryView: (view, query) =>
          each.reduceRight<() => Promise<Row[]>>(
            (inner, observation) => () => observation.queryView(view, inner),
            query,
          )(),
        runAction: (step, call) =>
          each.reduceRight<() => Promise<ActionOutcome>>(
            (inner, observation) => () => observation.runAction(step, inner),
            call,
          )(),
        finished(report) {
          for (const observation of each) {
            // A broken observer costs its own view of the run, never the run.
            try {
              observation.finished(report);
            } catch (error) {
              log.error("A run observer failed: {error}", { error });
            }
          }
        },
      };
    },
  };
}
