/**
 * What a config file holds: {@linkcode TriggerKitConfig}, typed by
 * {@linkcode defineConfig}.
 *
 * @module
 */
import {
  JOB_SHAPE,
  type JobDefinition,
  VIEW_SHAPE,
  type ViewDefinition,
} from "../jobs/definitions.ts";
import type { ActionFn, ConfigSchema, Permissions } from "../types.ts";
import type { SandboxOptions } from "../../sandbox/host.ts";
import { each, shapeOf } from "../_strict.ts";

/** A sandboxed action in a config: its module and limits. */
export interface ConfigModuleAction {
  /** The module path, relative to the config file, or a URL. */
  module: string;
  /** What it may do (default: nothing); relative `read`/`write` paths are relative to the config file. */
  permissions?: Permissions;
  /** Time limit of one run in ms. */
  timeoutMs?: number;
  /** Heap limit in MiB. */
  memoryMb?: number;
  /** Result size cap in bytes, serialized (default 64 MiB). */
  maxResultBytes?: number;
  /** What it does. */
  description?: string;
  /** Replace a built-in action of the same name (default false: refused). */
  overwrite?: boolean;
  /** A zod schema for the action's config (in a `.ts` config). */
  config?: ConfigSchema;
}

/**
 * What a config holds. Actions given as module paths run sandboxed. Every
 * object is strict: an unknown key is an error naming the closest known key.
 * Relative paths (SQLite URLs, the store, modules, `read`/`write` grants) are
 * relative to the config file's folder.
 */
export interface TriggerKitConfig {
  /** Database URLs by name, usable in views and `run_sql` configs. */
  databases?: Record<string, string>;
  /** Where run history lives: a database URL or name (default `sqlite:.triggerkit/state.db` beside the config file). */
  store?: string;
  /** Sandbox pool sizes. */
  sandbox?: SandboxOptions;
  /**
   * `serve` defaults: `leaseMs` (how soon another instance takes over a dead
   * one's run), `graceMs`, `storeRetryMs` (how long a run's store call is
   * retried before the run fails with `STORE_ERROR`).
   */
  serve?: { leaseMs?: number; graceMs?: number; storeRetryMs?: number };
  /** Run history: `keepDays` (default 30), how long `serve` keeps run records. */
  history?: { keepDays?: number };
  /** Team actions: functions (in-process) or modules (sandboxed). */
  actions?: Record<string, ActionFn | string | ConfigModuleAction>;
  /** Views, as a list or by name. */
  views?: ViewDefinition[] | Record<string, Omit<ViewDefinition, "name">>;
  /** Jobs, as a list or by name. */
  jobs?: JobDefinition[] | Record<string, Omit<JobDefinition, "name">>;
}

/** The keys a sandboxed action's permissions may hold. */
export const PERMISSIONS_SHAPE = shapeOf<Permissions>({
  net: null,
  read: null,
  write: null,
  env: null,
  sys: null,
  import: null,
  run: null,
  ffi: null,
});

/** The keys of a module action entry of a config. */
export const ACTION_SHAPE = shapeOf<ConfigModuleAction>({
  module: null,
  permissions: PERMISSIONS_SHAPE,
  timeoutMs: null,
  memoryMb: null,
  maxResultBytes: null,
  description: null,
  overwrite: null,
  config: null,
});

/** The keys a config may hold, at every level. */
export const CONFIG_SHAPE = shapeOf<TriggerKitConfig>({
  databases: null,
  store: null,
  sandbox: shapeOf<SandboxOptions>({
    maxWorkersPerAction: null,
    maxProcesses: null,
    trustedInProcess: null,
  }),
  serve: shapeOf<NonNullable<TriggerKitConfig["serve"]>>({
    leaseMs: null,
    graceMs: null,
    storeRetryMs: null,
  }),
  history: shapeOf<NonNullable<TriggerKitConfig["history"]>>({
    keepDays: null,
  }),
  actions: each(ACTION_SHAPE),
  views: each(VIEW_SHAPE),
  jobs: each(JOB_SHAPE),
});

/**
 * Types a config module's default export. It returns the config unchanged.
 *
 * @param config Databases, store, actions, views and jobs.
 * @returns The same config.
 *
 * @example A config module (checked with `validateConfig`)
 * ```ts
 * import { defineConfig, validateConfig } from "@triggerkit/triggerkit";
 * import assert from "node:assert/strict";
 *
 * // triggerkit.config.ts: `export default defineConfig({ … })`
 * const config = defineConfig({
 *   databases: { main: "sqlite::memory:" },
 *   views: [{
 *     name: "big_orders",
 *     database: "main",
 *     sql: "SELECT 1 AS id, 250 AS total",
 *   }],
 *   jobs: [{
 *     name: "post_big_orders",
 *     view: "big_orders",
 *     schedule: "every 15 minutes",
 *     dedupe: { key: ["id"] },
 *     actions: [{
 *       action: "http_request",
 *       config: { url: "https://hooks.example.com/orders", body: "rows" },
 *     }],
 *   }],
 * });
 * const { problems } = await validateConfig(config);
 * assert.deepEqual(problems, []);
 * ```
 */
export function defineConfig(config: TriggerKitConfig): TriggerKitConfig {
  return config;
}
