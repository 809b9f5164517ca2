import assert from "node:assert/strict";
import { createRegistry, type Registry, TriggerKitError } from "../mod.ts";

/** Asserts that `error` is a TriggerKitError with `code` (and a message matching). */
export function assertCode(
  error: unknown,
  code: string,
  message?: RegExp,
): TriggerKitError {
  assert.ok(
    error instanceof TriggerKitError,
    `expected a TriggerKitError, got ${error}`,
  );
  assert.equal(error.code, code, error.message);
  if (message) assert.match(error.message, message);
  return error;
}

/** Awaits `promise` and asserts it rejects with a TriggerKitError of `code`. */
export async function rejectsWithCode(
  promise: Promise<unknown>,
  code: string,
  message?: RegExp,
): Promise<TriggerKitError> {
  try {
    await promise;
  } catch (error) {
    return assertCode(error, code, message);
  }
  assert.fail(`expected a ${code} rejection`);
}

/** Calls `fn` and asserts it throws a TriggerKitError of `code`. */
export function throwsWithCode(
  fn: () => unknown,
  code: string,
  message?: RegExp,
): TriggerKitError {
  try {
    fn();
  } catch (error) {
    return assertCode(error, code, message);
  }
  assert.fail(`expected a ${code} error`);
}

/** A fixture action module's URL. */
export function fixture(name: string): URL {
  return new URL(`./fixtures/actions/${name}`, import.meta.url);
}

/** Starts a local HTTP server on 127.0.0.1 (port 0) and returns its port and a stop function. */
export function serveLocal(
  handler: (request: Request) => Response | Promise<Response>,
): { port: number; url: string; close: () => Promise<void> } {
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: () => {},
  }, handler);
  const port = server.addr.port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    close: () => server.shutdown(),
  };
}

interface ProcStat {
  pid: number;
  ppid: number;
  comm: string;
  ticks: number;
}

/**
 * Every process's /proc/<pid>/stat. Deno asks for --allow-all to read /proc
 * itself, so a shell reads it for us; its own processes are left out.
 */
function procStats(): ProcStat[] {
  const output = new Deno.Command("sh", {
    args: ["-c", "cat /proc/[0-9]*/stat 2>/dev/null"],
    stdout: "piped",
    stderr: "null",
  }).outputSync();
  const stats: ProcStat[] = [];
  for (const line of new TextDecoder().decode(output.stdout).split("\n")) {
    const close = line.lastIndexOf(")");
    if (close < 0) continue;
    const comm = line.slice(line.indexOf("(") + 1, close);
    const fields = line.slice(close + 2).split(" ");
    stats.push({
      pid: Number(line.slice(0, line.indexOf(" "))),
      ppid: Number(fields[1]),
      comm,
      ticks: Number(fields[11]) + Number(fields[12]),
    });
  }
  return stats.filter((stat) => stat.comm !== "sh" && stat.comm !== "cat");
}

function tree(root: number, stats: ProcStat[]): ProcStat[] {
  const found: ProcStat[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const parent = queue.pop()!;
    for (const stat of stats) {
      if (stat.ppid === parent) {
        found.push(stat);
        queue.push(stat.pid);
      }
    }
  }
  return found;
}

/** The ids of this process's descendants. */
export function descendants(root: number = Deno.pid): number[] {
  return tree(root, procStats()).map((stat) => stat.pid);
}

/** CPU time (utime + stime, in clock ticks) of this process and all its descendants. */
export function treeCpuTicks(root: number = Deno.pid): number {
  const stats = procStats();
  const self = stats.filter((stat) => stat.pid === root);
  return [...self, ...tree(root, stats)].reduce(
    (total, stat) => total + stat.ticks,
    0,
  );
}

/** How many threads a process has. */
export function threadCount(pid: number): number {
  const output = new Deno.Command("sh", {
    args: ["-c", `ls /proc/${pid}/task 2>/dev/null | wc -l`],
    stdout: "piped",
  }).outputSync();
  return Number(new TextDecoder().decode(output.stdout).trim());
}

/**
 * The test PostgreSQL URL from TRIGGERKIT_TEST_PG. Without it the tests that
 * need PostgreSQL are skipped with a visible message, except under CI=true,
 * where they must run.
 */
export const TEST_PG: string | undefined = Deno.env.get("TRIGGERKIT_TEST_PG");
const IN_CI = Deno.env.get("CI") === "true";
if (!TEST_PG && !IN_CI) {
  console.warn("TRIGGERKIT_TEST_PG is not set: PostgreSQL tests are skipped");
}

/** Defines a test that needs PostgreSQL; it receives the URL. */
export function pgTest(name: string, fn: (url: string) => Promise<void>): void {
  Deno.test({
    name: `${name} [postgres]`,
    ignore: !TEST_PG && !IN_CI,
    fn: () => {
      if (!TEST_PG) {
        throw new Error("CI=true but TRIGGERKIT_TEST_PG is not set");
      }
      return fn(TEST_PG);
    },
  });
}

/** A table name no other test uses. */
export function uniqueTable(prefix: string): string {
  return `${prefix}_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
}

/** A test body that gets a fresh registry, closed afterwards. */
export function withRegistry(
  fn: (registry: Registry) => Promise<void> | void,
): () => Promise<void> {
  return async () => {
    const registry = createRegistry();
    try {
      await fn(registry);
    } finally {
      await registry.close();
    }
  };
}

const REPO_CONFIG = new URL("../deno.json", import.meta.url).pathname;

/** The `deno` arguments that run JavaScript `script` with `flags` and a config (the repo's by default). */
export function scriptArgs(
  script: string,
  flags: string[],
  config: string = REPO_CONFIG,
): string[] {
  return [
    "run",
    ...flags,
    `--config=${config}`,
    `data:application/javascript,${encodeURIComponent(script)}`,
  ];
}

/** Runs JavaScript `script` in a Deno subprocess: its exit code and output. */
export async function runScript(
  script: string,
  flags: string[],
  config?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: scriptArgs(script, flags, config),
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/** An `io` for the command line's `main()` that keeps what it writes. */
export function capture(): {
  out: string[];
  err: string[];
  io: { out: (line: string) => void; err: (line: string) => void };
} {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) },
  };
}

/** A registry served with its status server, as {@linkcode serveStatus} starts it. */
export interface ServedStatus {
  /** The server's base URL (`http://127.0.0.1:PORT/`). */
  url: string;
  /** Its port. */
  port: number;
  /** Aborts `serve()` and waits for it to return. */
  stop(): Promise<void>;
}

/**
 * Starts `registry.serve()` with a status server on a free loopback port
 * (or `options.http`) and waits until it listens.
 */
export async function serveStatus(
  registry: Registry,
  options: Omit<Parameters<Registry["serve"]>[0] & object, "signal"> = {},
): Promise<ServedStatus> {
  const abort = new AbortController();
  let address: { url: string; port: number } | undefined;
  let failed: unknown;
  const serving = registry.serve({
    http: "127.0.0.1:0",
    handleSignals: false,
    ...options,
    signal: abort.signal,
    onListen: (listening) => address = listening,
  }).catch((error) => failed = error);
  while (!address) {
    if (failed) throw failed;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const { url, port } = address;
  return {
    url,
    port,
    async stop() {
      abort.abort();
      await serving;
      if (failed) throw failed;
    },
  };
}
