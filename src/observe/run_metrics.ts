/**
 * The metrics of SPEC §6, counted from every run of a registry (scheduled,
 * by hand through `runJob`, refused) and rendered for `/metrics`.
 *
 * @module
 */
import type { RunReport, RunStart } from "../store/contract.ts";
import type { RunObservation, RunObserver } from "./run_observer.ts";
import { MetricsRegistry } from "./metrics.ts";

/** Run duration buckets, in seconds: jobs take from milliseconds to minutes. */
export const RUN_DURATION_BUCKETS: readonly number[] = [
  0.01,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
  60,
  120,
  300,
  600,
  1800,
];

/** What a scrape reads at scrape time rather than counts. */
export interface ScrapeState {
  /** Every job's name: each gets its counters at 0 before its first run. */
  jobs: readonly string[];
  /** Sandbox processes running now. */
  sandboxProcesses: number;
  /**
   * Firing alert keys per job (jobs absent: 0). Undefined: not known now
   * (the store did not answer): each job keeps its last value.
   */
  alertsFiring?: ReadonlyMap<string, number>;
}

const RUN_STATUSES = ["succeeded", "failed", "skipped"] as const;

/** The registry's run metrics; it is the run observer that counts them. */
export class RunMetrics implements RunObserver {
  readonly #registry = new MetricsRegistry();
  readonly #runs = this.#registry.counter(
    "triggerkit_runs_total",
    "Job runs that finished, by job and status (succeeded, failed, skipped).",
    ["job", "status"],
  );
  readonly #duration = this.#registry.histogram(
    "triggerkit_run_duration_seconds",
    "How long job runs took, from start to report, in seconds.",
    ["job"],
    RUN_DURATION_BUCKETS,
  );
  readonly #rows = this.#registry.counter(
    "triggerkit_rows_total",
    "Rows the job's view yielded, summed over its runs.",
    ["job"],
  );
  readonly #actionFailures = this.#registry.counter(
    "triggerkit_action_failures_total",
    "Failed action steps, by job, action and error code.",
    ["job", "action", "code"],
  );
  readonly #alertsFiring = this.#registry.gauge(
    "triggerkit_alerts_firing",
    "Alert keys firing now, by job.",
    ["job"],
  );
  readonly #sandboxProcesses = this.#registry.gauge(
    "triggerkit_sandbox_processes",
    "Sandbox processes running now.",
    [],
  );

  /** Starts following a run: it is counted when it finishes. */
  runStarted(run: RunStart): RunObservation {
    return {
      queryView: (_view, query) => query(),
      runAction: async (step, call) => {
        const outcome = await call();
        if (outcome.status === "failed") {
          this.#actionFailures.inc([
            run.jobName,
            step.action,
            outcome.error?.code ?? "UNKNOWN",
          ]);
        }
        return outcome;
      },
      finished: (report) => this.#count(report),
    };
  }

  /** The runs counted so far for a job and status (tests, the CLI). */
  runs(job: string, status: RunReport["status"]): number {
    return this.#runs.value([job, status]);
  }

  /**
   * The metrics in the Prometheus text format.
   *
   * @param state What is read at scrape time: job names, sandbox processes, firing alerts.
   * @returns The exposition text.
   */
  render(state: ScrapeState): string {
    for (const job of state.jobs) {
      for (const status of RUN_STATUSES) this.#runs.touch([job, status]);
      this.#rows.touch([job]);
    }
    // Jobs are never removed from a registry, so their series are only ever set.
    for (const job of state.jobs) {
      if (state.alertsFiring) {
        this.#alertsFiring.set([job], state.alertsFiring.get(job) ?? 0);
      } else this.#alertsFiring.touch([job]);
    }
    this.#sandboxProcesses.set([], state.sandboxProcesses);
    return this.#registry.render();
  }

  #count(report: RunReport): void {
    const job = report.jobName;
    this.#runs.inc([job, report.status]);
    this.#rows.inc([job], report.rowCount);
    const started = Date.parse(report.startedAt);
    const finished = Date.parse(report.finishedAt);
    if (Number.isFinite(started) && Number.isFinite(finished)) {
      this.#duration.observe([job], Math.max(0, finished - started) / 1000);
    }
  }
}
