/**
 * A run's record as it goes: the report it starts from, progress written as
 * actions finish, the dedupe keys recorded with its outcome, its log line.
 *
 * @module
 */
import type {
  Claim,
  DedupeRecord,
  RunReport,
  RunStart,
  RunStore,
} from "../store/contract.ts";
import type { Clock } from "../clock.ts";
import { TriggerKitError } from "../errors.ts";
import { logger } from "../logger.ts";
import type { HeldClaim } from "./_claim.ts";
import type { Job } from "./definitions.ts";

const log = logger("job");

/** How long progress waits before it is written: a run that ends sooner writes none. */
export const PROGRESS_DELAY_MS = 1_000;

/**
 * Writes a run's progress to its record as actions finish: at most one
 * write a second (on the clock), the latest report winning, never holding
 * the run up. A run that finishes within the delay writes no progress at
 * all — its outcome says everything.
 */
export class ProgressWriter {
  readonly #store: RunStore;
  readonly #claim: Claim;
  readonly #held: HeldClaim;
  readonly #clock: Clock;
  readonly #stop = new AbortController();
  #pending: RunReport | undefined;
  #writing: Promise<void> | undefined;

  constructor(store: RunStore, claim: Claim, held: HeldClaim, clock: Clock) {
    this.#store = store;
    this.#claim = claim;
    this.#held = held;
    this.#clock = clock;
  }

  /**
   * Queues the report. It is copied when it is written, as it stands then:
   * a run that ends within the delay copies nothing (a copy of a large
   * result — 100,000 rows — would block the event loop for tens of ms).
   */
  write(report: RunReport): void {
    if (this.#stop.signal.aborted) return;
    this.#pending = report;
    this.#writing ??= this.#drain();
  }

  /** Drops what is queued and waits for a write under way: the outcome comes next. */
  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#writing;
  }

  async #drain(): Promise<void> {
    while (this.#pending) {
      const waited = await this.#clock.sleep(
        PROGRESS_DELAY_MS,
        this.#stop.signal,
      ).then(() => true, () => false);
      const pending = this.#pending;
      this.#pending = undefined;
      if (!waited || !pending) break;
      const report = structuredClone(pending);
      await this.#held.call(
        "recording the run's progress",
        () => this.#store.progress(report, this.#claim),
      ).catch(() => {});
    }
    this.#writing = undefined;
  }
}

/** A new run's report: succeeded until something says otherwise. */
export function newReport(
  name: string,
  runId: string,
  now: number,
  options: { slot?: number; attempt?: number },
): RunReport {
  const report: RunReport = {
    runId,
    jobName: name,
    dryRun: false,
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

/** What the store records when a run starts. */
export function startOf(report: RunReport): RunStart {
  return {
    runId: report.runId,
    jobName: report.jobName,
    dryRun: report.dryRun,
    startedAt: report.startedAt,
    ...(report.slot ? { slot: report.slot } : {}),
    ...(report.attempt ? { attempt: report.attempt } : {}),
  };
}

/**
 * The dedupe keys a run records with its outcome: the keys of the rows it
 * acted on, after a success; and, whenever the view was read and the run did
 * not fail, the view's key set.
 */
export function dedupeRecord(
  job: Job,
  report: RunReport,
  outcome: { newKeys: string[]; viewDigest?: DedupeRecord["viewDigest"] },
  now: number,
): DedupeRecord | undefined {
  if (job.dedupeTtlMs === undefined || report.status === "failed") {
    return undefined;
  }
  return {
    keys: report.status === "succeeded" ? outcome.newKeys : [],
    expiresAt: now + job.dedupeTtlMs,
    now,
    ...(outcome.viewDigest ? { viewDigest: outcome.viewDigest } : {}),
  };
}

/** One log line per finished run. */
export function logOutcome(report: RunReport): void {
  const level = report.status === "failed" ? "warn" : "info";
  log[level]("Job {jobName} {status}", {
    jobName: report.jobName,
    runId: report.runId,
    status: report.status,
  });
}

/**
 * Marks a run failed by a store error (`STORE_ERROR` unless it has a code).
 *
 * @param report The run's report, changed in place.
 * @param error What the store failed with.
 * @param now The time, for `finishedAt` when it is not set yet.
 * @returns The error, coded.
 */
export function failedWith(
  report: RunReport,
  error: unknown,
  now: number,
): TriggerKitError {
  const coded = error instanceof TriggerKitError
    ? error
    : new TriggerKitError("STORE_ERROR", String(error), { cause: error });
  report.status = "failed";
  report.reason ??= coded.message;
  report.error ??= { code: coded.code, message: coded.message };
  report.finishedAt ||= new Date(now).toISOString();
  return coded;
}

/**
 * A run whose outcome could not be recorded: failed, with the store's
 * error (the store shows it interrupted later).
 *
 * @param report The run's report, changed in place.
 * @param error What the store failed with.
 * @param now The time, for `finishedAt` when it is not set yet.
 * @returns The report.
 */
export function unrecorded(
  report: RunReport,
  error: unknown,
  now: number,
): RunReport {
  const coded = failedWith(report, error, now);
  log.error(
    "Job {jobName}: the run's outcome could not be recorded: {error}",
    {
      jobName: report.jobName,
      runId: report.runId,
      error: coded.message,
    },
  );
  return report;
}
