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

/**
 * Runs `work` with a deadline on `clock`: when it has not settled after
 * `ms`, or `signal` aborts first, the returned promise rejects with
 * `onTimeout()` (or the signal's reason) and `work`'s later outcome is
 * ignored. For calls that may hang (a database that accepts and never
 * answers), so that their caller never does.
 *
 * @param clock The clock to wait on.
 * @param ms The deadline, in ms (Infinity: none).
 * @param work What to wait for.
 * @param onTimeout The error to reject with when the deadline passes.
 * @param signal Stops waiting.
 * @returns What `work` resolved to.
 */
export function withDeadline<T>(
  clock: Clock,
  ms: number,
  work: Promise<T>,
  onTimeout: () => Error,
  signal?: AbortSignal,
): Promise<T> {
  work.catch(() => {});
  if (ms === Infinity && !signal) return work;
  const settled = new AbortController();
  const wake = signal
    ? AbortSignal.any([settled.signal, signal])
    : settled.signal;
  const expired = new Promise<never>((_, reject) => {
    if (ms === Infinity) {
      // No deadline: only the signal ends the wait.
      wake.addEventListener("abort", () => {
        if (!settled.signal.aborted) reject(signal!.reason);
      }, { once: true });
      return;
    }
    clock.sleep(ms, wake).then(
      () => reject(onTimeout()),
      () => {
        if (!settled.signal.aborted) reject(signal!.reason);
      },
    );
  });
  return Promise.race([work, expired]).finally(() => settled.abort());
}
