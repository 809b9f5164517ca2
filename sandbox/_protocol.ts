/**
 * The sandbox's messages, each a discriminated union on `t`, carried as JSON
 * frames on lanes (see `_lane.ts`); calls and replies are binary frames
 * keyed by a call id.
 *
 * - Control lane, host ↔ sandbox process: loading and dropping Workers.
 * - Worker lane, host ↔ one Worker: calls, replies, logs, liveness.
 *
 * Every lane starts with a `hello` carrying a one-time token the host made
 * for it; a connection without a valid token is closed.
 *
 * @module
 */
import type { ErrorCode } from "../src/errors.ts";

/** An error as it crosses a process or Worker boundary. */
export interface WireError {
  code: ErrorCode;
  name: string;
  message: string;
  stack?: string;
  /** For `PERMISSION_DENIED`: the permission (`read`, `net`, …). */
  permission?: string;
  /** For `PERMISSION_DENIED`: what was asked for (a path, a host, …). */
  target?: string;
}

/** The permissions a Worker is created with (Deno's `WorkerOptions.deno.permissions`). */
export interface WorkerGrant {
  net: boolean | string[];
  read: boolean | string[];
  write: boolean | string[];
  env: boolean | string[];
  sys: boolean | string[];
  import: boolean | string[];
  run: false;
  ffi: false;
}

/** The first message on every lane. */
export interface Hello {
  t: "hello";
  token: string;
}

/** Host → sandbox process, on the control lane. */
export type ControlMessage =
  | {
    t: "load";
    wid: number;
    module: string;
    grant: WorkerGrant;
    /** A read grant added only to load the module, revoked once it is loaded. */
    revokeRead: string | null;
    /** The token the Worker's lane will say hello with. */
    token: string;
  }
  | { t: "drop"; wid: number };

/** Sandbox process → host, on the control lane. */
export type ProcessMessage = Hello | {
  t: "died";
  wid: number;
  error: WireError;
};

/** Host → Worker, on its lane (besides call frames). */
export type ToWorker = { t: "abort"; id: number } | { t: "ping"; id: number };

/** Worker → host, on its lane (besides reply frames). */
export type FromWorker =
  | Hello
  | { t: "loaded" }
  | { t: "loadFailed"; error: WireError }
  | { t: "fail"; id: number; error: WireError }
  | { t: "log"; runId: string | null; level: LogLevel; message: string }
  | { t: "pong"; id: number };

/** Console levels mapped to LogTape's. */
export type LogLevel = "debug" | "info" | "warning" | "error";

/** The first (and only) message a Worker gets on its global channel. */
export interface WorkerInit {
  /** The host's lane port on 127.0.0.1. */
  port: number;
  /** The token of this Worker's lane. */
  token: string;
  module: string;
  revokeRead: string | null;
  /** The net grant for the lane, revoked once connected (null: the action has it anyway). */
  revokeNet: string | null;
}

/** What the sandbox process reads from stdin before it starts any Worker. */
export interface ProcessInit {
  port: number;
  token: string;
}

/** The value a call carries to the Worker (v8-serialized). */
export interface CallPayload {
  data: Record<string, unknown>[];
  context: Record<string, unknown>;
  config: Record<string, unknown>;
  runId: string;
  jobName: string | null;
  dryRun: boolean;
  idempotencyKey: string;
}

/** The value a successful call carries back (v8-serialized). */
export interface CallReply {
  result: Record<string, unknown>;
  context: Record<string, unknown>;
}
