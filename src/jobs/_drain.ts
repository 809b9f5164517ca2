/**
 * Stopping runs within a grace period, on the clock: `serve`'s scheduled runs
 * and the runs its status server started share it.
 *
 * @module
 */
import type { Clock } from "../clock.ts";

/** Whether `work` settled within `ms` on the clock. */
export async function within(
  clock: Clock,
  ms: number,
  work: Promise<unknown>,
): Promise<boolean> {
  const stop = new AbortController();
  const expired = clock.sleep(Math.max(0, ms), stop.signal).then(
    () => false,
    () => true,
  );
  try {
    return await Promise.race([work.then(() => true, () => true), expired]);
  } finally {
    stop.abort();
  }
}

/**
 * Waits for `runs` for most of `graceMs`, then calls `abort` and gives the
 * aborted runs the rest to record it. Returns within `graceMs` whatever is
 * hung: false when runs were still running then (they are left behind).
 */
export async function drainRuns(
  clock: Clock,
  runs: Iterable<Promise<unknown>>,
  graceMs: number,
  abort: () => void,
): Promise<boolean> {
  const settled = Promise.allSettled(runs);
  const margin = Math.min(1_000, graceMs / 5);
  if (await within(clock, graceMs - margin, settled)) return true;
  abort();
  return await within(clock, margin, settled);
}
