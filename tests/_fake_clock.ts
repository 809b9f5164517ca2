import type { Clock } from "../mod.ts";

/**
 * A clock that moves only when told; sleepers wake as it passes their time.
 * Every sleep asked for is recorded in {@linkcode FakeClock.sleeps}.
 */
export class FakeClock implements Clock {
  #now: number;
  #sleepers: Array<{ at: number; resolve: () => void }> = [];
  /** Every `sleep(ms)` asked for, in order. */
  readonly sleeps: number[] = [];

  constructor(start: number = Date.parse("2026-03-01T10:00:00Z")) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    this.sleeps.push(ms);
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const sleeper = { at: this.#now + ms, resolve };
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
   * Moves time to the earliest sleeper's wake-up, once one waits, and lets
   * the woken work run; returns the time moved.
   */
  async next(): Promise<number> {
    for (let i = 0; i < 1000 && this.#sleepers.length === 0; i++) {
      await settle(1);
    }
    if (this.#sleepers.length === 0) throw new Error("Nothing sleeps");
    const at = Math.min(...this.#sleepers.map((s) => s.at));
    const moved = Math.max(0, at - this.#now);
    this.tick(moved);
    await settle(1);
    return moved;
  }
}

/** Lets promises and I/O (an in-memory store) settle: a few turns of the event loop. */
export async function settle(turns = 5): Promise<void> {
  for (let i = 0; i < turns; i++) {
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}
