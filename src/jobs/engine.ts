/**
 * The job engine: views and jobs by name, and how one run goes — the view is
 * queried once, its rows deduplicated, the job's steps run on them in order
 * with one shared context, and the run recorded in the store.
 *
 * @module
 */
import { describeType, isTriggerKitError, TriggerKitError } from "../errors.ts";
import { isPlainObject } from "../_plain.ts";
import { lookup } from "../_suggest.ts";
import { type Clock, repeat } from "../clock.ts";
import type { Databases } from "../db/databases.ts";
import { parseNamedSql } from "../db/named_sql.ts";
import {
  type ActionOutcome,
  HEARTBEAT_MS,
  type RunReport,
  type RunStart,
  type RunStore,
} from "../store/contract.ts";
import { logger } from "../logger.ts";
import type { Row } from "../types.ts";
import { runStep, type StepHost } from "./_step.ts";
import {
  checkJob,
  checkView,
  type Job,
  type JobDefinition,
  type ViewDefinition,
} from "./definitions.ts";
// alerts (issue 14): alert jobs' key lifecycle, onFailure/onRecovery notices.
import { runAlerts } from "../alerts/run.ts";
import { checkStale, runNotices, type StaleNotice } from "../alerts/notices.ts";
import type { AlertingHost } from "../alerts/mutes.ts";
import {
  noObserver,
  type RunObservation,
  type RunObserver,
} from "../observe/run_observer.ts";

const log = logger("job");

/** Options of `runJob`. */
export interface RunJobOptions {
  /** Report what would happen, change nothing. */
  dryRun?: boolean;
  /** Aborting it stops the current action and skips the rest. */
  signal?: AbortSignal;
  /** The scheduled slot this run is for (ms), when the scheduler starts it. */
  slot?: number;
  /** 2 or more: this slot's earlier run was cut short (its instance died). */
  attempt?: number;
  /** Told as the run goes: rows fetched, each action done. */
  onProgress?: (event: ProgressEvent) => void;
  /** The run's id (default: a new UUID), for a caller that must know it before the run ends. */
  runId?: string;
}

/** What a run reports as it goes. */
export type ProgressEvent =
  | { type: "rows"; rowCount: number; newRowCount: number }
  | {
    type: "action";
    action: string;
    status: ActionOutcome["status"];
    index: number;
    total: number;
  };

/** What the job engine needs of its registry. */
export interface JobHost extends StepHost {
  hasAction(name: string): boolean;
  actionNames(): Iterable<string>;
  validateConfig(action: string, config: unknown): void;
  /** Databases by URL or configured name. */
  readonly databases: Databases;
  store(): RunStore;
  /** The registry's clock: run times, dedupe expiry, heartbeats, retry delays. */
  readonly clock: Clock;
  /** Told of every run: metrics, traces, the status page. */
  readonly observer?: RunObserver;
}

/** The views and jobs of a registry, and how they run. */
export class Jobs {
  readonly #host: JobHost;
  readonly #views = new Map<string, ViewDefinition>();
  readonly #jobs = new Map<string, Job>();
  readonly #running = new Set<string>();

  /**
   * @param host The registry's actions, databases, store and clock.
   */
  constructor(host: JobHost) {
    this.#host = host;
  }

  /** Defines (or replaces) a view. */
  defineView(definition: ViewDefinition): ViewDefinition {
    const databases = this.#host.databases;
    const view = checkView(definition, (name) => databases.has(name));
    this.#views.set(view.name, view);
    return view;
  }

  /** Defines (or replaces) a job; its view and actions must exist. */
  defineJob(definition: JobDefinition): Job {
    const job = checkJob(definition, { ...this.#host, views: this.#views });
    this.#jobs.set(job.name, job);
    return job;
  }

  /** A view by name. */
  getView(name: string): ViewDefinition {
    return lookup(this.#views, name, "VIEW_NOT_FOUND", "view");
  }

  /** A job by name. */
  getJob(name: string): Job {
    return lookup(this.#jobs, name, "JOB_NOT_FOUND", "job");
  }

  /** Every job, sorted by name. */
  listJobs(): Job[] {
    return [...this.#jobs.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  /** Every view, sorted by name. */
  listViews(): ViewDefinition[] {
    return [...this.#views.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  /** Whether a run of the job is in progress in this process. */
  isRunning(name: string): boolean {
    return this.#running.has(name);
  }

  /** alerts (issue 14): sends `onFailure` for jobs gone `stale`; `serve` calls it. */
  checkStale(signal?: AbortSignal): Promise<StaleNotice[]> {
    return checkStale(this.#host, this.listJobs(), signal ? { signal } : {});
  }

  /** alerts (issue 14): what `mute`, `unmute` and `alerts` work on. */
  get alerting(): AlertingHost {
    const { store, clock } = this.#host;
    return { jobs: this, store, clock };
  }

  /** Queries a view. */
  async queryView(name: string): Promise<Row[]> {
    const view = this.getView(name);
    const database = this.#host.databases.get(view.database);
    return await database.query(parseNamedSql(view.sql));
  }

  /** Runs a job once and records the run. Never throws for a failed run: the report says so. */
  async runJob(name: string, options: RunJobOptions = {}): Promise<RunReport> {
    const job = this.getJob(name);
    const { clock } = this.#host;
    const report = newReport(name, options, clock.now());
    const start: RunStart = {
      runId: report.runId,
      jobName: name,
      dryRun: report.dryRun,
      startedAt: report.startedAt,
      ...(report.slot ? { slot: report.slot } : {}),
    };
    const observed = (this.#host.observer ?? noObserver).runStarted(start);
    try {
      return await this.#claimAndRun(job, report, start, options, observed);
    } finally {
      if (!report.finishedAt) {
        // The store failed before the report was final: the run is over all the same.
        report.finishedAt = new Date(clock.now()).toISOString();
        report.status = "failed";
        report.reason ??= "the run store failed";
      }
      observed.finished(report);
    }
  }

  async #claimAndRun(
    job: Job,
    report: RunReport,
    start: RunStart,
    options: RunJobOptions,
    observed: RunObservation,
  ): Promise<RunReport> {
    const name = job.name;
    const { clock } = this.#host;
    const store = this.#host.store();
    if (this.#running.has(name)) {
      // Refused, and recorded so: the history says why this run did nothing.
      await store.start(start);
      report.status = "skipped";
      report.reason = "a run of this job is already in progress";
      return this.#finish(report);
    }
    this.#running.add(name);
    try {
      await store.start(start);
      const beating = new AbortController();
      const heartbeat = repeat(
        clock,
        HEARTBEAT_MS,
        () => store.heartbeat(report.runId),
        beating.signal,
      );
      let newKeys: string[];
      try {
        newKeys = await this.#execute(job, report, options, observed);
        // alerts (issue 14)
        await runNotices(this.#host, job, report, {
          observeStep: observed.runAction,
        });
      } finally {
        beating.abort();
        await heartbeat;
      }
      // Seen keys are saved only after success: a failed run's rows come again.
      if (
        report.status === "succeeded" && !report.dryRun &&
        job.dedupeTtlMs !== undefined
      ) {
        const now = clock.now();
        await store.remember(name, newKeys, now + job.dedupeTtlMs, now);
      }
      return await this.#finish(report);
    } finally {
      this.#running.delete(name);
    }
  }

  /** Runs the job's pipeline into `report`; returns the dedupe keys of the rows it acted on. */
  async #execute(
    job: Job,
    report: RunReport,
    options: RunJobOptions,
    observed: RunObservation,
  ): Promise<string[]> {
    const fetched = await this.#fetch(job, report, observed);
    if (job.alertPlan) { // alerts (issue 14): the alert state picks the rows
      await runAlerts(this.#host, job, fetched?.rows, report, {
        ...options,
        observeStep: observed.runAction,
      });
      return [];
    }
    if (!fetched) return [];
    const { rows, newKeys } = fetched;
    report.newRowCount = rows.length;
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
    if (rows.length === 0 && (job.when ?? "rows") === "rows") {
      skipAll(job, report, "skipped", "the view yielded no new rows");
      return newKeys;
    }
    await this.#runSteps(job, rows, report, options, observed);
    return newKeys;
  }

  /** The view's rows not seen before (dedupe), or undefined when the view failed. */
  async #fetch(
    job: Job,
    report: RunReport,
    observed: RunObservation,
  ): Promise<{ rows: Row[]; newKeys: string[] } | undefined> {
    try {
      const rows = await observed.queryView(
        job.view,
        () => this.queryView(job.view),
      );
      report.rowCount = rows.length;
      if (!job.dedupe || job.alertPlan) return { rows, newKeys: [] };
      const keyed = rows.map((row, i) => [rowKey(job, row, i), row] as const);
      const seen = await this.#host.store().seen(
        job.name,
        keyed.map(([key]) => key),
        this.#host.clock.now(),
      );
      const fresh = keyed.filter(([key]) => !seen.has(key));
      return {
        rows: fresh.map(([, row]) => row),
        newKeys: [...new Set(fresh.map(([key]) => key))],
      };
    } catch (error) {
      const wrapped = isTriggerKitError(error)
        ? error
        : new TriggerKitError("DATABASE_ERROR", String(error), {
          cause: error,
        });
      report.error = { code: wrapped.code, message: wrapped.message };
      skipAll(job, report, "failed", `view "${job.view}" failed`);
      return undefined;
    }
  }

  /** Runs the steps in order on frozen rows; a failure stops the rest unless its step says `continueOnError`. */
  async #runSteps(
    job: Job,
    rows: Row[],
    report: RunReport,
    options: RunJobOptions,
    observed: RunObservation,
  ): Promise<void> {
    // Actions share the run's rows: frozen, so none can change what the next
    // one sees, except a step that declares `output: "rows"`.
    let data = frozenRows(rows);
    const context: Record<string, unknown> = {};
    let stopped = false;
    for (const [index, step] of job.steps.entries()) {
      if (stopped || options.signal?.aborted) {
        report.actions.push({
          action: step.action,
          status: "skipped",
          durationMs: 0,
        });
        continue;
      }
      const outcome = await observed.runAction(
        { action: step.action, index, rows: data.length },
        async () => {
          const outcome = await runStep(this.#host, step, {
            data,
            context,
            jobName: job.name,
            runId: report.runId,
            dryRun: report.dryRun,
            ...(options.signal ? { signal: options.signal } : {}),
          });
          if (outcome.status === "succeeded" && step.output === "rows") {
            const output = (outcome.result as { rows?: unknown }).rows;
            if (isRowList(output)) data = frozenRows(output);
            else {
              outcome.status = "failed";
              outcome.error = {
                code: "INVALID_RESULT",
                message:
                  `Step actions[${index}] (${step.action}) declares output: "rows", but its result's rows is ${
                    describeType(output)
                  }; an array of plain objects is required`,
              };
            }
          }
          return outcome;
        },
      );
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
    if (options.signal?.aborted && report.status === "succeeded") {
      report.status = "failed";
      report.reason = "the run was aborted";
    }
  }

  async #finish(report: RunReport): Promise<RunReport> {
    report.finishedAt = new Date(this.#host.clock.now()).toISOString();
    await this.#host.store().finish(report);
    const level = report.status === "failed" ? "warn" : "info";
    log[level]("Job {jobName} {status}", {
      jobName: report.jobName,
      runId: report.runId,
      status: report.status,
    });
    return report;
  }
}

function newReport(
  name: string,
  options: RunJobOptions,
  now: number,
): RunReport {
  const report: RunReport = {
    runId: options.runId ?? crypto.randomUUID(),
    jobName: name,
    dryRun: options.dryRun ?? false,
    status: "succeeded",
    startedAt: new Date(now).toISOString(),
    finishedAt: "",
    rowCount: 0,
    newRowCount: 0,
    actions: [],
  };
  if (options.slot !== undefined) {
    report.slot = new Date(options.slot).toISOString();
  }
  if ((options.attempt ?? 1) > 1) report.attempt = options.attempt!;
  return report;
}

/** Marks every step skipped: the run ended before its actions. */
function skipAll(
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

function frozenRows(rows: readonly Row[]): Row[] {
  return Object.freeze(rows.map((row) => Object.freeze(row))) as Row[];
}

function isRowList(value: unknown): value is Row[] {
  return Array.isArray(value) && value.every(isPlainObject);
}

function rowKey(job: Job, row: Row, index: number): string {
  const key = job.dedupe!.key.map((field) => {
    if (!(field in row)) {
      throw new TriggerKitError(
        "INVALID_DATA",
        `Job "${job.name}": row ${index} of view "${job.view}" has no column "${field}", which dedupe.key uses`,
      );
    }
    const value = row[field];
    return typeof value === "bigint"
      ? value.toString()
      : value instanceof Date
      ? value.toISOString()
      : value;
  });
  return JSON.stringify(key);
}
