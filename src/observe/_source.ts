/**
 * What the status server reads and does, behind one small interface: the
 * registry gives one (`registry_source.ts`), tests give fakes. Nothing here
 * knows HTTP.
 *
 * @module
 */
import type { RunRecord, RunSummary } from "../store/contract.ts";
import type { AlertInfo } from "../alerts/mutes.ts";

/** One job as the status page and `/api/jobs` show it. */
export interface JobStatus {
  /** The job's name. */
  name: string;
  /** The schedule as written (`"every 15 minutes"`), or null for a job run by hand. */
  schedule: string | null;
  /** The schedule's time zone, when it has one other than UTC. */
  timezone?: string;
  /** Whether `serve` runs it on its schedule. */
  enabled: boolean;
  /** When it runs next (ISO 8601), or null: no schedule, or disabled. */
  nextRunAt: string | null;
  /**
   * Its latest run (running ones included), or null: the whole record, or
   * its summary when summaries were asked for.
   */
  lastRun: RunRecord | RunSummary | null;
  /** How many of its alert keys are firing now. */
  alertsFiring: number;
  /** Its latest runs, newest first (at most what was asked for; at least `lastRun`), as `lastRun` is. */
  recentRuns: Array<RunRecord | RunSummary>;
}

/** One alert key, as `registry.alerts()` gives it. */
export type AlertStatus = AlertInfo;

/** Some firing keys, and how many fire in all. */
export interface FiringAlerts {
  /** The keys shown. */
  alerts: AlertStatus[];
  /** Firing keys, all told. */
  total: number;
}

/** The scheduler loop as the health check sees it. */
export interface SchedulerState {
  /** When the loop last woke (ms since the epoch), or undefined before its first tick. */
  tickedAt: number | undefined;
  /** The longest the loop sleeps between ticks, in ms. */
  tickEveryMs: number;
  /** Set once the scheduler is stopping. */
  stopping: boolean;
}

/** Options of {@linkcode StatusSource.runs}. */
export interface RunsQuery {
  /** Only this job's runs. */
  job?: string;
  /** At most this many, newest first. */
  limit?: number;
}

/** What the status server needs of a registry. */
export interface StatusSource {
  /** The job names, cheaply (no store access): `/metrics` labels. */
  jobNames(): string[];
  /**
   * Every job with its state, sorted by name. With `summaries`, its runs
   * are summaries, read without any action's result where the store can
   * (the status page).
   */
  jobs(
    options?: { recentRuns?: number; summaries?: boolean },
  ): Promise<JobStatus[]>;
  /** Runs as `history()` gives them, newest first. */
  runs(query?: RunsQuery): Promise<RunRecord[]>;
  /** One run, or undefined when the store has none with that id. */
  run(runId: string): Promise<RunRecord | undefined>;
  /** The runs whose id starts with a prefix (a short id), in id order, at most `limit`. */
  runsByIdPrefix?(idPrefix: string, limit: number): Promise<RunRecord[]>;
  /** Resolves when the store answers a trivial query; rejects (or never settles) otherwise. */
  storeAlive(signal: AbortSignal): Promise<void>;
  /** The scheduler loop, or undefined when no scheduler runs. */
  scheduler(): SchedulerState | undefined;
  /**
   * Starts a run of the job now and resolves with its id; the run goes on
   * in the background.
   *
   * @throws {TriggerKitError} `JOB_NOT_FOUND`.
   */
  startRun(job: string): Promise<{ runId: string }>;
  /** Sandbox processes running now. */
  sandboxProcesses(): number;
  /** Alert keys that are pending or firing; absent until alerts exist. */
  alerts?(): Promise<AlertStatus[]>;
  /**
   * At most `limit` firing keys and how many fire in all, read boundedly:
   * the jobs page (default: cut from `alerts()`).
   */
  firingAlerts?(limit: number): Promise<FiringAlerts>;
  /** Firing keys per job, counted cheaply: `/metrics` (default: counted from `alerts()`). */
  alertsFiring?(): Promise<Map<string, number>>;
  /** Calls `listener` whenever a run starts or finishes; returns the unsubscribe function. */
  subscribe?(listener: (change: RunChange) => void): () => void;
}

/** A run started or finished: what the page's live refresh is told. */
export interface RunChange {
  /** `started` or `finished`. */
  type: "started" | "finished";
  /** The run. */
  runId: string;
  /** Its job. */
  jobName: string;
  /** Its status (`running` while it runs). */
  status: RunRecord["status"];
}

/**
 * Firing keys per job, counted from a list of alert keys.
 *
 * @param alerts Pending and firing keys.
 * @returns How many fire, per job (jobs with none left out).
 */
export function countFiring(
  alerts: readonly AlertStatus[],
): Map<string, number> {
  const counts = new Map<string, number>();
  for (const alert of alerts) {
    if (alert.state !== "firing") continue;
    counts.set(alert.jobName, (counts.get(alert.jobName) ?? 0) + 1);
  }
  return counts;
}
