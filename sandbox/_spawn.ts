/**
 * Starting a sandbox process: the only place that spawns one, behind a small
 * interface so that tests can inject a spawner.
 *
 * @module
 */

/** How a process ended. */
export interface ChildExit {
  code: number | null;
  signal: string | null;
}

/** A running sandbox process as the host sees it. */
export interface SpawnedChild {
  readonly pid: number;
  /** Settles when the process has ended. */
  readonly status: Promise<ChildExit>;
  onStdout(listener: (text: string) => void): void;
  onStderr(listener: (text: string) => void): void;
  /** Ends the process at once (SIGKILL). */
  kill(): void;
}

/**
 * Starts `Deno.execPath()` with these arguments, only this environment, and
 * `stdin` written to its standard input, which is then closed.
 */
export type Spawn = (
  args: string[],
  env: Record<string, string>,
  stdin: string,
) => SpawnedChild;

/** Spawns a Deno process with `Deno.Command`. */
export function spawnDeno(
  args: string[],
  env: Record<string, string>,
  stdin: string,
): SpawnedChild {
  const child = new Deno.Command(Deno.execPath(), {
    args,
    env,
    clearEnv: true,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  writer.write(new TextEncoder().encode(stdin)).then(() => writer.close())
    .catch(() => {});
  const listeners = {
    stdout: [] as Array<(text: string) => void>,
    stderr: [] as Array<(text: string) => void>,
  };
  const pump = async (
    stream: ReadableStream<Uint8Array>,
    targets: Array<(text: string) => void>,
  ) => {
    try {
      for await (const text of stream.pipeThrough(new TextDecoderStream())) {
        for (const target of targets) target(text);
      }
    } catch {
      // The process is gone.
    }
  };
  const pumped = Promise.all([
    pump(child.stdout, listeners.stdout),
    pump(child.stderr, listeners.stderr),
  ]);
  const status = child.status.then(async (status) => {
    await pumped;
    return {
      code: status.signal ? null : status.code,
      signal: status.signal ?? null,
    };
  });
  return {
    pid: child.pid,
    status,
    onStdout: (listener) => listeners.stdout.push(listener),
    onStderr: (listener) => listeners.stderr.push(listener),
    kill: () => {
      try {
        child.kill("SIGKILL");
      } catch {
        // Already ended.
      }
    },
  };
}
