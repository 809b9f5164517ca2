/**
 * The sandbox's wire protocol: what the host, a sandbox process and the
 * Workers in it say to each other. Each direction is a discriminated union
 * on `t`; every message about a call carries its call `id`. Messages travel
 * on lanes (`_lane.ts`): a `payload` crosses as raw bytes, the rest as JSON.
 *
 * - Control lane, host ↔ sandbox process: starting and dropping Workers.
 * - Worker lane, host ↔ one Worker: calls and their outcomes.
 *
 * Every lane starts with a {@linkcode Hello} carrying a one-time token the
 * host made for it; a connection without a valid token is closed. Nothing
 * else an action can write (console, stdout, stderr, its global channel)
 * is protocol: the host reads those as output only.
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
export type ToChild =
  | { t: "load"; wid: number; token: string }
  | { t: "drop"; wid: number };

/** Sandbox process → host, on the control lane. */
export type FromChild = Hello | { t: "died"; wid: number; error: WireError };

/** Host → Worker, on its lane. */
export type ToWorker =
  | { t: "call"; id: number; max: number; payload: Uint8Array }
  | { t: "abort"; id: number };

/** Worker → host, on its lane. */
export type FromWorker =
  | Hello
  | { t: "loaded" }
  | { t: "loadFailed"; error: WireError }
  | { t: "reply"; id: number; payload: Uint8Array }
  | { t: "fail"; id: number; error: WireError };

/** What a Worker needs to start: the same for every Worker of a process. */
export interface WorkerSetup {
  /** The lane socket (a Unix socket in the host's private folder). */
  socket: string;
  /** The action module's URL (in its private copy). */
  module: string;
  /** Whether this is a dry-run process (net, write, sys and import denied). */
  dryRun: boolean;
}

/** What a sandbox process reads from stdin before it starts any Worker. */
export interface ChildInit {
  /** The control lane's token. */
  token: string;
  /** The first Worker, started at once without waiting for a `load`. */
  first: { wid: number; token: string };
  /** The Worker's permissions, its lane's grant included. */
  grant: WorkerGrant;
  setup: WorkerSetup;
}

/** What a Worker is started with, as JSON in its name (read before any action code). */
export interface WorkerInit extends WorkerSetup {
  /** The token of this Worker's lane. */
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
  /** The idempotency key, when `keyText` is null. */
  idempotencyKey: string;
  /**
   * The idempotency key's text, hashed in the Worker when the action reads
   * the key (outside a job step, where the text is short).
   */
  keyText: string | null;
}

/** The value a successful call carries back (v8-serialized). */
export interface CallReply {
  result: Record<string, unknown>;
  context: Record<string, unknown>;
}
