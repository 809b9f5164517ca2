/**
 * The sandbox's two wire protocols, each a discriminated union on `t`:
 * host ↔ child process (JSON over the IPC channel, payloads as base64 of
 * v8-serialized values) and child ↔ Worker (over a private MessagePort,
 * payloads as transferred ArrayBuffers). Every call has an `id`.
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

/** What the host asks a child process to do. */
export type HostMessage =
  | {
    t: "load";
    wid: number;
    module: string;
    grant: WorkerGrant;
    /** A read grant added only to load the module, revoked once it is loaded. */
    revokeRead: string | null;
  }
  | { t: "call"; wid: number; id: number; max: number; p: string }
  | { t: "abort"; wid: number; id: number }
  | { t: "ping"; wid: number; id: number }
  | { t: "drop"; wid: number };

/** What a child process tells the host. */
export type ChildMessage =
  | { t: "ready" }
  | { t: "loaded"; wid: number }
  | { t: "loadFailed"; wid: number; error: WireError }
  | { t: "done"; id: number; p: string }
  | { t: "fail"; id: number; error: WireError }
  | {
    t: "log";
    wid: number;
    runId: string | null;
    level: LogLevel;
    message: string;
  }
  | { t: "pong"; id: number }
  | { t: "died"; wid: number; error: WireError };

/** Console levels mapped to LogTape's. */
export type LogLevel = "debug" | "info" | "warning" | "error";

/** What a child process sends its Worker over the private port. */
export type ToWorker =
  | { t: "call"; id: number; max: number; p: ArrayBuffer }
  | { t: "abort"; id: number }
  | { t: "ping"; id: number };

/** What a Worker sends its child process over the private port. */
export type FromWorker =
  | { t: "loaded" }
  | { t: "loadFailed"; error: WireError }
  | { t: "done"; id: number; p: ArrayBuffer }
  | { t: "fail"; id: number; error: WireError }
  | { t: "log"; runId: string | null; level: LogLevel; message: string }
  | { t: "pong"; id: number };

/** The first message a Worker receives, on its global channel. */
export interface WorkerInit {
  port: MessagePort;
  module: string;
  revokeRead: string | null;
}

/** The value a call carries to the Worker (v8-serialized). */
export interface CallPayload {
  data: Record<string, unknown>[];
  context: Record<string, unknown>;
  config: Record<string, unknown>;
  runId: string;
  jobName: string | null;
  dryRun: boolean;
}

/** The value a successful call carries back (v8-serialized). */
export interface CallReply {
  result: Record<string, unknown>;
  context: Record<string, unknown>;
}
