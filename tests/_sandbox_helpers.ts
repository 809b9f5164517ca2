/**
 * Helpers of the sandbox tests: hostile fixtures, a host in its own process
 * (so that its CPU is measured alone), captured sandbox logs, event-loop lag.
 */
import assert from "node:assert/strict";
import { configure, type LogRecord, reset } from "@logtape/logtape";
import { scriptArgs, treeCpuTicks } from "./_helpers.ts";

/** Files outside every grant, that hostile fixtures try to read and import. */
export const SECRET_JSON = "/tmp/triggerkit-test-secret.json";
export const SECRET_JS = "/tmp/triggerkit-test-secret.js";
Deno.writeTextFileSync(SECRET_JSON, JSON.stringify({ secret: "json-secret" }));
Deno.writeTextFileSync(SECRET_JS, 'export const secret = "js-secret";');

/** A hostile fixture's URL. */
export function hostile(name: string): URL {
  return new URL(`./fixtures/hostile/${name}`, import.meta.url);
}

/** The URL of mod.ts, for scripts. */
export const MOD = new URL("../mod.ts", import.meta.url).href;

/** A host running `script` in its own Deno process; it talks in JSON lines. */
export interface HostProcess {
  pid: number;
  /** The next JSON line the script printed. */
  next(): Promise<Record<string, unknown>>;
  /** Waits for the script to end; its exit code. */
  done(): Promise<number>;
}

/** Starts a host script (JavaScript, `-A`) in its own process. */
export function startHost(
  script: string,
  options: { env?: Record<string, string> } = {},
): HostProcess {
  const child = new Deno.Command(Deno.execPath(), {
    args: scriptArgs(script, ["--allow-all"]),
    ...(options.env ? { env: options.env } : {}),
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  return {
    pid: child.pid,
    async next() {
      while (!buffer.includes("\n")) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`the host script ended: ${buffer}`);
        buffer += value;
      }
      const line = buffer.slice(0, buffer.indexOf("\n"));
      buffer = buffer.slice(buffer.indexOf("\n") + 1);
      try {
        return JSON.parse(line);
      } catch {
        return this.next();
      }
    },
    async done() {
      reader.releaseLock();
      await child.stdout.cancel().catch(() => {});
      return (await child.status).code;
    },
  };
}

/** The share of one core a process and its descendants use over `ms`. */
export async function cpuShare(pid: number, ms: number): Promise<number> {
  const before = treeCpuTicks(pid);
  const started = performance.now();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const ticks = treeCpuTicks(pid) - before;
  return (ticks * 10) / (performance.now() - started);
}

/** Captures what sandboxed actions print (the host's console log records). */
export async function captureSandboxLogs(): Promise<{
  records: LogRecord[];
  stop: () => Promise<void>;
}> {
  const records: LogRecord[] = [];
  await configure({
    sinks: { memory: (record) => records.push(record) },
    loggers: [
      {
        category: ["triggerkit", "sandbox"],
        sinks: ["memory"],
        lowestLevel: "debug",
      },
      { category: ["logtape", "meta"], sinks: [], lowestLevel: "warning" },
    ],
    reset: true,
  });
  return { records, stop: () => reset() };
}

/**
 * Source of `maxStall(work)` for host scripts: the longest time the event
 * loop was blocked while `work` ran — a late timer tick counts only as far
 * as the process used CPU meanwhile, so that a busy machine (the OS running
 * something else) is not mistaken for a blocked host.
 */
export const MAX_STALL = `
  import process from "node:process";
  async function maxStall(work) {
    let stall = 0;
    let last = performance.now();
    let lastCpu = process.cpuUsage();
    const timer = setInterval(() => {
      const now = performance.now();
      const cpu = process.cpuUsage();
      const cpuMs = (cpu.user - lastCpu.user + cpu.system - lastCpu.system) / 1000;
      stall = Math.max(stall, Math.min(now - last - 10, cpuMs));
      last = now;
      lastCpu = cpu;
    }, 10);
    try {
      const value = await work();
      // A block that ends as work() settles is seen only by the next tick.
      await new Promise((resolve) => setTimeout(resolve, 20));
      return { value, stallMs: stall };
    } finally {
      clearInterval(timer);
    }
  }`;

/** Whether a process is alive. */
export function alive(pid: number): boolean {
  try {
    return Deno.statSync(`/proc/${pid}`).isDirectory;
  } catch {
    return false;
  }
}

/**
 * Reads one line per expected value from a host script that prints
 * `maxStall()`'s answers, and asserts each value and that the host's event
 * loop was never blocked 100 ms; then that the script exits 0.
 */
export async function assertNoStall(
  host: HostProcess,
  expected: readonly unknown[],
): Promise<void> {
  for (const value of expected) {
    const line = await host.next();
    assert.deepEqual(line.value, value);
    assert.ok(
      (line.stallMs as number) < 100,
      `the event loop was blocked ${Number(line.stallMs).toFixed(0)} ms`,
    );
  }
  assert.equal(await host.done(), 0);
}
