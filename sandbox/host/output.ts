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
  take(amount: number): boolean {
    this.#refill();
    if (this.#tokens < amount) return false;
    this.#tokens -= amount;
    return true;
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
  readonly #lines = new Bucket(
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
   * `attribution` at the moment the line is complete.
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
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        const text = partial + decoder.decode(value, { stream: true });
        const lines = text.split("\n");
        partial = lines.pop()!;
        for (const line of lines) {
          if (!cut) this.#line(line, level, attribution);
          cut = false;
        }
        if (partial.length > OUTPUT_LIMITS.maxLine) {
          if (!cut) {
            this.#line(
              `${
                partial.slice(0, OUTPUT_LIMITS.maxLine)
              } … (line cut at ${OUTPUT_LIMITS.maxLine} characters)`,
              level,
              attribution,
            );
          }
          partial = "";
          cut = true;
        }
        const wait = this.#bytes.spend(value.byteLength);
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      }
      if (partial && !cut) this.#line(partial, level, attribution);
    } catch {
      // The process is gone.
    } finally {
      reader.releaseLock();
    }
  }

  #line(line: string, level: "info" | "error", attribution: Attribution): void {
    if (!this.#lines.take(1)) {
      this.#dropped++;
      return;
    }
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
    const properties: Record<string, unknown> = {
      action: this.#action,
      runId,
      message: escapeControl(line),
    };
    if (runIds.length > 1) properties.runIds = runIds.slice(0, 20);
    consoleLog[level]("{action} [{runId}]: {message}", properties);
  }
}
