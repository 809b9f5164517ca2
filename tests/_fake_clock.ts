/**
 * A clock for tests: waits return at once and move its time forward, so
 * backoff, Retry-After and pacing cost no real time and can be asserted.
 */
import type { Clock } from "../src/clock.ts";

/** A clock whose sleeps are instant; `sleeps` lists every wait asked for. */
export class FakeClock implements Clock {
  #now: number;
  /** Every wait, in ms, in order. */
  readonly sleeps: number[] = [];

  /** @param start The time it starts at, in ms since the epoch. */
  constructor(start: number = Date.UTC(2024, 0, 1)) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    this.sleeps.push(ms);
    this.#now += Math.max(0, ms);
    return Promise.resolve();
  }
}
