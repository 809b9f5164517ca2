/**
 * The run store contract: what every store (SQL, Deno KV) keeps and how
 * callers use it — runs and their action outcomes (dry runs too), the keys
 * dedupe has seen, and each job's lease on its last scheduled slot. The
 * stores implement it in their own files (`sql.ts`, `kv.ts`).
 *
 * @module
 */
import type { ActionResult } from "../types.ts";
import type { AlertStore } from "../alerts/store.ts";

/** The outcome of one action in a run. */
export interface ActionOutcome {
  /** The action's name. */
  action: string;
  /** The outcome. */
  status: "succeeded" | "failed" | "skipped";
  /** How long it took, in ms. */
  durationMs: number;
  /** What the action returned. */
  result?: ActionResult;
  /** The error's code and message, when it failed. */
  error?: { code: string; message: string };
  /** How many times it ran (more than 1 when a step retried). */
  attempts?: number;
}

/** What one job run did: its outcome, row counts and each action's outcome. */
export interface RunReport {
  /** One id per run, shared by its actions. */
  runId: string;
  /** The job's name. */
  jobName: string;
  /** Whether it was a dry run. */
  dryRun: boolean;
  /** The outcome. */
  status: "succeeded" | "failed" | "skipped";
  /** When it started (ISO 8601). */
  startedAt: string;
  /** When it finished (ISO 8601). */
  finishedAt: string;
  /** Rows the view yielded. */
  rowCount: number;
  /** Rows left after dedupe. */
  newRowCount: number;
  /** One outcome per step of the job, in order: succeeded, failed, or skipped (not run). */
  actions: ActionOutcome[];
  /** Why a run was skipped or failed before its actions ran. */
  reason?: string;
  /** The view's error, when querying it failed. */
  error?: { code: string; message: string };
  /** The scheduled slot the run was for (ISO 8601), when scheduled. */
  slot?: string;
  /** 2 or more when this run retries a slot whose first run was cut short. */
  attempt?: number;
  // alerts (issue 14): the outcomes of an alert job's other pipelines.
  /** An alert job's `alert.resolved` steps, on the keys that resolved (same shape as `actions`). */
  resolvedActions?: ActionOutcome[];
  /** An alert job's `alert.summary` steps. */
  summaryActions?: ActionOutcome[];
  /** The `onFailure`/`onRecovery` notices this run sent. */
  notices?: Array<
    { kind: "onFailure" | "onRecovery"; actions: ActionOutcome[] }
  >;
}

/** A run as the history shows it: a finished report, or one still running or cut short. */
export interface RunRecord extends Omit<RunReport, "status"> {
  /** The outcome. */
  status: RunReport["status"] | "running" | "interrupted";
}

/** Options of {@linkcode RunStore.history}. */
export interface HistoryOptions {
  /** Only this job's runs. */
  job?: string;
  /** At most this many, newest first (default 20). */
  limit?: number;
}

/** A run as it starts. */
export interface RunStart {
  /** One id per run. */
  runId: string;
  /** The job's name. */
  jobName: string;
  /** Whether it is a dry run. */
  dryRun: boolean;
  /** When it started (ISO 8601). */
  startedAt: string;
  /** The scheduled slot it is for (ISO 8601), when scheduled. */
  slot?: string;
}

/** Where runs and dedupe state are kept. */
export interface RunStore {
  /** Records a run as running. */
  start(run: RunStart): Promise<void>;
  /** Tells the store a running run is alive. */
  heartbeat(runId: string): Promise<void>;
  /** Records a run's final report. */
  finish(report: RunReport): Promise<void>;
  /** Runs, newest first. */
  history(options?: HistoryOptions): Promise<RunRecord[]>;
  /** One run by its id, as `history` shows it; undefined when there is none. */
  get(runId: string): Promise<RunRecord | undefined>;
  /** The keys among `keys` that a successful run of the job recorded and that have not expired. */
  seen(
    jobName: string,
    keys: readonly string[],
    now: number,
  ): Promise<Set<string>>;
  /** Records keys as seen until `expiresAt`, and forgets expired ones. */
  remember(
    jobName: string,
    keys: readonly string[],
    expiresAt: number,
    now: number,
  ): Promise<void>;
  /** A job's lease: the slot it last began, where, until when. */
  lease(jobName: string): Promise<Lease | undefined>;
  /**
   * Claims a slot for an instance: only when no run of the job is
   * unfinished and the slot is later than the last one begun. Atomic: of
   * several instances claiming one slot, one wins.
   */
  claim(
    jobName: string,
    slot: number,
    instance: string,
    leaseUntil: number,
  ): Promise<boolean>;
  /** Takes over an unfinished run whose lease expired (its instance died); returns the new lease. */
  takeOver(
    jobName: string,
    instance: string,
    leaseUntil: number,
    now: number,
  ): Promise<Lease | undefined>;
  /** Extends the lease of a run in progress; false when the instance lost it. */
  renew(
    jobName: string,
    instance: string,
    leaseUntil: number,
  ): Promise<boolean>;
  /** Marks the instance's run of the job finished. */
  release(jobName: string, instance: string): Promise<void>;
  /** Closes what the store holds open of its own (a SQL store's database is closed with the registry's). */
  close?(): Promise<void>;
  /** alerts (issue 14): alert state, mutes and notices, on the same database. */
  readonly alerts?: AlertStore;
}

/** Which instance runs which slot of a job, until when. */
export interface Lease {
  /** The slot (ms since the epoch). */
  slot: number;
  /** The instance that holds or held it. */
  instance: string;
  /** When the lease runs out unless renewed (ms since the epoch). */
  leaseUntil: number;
  /** Whether that run finished. */
  done: boolean;
  /** 1, or more when the slot was taken over after its instance died. */
  attempt: number;
}

/** The record of a run that has just started. */
export function runningRecord(run: RunStart): RunRecord {
  return {
    ...run,
    status: "running",
    finishedAt: "",
    rowCount: 0,
    newRowCount: 0,
    actions: [],
  };
}

/** A running run whose heartbeat is older than this was cut short. */
export const STALE_AFTER_MS = 60_000;
/** How often a running run beats. */
export const HEARTBEAT_MS = 15_000;
