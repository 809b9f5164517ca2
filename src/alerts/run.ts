/**
 * One run of an alert job, as the engine calls it once the view answered:
 * the rows' keys go through the state machine (`state.ts`), the job's steps
 * run on the keys that fire or repeat, `alert.resolved` on those that
 * resolved (their last seen rows), `alert.summary` on both, and the store
 * records what went through.
 *
 * A run whose rows hash to the same digest as the last complete run's, with
 * nothing due and nothing owed, reads no key state at all (the fast path):
 * with 100k firing keys it costs a hash of the rows and two small reads.
 *
 * @module
 */
import { isTriggerKitError, type TriggerKitError } from "../errors.ts";
import type { Clock } from "../clock.ts";
import { type DeliveryJournal, MemoryJournal } from "../delivery/journal.ts";
import type { Job } from "../jobs/definitions.ts";
import type { StepHost } from "../jobs/_step.ts";
import type { ProgressEvent, RunReport } from "../store/contract.ts";
import type { Row } from "../types.ts";
import { runPipeline, skippedSteps, type StepWrapper } from "./_pipeline.ts";
import {
  type AlertSettings,
  type Delivery,
  mutedAt,
  nothingToDo,
  type Observed,
  planRun,
  settleRun,
} from "./state.ts";
import { fingerprintAt, keyOfRow, type RowHashes, rowHashes } from "./keys.ts";
import { type AlertFence, type AlertStore, alertStoreOf } from "./store.ts";
import { liveRow, storedRowWithin } from "./_rows.ts";

/** What alerts need of the engine. */
export interface AlertHost extends StepHost {
  /** The run store (its `alerts` hold the state). */
  store(): { alerts?: AlertStore };
  /** The run's delivery journal (store-backed and fenced); default: one in memory per run. */
  journal?(jobName: string, runId: string): DeliveryJournal;
  /** The run's claim: alert state and notice writes are fenced by it. */
  readonly fence?: AlertFence;
  readonly clock: Clock;
  /**
   * Claims the job's notices in the store: the one instance that sends
   * them, across every process that shares it. Undefined when another
   * holds them (it sends). Absent: notices are sent unfenced (a host with no
   * run store).
   */
  claimNotices?(jobName: string): Promise<NoticeClaim | undefined>;
}

/**
 * The claim of a job's notices (`onFailure`, `onRecovery`, `stale`): held
 * while one is sent, it fences their delivery journal and the write that
 * marks them sent, as a run's claim fences the run's.
 */
export interface NoticeClaim {
  /** The notices' delivery journal, fenced by the claim. */
  readonly journal: DeliveryJournal;
  /** The claim, for fenced writes of the notice state. */
  readonly fence: AlertFence;
  /** Fires when the claim is lost. */
  readonly signal: AbortSignal;
  /** Runs a store call, retried while the claim holds. */
  call<T>(what: string, op: () => Promise<T>): Promise<T>;
  /** Gives the claim back. */
  release(): Promise<void>;
}

/** What the engine passes on from `runJob`'s options. */
export interface AlertRunOptions {
  /** The run's signal. */
  signal?: AbortSignal;
  /** Wraps each step's run: the run's observation (metrics, traces). */
  observeStep?: StepWrapper;
  /** Told of the rows and of each action. */
  onProgress?: (event: ProgressEvent) => void;
}

/** The journal of a run: the host's, or one in memory. */
export function journalOf(
  host: AlertHost,
  jobName: string,
  runId: string,
): DeliveryJournal {
  return host.journal?.(jobName, runId) ?? new MemoryJournal();
}

/** An alert job's settings. */
export function settingsOf(job: Job): AlertSettings {
  const plan = job.alertPlan!;
  return plan.repeatEveryMs === undefined
    ? { pendingForMs: plan.pendingForMs }
    : { pendingForMs: plan.pendingForMs, repeatEveryMs: plan.repeatEveryMs };
}

/**
 * Runs an alert job on the rows its view yielded (`undefined`: the view
 * failed, and nothing changes), filling `report`.
 *
 * @param host Actions, store, clock, journal.
 * @param job The job (it has an `alert` block).
 * @param rows The view's rows, or undefined when the query failed.
 * @param report The run's report (its `actions` are replaced).
 * @param options The run's signal and progress callback.
 * @returns When the run's deliveries are done and its state recorded.
 */
export async function runAlerts(
  host: AlertHost,
  job: Job,
  rows: Row[] | undefined,
  report: RunReport,
  options: AlertRunOptions = {},
): Promise<void> {
  const plan = job.alertPlan!;
  report.resolvedActions = skippedSteps(plan.resolvedSteps);
  if (plan.summarySteps.length > 0) {
    report.summaryActions = skippedSteps(plan.summarySteps);
  }
  if (!rows) return; // A failed view resolves nothing.
  const alerts = alertStoreOf(host.store());
  const settings = settingsOf(job);
  const now = host.clock.now();
  const hashes = rowHashes(rows);
  const [summary, mutes] = await Promise.all([
    alerts.summary(job.name),
    alerts.mutes(job.name, now),
  ]);
  const muted = mutedAt(mutes, now);
  if (nothingToDo(summary, hashes.digest, settings, now, muted.all)) {
    quiet(job, report);
    options.onProgress?.({
      type: "rows",
      rowCount: report.rowCount,
      newRowCount: 0,
    });
    if ((job.when ?? "rows") === "always") {
      await deliver(host, job, report, options, {
        firing: [],
        resolved: [],
        counts: countsOf(summary),
      });
    }
    return;
  }
  let observed: Observed[];
  try {
    observed = observe(job, rows, hashes);
  } catch (error) {
    if (!isTriggerKitError(error)) throw error;
    fail(job, report, error, "a row has no value for the dedupe key");
    return;
  }
  const prior = new Map(
    (await alerts.keys(job.name)).map((state) => [state.key, state]),
  );
  const fresh = observed.filter(({ key }) => !prior.has(key)).map(({ key }) =>
    key
  );
  const runPlan = planRun({
    prior,
    tombstones: fresh.length > 0
      ? await alerts.tombstones(job.name, fresh)
      : new Map(),
    observed,
    now,
    settings,
    isMuted: muted.has,
  });
  if (runPlan.resolved.length > 0) {
    const last = await alerts.rows(
      job.name,
      runPlan.resolved.map(({ key }) => key),
    );
    for (const delivery of runPlan.resolved) {
      const stored = last.get(delivery.key);
      delivery.row = stored
        ? liveRow(stored)
        : keyRow(job.dedupe!.key, JSON.parse(delivery.key));
    }
  }
  report.newRowCount = runPlan.firing.length;
  options.onProgress?.({
    type: "rows",
    rowCount: report.rowCount,
    newRowCount: report.newRowCount,
  });
  const outcome = await deliver(host, job, report, options, {
    firing: runPlan.firing,
    resolved: runPlan.resolved,
    counts: runPlan.counts,
  });
  if (report.dryRun) return;
  const commit = settleRun(
    runPlan,
    { ...outcome, now },
    hashes.digest,
    settings,
  );
  for (const upsert of commit.upserts) {
    if (upsert.row) {
      upsert.row = storedRowWithin(
        upsert.row,
        job.dedupe!.key,
        alerts.maxRowBytes,
      );
    }
  }
  await alerts.commit(job.name, commit, host.fence);
}

/** The keys of the rows, one entry per key (the last row of a key wins). */
function observe(
  job: Job,
  rows: readonly Row[],
  hashes: RowHashes,
): Observed[] {
  const fields = job.dedupe!.key;
  const byKey = new Map<string, Observed>();
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i]!;
    const key = keyOfRow(
      row,
      fields,
      () => `Job "${job.name}": row ${i} of view "${job.view}"`,
    );
    byKey.set(key, { key, fingerprint: fingerprintAt(hashes, i), row });
  }
  return [...byKey.values()];
}

/** A row of the key's columns alone (a key whose last row is missing). */
function keyRow(fields: readonly string[], values: unknown[]): Row {
  return Object.fromEntries(fields.map((field, i) => [field, values[i]]));
}

function countsOf(summary: { firing: number; pending: number } | undefined) {
  return {
    new: 0,
    repeated: 0,
    resolved: 0,
    muted: 0,
    pending: summary?.pending ?? 0,
    firing: summary?.firing ?? 0,
  };
}

/** Nothing to deliver: the run is skipped, as one without new rows. */
function quiet(job: Job, report: RunReport): void {
  report.newRowCount = 0;
  report.status = "skipped";
  report.reason = "no alert to deliver (nothing fired, repeated or resolved)";
  report.actions = skippedSteps(job.steps);
}

function fail(
  job: Job,
  report: RunReport,
  error: TriggerKitError,
  reason: string,
): void {
  report.error = { code: error.code, message: error.message };
  report.status = "failed";
  report.reason = reason;
  report.actions = skippedSteps(job.steps);
}

const rowKeysOf = (deliveries: readonly Delivery[]) =>
  deliveries.map((d) => `${d.key}#${d.incident}.${d.delivery}`);

/**
 * Runs the three pipelines — firing, resolved, summary — each only when the
 * one before went through, and says what was acknowledged.
 */
async function deliver(
  host: AlertHost,
  job: Job,
  report: RunReport,
  options: AlertRunOptions,
  work: {
    firing: Delivery[];
    resolved: Delivery[];
    counts: Record<string, number>;
  },
): Promise<{ firingAcknowledged: boolean; resolutionsApplied: boolean }> {
  const plan = job.alertPlan!;
  const journal = journalOf(host, job.name, report.runId);
  const context: Record<string, unknown> = { alert: { ...work.counts } };
  const base = {
    jobName: job.name,
    runId: report.runId,
    dryRun: report.dryRun,
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.observeStep ? { observe: options.observeStep } : {}),
    context,
    journal,
  };
  const firingRows = work.firing.map((d) => d.row!);
  const resolvedRows = work.resolved.map((d) => d.row!);
  const runFiring = firingRows.length > 0 ||
    (job.when ?? "rows") === "always";
  const runResolved = resolvedRows.length > 0 && plan.resolvedSteps.length > 0;
  const runSummary = plan.summarySteps.length > 0 &&
    firingRows.length + resolvedRows.length > 0;
  if (!runFiring && !runResolved && !runSummary) {
    quiet(job, report);
    return { firingAcknowledged: true, resolutionsApplied: true };
  }
  report.status = "succeeded";
  delete report.reason;
  let failed = false;
  report.actions = skippedSteps(job.steps);
  if (runFiring) {
    const result = await runPipeline(host, job.steps, firingRows, {
      ...base,
      part: "alert",
      rowKeys: rowKeysOf(work.firing),
      state: "firing",
      onOutcome: (outcome, index) =>
        options.onProgress?.({
          type: "action",
          action: outcome.action,
          status: outcome.status,
          index,
          total: job.steps.length,
        }),
    });
    report.actions = result.outcomes;
    failed = result.failed;
  }
  let resolvedFailed = false;
  if (runResolved && !failed) {
    const result = await runPipeline(host, plan.resolvedSteps, resolvedRows, {
      ...base,
      part: "resolved",
      rowKeys: rowKeysOf(work.resolved),
      state: "resolved",
    });
    report.resolvedActions = result.outcomes;
    resolvedFailed = result.failed;
  }
  let summaryFailed = false;
  if (runSummary && !failed && !resolvedFailed) {
    const result = await runPipeline(
      host,
      plan.summarySteps,
      [...firingRows, ...resolvedRows],
      {
        ...base,
        part: "summary",
        rowKeys: rowKeysOf([...work.firing, ...work.resolved]),
        state: firingRows.length > 0 ? "firing" : "resolved",
      },
    );
    report.summaryActions = result.outcomes;
    summaryFailed = result.failed;
  }
  if (failed || resolvedFailed || summaryFailed) {
    report.status = "failed";
    if (options.signal?.aborted) report.reason = "the run was aborted";
  }
  return {
    firingAcknowledged: !failed && !summaryFailed,
    resolutionsApplied: !failed && !resolvedFailed && !summaryFailed,
  };
}
