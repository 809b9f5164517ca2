/**
 * A dry run: it claims nothing (it changes nothing), reads the delivery
 * journal but never writes it, and is recorded as a dry run.
 *
 * @module
 */
import { repeat } from "../clock.ts";
import { HEARTBEAT_MS, type RunReport } from "../store/contract.ts";
import { StoreJournal } from "../store/journal.ts";
import type { RunObservation } from "../observe/run_observer.ts";
import { retryStore } from "./_claim.ts";
import {
  executeRun,
  type PipelineHost,
  type ProgressEvent,
} from "./_pipeline.ts";
import { logOutcome, startOf, unrecorded } from "./_run_record.ts";
import type { Job } from "./definitions.ts";

/**
 * Runs a job as a dry run into `report` and records it.
 *
 * @param host The engine's actions, views, store and clock.
 * @param job The job.
 * @param report The run's report (`dryRun` set).
 * @param options The run's signal, progress callback and observation.
 * @returns The report, recorded (or failed with the store's error).
 */
export async function runDry(
  host: PipelineHost,
  job: Job,
  report: RunReport,
  options: {
    signal?: AbortSignal;
    onProgress?: (event: ProgressEvent) => void;
    observed: RunObservation;
  },
): Promise<RunReport> {
  const { clock, store } = host;
  const calls = {
    call: <T>(what: string, op: () => Promise<T>) =>
      retryStore(
        clock,
        what,
        op,
        options.signal ? { signal: options.signal } : {},
      ),
  };
  await calls.call(
    "recording the run's start",
    () => store.start(startOf(report)),
  );
  const beating = new AbortController();
  const heartbeat = repeat(
    clock,
    HEARTBEAT_MS,
    () => store.progress(report),
    beating.signal,
  );
  try {
    await executeRun(host, job, report, {
      ...options,
      calls,
      journal: new StoreJournal(store, job.name, calls),
      generation: "",
      holds: () => true,
    });
  } finally {
    beating.abort();
    await heartbeat;
  }
  report.finishedAt = new Date(clock.now()).toISOString();
  try {
    await calls.call("recording the run's outcome", () => store.finish(report));
  } catch (error) {
    return unrecorded(report, error, clock.now());
  }
  logOutcome(report);
  return report;
}
