/**
 * Time, behind one small interface: a registry's jobs, run store, leases,
 * heartbeats, step retries, built-in actions' pacing and backoff, and the
 * scheduler all read and wait on the clock given to `createRegistry`, so
 * that tests drive time with a fake clock and never sleep for real.
 *
 * @module
 */

/** A clock: the time in ms, and a way to wait. */
export interface Clock {
  /** The time, in ms since the epoch. */
  now(): number;
  /** Waits `ms`; rejects with the signal's reason when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** The real clock: `Date.now()` and `setTimeout`. */
export const realClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const timer = setTimeout(() => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      }, ms);
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal!.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
    }),
};

/**
 * Calls `tick` every `intervalMs` on `clock` until `signal` aborts; a tick
 * that fails does not stop the next one.
 *
 * @param clock The clock to wait on.
 * @param intervalMs The time between the end of one tick and the next.
 * @param tick What to do each time.
 * @param signal Stops the loop.
 * @returns When the loop has stopped.
 */
export async function repeat(
  clock: Clock,
  intervalMs: number,
  tick: () => Promise<unknown>,
  signal: AbortSignal,
): Promise<void> {
  while (!signal.aborted) {
    try {
      await clock.sleep(intervalMs, signal);
    } catch {
      return;
    }
    await tick().catch(() => {});
  }
}
