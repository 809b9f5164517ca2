/** Running the command line in tests: in this process, or as a real `deno` subprocess. */
import { main } from "../src/cli/main.ts";
import type { Registry } from "../mod.ts";

const CLI = new URL("../src/cli/main.ts", import.meta.url).pathname;
const DENO_JSON = new URL("../deno.json", import.meta.url).pathname;

/** What a run of the command line printed, and its exit code. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `main()` in this process, capturing what it prints. */
export async function runMain(
  args: string[],
  options: { registry?: Registry; stdin?: string } = {},
): Promise<CliResult> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, {
    io: { out: (line) => out.push(line), err: (line) => err.push(line) },
    ...(options.registry ? { registry: options.registry } : {}),
    ...(options.stdin !== undefined
      ? { stdin: () => Promise.resolve(options.stdin!) }
      : {}),
  });
  return { code, stdout: out.join("\n"), stderr: err.join("\n") };
}

/** Runs `deno` with `args` in `cwd`, with `env` only (and HOME, DENO_DIR, NO_COLOR). */
export async function runDeno(
  args: string[],
  options: { cwd: string; env?: Record<string, string>; stdin?: string },
): Promise<CliResult> {
  const denoDir = Deno.env.get("DENO_DIR");
  const child = new Deno.Command(Deno.execPath(), {
    args,
    cwd: options.cwd,
    env: {
      NO_COLOR: "1",
      HOME: Deno.env.get("HOME") ?? "/root",
      ...(denoDir ? { DENO_DIR: denoDir } : {}),
      ...options.env,
    },
    clearEnv: true,
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin));
    await writer.close();
  }
  const output = await child.output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/** Runs the command line as a `deno` subprocess in `cwd`, with `env` only. */
export function runCli(
  args: string[],
  options: { cwd: string; env?: Record<string, string>; stdin?: string },
): Promise<CliResult> {
  return runDeno(
    ["run", "--allow-all", `--config=${DENO_JSON}`, CLI, ...args],
    options,
  );
}

/**
 * Starts the command line as a `deno` subprocess in `cwd` (for commands
 * that run until stopped, `serve`), with the environment and `env`.
 */
export function spawnCli(
  args: string[],
  options: {
    cwd: string;
    env?: Record<string, string>;
    stdout?: "piped" | "null";
    stderr?: "piped" | "null";
  },
): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", `--config=${DENO_JSON}`, CLI, ...args],
    cwd: options.cwd,
    env: { NO_COLOR: "1", ...options.env },
    stdout: options.stdout ?? "piped",
    stderr: options.stderr ?? "piped",
  }).spawn();
}

/** A temporary folder holding `files` (paths relative to it), removed after `fn`. */
export async function withFiles(
  files: Record<string, string>,
  fn: (dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "triggerkit-config-" });
  try {
    for (const [path, text] of Object.entries(files)) {
      const full = `${dir}/${path}`;
      await Deno.mkdir(full.slice(0, full.lastIndexOf("/")), {
        recursive: true,
      });
      await Deno.writeTextFile(full, text);
    }
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
