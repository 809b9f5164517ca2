/**
 * Starting a sandbox child process: the only place that spawns one, behind a
 * small interface so that tests can inject a spawner.
 *
 * @module
 */
import { spawn } from "node:child_process";
import type { ChildMessage, HostMessage } from "./_protocol.ts";

/** How a child process ended. */
export interface ChildExit {
  code: number | null;
  signal: string | null;
}

/** A running child process as the host sees it. */
export interface SpawnedChild {
  readonly pid: number | undefined;
  send(message: HostMessage): void;
  onMessage(listener: (message: ChildMessage) => void): void;
  onStdout(listener: (text: string) => void): void;
  onStderr(listener: (text: string) => void): void;
  onExit(listener: (exit: ChildExit) => void): void;
  /** Ends the process at once (SIGKILL). */
  kill(): void;
}

/** Starts a child process from Deno's executable with these arguments and environment. */
export type Spawn = (
  args: string[],
  env: Record<string, string>,
) => SpawnedChild;

/** Spawns `Deno.execPath()` with an IPC channel (Node's `child_process`). */
export function spawnDeno(
  args: string[],
  env: Record<string, string>,
): SpawnedChild {
  const child = spawn(Deno.execPath(), args, {
    stdio: ["ignore", "pipe", "pipe", "ipc"],
    env,
    serialization: "json",
  });
  child.stdout!.setEncoding("utf8");
  child.stderr!.setEncoding("utf8");
  return {
    pid: child.pid,
    send: (message) => {
      if (child.connected) child.send(message);
    },
    onMessage: (listener) =>
      child.on("message", listener as (message: unknown) => void),
    onStdout: (listener) => child.stdout!.on("data", listener),
    onStderr: (listener) => child.stderr!.on("data", listener),
    onExit: (listener) =>
      child.once(
        "exit",
        (code, signal) => listener({ code, signal: signal ?? null }),
      ),
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGKILL");
      }
    },
  };
}
