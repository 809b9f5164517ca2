/**
 * Notices about a job itself: `onFailure` when its runs fail `after` times in
 * a row or no run succeeded for `stale` (checked by `serve`), `onRecovery` on
 * the first success after that. One notice per incident, not one per run.
 *
 * The store holds each job's {@linkcode NoticeState}, written with a version
 * check (a run and `serve`'s staleness check may race). An incident is
 * recorded before its notice is sent (write-ahead), with the notice's row:
 * a notice that failed, or whose process died, is sent again — with the
 * same row and incident number, so the delivery journal skips what went
 * through — by the next run or check. A notice is sent by one instance at a
 * time: the holder of the job's notice claim in the store, which fences the
 * notice's delivery journal and the write that marks it sent (once per
 * incident across instances, `stale` checks and runs alike).
 *
 * @module
 */
import { TriggerKitError } from "../errors.ts";
import { logger } from "../logger.ts";
import { type Clock, repeat } from "../clock.ts";
import type { Job } from "../jobs/definitions.ts";
import type { ActionOutcome, RunReport } from "../store/contract.ts";
import type { NoticeRow } from "./definitions.ts";
import { runPipeline, type StepWrapper } from "./_pipeline.ts";
import { type AlertHost, journalOf } from "./run.ts";
import { alertStoreOf, type NoticeState } from "./store.ts";
import { iso } from "./state.ts";

const log = logger("alerts");

/** Conditional writes tried before giving up on a busy notice state. */
const ATTEMPTS = 8;

/** A notice to send: its steps' kind, its row, its incident. */
interface Pending {
  kind: "onFailure" | "onRecovery";
  row: NoticeRow;
  incident: number;
}

/** What a staleness check sent, per job. */
export interface StaleNotice {
  /** The job. */
  jobName: string;
  /** The notice's steps' outcomes. */
  actions: ActionOutcome[];
}

function fresh(now: number): NoticeState {
  return {
    consecutiveFailures: 0,
    lastSuccessAt: null,
    watchedSince: now,
    incidents: 0,
    open: null,
  };
}

/**
 * Changes a job's notice state with a conditional write, retried when
 * another writer came first. `change` edits a copy and says what to send.
 */
async function update(
  host: AlertHost,
  jobName: string,
  change: (state: NoticeState) => Pending | undefined,
): Promise<Pending | undefined> {
  const alerts = alertStoreOf(host.store());
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const current = await alerts.notice(jobName);
    const state = current
      ? structuredClone(current.state)
      : fresh(host.clock.now());
    const pending = change(state);
    if (current && JSON.stringify(state) === JSON.stringify(current.state)) {
      return pending;
    }
    if (
      await alerts.putNotice(
        jobName,
        state,
        current?.version ?? null,
        host.fence,
      )
    ) {
      return pending;
    }
  }
  throw new TriggerKitError(
    "STORE_ERROR",
    `The notice state of job "${jobName}" kept changing under ${ATTEMPTS} conditional writes`,
  );
}

/** Whether the notice is still to be sent: its incident is open and it did not go through. */
function stillPending(state: NoticeState | undefined, pending: Pending) {
  const open = state?.open;
  if (!open || state.incidents !== pending.incident) return false;
  return pending.kind === "onFailure"
    ? !open.notified
    : open.notified && open.recovery !== undefined;
}

/** How a notice is sent: for which run, until when, observed how. */
interface SendOptions {
  runId: string;
  signal?: AbortSignal;
  observeStep?: StepWrapper;
}

/**
 * Sends a notice; when it went through, marks it so in the state. With a
 * store, under the job's notice claim: one sender across instances, which
 * reads the state again first (another may have sent it meanwhile), and
 * whose journal and writes are fenced. Undefined: not sent by this call
 * (another instance holds the claim and sends it, or sent it already).
 */
async function send(
  host: AlertHost,
  job: Job,
  pending: Pending,
  { runId, signal, observeStep }: SendOptions,
): Promise<ActionOutcome[] | undefined> {
  const claim = await host.claimNotices?.(job.name);
  if (host.claimNotices && !claim) {
    log.info(
      "The {kind} notice of job {jobName} is being sent by another instance",
      { kind: pending.kind, jobName: job.name },
    );
    return undefined;
  }
  try {
    if (claim) {
      const current = await claim.call(
        "reading the notice state",
        () => alertStoreOf(host.store()).notice(job.name),
      );
      if (!stillPending(current?.state, pending)) return undefined;
    }
    const sender: AlertHost = claim
      ? { ...host, fence: claim.fence, journal: () => claim.journal }
      : host;
    const stop = claim
      ? (signal ? AbortSignal.any([claim.signal, signal]) : claim.signal)
      : signal;
    return await sendClaimed(sender, job, pending, {
      runId,
      ...(stop ? { signal: stop } : {}),
      ...(observeStep ? { observeStep } : {}),
    });
  } finally {
    await claim?.release();
  }
}

async function sendClaimed(
  host: AlertHost,
  job: Job,
  pending: Pending,
  { runId, signal, observeStep }: SendOptions,
): Promise<ActionOutcome[]> {
  const plan = job.noticePlan!;
  const steps = pending.kind === "onFailure"
    ? plan.failureSteps
    : plan.recoverySteps;
  const result = await runPipeline(host, steps, [{ ...pending.row }], {
    jobName: job.name,
    runId,
    dryRun: false,
    ...(signal ? { signal } : {}),
    ...(observeStep ? { observe: observeStep } : {}),
    context: {},
    journal: journalOf(host, job.name, runId),
    part: pending.kind,
    rowKeys: [`incident:${pending.incident}`],
    state: pending.kind === "onFailure" ? "firing" : "resolved",
  });
  if (result.failed) {
    log.warn(
      "The {kind} notice of job {jobName} failed; it is sent again next time",
      {
        kind: pending.kind,
        jobName: job.name,
      },
    );
    return result.outcomes;
  }
  await update(host, job.name, (state) => {
    if (state.incidents !== pending.incident || !state.open) return;
    if (pending.kind === "onFailure") state.open.notified = true;
    else state.open = null;
  });
  return result.outcomes;
}

function runError(report: RunReport): NoticeRow["error"] {
  if (report.error) return report.error;
  const failed = [
    ...report.actions,
    ...(report.resolvedActions ?? []),
    ...(report.summaryActions ?? []),
  ].find((outcome) => outcome.status === "failed" && outcome.error);
  return failed?.error ?? null;
}

/**
 * After a run: counts a failure or a success, and sends `onFailure` when the
 * failures in a row reach `after` (once per incident), `onRecovery` on the
 * first success after it. Dry runs count for nothing.
 *
 * @param host Actions, store, clock, journal.
 * @param job The job (with `onFailure`).
 * @param report The run's report; its `notices` get the outcomes.
 * @param options `observeStep`: wraps each step's run (the run's observation).
 * @returns When the notices are sent and recorded.
 */
export async function runNotices(
  host: AlertHost,
  job: Job,
  report: RunReport,
  options: { observeStep?: StepWrapper } = {},
): Promise<void> {
  const plan = job.noticePlan;
  if (!plan || report.dryRun) return;
  const failed = report.status === "failed";
  const startedAt = Date.parse(report.startedAt);
  const pending = await update(host, job.name, (state) => {
    if (failed) {
      state.consecutiveFailures++;
      if (!state.open && state.consecutiveFailures >= plan.after) {
        state.incidents++;
        state.open = {
          kind: "failed",
          at: host.clock.now(),
          notified: false,
          row: {
            jobName: job.name,
            runId: report.runId,
            status: "failed",
            reason: report.reason ?? null,
            error: runError(report),
            consecutiveFailures: state.consecutiveFailures,
            lastSuccessAt: iso(state.lastSuccessAt),
          },
        };
      }
      return state.open && !state.open.notified
        ? { kind: "onFailure", row: state.open.row, incident: state.incidents }
        : undefined;
    }
    const failures = state.consecutiveFailures;
    const lastSuccessAt = state.lastSuccessAt;
    state.consecutiveFailures = 0;
    state.lastSuccessAt = startedAt;
    if (!state.open) return undefined;
    if (!state.open.notified || plan.recoverySteps.length === 0) {
      state.open = null;
      return undefined;
    }
    state.open.recovery ??= {
      jobName: job.name,
      runId: report.runId,
      status: "recovered",
      reason: null,
      error: null,
      consecutiveFailures: failures,
      lastSuccessAt: iso(lastSuccessAt),
    };
    return {
      kind: "onRecovery",
      row: state.open.recovery,
      incident: state.incidents,
    };
  });
  if (!pending) return;
  const actions = await send(host, job, pending, {
    runId: report.runId,
    ...options,
  });
  if (actions) (report.notices ??= []).push({ kind: pending.kind, actions });
}

/**
 * Opens a `stale` incident for each job whose last success (or, before any,
 * the time the store first heard of it) is older than `onFailure.stale`, and
 * sends its `onFailure` notice — once per incident; sends again a notice
 * that did not go through.
 *
 * @param host Actions, store, clock, journal.
 * @param jobs The jobs to check (those without `stale` are passed over).
 * @param options A signal that stops the notices' steps.
 * @returns The notices sent.
 */
export async function checkStale(
  host: AlertHost,
  jobs: readonly Job[],
  options: { signal?: AbortSignal } = {},
): Promise<StaleNotice[]> {
  const sent: StaleNotice[] = [];
  for (const job of jobs) {
    const staleMs = job.noticePlan?.staleMs;
    if (staleMs === undefined || job.enabled === false) continue;
    const now = host.clock.now();
    const pending = await update(host, job.name, (state) => {
      if (!state.open) {
        const since = state.lastSuccessAt ?? state.watchedSince;
        if (now - since < staleMs) return undefined;
        state.incidents++;
        state.open = {
          kind: "stale",
          at: now,
          notified: false,
          row: {
            jobName: job.name,
            runId: null,
            status: "stale",
            reason: `no successful run for ${
              Math.round((now - since) / 60_000)
            } minutes (onFailure.stale is ${job.onFailure?.stale})`,
            error: null,
            consecutiveFailures: state.consecutiveFailures,
            lastSuccessAt: iso(state.lastSuccessAt),
          },
        };
      }
      return state.open.notified ? undefined : {
        kind: "onFailure",
        row: state.open.row,
        incident: state.incidents,
      };
    });
    if (!pending) continue;
    const actions = await send(host, job, pending, {
      runId: crypto.randomUUID(),
      ...options,
    });
    if (actions) sent.push({ jobName: job.name, actions });
  }
  return sent;
}

/**
 * What `serve` runs beside its scheduler when a job has `onFailure.stale`:
 * a check at once, then every minute until `signal` aborts; a check that
 * fails is logged and tried again.
 *
 * @param jobs The registry's jobs.
 * @param clock The scheduler's clock.
 * @param signal Stops the loop (and a notice being sent: it is sent again).
 * @returns When the loop has stopped.
 */
export async function watchStale(
  jobs: {
    listJobs(): Job[];
    checkStale(signal?: AbortSignal): Promise<unknown>;
  },
  clock: Clock,
  signal: AbortSignal,
): Promise<void> {
  const watched = jobs.listJobs().some((job) =>
    job.noticePlan?.staleMs !== undefined && job.enabled !== false
  );
  if (!watched || signal.aborted) return;
  const safely = () =>
    jobs.checkStale(signal).catch((error) =>
      log.warn("The staleness check failed: {message}", {
        message: error instanceof Error ? error.message : String(error),
      })
    );
  await safely();
  await repeat(clock, STALE_CHECK_MS, safely, signal);
}

/** How often `serve` checks `onFailure.stale`. */
export const STALE_CHECK_MS = 60_000;
