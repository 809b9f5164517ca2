/**
 * Spacing of requests per key (a Slack channel), with an injectable clock so
 * that tests never sleep for real.
 *
 * @module
 */
import { type Clock, realClock } from "../src/clock.ts";

/** Keeps at least `intervalMs` between two starts for the same key. */
export class Pacer {
  readonly #clock: Clock;
  readonly #next = new Map<string, number>();

  /**
   * @param clock The clock to read and wait on.
   */
  constructor(clock: Clock = realClock) {
    this.#clock = clock;
  }

  /** Waits for the key's turn, then books the next one `intervalMs` later. */
  async wait(
    key: string,
    intervalMs: number,
    signal?: AbortSignal,
  ): Promise<void> {
    const now = this.#clock.now();
    const at = Math.max(now, this.#next.get(key) ?? 0);
    this.#next.set(key, at + intervalMs);
    if (at > now) await this.#clock.sleep(at - now, signal);
  }
}

/**
 * A pause shared by everything sent with one credential: a 429 closes it
 * for the time Slack asked, and every sender waits for it to reopen.
 */
export class RateGate {
  readonly #clock: Clock;
  readonly #openAt = new Map<string, number>();

  /**
   * @param clock The clock to read and wait on.
   */
  constructor(clock: Clock = realClock) {
    this.#clock = clock;
  }

  /** Waits until the gate of `key` is open. */
  async pass(key: string, signal?: AbortSignal): Promise<void> {
    for (;;) {
      const wait = (this.#openAt.get(key) ?? 0) - this.#clock.now();
      if (wait <= 0) return;
      await this.#clock.sleep(wait, signal);
    }
  }

  /** Closes the gate of `key` for `ms`. */
  close(key: string, ms: number): void {
    const at = this.#clock.now() + ms;
    if (at > (this.#openAt.get(key) ?? 0)) this.#openAt.set(key, at);
  }
}
