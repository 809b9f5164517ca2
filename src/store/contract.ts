/**
 * The run store contract: what every store (SQL, Deno KV) keeps and how
 * callers use it — runs and their action outcomes (dry runs too), the keys
 * dedupe has seen, the delivery journal, and each job's claim.
 *
 * A claim is the right to run a job: one at a time across every process
 * that shares the store. Each claim carries an epoch, incremented by the
 * store on every claim and takeover; every write of a run carries its claim,
 * and the store refuses it (with {@linkcode ClaimLostError}) unless the
 * epoch is still the job's and its lease has not run out by the store's
 * clock — in the same statement or atomic operation as the write. The
 * stores implement it in their own files (`sql.ts`, `kv.ts`).
 *
 * @module
 */
import { TriggerKitError } from "../errors.ts";
import type { ActionResult } from "../types.ts";
import type { AlertStore } from "../alerts/store.ts";
import type { DeliveryReceipt } from "../delivery/journal.ts";

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
  /** True when an earlier run of the same rows had done it: not run again (the delivery journal). */
  resumed?: boolean;
}

/** Who holds a job's claim: named in the reason of a run it refused. */
export interface Holder {
  /** The instance's id (serve's `instance` option, or one per process). */
  instance: string;
  /** The host it runs on. */
  host: string;
  /** Its process id. */
  pid: number;
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
  /** Who held the job when this run was refused (`skipped`). */
  heldBy?: Holder;
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

/** A run as the history shows it: a finished report, or one still running or cut short. */
export interface RunRecord extends Omit<RunReport, "status"> {
  /** The outcome. */
  status: RunReport["status"] | "running" | "interrupted";
}

/**
 * A run as the status page's job rows show it: no action outcomes, no
 * results. Every field is the run record's, judged as `history` judges it
 * (a stale running run is `interrupted`).
 */
export type RunSummary = Pick<
  RunRecord,
  | "runId"
  | "jobName"
  | "dryRun"
  | "status"
  | "startedAt"
  | "finishedAt"
  | "rowCount"
  | "newRowCount"
>;

/** A run record's summary: its fields, without its outcomes. */
export function summaryOf(record: RunRecord): RunSummary {
  return {
    runId: record.runId,
    jobName: record.jobName,
    dryRun: record.dryRun,
    status: record.status,
    startedAt: record.startedAt,
    finishedAt: record.finishedAt,
    rowCount: record.rowCount,
    newRowCount: record.newRowCount,
  };
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
  /** 2 or more: a takeover. */
  attempt?: number;
}

/** A job's claim, as the store granted it. */
export interface Claim {
  /** The job. */
  jobName: string;
  /** Incremented by the store on every claim and takeover of the job. */
  epoch: number;
  /** The run that holds it. */
  runId: string;
  /** Who holds it. */
  holder: Holder;
  /** The scheduled slot (ms since the epoch); absent for a run started by hand. */
  slot?: number;
  /** 1, or more when the slot's run was taken over. */
  attempt: number;
  /**
   * The id of the job's last successful run when the claim was made (`""`
   * before the first): the delivery journal's step keys are derived from it.
   */
  generation: string;
  /** How long the lease lasts without renewal, in ms (the store's clock). */
  leaseMs: number;
}

/** What a claim asks for. */
export interface ClaimRequest {
  /** The run that would hold it. */
  runId: string;
  /** Who asks. */
  holder: Holder;
  /** How long the lease lasts without renewal, in ms. */
  leaseMs: number;
  /**
   * A scheduled slot (ms): claimed only when later than every slot already
   * begun or skipped. Absent: a run started by hand.
   */
  slot?: number;
}

/** A job's lease as the store holds it. */
export interface Lease {
  /** The run that holds or held it. */
  runId: string;
  /** Who holds or held it. */
  holder: Holder;
  /** The epoch of the last claim. */
  epoch: number;
  /** The slot of the run that holds it (absent: started by hand). */
  slot?: number;
  /** The latest slot begun or skipped (0: none). */
  lastSlot: number;
  /** Whether that run finished (or was given up). */
  done: boolean;
  /**
   * Whether the lease ran out, by the store's clock, when read (Deno KV,
   * which has none: this instance saw it unchanged for a whole lease, by
   * its own clock).
   */
  expired: boolean;
  /** 1, or more when the slot was taken over. */
  attempt: number;
}

/** What a claim got: the claim, or who holds the job. */
export type ClaimResult =
  | { claimed: true; claim: Claim }
  | { claimed: false; lease: Lease };

/** Dedupe keys recorded with a successful run's report. */
export interface DedupeRecord {
  /** The keys of the rows the run acted on. */
  keys: readonly string[];
  /** Until when they count as seen (ms, the instance's clock). */
  expiresAt: number;
  /** Now (ms, the instance's clock): keys expired before are forgotten. */
  now: number;
  /**
   * The digest of every key the view yielded ({@linkcode KeySetDigest}),
   * and until when all of them stay seen: the next run with the same
   * digest finds nothing new without a lookup.
   */
  viewDigest?: KeySetDigest;
}

/** A view's key set, as dedupe compares it. */
export interface KeySetDigest {
  /** An order-independent digest of the keys. */
  digest: string;
  /** Until when every key of the set stays seen (ms); Infinity when the set is empty. */
  validUntil: number;
}

/** What {@linkcode RunStore.unseen} found. */
export interface UnseenKeys {
  /** The keys not seen (or expired), once each, in first-seen order. */
  keys: string[];
  /** The earliest expiry among the keys that were seen (Infinity: none). */
  seenUntil: number;
}

/** Options of {@linkcode RunStore.prune}. */
export interface PruneOptions {
  /** Finished runs that started before this (ms) are deleted. */
  before: number;
  /** Now (ms): dedupe keys that expired are deleted. */
  now: number;
}

/** What {@linkcode RunStore.prune} deleted. */
export interface PruneResult {
  /** Run records. */
  runs: number;
}

/** Where runs, dedupe state, deliveries and claims are kept. */
export interface RunStore {
  /**
   * Claims a job for a run: when no run of it is unfinished, and for a
   * scheduled slot, when the slot is later than every slot begun or
   * skipped. Atomic: of several instances claiming, one wins; the epoch is
   * incremented.
   */
  claim(jobName: string, request: ClaimRequest): Promise<ClaimResult>;
  /**
   * Takes over the job when its run is unfinished and its lease ran out by
   * the store's clock (its instance died or stopped): a new epoch, the same
   * slot, attempt + 1. A run started by hand is not run again: its lease is
   * freed. Returns the claim, or undefined.
   */
  takeOver(
    jobName: string,
    request: Omit<ClaimRequest, "slot">,
  ): Promise<Claim | undefined>;
  /** Extends a claim's lease; false when it was lost (taken over, or ran out by the store's clock). */
  renew(claim: Claim): Promise<boolean>;
  /** Frees the job (fenced: nothing happens when the claim was lost). */
  release(claim: Claim): Promise<void>;
  /** A job's lease, if it was ever claimed. */
  lease(jobName: string): Promise<Lease | undefined>;
  /**
   * Marks a scheduled slot as skipped, so that no instance runs it: true
   * when this call did (the slot was later than every slot begun or
   * skipped); the caller then records it.
   */
  skipSlot(jobName: string, slot: number): Promise<boolean>;

  /** Records a run as running. Fenced when `claim` is given. */
  start(run: RunStart, claim?: Claim): Promise<void>;
  /** Records what a running run did so far, and that it is alive; fenced when `claim` is given. */
  progress(report: RunReport, claim?: Claim): Promise<void>;
  /**
   * Records a run's final report; with a claim, fenced, and the dedupe keys
   * recorded with it (all before the report: the report is the commit).
   */
  finish(
    report: RunReport,
    claim?: Claim,
    dedupe?: DedupeRecord,
  ): Promise<void>;
  /** Records a finished run that never started (a refused or skipped one); a second record of the same id is ignored. */
  record(report: RunReport): Promise<void>;
  /** Runs, newest first. */
  history(options?: HistoryOptions): Promise<RunRecord[]>;
  /** One run by its id, as `history` shows it; undefined when there is none. */
  get(runId: string): Promise<RunRecord | undefined>;
  /**
   * The runs whose id starts with `prefix`, in code point order of their
   * ids, at most `limit`: a range of the store's id index, however many
   * runs it holds (`show <shortId>`, `/runs/<shortId>`). A store without it
   * is searched through its latest runs only.
   */
  findByIdPrefix?(prefix: string, limit: number): Promise<RunRecord[]>;
  /**
   * The latest `perJob` runs of each job in `jobs`, newest first, as
   * summaries: read without any action's outcome or result (the status
   * page). A job without runs maps to an empty list. A store without it
   * is read through `history`.
   */
  recentRuns?(
    jobs: readonly string[],
    perJob: number,
  ): Promise<Map<string, RunSummary[]>>;

  /**
   * The keys among `keys` that no successful run of the job recorded, or
   * that expired; compared in the store, in batches.
   */
  unseen(
    jobName: string,
    keys: readonly string[],
    now: number,
  ): Promise<UnseenKeys>;
  /** Whether the view's key set is the last successful run's, every key still seen: nothing new, no lookup. */
  sameKeySet(jobName: string, digest: string, now: number): Promise<boolean>;

  /** The delivery receipts of those units that have one. */
  deliveries(
    jobName: string,
    unitKeys: readonly string[],
  ): Promise<Map<string, DeliveryReceipt>>;
  /** Records delivery receipts, all or none; fenced. */
  recordDeliveries(
    claim: Claim,
    receipts: ReadonlyMap<string, DeliveryReceipt>,
  ): Promise<void>;

  /**
   * Deletes finished runs older than `before` (never a job's last
   * successful run, nor one a lease names), expired dedupe keys, and
   * delivery receipts of generations that succeeded.
   */
  prune(options: PruneOptions): Promise<PruneResult>;
  /** Closes what the store holds open of its own (a SQL store's database is closed with the registry's). */
  close?(): Promise<void>;
  /** alerts (issue 14): alert state, mutes and notices, on the same database. */
  readonly alerts?: AlertStore;
}

/**
 * A store write refused because the run lost its claim on the job: another
 * instance took it over, or its lease ran out. Code `STORE_ERROR`; never
 * retried.
 */
export class ClaimLostError extends TriggerKitError {
  /**
   * Creates the error of a refused write.
   *
   * @param claim The claim that was lost.
   * @param what What was refused.
   */
  constructor(claim: Pick<Claim, "jobName" | "epoch">, what: string) {
    super(
      "STORE_ERROR",
      `The run lost its claim on job "${claim.jobName}" (epoch ${claim.epoch}): ${what} refused; another instance took it over or its lease ran out`,
    );
    this.name = "ClaimLostError";
  }
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

/** The holder's description in a reason: `instance 12-ab (host h, pid 12)`. */
export function describeHolder(holder: Holder): string {
  return `instance ${holder.instance} (host ${holder.host}, pid ${holder.pid})`;
}

/** A running run whose heartbeat is older than this was cut short. */
export const STALE_AFTER_MS = 60_000;
/** How often a running run beats. */
export const HEARTBEAT_MS = 15_000;
