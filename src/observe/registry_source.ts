/**
 * The status source of a registry: its jobs, its run store, its scheduler
 * loop and its runs, as the status server reads them.
 *
 * @module
 */
import { isName } from "../_names.ts";
import type { Clock } from "../clock.ts";
import type { Job } from "../jobs/definitions.ts";
import type { RunJobOptions } from "../jobs/engine.ts";
import { logger } from "../logger.ts";
import { lookup } from "../_suggest.ts";
import type {
  HistoryOptions,
  RunRecord,
  RunReport,
  RunSummary,
} from "../store/contract.ts";
import {
  type AlertStatus,
  countFiring,
  type FiringAlerts,
  type JobStatus,
  type RunChange,
  type RunsQuery,
  type SchedulerState,
  type StatusSource,
} from "./_source.ts";
import type { RunChanges } from "./observability.ts";
import { drainRuns } from "../jobs/_drain.ts";
import { HttpError } from "./_http.ts";

const log = logger("http");

/** What the status source needs of a registry (its public methods). */
export interface RegistryParts {
  /** Every job, sorted by name. */
  listJobs(): Job[];
  /** The run history. */
  history(options: HistoryOptions): Promise<RunRecord[]>;
  /**
   * Each job's latest runs as summaries (no action results), or undefined
   * when the store cannot read them so: `history` is read instead.
   */
  recentRuns?(
    jobs: readonly string[],
    perJob: number,
  ): Promise<Map<string, RunSummary[]>> | undefined;
  /** One run by its id, or undefined. */
  getRun(runId: string): Promise<RunRecord | undefined>;
  /** The runs whose id starts with a prefix, in id order, at most `limit`. */
  findRuns?(idPrefix: string, limit: number): Promise<RunRecord[]>;
  /** Runs a job (the id is given, so it is known before the run ends). */
  runJob(
    name: string,
    options: RunJobOptions & { runId: string },
  ): Promise<RunReport>;
  /** Sandbox processes running now. */
  sandboxProcesses(): readonly unknown[];
  /** Pending and firing alert keys, once the registry has alerts. */
  alerts?(): Promise<AlertStatus[]>;
  /** Firing keys per job, counted cheaply (default: counted from `alerts()`). */
  alertsFiring?(): Promise<Map<string, number>>;
  /** At most `limit` firing keys and their total, read boundedly (default: cut from `alerts()`). */
  firingAlerts?(limit: number): Promise<FiringAlerts>;
  /** Values no page or answer may show (the environment's secrets, database passwords). */
  secrets?(): string[];
}

/** The scheduler loop's last tick, as the health check reads it. */
export class SchedulerTicks {
  #tickedAt: number | undefined;
  #stopping = false;
  readonly #tickEveryMs: number;

  /** @param tickEveryMs The longest the loop sleeps between ticks. */
  constructor(tickEveryMs: number) {
    this.#tickEveryMs = tickEveryMs;
  }

  /** The loop woke. */
  readonly tick = (now: number): void => {
    this.#tickedAt = now;
  };

  /** The scheduler is stopping. */
  stop(): void {
    this.#stopping = true;
  }

  /** What the health check reads. */
  state(): SchedulerState {
    return {
      tickedAt: this.#tickedAt,
      tickEveryMs: this.#tickEveryMs,
      stopping: this.#stopping,
    };
  }
}

/** How many history reads one page runs at once. */
const READ_CONCURRENCY = 8;

/** A registry as the status server sees it. */
export class RegistrySource implements StatusSource {
  readonly #registry: RegistryParts;
  readonly #ticks: SchedulerTicks;
  readonly #clock: Clock;
  readonly #changes: RunChanges;
  readonly #runs = new Set<Promise<unknown>>();
  readonly #abort = new AbortController();
  #stopping = false;

  /**
   * @param registry The registry's jobs, history and runs.
   * @param options The scheduler loop's ticks, the clock, the registry's run changes.
   */
  constructor(
    registry: RegistryParts,
    options: { ticks: SchedulerTicks; clock: Clock; changes: RunChanges },
  ) {
    this.#registry = registry;
    this.#ticks = options.ticks;
    this.#clock = options.clock;
    this.#changes = options.changes;
  }

  jobNames(): string[] {
    return this.#registry.listJobs().map((job) => job.name);
  }

  jobs(
    options: { recentRuns?: number; summaries?: boolean } = {},
  ): Promise<JobStatus[]> {
    return jobStatuses(
      this.#registry,
      this.#clock.now(),
      options.recentRuns,
      options.summaries,
    );
  }

  runs(query: RunsQuery = {}): Promise<RunRecord[]> {
    // A job no registry can name has no runs (history() refuses the name).
    if (query.job !== undefined && !isName(query.job)) {
      return Promise.resolve([]);
    }
    return this.#registry.history(query);
  }

  run(runId: string): Promise<RunRecord | undefined> {
    return this.#registry.getRun(runId);
  }

  runsByIdPrefix(idPrefix: string, limit: number): Promise<RunRecord[]> {
    return this.#registry.findRuns?.(idPrefix, limit) ?? Promise.resolve([]);
  }

  async storeAlive(): Promise<void> {
    await this.#registry.history({ limit: 1 });
  }

  scheduler(): SchedulerState | undefined {
    return this.#ticks.state();
  }

  startRun(job: string): Promise<{ runId: string }> {
    if (this.#stopping) {
      // A run started now would miss the drain's grace period.
      throw new HttpError(
        503,
        "STOPPING",
        "The server is stopping: it starts no new runs",
      );
    }
    const jobs = this.#registry.listJobs();
    lookup(new Map(jobs.map((j) => [j.name, j])), job, "JOB_NOT_FOUND", "job");
    const runId = crypto.randomUUID();
    const run = this.#registry.runJob(job, {
      runId,
      signal: this.#abort.signal,
    }).catch((error) =>
      log.error(
        "Run {runId} of job {jobName} started over HTTP failed: {error}",
        {
          runId,
          jobName: job,
          error,
        },
      )
    );
    this.#runs.add(run);
    run.finally(() => this.#runs.delete(run));
    return Promise.resolve({ runId });
  }

  sandboxProcesses(): number {
    return this.#registry.sandboxProcesses().length;
  }

  alerts(): Promise<AlertStatus[]> {
    return this.#registry.alerts?.() ?? Promise.resolve([]);
  }

  alertsFiring(): Promise<Map<string, number>> {
    return firingByJob(this.#registry);
  }

  async firingAlerts(limit: number): Promise<FiringAlerts> {
    if (this.#registry.firingAlerts) {
      return await this.#registry.firingAlerts(limit);
    }
    const firing = (await this.alerts()).filter((alert) =>
      alert.state === "firing"
    );
    return { alerts: firing.slice(0, limit), total: firing.length };
  }

  subscribe(listener: (change: RunChange) => void): () => void {
    return this.#changes.subscribe(listener);
  }

  /** Refuses new runs, waits for those started over HTTP up to `graceMs`, then aborts them. */
  async drain(graceMs: number): Promise<void> {
    this.#stopping = true;
    if (this.#runs.size === 0) return;
    // Within the grace period whatever is hung: a run that ignores its
    // abort is left behind, as the scheduler's are.
    await drainRuns(
      this.#clock,
      this.#runs,
      graceMs,
      () => this.#abort.abort(new Error("The status server stopped")),
    );
  }
}

/**
 * Every job with its schedule, next run, latest runs and firing alerts: what
 * the status page, `/api/jobs` and the `jobs` command show.
 *
 * @param registry The registry's jobs, history and (once they exist) alerts.
 * @param now The time next runs are counted from (ms since the epoch).
 * @param recentRuns How many latest runs to read per job (default 1).
 * @param summaries Read the runs as summaries where the store can: one
 * read for every job, no action's result (the status page).
 * @returns One status per job, sorted by name.
 */
export async function jobStatuses(
  registry: Pick<
    RegistryParts,
    "listJobs" | "history" | "alerts" | "alertsFiring" | "recentRuns"
  >,
  now: number,
  recentRuns = 1,
  summaries = false,
): Promise<JobStatus[]> {
  const limit = Math.max(1, recentRuns);
  const jobs = registry.listJobs();
  const [firing, recent] = await Promise.all([
    firingByJob(registry),
    latestRuns(registry, jobs.map((job) => job.name), limit, summaries),
  ]);
  return jobs.map((job, i) => {
    const enabled = job.enabled !== false;
    const runs = recent[i] ?? [];
    return {
      name: job.name,
      schedule: job.schedule ?? null,
      ...(job.timezone && job.timezone !== "UTC"
        ? { timezone: job.timezone }
        : {}),
      enabled,
      nextRunAt: enabled && job.parsedSchedule
        ? new Date(job.parsedSchedule.next(now)).toISOString()
        : null,
      lastRun: runs[0] ?? null,
      alertsFiring: firing.get(job.name) ?? 0,
      recentRuns: runs,
    };
  });
}

/** Each job's latest runs: summaries in one read where asked and the store can, or each job's history. */
async function latestRuns(
  registry: Pick<RegistryParts, "history" | "recentRuns">,
  names: readonly string[],
  limit: number,
  summaries: boolean,
): Promise<Array<RunRecord[] | RunSummary[]>> {
  const read = summaries ? registry.recentRuns?.(names, limit) : undefined;
  if (read) {
    const found = await read;
    return names.map((name) => found.get(name) ?? []);
  }
  return await mapLimit(
    names,
    READ_CONCURRENCY,
    (job) => registry.history({ job, limit }),
  );
}

/** Firing keys per job: the registry's own count, or counted from its alerts. */
async function firingByJob(
  registry: Pick<RegistryParts, "alerts" | "alertsFiring">,
): Promise<Map<string, number>> {
  if (registry.alertsFiring) return await registry.alertsFiring();
  return countFiring(registry.alerts ? await registry.alerts() : []);
}

/** Maps with at most `limit` calls in flight, keeping the order. */
async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, worker),
  );
  return results;
}
