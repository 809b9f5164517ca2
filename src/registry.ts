/**
 * The action registry: where actions are registered, described and run.
 *
 * @module
 */
import { describeType, TriggerKitError } from "./errors.ts";
import type {
  ActionFn,
  ActionInfo,
  ActionInput,
  ActionKind,
  ActionResult,
  ConfigSchema,
  RegisterOptions,
  Row,
  RunOptions,
} from "./types.ts";
import { isPlainObject } from "./_plain.ts";
import {
  abortError,
  assertRows,
  copyInfo,
  elapsed,
  raceAbort,
  wrapActionError,
} from "./_action_checks.ts";
import { lookup } from "./_suggest.ts";
import { isName, NAME_RULE } from "./_names.ts";
import { isZodSchema, parseConfig, toJsonSchema } from "./_config_schema.ts";
import { logger } from "./logger.ts";
import { normalizePermissions } from "./permissions.ts";
import type { SandboxOptions, SandboxProcessInfo } from "../sandbox/host.ts";
import { SandboxHost } from "../sandbox/host.ts";
import { resolveModuleUrl } from "../sandbox/_module_url.ts";
import { registerBuiltins } from "../actions/mod.ts";
import { type Entry, sandboxLimits, trustedEntry } from "./_entries.ts";

import { Databases } from "./databases.ts";
import {
  type Job,
  type JobDefinition,
  Jobs,
  type RunJobOptions,
  type ViewDefinition,
} from "./jobs.ts";
import {
  type HistoryOptions,
  type RunRecord,
  type RunReport,
  type RunStore,
  SqlRunStore,
} from "./store.ts";
import {
  runScheduler,
  type SchedulerHooks,
  type ServeOptions,
} from "./scheduler.ts";
import { openKvStore } from "./store_kv.ts";
import { Observability } from "./observe/observability.ts";
import { serveWithStatus } from "./observe/serve_status.ts";

const log = logger("action");

/** The default run store: a SQLite file in the working directory. */
export const DEFAULT_STORE = "sqlite:.triggerkit/state.db";

/** Options of {@linkcode createRegistry}. */
export interface RegistryOptions {
  /** How sandboxed actions are hosted (pool sizes). */
  sandbox?: SandboxOptions;
  /** Where run history and dedupe state live: a database URL or a store (default `sqlite:.triggerkit/state.db`). */
  store?: string | RunStore;
  /** Database names usable in views and `run_sql` configs: `{ main: "postgres://…" }`. */
  databases?: Record<string, string>;
  /** Defaults of `serve()`: lease and grace period. */
  serve?: Pick<ServeOptions, "leaseMs" | "graceMs">;
}

const NEVER_ABORTED: AbortSignal = new AbortController().signal;

/**
 * An isolated set of actions. Create one with {@linkcode createRegistry}; the
 * module-level functions of `mod.ts` use a default one.
 */
export class Registry {
  #entries = new Map<string, Entry>();
  #sandboxOptions: SandboxOptions;
  #sandbox: SandboxHost | undefined;
  /** Database connections shared by the built-in actions of this registry. */
  #databases = new Databases();
  #storeOption: string | RunStore;
  #store: RunStore | undefined;
  #aliases: Record<string, string>;
  #serveDefaults: Pick<ServeOptions, "leaseMs" | "graceMs">;
  #jobs: Jobs;
  #observe = new Observability();

  /**
   * Creates a registry that holds the built-in actions.
   *
   * @param options How sandboxed actions are hosted.
   */
  constructor(options: RegistryOptions = {}) {
    this.#sandboxOptions = options.sandbox ?? {};
    this.#storeOption = options.store ?? DEFAULT_STORE;
    this.#aliases = { ...options.databases };
    this.#serveDefaults = { ...options.serve };
    registerBuiltins(this, this.#databases);
    this.#jobs = new Jobs({
      hasAction: (name) => this.#entries.has(name),
      actionNames: () => this.#entries.keys(),
      validateConfig: (name, config) =>
        parseConfig(name, this.#lookup(name).schema, config),
      run: (name, data, options) => this.run(name, data, options),
      databases: this.#databases,
      store: () => this.#getStore(),
      resolveDatabase: (name) => this.#aliases[name] ?? name,
      observer: this.#observe.observer,
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
   */
  register<C = Record<string, unknown>>(
    name: string,
    action: ActionFn<C> | string | URL,
    options: RegisterOptions<C> = {},
  ): ActionInfo {
    return this.#register(name, action, options, "function");
  }

  /** Registers a built-in action (used by `actions/`). */
  registerBuiltin<C>(
    name: string,
    action: ActionFn<C>,
    options: RegisterOptions<C>,
  ): ActionInfo {
    return this.#register(name, action, options, "builtin");
  }

  #register<C>(
    name: string,
    action: ActionFn<C> | string | URL,
    options: RegisterOptions<C>,
    functionKind: ActionKind,
  ): ActionInfo {
    if (!isName(name)) {
      throw new TriggerKitError(
        "INVALID_ACTION",
        `Cannot register action ${
          typeof name === "string" ? `"${name}"` : describeType(name)
        }: a name of ${NAME_RULE} is required`,
      );
    }
    if (this.#entries.has(name) && options.overwrite !== true) {
      throw new TriggerKitError(
        "ACTION_EXISTS",
        `Cannot register action "${name}": the name is taken (pass overwrite: true to replace it)`,
      );
    }
    if (options.config !== undefined && !isZodSchema(options.config)) {
      throw new TriggerKitError(
        "INVALID_ACTION",
        `Cannot register action "${name}": config must be a zod schema, received ${
          describeType(options.config)
        }`,
      );
    }
    const schema = options.config as ConfigSchema | undefined;
    const description = options.description ?? "";
    let entry: Entry;
    if (typeof action === "function") {
      const fn = action as unknown as ActionFn;
      entry = {
        info: { name, description, kind: functionKind },
        schema,
        invoke: fn,
      };
    } else if (typeof action === "string" || action instanceof URL) {
      entry = this.#sandboxedEntry(name, action, options, schema);
    } else {
      throw new TriggerKitError(
        "INVALID_ACTION",
        `Cannot register action "${name}": a function or module URL is required, received ${
          describeType(action)
        }`,
      );
    }
    this.#entries.get(name)?.release?.();
    this.#entries.set(name, entry);
    return this.getInfo(name);
  }

  #sandboxedEntry(
    name: string,
    action: string | URL,
    options: RegisterOptions<unknown>,
    schema: ConfigSchema | undefined,
  ): Entry {
    const permissions = normalizePermissions(name, options.permissions);
    const limits = sandboxLimits(name, options);
    const module = resolveModuleUrl(name, action);
    if (this.#sandboxOptions.trustedInProcess && this.#getSandbox().missing()) {
      return trustedEntry(name, module, options.description ?? "", schema);
    }
    this.#getSandbox().assertAvailable(name);
    const sandboxed = { name, module, permissions, ...limits };
    const info: ActionInfo = {
      name,
      description: options.description ?? "",
      kind: "sandboxed",
      module: module.href,
      permissions,
      timeoutMs: limits.timeoutMs,
      memoryMb: limits.memoryMb,
    };
    return {
      info,
      schema,
      invoke: (input) => this.#getSandbox().call(sandboxed, input),
      release: () => this.#sandbox?.release(sandboxed),
    };
  }

  /**
   * Describes a registered action.
   *
   * @param name The action's name.
   * @returns Its kind, description, limits and config schema (JSON Schema).
   * @throws {TriggerKitError} `ACTION_NOT_FOUND`, naming the closest names.
   */
  getInfo(name: string): ActionInfo {
    const entry = this.#lookup(name);
    if (entry.schema === undefined || entry.info.configSchema) {
      return copyInfo(entry.info);
    }
    const configSchema = toJsonSchema(entry.schema);
    if (configSchema) entry.info.configSchema = configSchema;
    return copyInfo(entry.info);
  }

  /**
   * Lists every registered action, sorted by name (code-unit order).
   *
   * @returns One {@linkcode ActionInfo} per action.
   */
  listAvailable(): ActionInfo[] {
    return [...this.#entries.keys()]
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
      .map((name) => this.getInfo(name));
  }

  /**
   * Removes an action.
   *
   * @param name The action's name.
   * @returns `true` when it was registered.
   */
  unregister(name: string): boolean {
    const entry = this.#entries.get(name);
    entry?.release?.();
    return this.#entries.delete(name);
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
   */
  async run(
    name: string,
    data: Row[],
    options: RunOptions = {},
  ): Promise<ActionResult> {
    const entry = this.#lookup(name);
    assertRows(name, data);
    const config = parseConfig(name, entry.schema, options.config);
    const signal = options.signal ?? NEVER_ABORTED;
    const runId = options.runId ?? crypto.randomUUID();
    const input: ActionInput = {
      data,
      context: options.context ?? {},
      config,
      runId,
      dryRun: options.dryRun ?? false,
      signal,
    };
    if (options.jobName !== undefined) input.jobName = options.jobName;
    const started = performance.now();
    const meta = { action: name, jobName: options.jobName, runId };
    log.debug("Action {action} started on {rows} rows", {
      ...meta,
      rows: data.length,
      dryRun: input.dryRun,
    });
    let result: unknown;
    try {
      if (signal.aborted) throw abortError(name, signal);
      const pending = entry.invoke(input);
      result = signal === NEVER_ABORTED || !(pending instanceof Promise)
        ? await pending
        : await raceAbort(name, pending, signal);
    } catch (error) {
      const wrapped = wrapActionError(name, error);
      log.warn("Action {action} failed after {durationMs} ms: {code}", {
        ...meta,
        durationMs: elapsed(started),
        rows: data.length,
        code: wrapped.code,
        outcome: "failed",
      });
      throw wrapped;
    }
    if (!isPlainObject(result)) {
      throw new TriggerKitError(
        "INVALID_RESULT",
        `Action "${name}" returned ${
          describeType(result)
        }; a plain object is required`,
      );
    }
    log.info("Action {action} succeeded in {durationMs} ms", {
      ...meta,
      durationMs: elapsed(started),
      rows: data.length,
      outcome: "succeeded",
    });
    return result;
  }

  /**
   * The sandbox processes running now, for monitoring: pid, live Workers,
   * pending calls.
   *
   * @returns One entry per sandbox process.
   */
  sandboxProcesses(): SandboxProcessInfo[] {
    return this.#sandbox?.processes() ?? [];
  }

  /**
   * Defines (or replaces) a view: a SQL query on a database.
   *
   * @param definition `{ name, database, sql, description? }`; `database` is a URL or a configured name.
   * @returns The view.
   * @throws {TriggerKitError} `INVALID_VIEW` naming what is wrong.
   */
  defineView(definition: ViewDefinition): ViewDefinition {
    return this.#jobs.defineView(definition);
  }

  /**
   * Defines (or replaces) a job: a view and the actions to run on its rows.
   *
   * @param definition See SPEC.md §4.
   * @returns The validated job.
   * @throws {TriggerKitError} `INVALID_JOB`, `INVALID_SCHEDULE`, `INVALID_CONFIG`,
   * `VIEW_NOT_FOUND`, `ACTION_NOT_FOUND`.
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
   * @throws {TriggerKitError} `JOB_NOT_FOUND`; `DATABASE_ERROR` when the run store fails.
   */
  runJob(name: string, options: RunJobOptions = {}): Promise<RunReport> {
    return this.#jobs.runJob(name, options);
  }

  /**
   * Lists the jobs, sorted by name.
   *
   * @returns The validated jobs.
   */
  listJobs(): Job[] {
    return this.#jobs.listJobs();
  }

  /**
   * Lists the views, sorted by name.
   *
   * @returns The views.
   */
  listViews(): ViewDefinition[] {
    return this.#jobs.listViews();
  }

  /**
   * Reads the run history, newest first.
   *
   * @param options `job` to filter, `limit` (default 20).
   * @returns The runs, with their action outcomes.
   */
  history(options: HistoryOptions = {}): Promise<RunRecord[]> {
    return this.#getStore().history(options);
  }

  /**
   * Runs every enabled job on its schedule until `signal` aborts (or SIGINT
   * or SIGTERM), then lets running jobs finish.
   *
   * @param options Stop signal, grace period, job subset; `http` (and
   * `httpToken`, `onListen`) to serve the status page, `/healthz`, `/metrics`
   * and the JSON API beside it.
   * @returns When the scheduler (and the status server) have stopped.
   * @throws {TriggerKitError} `INVALID_OPTIONS` for a bad `http` or `httpToken`.
   */
  serve(options: ServeOptions = {}): Promise<void> {
    const merged = { ...this.#serveDefaults, ...options };
    const scheduler = (hooks?: SchedulerHooks) =>
      runScheduler(this.#jobs, () => this.#getStore(), merged, hooks);
    return serveWithStatus(
      {
        listJobs: () => this.listJobs(),
        getJob: (name) => this.#jobs.getJob(name),
        history: (query) => this.history(query),
        runJob: (name, runOptions) => this.runJob(name, runOptions),
        sandboxProcesses: () => this.sandboxProcesses().length,
        changes: this.#observe.changes,
        metrics: this.#observe.metrics,
      },
      merged,
      scheduler,
    );
  }

  /**
   * Stops sandbox processes and Workers and closes database connections, so
   * that the process can exit. Using the registry again starts them anew.
   */
  async close(): Promise<void> {
    const sandbox = this.#sandbox;
    const store = this.#store;
    this.#sandbox = undefined;
    this.#store = undefined;
    await Promise.all([
      sandbox?.close(),
      this.#databases.close(),
      store?.close?.(),
    ]);
  }

  #getStore(): RunStore {
    if (this.#store) return this.#store;
    const option = this.#storeOption;
    if (typeof option !== "string") return this.#store = option;
    const url = this.#aliases[option] ?? option;
    if (url.startsWith("kv:")) return this.#store = openKvStore(url);
    const file = /^sqlite:(?!:memory:)(.+)$/.exec(url)?.[1];
    const dir = file?.includes("/")
      ? file.slice(0, file.lastIndexOf("/"))
      : undefined;
    if (dir) {
      try {
        Deno.mkdirSync(dir, { recursive: true });
      } catch (error) {
        throw new TriggerKitError(
          "INVALID_CONFIG",
          `The run store ${url} needs its folder ${dir}, which cannot be created (${
            (error as Error).message
          }); give --allow-write for it, or use another store (kv: on Deno Deploy)`,
          { cause: error },
        );
      }
    }
    return this.#store = new SqlRunStore(this.#databases.get(url));
  }

  #getSandbox(): SandboxHost {
    return this.#sandbox ??= new SandboxHost(this.#sandboxOptions);
  }

  #lookup(name: string): Entry {
    return lookup(this.#entries, name, "ACTION_NOT_FOUND", "action");
  }
}

/**
 * Creates an isolated registry that already holds the built-in actions.
 *
 * @param options How sandboxed actions are hosted.
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
