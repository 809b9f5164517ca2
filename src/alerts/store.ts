/**
 * The alert store contract: what every run store keeps for alerts, next to
 * its runs — each job's pending and firing keys (and tombstones of resolved
 * ones), the last seen row of each key, a summary that lets a run with
 * nothing new skip reading them, mutes, and the state of `onFailure` and
 * `onRecovery` notices. The SQL and KV run stores implement it in
 * `src/store/sql_alerts.ts` and `src/store/kv_alerts.ts`, on the same
 * database, in tables (keys) of their own.
 *
 * @module
 */
import { TriggerKitError } from "../errors.ts";
import type { Row } from "../types.ts";
import type { AlertCommit, AlertSummary, KeyState, Mute } from "./state.ts";
import type { NoticeRow } from "./definitions.ts";

/** Where a job's `onFailure`/`onRecovery` notices stand. */
export interface NoticeState {
  /** Failed runs in a row. */
  consecutiveFailures: number;
  /** When the last successful run started (ms), or null. */
  lastSuccessAt: number | null;
  /** When the store first heard of the job (ms): staleness counts from it before any success. */
  watchedSince: number;
  /** Incidents opened so far: the open one's number. */
  incidents: number;
  /** The open incident, if any. */
  open: OpenIncident | null;
}

/** An incident of a job: it failed `after` times in a row, or went stale. */
export interface OpenIncident {
  /** What opened it. */
  kind: "failed" | "stale";
  /** When (ms). */
  at: number;
  /** The `onFailure` notice went through. */
  notified: boolean;
  /** The notice's row (kept, so that a notice that failed is sent again the same). */
  row: NoticeRow;
  /** The `onRecovery` notice's row, once a success began to close the incident. */
  recovery?: NoticeRow;
}

/** A notice state as read, with the version a conditional write checks. */
export interface VersionedNotice {
  /** The state. */
  state: NoticeState;
  /** Its version (opaque). */
  version: string;
}

/**
 * The claim of the run that writes (its job and epoch): a fenced write is
 * refused — `STORE_ERROR`, a `ClaimLostError` — once another instance took
 * the job over or the lease ran out, as the run store's own writes are.
 */
export interface AlertFence {
  /** The job. */
  jobName: string;
  /** The claim's epoch. */
  epoch: number;
}

/** A bounded read of a job's firing keys: some of them, and how many there are. */
export interface FiringPage {
  /** At most the `limit` asked for, rows left out. */
  keys: KeyState[];
  /** How many of the job's keys fire, all told. */
  total: number;
}

/** Where alert state lives; every run store has one (`store.alerts`). */
export interface AlertStore {
  /** The summary the last complete run of the job left, if any. */
  summary(jobName: string): Promise<AlertSummary | undefined>;
  /** The job's pending and firing keys (rows left out). */
  keys(jobName: string): Promise<KeyState[]>;
  /**
   * At most `limit` of the job's firing keys, in the store's key order (the
   * same ones on every call while nothing changes), and how many fire in
   * all: what the status page reads, where `keys()` reads every key. A
   * store without it has `keys()` read and cut instead.
   */
  firing?(jobName: string, limit: number): Promise<FiringPage>;
  /** The last incident numbers of those of `keys` that resolved before. */
  tombstones(
    jobName: string,
    keys: readonly string[],
  ): Promise<Map<string, number>>;
  /**
   * The largest last seen row the store keeps in one value, in bytes of
   * JSON (none: any); a larger one is kept as its key columns alone.
   */
  readonly maxRowBytes?: number;
  /** The last seen rows of those of `keys` that have one. */
  rows(jobName: string, keys: readonly string[]): Promise<Map<string, Row>>;
  /**
   * Records a run's outcome. The summary is dropped first and written last,
   * so that a commit cut short leaves no summary (the next run reads the
   * keys). With a fence, every write checks the run's claim.
   */
  commit(
    jobName: string,
    commit: AlertCommit,
    fence?: AlertFence,
  ): Promise<void>;
  /** The job's mutes (every job's without `jobName`) that end after `now`. */
  mutes(jobName: string | undefined, now: number): Promise<Mute[]>;
  /** Records a mute. */
  addMute(mute: Mute): Promise<void>;
  /** Removes every mute of the job; returns how many were in force at `now`. */
  removeMutes(jobName: string, now: number): Promise<number>;
  /** The job's notice state, if the store has one. */
  notice(jobName: string): Promise<VersionedNotice | undefined>;
  /**
   * Writes a notice state if its version is still `expected` (null: none
   * yet); false when another writer came first. With a fence, the write
   * also checks the run's claim (and throws when it was lost).
   */
  putNotice(
    jobName: string,
    state: NoticeState,
    expected: string | null,
    fence?: AlertFence,
  ): Promise<boolean>;
}

/** Tombstones of resolved keys are kept this long (30 days), then pruned. */
export const TOMBSTONE_MS = 30 * 86_400_000;

/**
 * The alert store of a run store.
 *
 * @throws {TriggerKitError} `INVALID_CONFIG` when the store keeps no alert state (a custom `RunStore`).
 */
export function alertStoreOf(store: { alerts?: AlertStore }): AlertStore {
  const alerts = store.alerts;
  if (!alerts) {
    throw new TriggerKitError(
      "INVALID_CONFIG",
      "The run store keeps no alert state: alerts, mutes and onFailure notices need a store opened from a URL (sqlite:, postgres://, kv:) or one with an `alerts` property",
    );
  }
  return alerts;
}
