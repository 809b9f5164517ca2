/**
 * The actions half of a registry: registering, describing and running
 * actions, built-in, in-process and sandboxed. {@linkcode Registry} adds the
 * views, jobs, runs and alerts on top of it.
 *
 * @module
 */
import type {
  ActionFn,
  ActionInfo,
  ActionResult,
  RegisterOptions,
  Row,
  RunOptions,
} from "../types.ts";
import { type Clock, realClock } from "../clock.ts";
import type { SandboxProcessInfo } from "../../sandbox/host.ts";
import { BUILTIN_ACTIONS } from "../../actions/mod.ts";
import { ActionTable } from "./action_table.ts";
import { Databases } from "../db/databases.ts";
import type { RunStore } from "../store/contract.ts";
import { checkOptions, type RegistryOptions } from "./_options.ts";

/** What a registry is made of, shared by its two halves. */
export interface RegistryInternals {
  /** The options it was created with (checked). */
  readonly options: RegistryOptions;
  /** The clock of everything it runs. */
  readonly clock: Clock;
  /** Database names and connections. */
  readonly databases: Databases;
  /** The actions, and the sandbox host's lifecycle. */
  readonly actions: ActionTable;
  /** The run store, opened on first use (set by `Registry`, which owns it). */
  store?: () => RunStore;
}

const PARTS = new WeakMap<ActionRegistry, RegistryInternals>();

/**
 * The parts of a registry, for its other half (never exported from `mod.ts`).
 *
 * @param registry The registry.
 * @returns Its options, clock, databases and action table.
 */
export function partsOf(registry: ActionRegistry): RegistryInternals {
  return PARTS.get(registry)!;
}

/**
 * The actions of a registry: what {@linkcode Registry} holds before any view
 * or job. Create a registry with `createRegistry()`.
 */
export class ActionRegistry {
  readonly #parts: RegistryInternals;

  /**
   * Creates the actions half of a registry, with the built-in actions.
   *
   * @param options Sandbox, store, database names, serve defaults, clock.
   * @throws {TriggerKitError} `INVALID_OPTIONS` for an unknown or ill-typed option.
   */
  constructor(options: RegistryOptions = {}) {
    checkOptions("createRegistry", options);
    const clock = options.clock ?? realClock;
    const databases = new Databases(options.databases);
    const actions = new ActionTable(options.sandbox);
    actions.install(BUILTIN_ACTIONS, { databases, clock });
    this.#parts = { options: { ...options }, clock, databases, actions };
    PARTS.set(this, this.#parts);
  }

  /**
   * Registers an action: a function runs in-process; a module path or URL
   * runs sandboxed in a permission-restricted Worker.
   *
   * @param name The action's name.
   * @param action A function, or the module whose default export is the action.
   * @param options Description, overwrite, config schema, sandbox limits.
   * @returns What the registry now knows about the action.
   * @throws {TriggerKitError} `ACTION_EXISTS`, `INVALID_ACTION`,
   * `INVALID_OPTIONS` (an unknown option, or a value of the wrong type or
   * range), `SANDBOX_UNAVAILABLE`. Every problem of the call is named in one
   * error (its code is the first problem's; `issues` lists them all).
   *
   * @example A function action with a config schema
   * ```ts
   * import { createRegistry } from "@triggerkit/triggerkit";
   * import { z } from "zod";
   * import assert from "node:assert/strict";
   *
   * const registry = createRegistry();
   * const info = registry.register(
   *   "over",
   *   ({ data, config }) => ({ over: data.filter((row) => Number(row.total) > config.limit).length }),
   *   { config: z.object({ limit: z.number() }), description: "Counts big rows" },
   * );
   * assert.equal(info.kind, "function");
   * await registry.close();
   * ```
   */
  register<C = Record<string, unknown>>(
    name: string,
    action: ActionFn<C> | string | URL,
    options: RegisterOptions<C> = {},
  ): ActionInfo {
    return this.#parts.actions.register(name, action, options);
  }

  /**
   * Describes a registered action.
   *
   * @param name The action's name.
   * @returns Its kind, description, limits and config schema (JSON Schema).
   * @throws {TriggerKitError} `ACTION_NOT_FOUND`, naming the closest names.
   *
   * @example A built-in's config schema
   * ```ts
   * import { createRegistry } from "@triggerkit/triggerkit";
   * import assert from "node:assert/strict";
   *
   * const registry = createRegistry();
   * const info = registry.getInfo("run_sql");
   * assert.equal(info.kind, "builtin");
   * assert.ok(info.configSchema);
   * await registry.close();
   * ```
   */
  getInfo(name: string): ActionInfo {
    return this.#parts.actions.info(name);
  }

  /**
   * Lists every registered action, sorted by name (code-unit order).
   *
   * @returns One {@linkcode ActionInfo} per action.
   *
   * @example The built-ins
   * ```ts
   * import { createRegistry } from "@triggerkit/triggerkit";
   * import assert from "node:assert/strict";
   *
   * const registry = createRegistry();
   * assert.deepEqual(
   *   registry.listAvailable().map((info) => info.name),
   *   ["http_request", "run_sql", "send_slack_message"],
   * );
   * await registry.close();
   * ```
   */
  listAvailable(): ActionInfo[] {
    return this.#parts.actions.names().map((name) =>
      this.#parts.actions.info(name)
    );
  }

  /**
   * Removes an action.
   *
   * @param name The action's name.
   * @returns `true` when it was registered.
   *
   * @example Removing twice
   * ```ts
   * import { createRegistry } from "@triggerkit/triggerkit";
   * import assert from "node:assert/strict";
   *
   * const registry = createRegistry();
   * registry.register("noop", () => ({}));
   * assert.equal(registry.unregister("noop"), true);
   * assert.equal(registry.unregister("noop"), false);
   * await registry.close();
   * ```
   */
  unregister(name: string): boolean {
    return this.#parts.actions.unregister(name);
  }

  /**
   * Runs an action on rows.
   *
   * @param name The action's name.
   * @param data The rows: an array of plain objects.
   * @param options Context, config, job name, run id, dry run, signal.
   * @returns The action's result, a plain object.
   * @throws {TriggerKitError} `ACTION_NOT_FOUND`, `INVALID_DATA`,
   * `INVALID_CONFIG`, `ACTION_FAILED`, `ACTION_TIMEOUT`, `INVALID_RESULT`,
   * and for sandboxed actions `PERMISSION_DENIED`, `OUT_OF_MEMORY`.
   *
   * @example `run_sql` on a configured database name
   * ```ts
   * import { createRegistry } from "@triggerkit/triggerkit";
   * import assert from "node:assert/strict";
   *
   * const registry = createRegistry({ databases: { main: "sqlite::memory:" } });
   * await registry.run("run_sql", [], {
   *   config: { database: "main", sql: "CREATE TABLE t (id INTEGER)", mode: "once" },
   * });
   * const result = await registry.run("run_sql", [{ id: 1 }, { id: 2 }], {
   *   config: { database: "main", sql: "INSERT INTO t (id) VALUES (:id)" },
   * });
   * assert.equal(result.rowsAffected, 2);
   * await registry.close();
   * ```
   */
  run(
    name: string,
    data: Row[],
    options?: RunOptions,
  ): Promise<ActionResult> {
    // Not async: one promise per call, the action table's (a refused option
    // is its rejection all the same).
    if (options !== undefined) {
      try {
        checkOptions("run", options);
      } catch (error) {
        return Promise.reject(error);
      }
    }
    return this.#parts.actions.run(name, data, options);
  }

  /**
   * The sandbox processes running now, for monitoring: pid, live Workers,
   * pending calls.
   *
   * @returns One entry per sandbox process.
   *
   * @example None before a sandboxed action runs
   * ```ts
   * import { createRegistry } from "@triggerkit/triggerkit";
   * import assert from "node:assert/strict";
   *
   * const registry = createRegistry();
   * assert.deepEqual(registry.sandboxProcesses(), []);
   * await registry.close();
   * ```
   */
  sandboxProcesses(): SandboxProcessInfo[] {
    return this.#parts.actions.sandboxProcesses();
  }
}
