/**
 * The registry: one isolated TriggerKit — its actions, databases, run store,
 * views and jobs, and the clock they all read. Each concern lives in its own
 * module; the registry wires them together and is the API over them.
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
import type { SandboxOptions, SandboxProcessInfo } from "../../sandbox/host.ts";
import { BUILTIN_ACTIONS } from "../../actions/mod.ts";
import { ActionTable } from "./action_table.ts";
import { Databases } from "../db/databases.ts";
import type {
  Job,
  JobDefinition,
  ViewDefinition,
} from "../jobs/definitions.ts";
import { Jobs, type RunJobOptions } from "../jobs/engine.ts";
import { runScheduler, type ServeOptions } from "../jobs/serve.ts";
import type {
  HistoryOptions,
  RunRecord,
  RunReport,
  RunStore,
} from "../store/contract.ts";
import { DEFAULT_STORE, openStore } from "../store/open.ts";

/** Options of {@linkcode createRegistry}. */
export interface RegistryOptions {
  /** How sandboxed actions are hosted (pool sizes). */
  sandbox?: SandboxOptions;
  /** Where run history and dedupe state live: a URL (`sqlite:…`, `postgres://…`, `kv:…`), a configured database name, or a store (default `sqlite:.triggerkit/state.db`). */
  store?: string | RunStore;
  /** Database names usable wherever a database URL is: views, `run_sql`, the store. `{ main: "postgres://…" }`. */
  databases?: Record<string, string>;
  /** Defaults of `serve()`: lease and grace period (the lease applies to `runJob` too). */
  serve?: Pick<ServeOptions, "leaseMs" | "graceMs">;
  /** Run history: records older than `keepDays` (default 30) are pruned by `serve()`. */
  history?: { keepDays?: number };
  /** The clock of runs, stores, leases, heartbeats, retries and schedules (tests pass a fake one). */
  clock?: Clock;
}

/**
 * An isolated set of actions, views and jobs. Create one with
 * {@linkcode createRegistry}; the module-level functions of `mod.ts` use a
 * default one.
 */
export class Registry {
  readonly #clock: Clock;
  readonly #actions: ActionTable;
  readonly #databases: Databases;
  readonly #storeOption: string | RunStore;
  #store: RunStore | undefined;
  readonly #serveDefaults: Pick<
    ServeOptions,
    "leaseMs" | "graceMs" | "history"
  >;
  readonly #jobs: Jobs;

  /**
   * Creates a registry that holds the built-in actions.
   *
   * @param options Sandbox, store, database names, serve defaults, clock.
   */
  constructor(options: RegistryOptions = {}) {
    this.#clock = options.clock ?? realClock;
    this.#databases = new Databases(options.databases);
    this.#storeOption = options.store ?? DEFAULT_STORE;
    this.#serveDefaults = {
      ...options.serve,
      ...(options.history ? { history: { ...options.history } } : {}),
    };
    this.#actions = new ActionTable(options.sandbox);
    this.#actions.install(BUILTIN_ACTIONS, {
      databases: this.#databases,
      clock: this.#clock,
    });
    const actions = this.#actions;
    this.#jobs = new Jobs({
      hasAction: (name) => actions.has(name),
      actionNames: () => actions.names(),
      validateConfig: (name, config) => void actions.parseConfig(name, config),
      run: (name, data, runOptions) => actions.run(name, data, runOptions),
      databases: this.#databases,
      store: () => this.#getStore(),
      clock: this.#clock,
      ...(options.serve?.leaseMs ? { leaseMs: options.serve.leaseMs } : {}),
    });
  }

  /**
   * Registers an action: a function runs in-process; a module path or URL
   * runs sandboxed in a permission-restricted Worker.
   *
   * @param name The action's name.
   * @param action A function, or the module whose default export is the action.
   * @param options Description, overwrite, config schema, sandbox limits.
   * @returns What the registry now knows about the action.
   * @throws {TriggerKitError} `ACTION_EXISTS`, `INVALID_ACTION`, `SANDBOX_UNAVAILABLE`.
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
    return this.#actions.register(name, action, options);
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
    return this.#actions.info(name);
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
    return this.#actions.names().map((name) => this.#actions.info(name));
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
    return this.#actions.unregister(name);
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
    options: RunOptions = {},
  ): Promise<ActionResult> {
    return this.#actions.run(name, data, options);
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
    return this.#actions.sandboxProcesses();
  }

  /**
   * Defines (or replaces) a view: a SQL query on a database.
   *
   * @param definition `{ name, database, sql, description? }`; `database` is a URL or a configured name.
   * @returns The view.
   * @throws {TriggerKitError} `INVALID_VIEW` naming what is wrong.
   *
   * @example A view on a configured database
   * ```ts
   * import { createRegistry } from "@triggerkit/triggerkit";
   * import assert from "node:assert/strict";
   *
   * const registry = createRegistry({ databases: { main: "sqlite::memory:" } });
   * const view = registry.defineView({ name: "one", database: "main", sql: "SELECT 1 AS id" });
   * assert.equal(view.database, "main");
   * await registry.close();
   * ```
   */
  defineView(definition: ViewDefinition): ViewDefinition {
    return this.#jobs.defineView(definition);
  }

  /**
   * Defines (or replaces) a job: a view and the actions to run on its rows.
   *
   * @param definition `{ name, view, actions, schedule?, timezone?, enabled?, when?, dedupe? }`.
   * @returns The validated job: its steps normalized, its schedule parsed.
   * @throws {TriggerKitError} `INVALID_JOB`, `INVALID_SCHEDULE`, `INVALID_CONFIG`,
   * `VIEW_NOT_FOUND`, `ACTION_NOT_FOUND`.
   *
   * @example A scheduled job
   * ```ts
   * import { createRegistry } from "@triggerkit/triggerkit";
   * import assert from "node:assert/strict";
   *
   * const registry = createRegistry();
   * registry.defineView({ name: "one", database: "sqlite::memory:", sql: "SELECT 1 AS id" });
   * registry.register("notify", ({ data }) => ({ seen: data.length }));
   * const job = registry.defineJob({ name: "j", view: "one", actions: ["notify"], schedule: "@hourly" });
   * assert.deepEqual(job.steps, [{ action: "notify" }]);
   * await registry.close();
   * ```
   */
  defineJob(definition: JobDefinition): Job {
    return this.#jobs.defineJob(definition);
  }

  /**
   * Runs a job once and records the run. A failed run is reported, not thrown.
   *
   * @param name The job's name.
   * @param options Dry run, signal, progress callback.
   * @returns The run report.
   * @throws {TriggerKitError} `JOB_NOT_FOUND`; `STORE_ERROR` when the run store cannot be reached.
   *
   * @example One run, recorded in an in-memory store
   * ```ts
   * import { createRegistry } from "@triggerkit/triggerkit";
   * import assert from "node:assert/strict";
   *
   * const registry = createRegistry({ store: "sqlite::memory:" });
   * registry.defineView({ name: "one", database: "sqlite::memory:", sql: "SELECT 1 AS id" });
   * registry.register("notify", ({ data }) => ({ seen: data.length }));
   * registry.defineJob({ name: "j", view: "one", actions: ["notify"] });
   * const report = await registry.runJob("j");
   * assert.equal(report.status, "succeeded");
   * assert.deepEqual(report.actions[0]!.result, { seen: 1 });
   * await registry.close();
   * ```
   */
  runJob(name: string, options: RunJobOptions = {}): Promise<RunReport> {
    return this.#jobs.runJob(name, options);
  }

  /**
   * Lists the jobs, sorted by name.
   *
   * @returns The validated jobs.
   *
   * @example No jobs yet
   * ```ts
   * import { createRegistry } from "@triggerkit/triggerkit";
   * import assert from "node:assert/strict";
   *
   * const registry = createRegistry();
   * assert.deepEqual(registry.listJobs(), []);
   * await registry.close();
   * ```
   */
  listJobs(): Job[] {
    return this.#jobs.listJobs();
  }

  /**
   * Lists the views, sorted by name.
   *
   * @returns The views.
   *
   * @example Two views, sorted
   * ```ts
   * import { createRegistry } from "@triggerkit/triggerkit";
   * import assert from "node:assert/strict";
   *
   * const registry = createRegistry();
   * registry.defineView({ name: "b", database: "sqlite::memory:", sql: "SELECT 1" });
   * registry.defineView({ name: "a", database: "sqlite::memory:", sql: "SELECT 1" });
   * assert.deepEqual(registry.listViews().map((view) => view.name), ["a", "b"]);
   * await registry.close();
   * ```
   */
  listViews(): ViewDefinition[] {
    return this.#jobs.listViews();
  }

  /**
   * Reads the run history, newest first.
   *
   * @param options `job` to filter, `limit` (default 20).
   * @returns The runs, with their action outcomes.
   *
   * @example Dry runs are recorded too
   * ```ts
   * import { createRegistry } from "@triggerkit/triggerkit";
   * import assert from "node:assert/strict";
   *
   * const registry = createRegistry({ store: "sqlite::memory:" });
   * registry.defineView({ name: "one", database: "sqlite::memory:", sql: "SELECT 1 AS id" });
   * registry.register("notify", () => ({}));
   * registry.defineJob({ name: "j", view: "one", actions: ["notify"] });
   * await registry.runJob("j", { dryRun: true });
   * const [run] = await registry.history({ job: "j" });
   * assert.equal(run!.dryRun, true);
   * await registry.close();
   * ```
   */
  history(options: HistoryOptions = {}): Promise<RunRecord[]> {
    return this.#getStore().history(options);
  }

  /**
   * Runs every enabled job on its schedule until `signal` aborts (or SIGINT
   * or SIGTERM), then lets running jobs finish.
   *
   * @param options Stop signal, grace period, job subset.
   * @returns When the scheduler has stopped.
   *
   * @example Stopping at once
   * ```ts
   * import { createRegistry } from "@triggerkit/triggerkit";
   *
   * const registry = createRegistry({ store: "sqlite::memory:" });
   * await registry.serve({ signal: AbortSignal.abort(), handleSignals: false });
   * await registry.close();
   * ```
   */
  serve(options: ServeOptions = {}): Promise<void> {
    return runScheduler(this.#jobs, () => this.#getStore(), {
      clock: this.#clock,
      ...this.#serveDefaults,
      ...options,
    });
  }

  /**
   * Stops sandbox processes and Workers and closes database connections, so
   * that the process can exit. Using the registry again starts them anew.
   *
   * @returns When everything is stopped.
   *
   * @example Closing twice is harmless
   * ```ts
   * import { createRegistry } from "@triggerkit/triggerkit";
   *
   * const registry = createRegistry();
   * await registry.close();
   * await registry.close();
   * ```
   */
  async close(): Promise<void> {
    const store = this.#store;
    this.#store = undefined;
    await Promise.all([
      this.#actions.close(),
      this.#databases.close(),
      store?.close?.(),
    ]);
  }

  #getStore(): RunStore {
    if (this.#store) return this.#store;
    const option = this.#storeOption;
    return this.#store = typeof option === "string"
      ? openStore(option, { clock: this.#clock, databases: this.#databases })
      : option;
  }
}

/**
 * Creates an isolated registry that already holds the built-in actions.
 *
 * @param options Sandbox, store, database names, serve defaults, clock.
 * @returns A new registry; call `close()` when done with it.
 *
 * @example An isolated registry
 * ```ts
 * import { createRegistry } from "@triggerkit/triggerkit";
 * import assert from "node:assert/strict";
 *
 * const registry = createRegistry();
 * registry.register("count", ({ data }) => ({ count: data.length }));
 * assert.deepEqual(await registry.run("count", [{ a: 1 }]), { count: 1 });
 * await registry.close();
 * ```
 */
export function createRegistry(options: RegistryOptions = {}): Registry {
  return new Registry(options);
}
