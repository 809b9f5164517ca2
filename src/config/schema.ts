/**
 * What a config file holds: {@linkcode TriggerKitConfig}, typed by
 * {@linkcode defineConfig}.
 *
 * @module
 */
import type { JobDefinition, ViewDefinition } from "../jobs/definitions.ts";
import type { ActionFn, Permissions } from "../types.ts";
import type { SandboxOptions } from "../../sandbox/host.ts";

/** A sandboxed action in a config: its module and limits. */
export interface ConfigModuleAction {
  /** The module path, relative to the config file, or a URL. */
  module: string;
  /** What it may do (default: nothing). */
  permissions?: Permissions;
  /** Time limit of one run in ms. */
  timeoutMs?: number;
  /** Heap limit in MiB. */
  memoryMb?: number;
  /** What it does. */
  description?: string;
}

/** What a config holds. Actions given as module paths run sandboxed. */
export interface TriggerKitConfig {
  /** Database URLs by name, usable in views and `run_sql` configs. */
  databases?: Record<string, string>;
  /** Where run history lives: a database URL or name (default `sqlite:.triggerkit/state.db`). */
  store?: string;
  /** Sandbox pool sizes. */
  sandbox?: SandboxOptions;
  /** `serve` defaults: `leaseMs` (how soon another instance takes over a dead one's run), `graceMs`. */
  serve?: { leaseMs?: number; graceMs?: number };
  /** Team actions: functions (in-process) or modules (sandboxed). */
  actions?: Record<string, ActionFn | string | ConfigModuleAction>;
  /** Views, as a list or by name. */
  views?: ViewDefinition[] | Record<string, Omit<ViewDefinition, "name">>;
  /** Jobs, as a list or by name. */
  jobs?: JobDefinition[] | Record<string, Omit<JobDefinition, "name">>;
}

/**
 * Types a config module's default export. It returns the config unchanged.
 *
 * @param config Databases, store, actions, views and jobs.
 * @returns The same config.
 *
 * @example A config module
 * ```ts
 * import { defineConfig } from "@triggerkit/triggerkit";
 *
 * export default defineConfig({
 *   databases: { main: "sqlite:./app.db" },
 *   views: [{ name: "big_orders", database: "main", sql: "SELECT id, total FROM orders WHERE total > 100" }],
 *   jobs: [{ name: "alert", view: "big_orders", actions: ["send_slack_message"], schedule: "every 15 minutes" }],
 * });
 * ```
 */
export function defineConfig(config: TriggerKitConfig): TriggerKitConfig {
  return config;
}
