/**
 * Views, jobs and job runs (SPEC.md §4): a view is queried once per run, its
 * rows deduplicated, and the job's actions run on them in order with one
 * shared context; every run is recorded.
 *
 * @module
 */
import { isTriggerKitError, TriggerKitError } from "./errors.ts";
import { lookup } from "./_suggest.ts";
import type { Databases } from "./databases.ts";
import { parseNamedSql } from "./named_sql.ts";
import {
  type ActionOutcome,
  HEARTBEAT_MS,
  type RunReport,
  type RunStart,
  type RunStore,
} from "./store.ts";
import { logger } from "./logger.ts";
import type { ActionResult, Row, RunOptions } from "./types.ts";
import {
  checkJob,
  checkView,
  type Job,
  type JobDefinition,
  type JobStep,
  type ViewDefinition,
} from "./job_definitions.ts";
import {
  noObserver,
  type RunObservation,
  type RunObserver,
} from "./observe/run_observer.ts";

export type {
  Job,
  JobDefinition,
  JobStep,
  ViewDefinition,
} from "./job_definitions.ts";

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
export interface JobHost {
  hasAction(name: string): boolean;
  actionNames(): Iterable<string>;
  validateConfig(action: string, config: unknown): void;
  run(action: string, data: Row[], options: RunOptions): Promise<ActionResult>;
  readonly databases: Databases;
  store(): RunStore;
  /** Database aliases from the config. */
  resolveDatabase(name: string): string;
  /** Told of every run: metrics, traces, the status page. */
  observer?: RunObserver;
}

const TRANSIENT = new Set([
  "ACTION_FAILED",
  "ACTION_TIMEOUT",
  "DATABASE_ERROR",
]);
/** The views and jobs of a registry, and how they run. */
export class Jobs {
  readonly #host: JobHost;
  readonly #views = new Map<string, ViewDefinition>();
  readonly #jobs = new Map<string, Job>();
  readonly #running = new Set<string>();
  readonly #sleep: (ms: number) => Promise<void>;

  /**
   * @param host The registry's actions, databases and store.
   * @param sleep Waits between step retries (a fake clock in tests).
   */
  constructor(
    host: JobHost,
    sleep: (ms: number) => Promise<void> = (ms) =>
      new Promise((r) => setTimeout(r, ms)),
  ) {
    this.#host = host;
    this.#sleep = sleep;
  }

  /** Defines (or replaces) a view. */
  defineView(definition: ViewDefinition): ViewDefinition {
    const view = checkView(definition, this.#host.resolveDatabase);
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

  /** Queries a view. */
  async queryView(name: string): Promise<Row[]> {
    const view = this.getView(name);
    const database = this.#host.databases.get(
      this.#host.resolveDatabase(view.database),
    );
    return await database.query(parseNamedSql(view.sql));
  }

  /** Runs a job once and records the run. Never throws for a failed run: the report says so. */
  async runJob(name: string, options: RunJobOptions = {}): Promise<RunReport> {
    const job = this.getJob(name);
    const dryRun = options.dryRun ?? false;
    const report: RunReport = {
      runId: options.runId ?? crypto.randomUUID(),
      jobName: name,
      dryRun,
      status: "succeeded",
      startedAt: new Date().toISOString(),
      finishedAt: "",
      rowCount: 0,
      newRowCount: 0,
      actions: [],
    };
    if (options.slot !== undefined) {
      report.slot = new Date(options.slot).toISOString();
    }
    if ((options.attempt ?? 1) > 1) report.attempt = options.attempt!;
    const start: RunStart = {
      runId: report.runId,
      jobName: name,
      dryRun,
      startedAt: report.startedAt,
      ...(report.slot ? { slot: report.slot } : {}),
    };
    const observed = (this.#host.observer ?? noObserver).runStarted(start);
    try {
      return await this.#claimAndRun(job, report, start, options, observed);
    } finally {
      if (!report.finishedAt) {
        // The store failed before the report was final: the run is over all the same.
        report.finishedAt = new Date().toISOString();
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
    const dryRun = report.dryRun;
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
      const beat = setInterval(
        () => store.heartbeat(report.runId).catch(() => {}),
        HEARTBEAT_MS,
      );
      Deno.unrefTimer(beat);
      let newKeys: string[];
      try {
        newKeys = await this.#execute(job, report, options, observed);
      } finally {
        clearInterval(beat);
      }
      // Seen keys are saved only after success: a failed run's rows come again.
      if (
        report.status === "succeeded" && !dryRun &&
        job.dedupeTtlMs !== undefined
      ) {
        const now = Date.now();
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
    const skipAll = (status: "skipped" | "failed", reason?: string) => {
      report.status = status;
      if (reason) report.reason = reason;
      report.actions = job.steps.map((step) => ({
        action: step.action,
        status: "skipped",
        durationMs: 0,
      }));
    };
    let rows: Row[];
    let newKeys: string[] = [];
    try {
      rows = await observed.queryView(job.view, () => this.queryView(job.view));
      report.rowCount = rows.length;
      if (job.dedupe) {
        const keyed = rows.map((row, i) => [rowKey(job, row, i), row] as const);
        const seen = await this.#host.store().seen(
          job.name,
          keyed.map(([key]) => key),
          Date.now(),
        );
        const fresh = keyed.filter(([key]) => !seen.has(key));
        newKeys = [...new Set(fresh.map(([key]) => key))];
        rows = fresh.map(([, row]) => row);
      }
    } catch (error) {
      const wrapped = isTriggerKitError(error)
        ? error
        : new TriggerKitError("DATABASE_ERROR", String(error), {
          cause: error,
        });
      report.error = { code: wrapped.code, message: wrapped.message };
      skipAll("failed", `view "${job.view}" failed`);
      return [];
    }
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
      skipAll("skipped", "the view yielded no new rows");
      return newKeys;
    }
    // Actions share the run's rows: freeze them so none can change what the next one sees.
    const data = Object.freeze(rows.map((row) => Object.freeze(row))) as Row[];
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
        () => this.#runStep(job, step, data, context, report, options),
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
    return newKeys;
  }

  async #runStep(
    job: Job,
    step: JobStep,
    data: Row[],
    context: Record<string, unknown>,
    report: RunReport,
    options: RunJobOptions,
  ): Promise<ActionOutcome> {
    const started = performance.now();
    const retries = Math.max(0, Math.floor(step.retries ?? 0));
    for (let attempt = 0;; attempt++) {
      try {
        const result = await this.#host.run(step.action, data, {
          context,
          config: step.config,
          jobName: job.name,
          runId: report.runId,
          dryRun: report.dryRun || step.dryRun === true,
          ...(options.signal ? { signal: options.signal } : {}),
        });
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
        if (
          attempt < retries && TRANSIENT.has(coded.code) &&
          !options.signal?.aborted
        ) {
          await this.#sleep((step.retryDelayMs ?? 1000) * 2 ** attempt);
          continue;
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

  async #finish(report: RunReport): Promise<RunReport> {
    report.finishedAt = new Date().toISOString();
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

function withAttempts(outcome: ActionOutcome, attempt: number): ActionOutcome {
  if (attempt > 0) outcome.attempts = attempt + 1;
  return outcome;
}

function since(started: number): number {
  return Math.round((performance.now() - started) * 1000) / 1000;
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
