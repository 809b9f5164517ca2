/**
 * The shapes shared by actions, the registry and the sandbox.
 *
 * @module
 */

/** One row of a view: a plain object. */
export type Row = Record<string, unknown>;

/** What every action receives. */
export interface ActionInput<C = Record<string, unknown>> {
  /** The view's rows. */
  data: Row[];
  /** Shared by the actions of one job run; changes are seen by later actions. */
  context: Record<string, unknown>;
  /** Job-specific parameters, already validated. */
  config: C;
  /** The job's name, for logs and audits. */
  jobName?: string;
  /** One id per job run, shared by its actions. */
  runId: string;
  /** `true`: report what would happen, change nothing. */
  dryRun: boolean;
  /** Aborted on timeout or cancel. */
  signal: AbortSignal;
  /**
   * Stable across retries of the same rows in a job step (a failed or
   * interrupted run, a takeover): pass it on to a destination that
   * deduplicates. Set by the registry on every run.
   */
  idempotencyKey?: string;
}

/** What an action returns: a plain object. */
export type ActionResult = Record<string, unknown>;

/** An action: a function of its input. */
export type ActionFn<C = Record<string, unknown>> = (
  input: ActionInput<C>,
) => ActionResult | Promise<ActionResult>;

/** One Deno permission: denied, granted, or granted for a list of values. */
export type PermissionValue = boolean | string[];

/**
 * What a sandboxed action may do, mirroring Deno's permissions. Everything is
 * denied unless granted; `run` and `ffi` can never be granted.
 */
export interface Permissions {
  /** Hosts (`host` or `host:port`) the action may reach. */
  net?: PermissionValue;
  /** Paths the action may read. */
  read?: PermissionValue;
  /** Paths the action may write. */
  write?: PermissionValue;
  /** Environment variables the action may read. */
  env?: PermissionValue;
  /** System information the action may read (`hostname`, `osRelease`, …). */
  sys?: PermissionValue;
  /** Hosts the action may import modules from. */
  import?: PermissionValue;
  /** Never grantable: registering an action that asks for it fails. */
  run?: false;
  /** Never grantable: registering an action that asks for it fails. */
  ffi?: false;
}

/** The kind of an action. */
export type ActionKind = "builtin" | "function" | "sandboxed";

/** What the registry knows about an action. */
export interface ActionInfo {
  /** The registered name. */
  name: string;
  /** What the action does. */
  description: string;
  /** Where it runs: built-in, in-process function, or sandboxed module. */
  kind: ActionKind;
  /** The module URL of a sandboxed action. */
  module?: string;
  /** The permissions of a sandboxed action. */
  permissions?: Permissions;
  /** The time limit of a sandboxed action. */
  timeoutMs?: number;
  /** The heap limit of a sandboxed action. */
  memoryMb?: number;
  /** The config schema, as a JSON Schema object. */
  configSchema?: Record<string, unknown>;
}

/** One validation problem found by a {@linkcode ConfigSchema}. */
export interface ConfigIssue {
  /** Where the problem is, key by key. */
  readonly path: readonly PropertyKey[];
  /** What is wrong. */
  readonly message: string;
}

/**
 * A config schema: a zod schema (`z.object({...})`). Only zod's `safeParse`
 * is relied on for validation; `getInfo()` renders zod schemas as JSON Schema.
 */
export interface ConfigSchema<C = unknown> {
  /** Validates a value, applying defaults. */
  safeParse(
    value: unknown,
  ):
    | { success: true; data: C }
    | { success: false; error: { issues: readonly ConfigIssue[] } };
}

/** Options of `register`. */
export interface RegisterOptions<C = Record<string, unknown>> {
  /** What the action does. */
  description?: string;
  /** Replace an action of the same name (default `false`). */
  overwrite?: boolean;
  /** A zod schema; validated, with defaults applied, before every run. */
  config?: ConfigSchema<C>;
  /** Sandboxed actions: what the action may do (default: nothing). */
  permissions?: Permissions;
  /** Sandboxed actions: time limit of one run in ms (default 30000). */
  timeoutMs?: number;
  /** Sandboxed actions: heap limit in MiB (default 128). */
  memoryMb?: number;
  /**
   * Sandboxed actions: result size cap in bytes, as JSON and serialized
   * (default 8 MiB: the largest result that the host, a job's report
   * included, takes in well within 100 ms; 100,000 small rows fit).
   */
  maxResultBytes?: number;
}

/** Options of `run`. */
export interface RunOptions {
  /** Shared by the actions of one run; mutations are visible to the caller. */
  context?: Record<string, unknown>;
  /** The action's config, validated against its schema. */
  config?: unknown;
  /** The job's name, for logs and audits. */
  jobName?: string;
  /** The run's id (a UUID is generated when absent). */
  runId?: string;
  /** Report what would happen, change nothing (default `false`). */
  dryRun?: boolean;
  /** Aborting it stops the action with `ACTION_TIMEOUT`. */
  signal?: AbortSignal;
}
