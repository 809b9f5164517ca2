/**
 * The job engine: views and jobs by name, and how one run goes — the job
 * is claimed in the store (every run, scheduled or started by hand), the
 * view queried once under its deadline, its rows deduplicated, the job's
 * steps run on them in order with one shared context and the delivery
 * journal, and the run recorded in the store, fenced by its claim.
 *
 * @module
 */
import { lookup } from "../_suggest.ts";
import type { Clock } from "../clock.ts";
import type { Databases } from "../db/databases.ts";
import { parseNamedSql } from "../db/named_sql.ts";
import {
  type Claim,
  describeHolder,
  type Holder,
  type Lease,
  type RunReport,
  type RunStore,
} from "../store/contract.ts";
import { StoreJournal } from "../store/journal.ts";
import { logger } from "../logger.ts";
import type { Row } from "../types.ts";
import type { StepHost } from "./_step.ts";
import { HeldClaim, retryStore } from "./_claim.ts";
import { executeRun, type ProgressEvent, skipAll } from "./_pipeline.ts";
import {
  dedupeRecord,
  failedWith,
  logOutcome,
  newReport,
  ProgressWriter,
  startOf,
  unrecorded,
} from "./_run_record.ts";
import { runDry } from "./_dry_run.ts";
import { claimNotices } from "./_notice_claim.ts";

import {
  checkJob,
  checkView,
  type Job,
  type JobDefinition,
  type ViewDefinition,
} from "./definitions.ts";
import {
  noObserver,
  type RunObservation,
  type RunObserver,
} from "../observe/run_observer.ts";
// alerts (issue 14): onFailure/onRecovery notices, stale checks, mutes.
import { checkStale, runNotices, type StaleNotice } from "../alerts/notices.ts";
import type { AlertingHost } from "../alerts/mutes.ts";
import type { AlertHost } from "../alerts/run.ts";
import type { DeliveryJournal } from "../delivery/journal.ts";

export type { ProgressEvent } from "./_pipeline.ts";

const log = logger("job");

/** A view's deadline when it names none, in ms. */
export const DEFAULT_VIEW_TIMEOUT_MS = 60_000;
/** How long a run's claim lasts without renewal when `serve` gives none, in ms. */
export const DEFAULT_LEASE_MS = 60_000;

/** Options of `runJob`. */
export interface RunJobOptions {
  /** Report what would happen, change nothing. */
  dryRun?: boolean;
  /** Aborting it stops the current action and skips the rest. */
  signal?: AbortSignal;
  /** Told as the run goes: rows fetched, each action done. */
  onProgress?: (event: ProgressEvent) => void;
  /** The run's id (default: a new UUID), for a caller that must know it before the run ends. */
  runId?: string;
}

/** What the job engine needs of its registry. */
export interface JobHost extends StepHost {
  hasAction(name: string): boolean;
  actionNames(): Iterable<string>;
  validateConfig(action: string, config: unknown): void;
  /** Databases by URL or configured name. */
  readonly databases: Databases;
  store(): RunStore;
  /** The registry's clock: run times, dedupe expiry, leases, retry delays. */
  readonly clock: Clock;
  /** How long a run's claim lasts without renewal (default 60000). */
  readonly leaseMs?: number;
  /** How long a run's store call is retried while its claim holds (default 300000). */
  readonly storeRetryMs?: number;
  /** Told of every run: metrics, traces, the status page. */
  readonly observer?: RunObserver;
}

/** Who this process is, in claims: one instance id per registry. */
function holderOf(instance: string): Holder {
  let host = "unknown";
  try {
    host = Deno.hostname();
  } catch { /* no --allow-sys: the instance id and pid still name it */ }
  return { instance, host, pid: Deno.pid };
}

/** The reason a run was refused: who holds the job. */
export function heldReason(lease: Lease): string {
  const what = lease.slot === undefined
    ? "a run started by hand"
    : `its run for slot ${new Date(lease.slot).toISOString()}`;
  const state = lease.expired
    ? "; that instance stopped renewing its lease, so it will be taken over"
    : "";
  return `a run of this job is already in progress: held by ${
    describeHolder(lease.holder)
  }, ${what}${state}`;
}

/** The views and jobs of a registry, and how they run. */
export class Jobs {
  readonly #host: JobHost;
  readonly #views = new Map<string, ViewDefinition>();
  readonly #jobs = new Map<string, Job>();
  readonly #running = new Set<string>();
  readonly #instance = `${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;

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
    return checkStale(
      this.#alertHost(),
      this.listJobs(),
      signal ? { signal } : {},
    );
  }

  /** alerts (issue 14): what `mute`, `unmute` and `alerts` work on. */
  get alerting(): AlertingHost {
    const { store, clock } = this.#host;
    return { jobs: this, store, clock };
  }

  /** This registry's identity in claims, under an instance id. */
  holder(instance: string = this.#instance): Holder {
    return holderOf(instance);
  }

  /**
   * Queries a view under its deadline (`timeoutMs`, default 60000): a hung
   * database fails with `DATABASE_ERROR`, and the query is cancelled. The
   * deadline is the database's own, in real time (a hung server does not
   * follow the registry's clock), so a fake clock in tests never fires it.
   */
  async queryView(name: string, signal?: AbortSignal): Promise<Row[]> {
    const view = this.getView(name);
    const database = this.#host.databases.get(view.database);
    const timeoutMs = view.timeoutMs ?? DEFAULT_VIEW_TIMEOUT_MS;
    return await database.query(parseNamedSql(view.sql), {}, {
      timeoutMs,
      ...(signal ? { signal } : {}),
    });
  }

  /**
   * Runs a job once and records the run. It claims the job first, as
   * scheduled runs do: a run refused because the job is held elsewhere is
   * recorded `skipped`, naming the holder. Never throws for a failed run:
   * the report says so.
   *
   * @throws {TriggerKitError} `JOB_NOT_FOUND`; `STORE_ERROR` when the store
   * cannot be reached to claim the job.
   */
  async runJob(name: string, options: RunJobOptions = {}): Promise<RunReport> {
    const job = this.getJob(name);
    const { clock } = this.#host;
    const store = this.#host.store();
    if (options.dryRun) return await this.#dryRun(job, options);
    const runId = options.runId ?? crypto.randomUUID();
    const asked = clock.now();
    const result = await retryStore(
      clock,
      "claiming the job",
      () =>
        store.claim(name, {
          runId,
          holder: this.holder(),
          leaseMs: this.#leaseMs(),
        }),
      options.signal ? { signal: options.signal } : {},
    ).catch((error) => {
      // The store could not be asked: no record, but a failed run all the
      // same for metrics and traces; then the caller is told.
      const report = newReport(job.name, runId, asked, {});
      skipAll(
        job,
        report,
        "failed",
        "the run store could not be reached to claim the job",
      );
      failedWith(report, error, clock.now());
      this.#observe(report).finished(report);
      throw error;
    });
    if (!result.claimed) {
      return await this.refused(job, runId, result.lease);
    }
    return await this.runClaimed(job.name, result.claim, {
      ...options,
      claimAgeMs: clock.now() - asked,
    });
  }

  /** Records a run refused because `lease` holds the job, and returns its report. */
  async refused(
    job: Job,
    runId: string,
    lease: Lease,
    slot?: number,
  ): Promise<RunReport> {
    const report = newReport(job.name, runId, this.#host.clock.now(), {
      ...(slot === undefined ? {} : { slot }),
    });
    skipAll(job, report, "skipped", heldReason(lease));
    report.heldBy = lease.holder;
    return await this.recordOnly(report);
  }

  /**
   * Records a report of a run that never started (skipped); a store failure
   * is logged, not thrown. The run observer is told of it, as of any run.
   */
  async recordOnly(report: RunReport): Promise<RunReport> {
    const observed = this.#observe(report);
    try {
      return await this.#recordOnly(report);
    } finally {
      observed.finished(report);
    }
  }

  async #recordOnly(report: RunReport): Promise<RunReport> {
    const store = this.#host.store();
    report.finishedAt = new Date(this.#host.clock.now()).toISOString();
    await retryStore(
      this.#host.clock,
      "recording a skipped run",
      () => store.record(report),
    ).catch((error) =>
      log.error("Job {jobName}: could not record a skipped run: {error}", {
        jobName: report.jobName,
        error: (error as Error).message,
      })
    );
    log.info("Job {jobName} skipped: {reason}", {
      jobName: report.jobName,
      runId: report.runId,
      reason: report.reason,
    });
    return report;
  }

  /**
   * Runs a job under a claim already made (by `runJob`, or by the
   * scheduler for a slot or a takeover), renewing it while the run lasts.
   * `claimAgeMs`: how long ago the claim was asked for (its lease runs from
   * then at the latest); `storeRetryMs`: how long a store call is retried
   * (default: the registry's). A store call that gives up fails the run with
   * `STORE_ERROR`, recorded if the store lets it.
   */
  async runClaimed(
    name: string,
    claim: Claim,
    options: RunJobOptions & { claimAgeMs?: number; storeRetryMs?: number } =
      {},
  ): Promise<RunReport> {
    const job = this.getJob(name);
    const { clock } = this.#host;
    const store = this.#host.store();
    const report = newReport(name, claim.runId, clock.now(), {
      ...(claim.slot === undefined ? {} : { slot: claim.slot }),
      attempt: claim.attempt,
    });
    const retryMs = options.storeRetryMs ?? this.#host.storeRetryMs;
    const held = new HeldClaim(store, claim, {
      clock,
      claimedAt: clock.now() - (options.claimAgeMs ?? 0),
      ...(options.signal ? { signal: options.signal } : {}),
      ...(retryMs === undefined ? {} : { retryMs }),
    });
    const progress = new ProgressWriter(store, claim, held, clock);
    const observed = this.#observe(report);
    this.#running.add(name);
    let finished = false;
    let started = false;
    try {
      await held.call(
        "recording the run's start",
        () => store.start(startOf(report), claim),
      );
      started = true;
      const journal = new StoreJournal(store, name, held);
      const outcome = await executeRun(this.#stepHost(), job, report, {
        signal: held.signal,
        calls: held,
        journal,
        generation: claim.generation,
        holds: () => held.holds(),
        onProgress: (event) => {
          options.onProgress?.(event);
          progress.write(report);
        },
        observed,
        fence: claim,
      });
      await this.#notices(job, report, observed, { journal, fence: claim });
      await progress.stop();
      if (held.lostReason !== undefined) {
        report.status = "failed";
        report.reason = held.lostReason;
      }
      report.finishedAt = new Date(clock.now()).toISOString();
      const dedupe = dedupeRecord(job, report, outcome, clock.now());
      await held.call(
        "recording the run's outcome",
        () => store.finish(report, claim, dedupe),
      );
      finished = true;
      logOutcome(report);
      return report;
    } catch (error) {
      // A lost claim says more than "aborted" or the refused write.
      if (held.lostReason !== undefined) report.reason = held.lostReason;
      failedWith(report, error, clock.now());
      // A call gave up (storeRetryMs): the outcome gets one more try.
      if (held.gaveUp && held.holds()) {
        const recorded = await held.call(
          "recording the run's outcome after a store call gave up",
          () => started ? store.finish(report, claim) : store.record(report),
        ).then(() => true, () => false);
        if (recorded) {
          finished = started; // a finish releases the claim; a record does not
          logOutcome(report);
          return report;
        }
      }
      return unrecorded(report, error, clock.now());
    } finally {
      await progress.stop();
      await held.stop();
      if (!finished && held.holds()) {
        await held.call("releasing the job", () => store.release(claim))
          .catch(() => {});
      }
      this.#running.delete(name);
      observed.finished(report);
    }
  }

  /** The run observer's view of a run that begins. */
  #observe(report: RunReport): RunObservation {
    return (this.#host.observer ?? noObserver).runStarted(startOf(report));
  }

  /**
   * alerts (issue 14): after a run, counts its failure or success and sends
   * `onFailure`/`onRecovery` through the run's journal, fenced by its claim.
   * A notice that could not be sent or recorded is sent again next time: the
   * run's outcome is recorded all the same.
   */
  async #notices(
    job: Job,
    report: RunReport,
    observed: RunObservation,
    run: { journal: DeliveryJournal; fence: Claim },
  ): Promise<void> {
    if (!job.noticePlan) return;
    try {
      await runNotices(this.#alertHost(run), job, report, {
        observeStep: observed.runAction,
      });
    } catch (error) {
      log.error(
        "Job {jobName}: its onFailure/onRecovery notice failed: {error}",
        {
          jobName: job.name,
          runId: report.runId,
          error: (error as Error).message,
        },
      );
    }
  }

  /** What alerts need: actions, store, clock, the notice claim; a run's journal and claim when there is one. */
  #alertHost(
    run?: { journal: DeliveryJournal; fence: Claim },
  ): AlertHost {
    const host = this.#host;
    return {
      run: (action, data, options) => host.run(action, data, options),
      clock: host.clock,
      store: () => host.store(),
      ...(run ? { journal: () => run.journal, fence: run.fence } : {}),
      claimNotices: (jobName) =>
        claimNotices({
          store: () => host.store(),
          clock: host.clock,
          holder: () => this.holder(),
          leaseMs: this.#leaseMs(),
          ...(host.storeRetryMs === undefined
            ? {}
            : { storeRetryMs: host.storeRetryMs }),
        }, jobName),
    };
  }

  #stepHost(): StepHost & { queryView: Jobs["queryView"]; store: RunStore } {
    const host = this.#host;
    return {
      run: (action, data, options) => host.run(action, data, options),
      clock: host.clock,
      queryView: (name, signal) => this.queryView(name, signal),
      store: host.store(),
    };
  }

  #leaseMs(): number {
    return this.#host.leaseMs ?? DEFAULT_LEASE_MS;
  }

  /** A dry run: no claim (it changes nothing), the journal read but never written. */
  async #dryRun(job: Job, options: RunJobOptions): Promise<RunReport> {
    const report = newReport(
      job.name,
      options.runId ?? crypto.randomUUID(),
      this.#host.clock.now(),
      {},
    );
    report.dryRun = true;
    const observed = this.#observe(report);
    try {
      return await runDry(this.#stepHost(), job, report, {
        ...(options.signal ? { signal: options.signal } : {}),
        ...(options.onProgress ? { onProgress: options.onProgress } : {}),
        observed,
      });
    } finally {
      observed.finished(report);
    }
  }
}
