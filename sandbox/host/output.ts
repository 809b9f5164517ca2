/**
 * What sandboxed actions print — console, `Deno.stdout`, stderr — read by
 * the host from each sandbox process's stdout and stderr pipes, and logged
 * under `["triggerkit", "sandbox", "console"]` with the action's name and
 * the `runId` of the call it belongs to, as the host knows them: nothing in
 * the text can change that attribution, and each line is one record
 * (control characters escaped).
 *
 * It is rate-limited per action: lines past the budget are dropped and
 * counted, and past a byte budget the host stops reading the pipe (the
 * printing thread then waits), so a flood cannot keep the host busy.
 *
 * @module
 */
import { logger } from "../../src/logger.ts";

const consoleLog = logger("sandbox", "console");

/** The budgets of one action's output. */
export const OUTPUT_LIMITS = {
  /** Lines logged per second, sustained. */
  linesPerSecond: 200,
  /** Lines that may be logged at once. */
  burst: 2_000,
  /** Bytes read per second, sustained (then reading pauses). */
  bytesPerSecond: 4 * 1024 * 1024,
  /** The longest line kept; the rest of it is cut. */
  maxLine: 8 * 1024,
};

/** Who a line belongs to: the run ids of the calls it may come from. */
export type Attribution = () => string[];

/** A token bucket. */
class Bucket {
  #tokens: number;
  #at = performance.now();
  constructor(readonly capacity: number, readonly perSecond: number) {
    this.#tokens = capacity;
  }
  /** Takes as many of `amount` as it holds; returns how many. */
  takeUpTo(amount: number): number {
    this.#refill();
    const taken = Math.min(amount, Math.floor(this.#tokens));
    this.#tokens -= taken;
    return taken;
  }
  /** Takes what it may, going into debt; returns how long to wait to be even. */
  spend(amount: number): number {
    this.#refill();
    this.#tokens -= amount;
    return this.#tokens >= 0 ? 0 : (-this.#tokens / this.perSecond) * 1000;
  }
  #refill(): void {
    const now = performance.now();
    this.#tokens = Math.min(
      this.capacity,
      this.#tokens + ((now - this.#at) / 1000) * this.perSecond,
    );
    this.#at = now;
  }
}

/** How long reading output may hold the event loop before it yields. */
const SLICE_MS = 10;

// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029]/g;

/** Makes a line safe for any log sink: control characters become `\xNN`. */
export function escapeControl(line: string): string {
  return line.replace(
    CONTROL,
    (char) => `\\x${char.charCodeAt(0).toString(16).padStart(2, "0")}`,
  );
}

/** One action's output: every process of the action pumps into it. */
export class OutputRelay {
  readonly #action: string;
  readonly #lineBudget = new Bucket(
    OUTPUT_LIMITS.burst,
    OUTPUT_LIMITS.linesPerSecond,
  );
  readonly #bytes = new Bucket(
    OUTPUT_LIMITS.bytesPerSecond,
    OUTPUT_LIMITS.bytesPerSecond,
  );
  #dropped = 0;

  /**
   * @param action The action's name.
   */
  constructor(action: string) {
    this.#action = action;
  }

  /** Lines dropped so far (over the rate). */
  get dropped(): number {
    return this.#dropped;
  }

  /**
   * Reads a stream to its end, logging each line at `level` attributed by
   * `attribution` at the moment the line is complete. Lines past the rate
   * are counted in bulk, not one by one, and reading yields to the event
   * loop every few milliseconds: chunks already buffered would otherwise be
   * read one after another without it.
   */
  async pump(
    stream: ReadableStream<Uint8Array>,
    level: "info" | "error",
    attribution: Attribution,
  ): Promise<void> {
    const reader = stream.getReader();
    const decoder = new TextDecoder();
    let partial = "";
    let cut = false;
    let sliceStart = performance.now();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        const text = partial + decoder.decode(value, { stream: true });
        const lines = text.split("\n");
        partial = lines.pop()!;
        // The first line ends one that was cut: its start was logged.
        if (cut && lines.length > 0) {
          lines.shift();
          cut = false;
        }
        this.#lines(lines, level, attribution);
        if (partial.length > OUTPUT_LIMITS.maxLine) {
          if (!cut) {
            this.#lines(
              [
                `${
                  partial.slice(0, OUTPUT_LIMITS.maxLine)
                } … (line cut at ${OUTPUT_LIMITS.maxLine} characters)`,
              ],
              level,
              attribution,
            );
          }
          partial = "";
          cut = true;
        }
        const wait = this.#bytes.spend(value.byteLength);
        if (wait > 0 || performance.now() - sliceStart > SLICE_MS) {
          await new Promise((resolve) => setTimeout(resolve, wait));
          sliceStart = performance.now();
        }
      }
      if (partial && !cut) this.#lines([partial], level, attribution);
    } catch {
      // The process is gone.
    } finally {
      reader.releaseLock();
    }
  }

  /** Logs what the rate allows of `lines`, and counts the rest. */
  #lines(
    lines: string[],
    level: "info" | "error",
    attribution: Attribution,
  ): void {
    if (lines.length === 0) return;
    const allowed = this.#lineBudget.takeUpTo(lines.length);
    if (allowed > 0) {
      const runIds = attribution();
      const runId = runIds.length === 1 ? runIds[0]! : null;
      if (this.#dropped > 0) {
        consoleLog.warn(
          "{action} [{runId}]: {dropped} lines of output dropped (over {rate} lines/s)",
          {
            action: this.#action,
            runId,
            dropped: this.#dropped,
            rate: OUTPUT_LIMITS.linesPerSecond,
          },
        );
        this.#dropped = 0;
      }
      for (let i = 0; i < allowed; i++) {
        const properties: Record<string, unknown> = {
          action: this.#action,
          runId,
          message: escapeControl(lines[i]!),
        };
        if (runIds.length > 1) properties.runIds = runIds.slice(0, 20);
        consoleLog[level]("{action} [{runId}]: {message}", properties);
      }
    }
    this.#dropped += lines.length - allowed;
  }
}
