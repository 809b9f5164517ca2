/**
 * Freezing a sandbox process between calls: it runs only while it has work
 * (starting, loading a Worker, a call that chose it and has not ended).
 * Otherwise it is stopped with SIGSTOP — every thread, nested Workers
 * included, stops where it is — and continued with SIGCONT when the next
 * call chooses it, so that nothing an action leaves behind (timers, pending
 * fetches, nested Workers) runs between calls.
 *
 * A stopped process is still read by the watchdog (`/proc` works on it: its
 * CPU time stands still), its sockets' kernel buffers keep what is sent to
 * it, and SIGKILL still ends it. Windows has no SIGSTOP: there nothing is
 * frozen.
 *
 * @module
 */
import type { SpawnedChild } from "./spawn.ts";

/**
 * How long a process with nothing in flight runs on before it is frozen: a
 * call that follows at once (a loop of calls) finds it running, without a
 * stop and a continue (which would double a warm call's cost). What the
 * action does meanwhile is logged under the run that just ended.
 */
export const FREEZE_DELAY_MS = 5;

/** Freezes and continues one process as its calls come and go. */
export class Freezer {
  readonly #child: SpawnedChild;
  readonly #canFreeze: boolean;
  /** Whether it has work of its own (starting, a Worker loading, a call pending). */
  readonly #busy: () => boolean;
  #frozen = false;
  #reserved = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #ended = false;

  /**
   * @param child The process.
   * @param busy Whether it has work besides the calls that chose it.
   */
  constructor(child: SpawnedChild, busy: () => boolean) {
    this.#child = child;
    this.#busy = busy;
    this.#canFreeze = Deno.build.os !== "windows" &&
      child.signal !== undefined;
  }

  /** Calls that chose the process and have not ended. */
  get reserved(): number {
    return this.#reserved;
  }

  /** Whether it is frozen now. */
  get frozen(): boolean {
    return this.#frozen;
  }

  /** A call chose the process: it runs (continued if frozen). */
  reserve(): void {
    this.#reserved++;
    if (!this.#frozen) return;
    this.#frozen = false;
    if (!this.#ended) this.#child.signal?.("SIGCONT");
  }

  /** A call that chose the process has ended. */
  release(): void {
    this.#reserved--;
  }

  /**
   * The process may have nothing left to do: unless a call chose it, it is
   * frozen {@linkcode FREEZE_DELAY_MS} from now if it still has nothing to
   * do then.
   */
  idle(): void {
    if (this.#ended || this.#reserved > 0 || this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#reserved > 0 || this.#busy()) return;
      if (this.#frozen || this.#ended || !this.#canFreeze) return;
      this.#frozen = true;
      this.#child.signal?.("SIGSTOP");
    }, FREEZE_DELAY_MS);
  }

  /** The process is ending (killed) or gone: nothing is sent to it again. */
  end(): void {
    this.#ended = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
