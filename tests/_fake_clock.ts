import type { Clock } from "../mod.ts";

/**
 * A clock that moves only when told; sleepers wake as it passes their time.
 * Every sleep asked for is recorded in {@linkcode FakeClock.sleeps}.
 *
 * With `auto: true` every sleep moves the clock by its length and returns at
 * once: for code that only waits (retries, backoff, pacing), never for loops
 * that wait forever (heartbeats, the scheduler).
 */
export class FakeClock implements Clock {
  #now: number;
  #sleepers: Array<{ at: number; resolve: () => void }> = [];
  readonly #auto: boolean;
  /** Every `sleep(ms)` asked for, in order. */
  readonly sleeps: number[] = [];

  constructor(
    start: number = Date.parse("2026-03-01T10:00:00Z"),
    options: { auto?: boolean } = {},
  ) {
    this.#now = start;
    this.#auto = options.auto ?? false;
  }

  now(): number {
    return this.#now;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    this.sleeps.push(ms);
    // Whole milliseconds, as timers and `Date.now()` have them: a store
    // refuses a fractional time into an integer column.
    const whole = Math.max(0, Math.ceil(ms));
    if (this.#auto) {
      if (signal?.aborted) return Promise.reject(signal.reason);
      this.#now += whole;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const sleeper = { at: this.#now + whole, resolve };
      this.#sleepers.push(sleeper);
      signal?.addEventListener("abort", () => {
        this.#sleepers = this.#sleepers.filter((s) => s !== sleeper);
        reject(signal.reason);
      }, { once: true });
    });
  }

  /** How many sleepers wait now. */
  get pending(): number {
    return this.#sleepers.length;
  }

  /** Moves time forward at once, waking the sleepers that are due (no settling). */
  tick(ms: number): void {
    this.#now += ms;
    const due = this.#sleepers.filter((s) => s.at <= this.#now);
    this.#sleepers = this.#sleepers.filter((s) => s.at > this.#now);
    for (const sleeper of due) sleeper.resolve();
  }

  /** Moves time forward step by step (a minute by default), letting due work run at each step. */
  async advance(ms: number, step = 60_000): Promise<void> {
    const end = this.#now + ms;
    while (this.#now < end) {
      this.tick(Math.min(end, this.#now + step) - this.#now);
      await settle();
    }
  }

  /**
   * Lets `work` run, moving time to the earliest sleeper's wake-up whenever
   * it waits, until it settles.
   */
  async runUntil<T>(work: Promise<T>): Promise<T> {
    let done = false;
    const settled = work.finally(() => done = true);
    settled.catch(() => {});
    while (!done) {
      await settle(1);
      if (done || this.#sleepers.length === 0) continue;
      const at = Math.min(...this.#sleepers.map((s) => s.at));
      this.tick(Math.max(0, at - this.#now));
    }
    return await settled;
  }
}

/** Lets promises and I/O (an in-memory store) settle: a few turns of the event loop. */
export async function settle(turns = 5): Promise<void> {
  for (let i = 0; i < turns; i++) {
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}
