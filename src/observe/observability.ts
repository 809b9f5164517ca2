/**
 * What a registry carries to be seen running: its run metrics, its traces,
 * and a feed of run changes for the status page, all behind the one
 * observer the job engine calls.
 *
 * @module
 */
import type { RunChange } from "./_source.ts";
import {
  combineObservers,
  type RunObservation,
  type RunObserver,
} from "./run_observer.ts";
import { RunMetrics } from "./run_metrics.ts";
import { tracingObserver } from "./tracing.ts";
import type { RunStart } from "../store/contract.ts";

/** Tells listeners when a run starts and when it finishes. */
export class RunChanges implements RunObserver {
  readonly #listeners = new Set<(change: RunChange) => void>();

  /** Calls `listener` on every change; returns the unsubscribe function. */
  subscribe(listener: (change: RunChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Announces the run's start, then its end. */
  runStarted(run: RunStart): RunObservation {
    this.#emit({
      type: "started",
      runId: run.runId,
      jobName: run.jobName,
      status: "running",
    });
    return {
      queryView: (_view, query) => query(),
      runAction: (_step, call) => call(),
      finished: (report) =>
        this.#emit({
          type: "finished",
          runId: report.runId,
          jobName: report.jobName,
          status: report.status,
        }),
    };
  }

  #emit(change: RunChange): void {
    for (const listener of this.#listeners) listener(change);
  }
}

/** The metrics, traces and change feed of one registry. */
export class Observability {
  /** Run counts, durations, rows and failures. */
  readonly metrics: RunMetrics = new RunMetrics();
  /** Run starts and ends, for the status page. */
  readonly changes: RunChanges = new RunChanges();
  /** The one observer the job engine calls: traces outermost, so that their spans cover the rest. */
  readonly observer: RunObserver = combineObservers(
    tracingObserver(),
    this.metrics,
    this.changes,
  );
}
