/**
 * Starting a Deno process: the only place that spawns one, behind a small
 * interface so that tests can inject a spawner.
 *
 * @module
 */

/** How a process ended. */
export interface ChildExit {
  code: number | null;
  signal: string | null;
}

/** A running process as the host sees it. */
export interface SpawnedChild {
  readonly pid: number;
  /** Settles when the process has ended. */
  readonly status: Promise<ChildExit>;
  /** Its standard output and error, read by the host at its own pace. */
  readonly stdout: ReadableStream<Uint8Array>;
  readonly stderr: ReadableStream<Uint8Array>;
  /** Writes to its standard input (when it was kept open). */
  write(text: string): Promise<void>;
  /** Ends the process at once (SIGKILL). */
  kill(): void;
  /**
   * Stops or continues every thread of the process (not on Windows). A
   * spawner without it runs processes that are never frozen.
   */
  signal?(name: "SIGSTOP" | "SIGCONT"): void;
}

/** How to start a process. */
export interface SpawnOptions {
  /** Arguments to `Deno.execPath()`. */
  args: string[];
  /** The whole environment (nothing else is inherited). */
  env: Record<string, string>;
  /** Written to standard input, which is then closed unless `keepStdin`. */
  stdin: string;
  keepStdin?: boolean;
  /** The working directory. */
  cwd?: string;
}

/** Starts `Deno.execPath()`. */
export type Spawn = (options: SpawnOptions) => SpawnedChild;

/** Spawns a Deno process with `Deno.Command`. */
export function spawnDeno(options: SpawnOptions): SpawnedChild {
  const command = new Deno.Command(Deno.execPath(), {
    args: options.args,
    env: options.env,
    clearEnv: true,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    ...(options.cwd ? { cwd: options.cwd } : {}),
  });
  const child = command.spawn();
  const writer = child.stdin.getWriter();
  const encoder = new TextEncoder();
  let writing = writer.write(encoder.encode(options.stdin));
  if (!options.keepStdin) writing = writing.then(() => writer.close());
  writing.catch(() => {});
  return {
    pid: child.pid,
    status: child.status.then((status) => ({
      code: status.signal ? null : status.code,
      signal: status.signal ?? null,
    })),
    stdout: child.stdout,
    stderr: child.stderr,
    write: (text) => {
      writing = writing.then(() => writer.write(encoder.encode(text)));
      return writing;
    },
    kill: () => {
      try {
        child.kill("SIGKILL");
      } catch {
        // Already ended.
      }
    },
    signal: (name) => {
      try {
        child.kill(name);
      } catch {
        // Already ended.
      }
    },
  };
}
