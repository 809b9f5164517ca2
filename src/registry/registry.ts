/**
 * The registry: one isolated TriggerKit — its actions, databases, run store,
 * views and jobs, and the clock they all read. Each concern lives in its own
 * module; the registry wires them together and is the API over them.
 *
 * @module
 */
import type { ValidationProblem } from "../errors.ts";
import type { Clock } from "../clock.ts";
import type { ActionTable } from "./action_table.ts";
import type { Databases } from "../db/databases.ts";
import { ActionRegistry, partsOf } from "./action_registry.ts";
import {
  type DefineOptions,
  type Job,
  type JobDefinition,
  refuseTaken,
  type ViewDefinition,
} from "../jobs/definitions.ts";
import { checkJobNames, checkOptions } from "./_options.ts";
import type { RegistryOptions, ValidateOptions } from "./_options.ts";
import { validateRegistry } from "./validate.ts";
import { Jobs, type RunJobOptions } from "../jobs/engine.ts";
import { runScheduler, type ServeOptions } from "../jobs/serve.ts";
import type {
  HistoryOptions,
  RunRecord,
  RunReport,
  RunStore,
} from "../store/contract.ts";
import { DEFAULT_STORE, openStore } from "../store/open.ts";
import { findByIdPrefix } from "../store/_id_prefix.ts";
import * as alerting from "../alerts/mutes.ts";
import { Observability } from "../observe/observability.ts";
import type { RegistryParts } from "../observe/registry_source.ts";
import { serveWithStatus } from "../observe/serve_status.ts";
import { shownSecrets } from "./_shown_secrets.ts";

export { ActionRegistry } from "./action_registry.ts";
export type { RegistryOptions, ValidateOptions } from "./_options.ts";

/**
 * An isolated set of actions, views and jobs. Create one with
 * {@linkcode createRegistry}; the module-level functions of `mod.ts` use a
 * default one. Its actions' methods (`register`, `run`, …) come from
 * {@linkcode ActionRegistry}.
 */
export class Registry extends ActionRegistry {
  readonly #clock: Clock;
  readonly #actions: ActionTable;
  readonly #databases: Databases;
  readonly #options: RegistryOptions;
  #store: RunStore | undefined;
  readonly #jobs: Jobs;
  readonly #observe = new Observability();

  /**
   * Creates a registry that holds the built-in actions.
   *
   * @param options Sandbox, store, database names, serve defaults, clock.
   * @throws {TriggerKitError} `INVALID_OPTIONS` for an unknown or ill-typed option.
   */
  constructor(options: RegistryOptions = {}) {
    super(options);
    const parts = partsOf(this);
    parts.store = () => this.#getStore();
    this.#options = parts.options;
    this.#clock = parts.clock;
    this.#databases = parts.databases;
    const actions = this.#actions = parts.actions;
    this.#jobs = new Jobs({
      hasAction: (name) => actions.has(name),
      actionNames: () => actions.names(),
      validateConfig: (name, config) => void actions.parseConfig(name, config),
      run: (name, data, runOptions) => actions.run(name, data, runOptions),
      databases: this.#databases,
      store: () => this.#getStore(),
      clock: this.#clock,
      observer: this.#observe.observer,
      ...(options.serve?.leaseMs ? { leaseMs: options.serve.leaseMs } : {}),
      ...(options.serve?.storeRetryMs
        ? { storeRetryMs: options.serve.storeRetryMs }
        : {}),
    });
  }

  /**
   * Defines a view: a SQL query on a database. A name already defined is
   * refused unless `options.overwrite` is true.
   *
   * @param definition `{ name, database, sql, description? }`; `database` is a URL or a configured name.
   * @param options `overwrite`: replace a view of the same name.
   * @returns The view.
   * @throws {TriggerKitError} `INVALID_VIEW` naming every problem (an unknown key with the closest known one).
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
  defineView(
    definition: ViewDefinition,
    options: DefineOptions = {},
  ): ViewDefinition {
    checkOptions("define", options);
    refuseTaken("view", definition, this.#jobs.listViews(), options);
    return this.#jobs.defineView(definition);
  }

  /**
   * Defines a job: a view and the actions to run on its rows. A name
   * already defined is refused unless `options.overwrite` is true.
   *
   * @param definition `{ name, view, actions, schedule?, timezone?, enabled?, when?, dedupe? }`.
   * @param options `overwrite`: replace a job of the same name.
   * @returns The validated job: its steps normalized, its schedule parsed.
   * @throws {TriggerKitError} `INVALID_JOB`, `INVALID_SCHEDULE`, `INVALID_CONFIG`,
   * `VIEW_NOT_FOUND`, `ACTION_NOT_FOUND` (the first problem's; the message names them all).
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
  defineJob(definition: JobDefinition, options: DefineOptions = {}): Job {
    checkOptions("define", options);
    refuseTaken("job", definition, this.#jobs.listJobs(), options);
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
  async runJob(name: string, options: RunJobOptions = {}): Promise<RunReport> {
    checkOptions("runJob", options);
    return await this.#jobs.runJob(name, options);
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
  async history(options: HistoryOptions = {}): Promise<RunRecord[]> {
    checkOptions("history", options);
    return await this.#getStore().history(options);
  }

  /**
   * One run by its id, as {@linkcode Registry.history} shows it.
   *
   * @param runId The run's id (`RunReport.runId`).
   * @returns The run, or undefined when the store has none with that id.
   *
   * @example The run a report names
   * ```ts
   * import { createRegistry } from "@triggerkit/triggerkit";
   * import assert from "node:assert/strict";
   *
   * const registry = createRegistry({ store: "sqlite::memory:" });
   * registry.defineView({ name: "one", database: "sqlite::memory:", sql: "SELECT 1 AS id" });
   * registry.register("notify", () => ({}));
   * registry.defineJob({ name: "j", view: "one", actions: ["notify"] });
   * const { runId } = await registry.runJob("j");
   * assert.equal((await registry.getRun(runId))?.status, "succeeded");
   * await registry.close();
   * ```
   */
  getRun(runId: string): Promise<RunRecord | undefined> {
    return this.#getStore().get(runId);
  }

  /**
   * Runs every enabled job on its schedule until `signal` aborts (or SIGINT
   * or SIGTERM), then lets running jobs finish.
   *
   * @param options Stop signal, grace period, job subset; `http` (and
   * `httpToken`, `onListen`) to serve the status page, `/healthz`, `/metrics`
   * and the JSON API beside it.
   * @returns When the scheduler (and the status server) have stopped.
   * @throws {TriggerKitError} `INVALID_OPTIONS` for an unknown option, a value
   * of the wrong type or range, a job in `jobs` that is not defined, a bad
   * `http` or `httpToken`.
   *
   * @example The status page on a free port, until aborted
   * ```ts
   * import { createRegistry } from "@triggerkit/triggerkit";
   * import assert from "node:assert/strict";
   *
   * const registry = createRegistry({ store: "sqlite::memory:" });
   * const stop = new AbortController();
   * await registry.serve({
   *   http: "127.0.0.1:0",
   *   onListen: async ({ url }) => {
   *     assert.equal((await fetch(`${url}healthz`)).status, 200);
   *     stop.abort();
   *   },
   *   signal: stop.signal,
   *   handleSignals: false,
   * });
   * await registry.close();
   * ```
   */
  async serve(options: ServeOptions = {}): Promise<void> {
    checkOptions("serve", options);
    const defined = this.#jobs.listJobs().map((job) => job.name);
    checkJobNames("serve", "jobs", options.jobs, defined);
    const { serve: defaults, history } = this.#options;
    const merged = {
      clock: this.#clock,
      ...defaults,
      ...(history ? { history: { ...history } } : {}),
      ...options,
    };
    return await serveWithStatus(this.#statusParts(), {
      ...merged,
      observability: this.#observe,
      runScheduler: (hooks) =>
        runScheduler(this.#jobs, () => this.#getStore(), merged, hooks),
    });
  }

  /** What the status page and `/metrics` read: firing alerts counted from the store's summaries. */
  #statusParts(): RegistryParts {
    return {
      listJobs: () => this.listJobs(),
      history: (options) => this.history(options),
      getRun: (runId) => this.getRun(runId),
      recentRuns: (jobs, n) => this.#getStore().recentRuns?.(jobs, n),
      findRuns: (prefix, limit) =>
        findByIdPrefix(this.#getStore(), prefix, limit),
      runJob: (name, options) => this.runJob(name, options),
      sandboxProcesses: () => this.sandboxProcesses(),
      alerts: () => this.alerts(),
      alertsFiring: () => alerting.firingCounts(this.#jobs.alerting),
      firingAlerts: (limit) =>
        alerting.firingAlerts(this.#jobs.alerting, limit),
      secrets: () => shownSecrets(this, this.#options),
    };
  }

  /**
   * Mutes a job's alerts (every key, or `keys`) for a while: their state
   * moves, nothing is delivered.
   *
   * @param job The alert job's name.
   * @param options `for` (`"2h"`), `keys` (arrays of key values), `reason`.
   * @returns The mute, as recorded in the store (it survives restarts).
   * @throws {TriggerKitError} `JOB_NOT_FOUND`, `INVALID_OPTIONS`.
   *
   * @example Muting every key of a job for two hours
   * ```ts
   * import { createRegistry } from "@triggerkit/triggerkit";
   * import assert from "node:assert/strict";
   *
   * const registry = createRegistry({ store: "sqlite::memory:" });
   * registry.defineView({ name: "hot", database: "sqlite::memory:", sql: "SELECT 1 AS id" });
   * registry.register("notify", () => ({}));
   * registry.defineJob({ name: "heat", view: "hot", actions: ["notify"], dedupe: { key: ["id"] }, alert: {} });
   * const mute = await registry.mute("heat", { for: "2h", reason: "maintenance" });
   * assert.equal(mute.keys, null);
   * await registry.runJob("heat");
   * assert.equal((await registry.alerts("heat"))[0]!.muted, true);
   * await registry.close();
   * ```
   */
  mute(job: string, options: alerting.MuteOptions): Promise<alerting.MuteInfo> {
    return alerting.muteJob(this.#jobs.alerting, job, options);
  }

  /**
   * Ends a job's mutes, and returns how many were in force. Keys still
   * firing that were never delivered are delivered on the next run.
   *
   * @param job The alert job's name.
   * @returns How many mutes were in force.
   * @throws {TriggerKitError} `JOB_NOT_FOUND`, `INVALID_OPTIONS` (not an alert job).
   *
   * @example Ending a mute
   * ```ts
   * import { createRegistry } from "@triggerkit/triggerkit";
   * import assert from "node:assert/strict";
   *
   * const registry = createRegistry({ store: "sqlite::memory:" });
   * registry.defineView({ name: "hot", database: "sqlite::memory:", sql: "SELECT 1 AS id" });
   * registry.register("notify", () => ({}));
   * registry.defineJob({ name: "heat", view: "hot", actions: ["notify"], dedupe: { key: ["id"] }, alert: {} });
   * await registry.mute("heat", { for: "2h" });
   * assert.equal(await registry.unmute("heat"), 1);
   * assert.equal(await registry.unmute("heat"), 0);
   * await registry.close();
   * ```
   */
  unmute(job: string): Promise<number> {
    return alerting.unmuteJob(this.#jobs.alerting, job);
  }

  /**
   * The pending and firing keys of one alert job, or of all, firing first:
   * `[{ jobName, key (its values), state, since, lastDeliveredAt, muted }]`.
   *
   * @param job Only this job.
   * @returns The keys, firing first, then by since.
   * @throws {TriggerKitError} `JOB_NOT_FOUND`.
   *
   * @example A key that fired
   * ```ts
   * import { createRegistry } from "@triggerkit/triggerkit";
   * import assert from "node:assert/strict";
   *
   * const registry = createRegistry({ store: "sqlite::memory:" });
   * registry.defineView({ name: "hot", database: "sqlite::memory:", sql: "SELECT 7 AS id" });
   * registry.register("notify", () => ({}));
   * registry.defineJob({ name: "heat", view: "hot", actions: ["notify"], dedupe: { key: ["id"] }, alert: {} });
   * await registry.runJob("heat");
   * const [alert] = await registry.alerts();
   * assert.deepEqual([alert!.key, alert!.state, alert!.muted], [[7], "firing", false]);
   * await registry.close();
   * ```
   */
  alerts(job?: string): Promise<alerting.AlertInfo[]> {
    return alerting.listAlerts(this.#jobs.alerting, job);
  }

  /**
   * Checks what can be checked before a run: each database answers (within
   * `timeoutMs`), each view's SQL and each `run_sql` statement prepares,
   * dedupe keys are columns of their view, module actions load, and the environment variables steps name
   * (`tokenEnv`, `fromEnv`, …) are set. Nothing is run or written.
   *
   * @param options `timeoutMs`: each database's deadline (default 5000).
   * @returns Every problem found, each with its place; none when all is well.
   *
   * @example A view on a SQLite file that is not there
   * ```ts
   * import { createRegistry } from "@triggerkit/triggerkit";
   * import assert from "node:assert/strict";
   *
   * const registry = createRegistry();
   * registry.defineView({ name: "v", database: "sqlite:/no/such.db", sql: "SELECT 1 AS id" });
   * const [problem] = await registry.validate();
   * assert.equal(problem!.path, "views.v.database");
   * await registry.close();
   * ```
   */
  async validate(
    options: ValidateOptions = {},
  ): Promise<ValidationProblem[]> {
    checkOptions("validate", options);
    const parts = [this.#jobs, this.#actions, this.#databases] as const;
    return await validateRegistry(parts, { ...this.#options, ...options });
  }

  /**
   * Stops sandbox processes and Workers and closes database connections, so
   * that the process can exit. Using the registry again starts them anew.
   *
   * @returns When everything is stopped.
   *
   * @example Closing twice is harmless; the registry works again after
   * ```ts
   * import { createRegistry } from "@triggerkit/triggerkit";
   * import assert from "node:assert/strict";
   *
   * const registry = createRegistry();
   * registry.register("count", ({ data }) => ({ count: data.length }));
   * await registry.close();
   * await registry.close();
   * assert.deepEqual(await registry.run("count", [{}]), { count: 1 });
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
    const option = this.#options.store ?? DEFAULT_STORE;
    return this.#store ??= typeof option === "string"
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
