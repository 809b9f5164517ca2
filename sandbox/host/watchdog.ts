/**
 * The host's end of the watchdog (`../watchdog/main.ts`): one small process
 * per host that samples every sandbox process's CPU time and memory from
 * `/proc` and hands the samples to whoever watches that process. Linux
 * only; elsewhere {@linkcode Watchdog.available} is false and nothing is
 * sampled.
 *
 * @module
 */
import { logger } from "../../src/logger.ts";
import type { Spawn, SpawnedChild } from "./spawn.ts";
import { watchdogEntry } from "./entry.ts";

const log = logger("sandbox");

/** How often the watchdog samples. */
export const SAMPLE_INTERVAL_MS = 40;
/** Linux reports CPU time in ticks of 1/100 s (USER_HZ). */
const TICK_MS = 10;

/** One sample of a process: CPU time used so far and memory now. */
export interface Usage {
  /** When it was taken, on the host's `performance.now()` clock. */
  at: number;
  /** CPU time of all its threads since it started, in ms. */
  cpuMs: number;
  /** Anonymous resident memory (heaps, buffers, Wasm, stacks), in MiB. */
  anonMb: number;
}

/** Told each sample; `null` once the process is gone. */
export type UsageListener = (usage: Usage | null) => void;

/** Samples sandbox processes through a watchdog process. */
export class Watchdog {
  readonly #spawn: Spawn;
  readonly #listeners = new Map<number, UsageListener>();
  #child: SpawnedChild | undefined;
  #closed = false;

  /**
   * @param spawn Starts the watchdog process.
   */
  constructor(spawn: Spawn) {
    this.#spawn = spawn;
  }

  /** Whether this platform can be watched (`/proc`). */
  get available(): boolean {
    return Deno.build.os === "linux";
  }

  /**
   * Starts sampling a process.
   *
   * @returns A function that stops it.
   */
  watch(pid: number, listener: UsageListener): () => void {
    if (!this.available || this.#closed) return () => {};
    this.#listeners.set(pid, listener);
    this.#send(`+${pid}\n`);
    return () => {
      if (this.#listeners.get(pid) !== listener) return;
      this.#listeners.delete(pid);
      this.#send(`-${pid}\n`);
    };
  }

  /** Stops the watchdog process. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#listeners.clear();
    const child = this.#child;
    this.#child = undefined;
    child?.kill();
    await child?.status;
  }

  #send(line: string): void {
    const child = this.#child ?? this.#start();
    child?.write(line).catch(() => {});
  }

  #start(): SpawnedChild | undefined {
    let child: SpawnedChild;
    try {
      child = this.#spawn({
        args: [
          "run",
          "--allow-all",
          "--quiet",
          "--no-config",
          watchdogEntry(
            SAMPLE_INTERVAL_MS,
          ),
        ],
        env: { NO_COLOR: "1" },
        stdin: "",
        keepStdin: true,
      });
    } catch (error) {
      log.error("Cannot start the sandbox watchdog: {error}", { error });
      return undefined;
    }
    this.#child = child;
    child.stderr.cancel().catch(() => {});
    this.#read(child);
    child.status.then((exit) => {
      if (this.#child !== child) return;
      this.#child = undefined;
      if (this.#closed) return;
      log.error("The sandbox watchdog exited ({code}/{signal}); restarting", {
        code: exit.code,
        signal: exit.signal,
      });
      if (this.#listeners.size > 0) {
        this.#start()?.write(
          [...this.#listeners.keys()].map((pid) => `+${pid}\n`).join(""),
        ).catch(() => {});
      }
    });
    return child;
  }

  async #read(child: SpawnedChild): Promise<void> {
    let pending = "";
    try {
      for await (
        const chunk of child.stdout.pipeThrough(new TextDecoderStream())
      ) {
        pending += chunk;
        const lines = pending.split("\n");
        pending = lines.pop() ?? "";
        for (const line of lines) this.#deliver(line);
      }
    } catch {
      // The watchdog is gone; its exit is handled above.
    }
  }

  #deliver(line: string): void {
    const [time, ...records] = line.split(";");
    // When the sample was taken, on this process's clock (not when it arrived).
    const at = Number(time) - performance.timeOrigin;
    for (const record of records) {
      const [pid, ticks, anonKb] = record.split(" ");
      const listener = this.#listeners.get(Number(pid));
      if (!listener) continue;
      if (ticks === "-") {
        this.#listeners.delete(Number(pid));
        listener(null);
      } else {
        listener({
          at,
          cpuMs: Number(ticks) * TICK_MS,
          anonMb: Number(anonKb) / 1024,
        });
      }
    }
  }
}
