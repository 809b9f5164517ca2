/**
 * What a sandbox host is told (its options, the actions it runs) and what it
 * tells (its processes, for monitoring).
 *
 * @module
 */
import type { Permissions } from "../../src/types.ts";

/** Options of the sandbox: pool sizes and how processes are started. */
export interface SandboxOptions {
  /** Most Workers kept per sandboxed action, in its process (default 2). */
  maxWorkersPerAction?: number;
  /**
   * Most sandbox child processes at once (default 16); calls wait for a
   * free one, and idle ones are stopped to make room.
   */
  maxProcesses?: number;
  /**
   * Where no sandbox can run (Deno Deploy: no Worker, no subprocess), load
   * module actions in this process instead of refusing them. They then run
   * with the host's permissions, no time limit that stops them, no memory
   * cap: for code you trust as much as your own. Default false.
   */
  trustedInProcess?: boolean;
}

/** A running sandbox process, for monitoring. */
export interface SandboxProcessInfo {
  /** Its process id. */
  pid: number;
  /** The action it hosts. */
  action: string;
  /** Whether it hosts the action's dry runs. */
  dryRun: boolean;
  /** Workers alive in it. */
  workers: number;
  /** Calls waiting for an answer. */
  pending: number;
}

/** One sandboxed action as the host runs it. */
export interface SandboxedAction {
  name: string;
  module: URL;
  permissions: Permissions;
  timeoutMs: number;
  memoryMb: number;
  maxResultBytes: number;
}
