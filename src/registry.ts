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
  Permissions,
  RegisterOptions,
  Row,
  RunOptions,
} from "./types.ts";
import { isPlainObject } from "./_plain.ts";
import { didYouMean } from "./_suggest.ts";
import { isZodSchema, parseConfig, toJsonSchema } from "./_config_schema.ts";
import { logger } from "./logger.ts";
import { normalizePermissions } from "./permissions.ts";
import type { SandboxOptions } from "../sandbox/host.ts";
import { SandboxHost } from "../sandbox/host.ts";
import { resolveModuleUrl } from "../sandbox/_module_url.ts";
import { registerBuiltins } from "../actions/mod.ts";
import { Databases } from "./databases.ts";

const log = logger("action");

/** Sandboxed action defaults (SPEC.md §1). */
export const SANDBOX_DEFAULTS = {
  timeoutMs: 30_000,
  memoryMb: 128,
  maxResultBytes: 64 * 1024 * 1024,
} as const;

/** Options of {@linkcode createRegistry}. */
export interface RegistryOptions {
  /** How sandboxed actions are hosted (pool sizes, opt-in to in-process Workers). */
  sandbox?: SandboxOptions;
}

interface Entry {
  info: ActionInfo;
  schema: ConfigSchema | undefined;
  invoke: (input: ActionInput) => ActionResult | Promise<ActionResult>;
  /** Frees what the action holds (a sandboxed action's Workers). */
  release?: () => void;
}

const NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_.:-]{0,127}$/;
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

  /**
   * Creates a registry that holds the built-in actions.
   *
   * @param options How sandboxed actions are hosted.
   */
  constructor(options: RegistryOptions = {}) {
    this.#sandboxOptions = options.sandbox ?? {};
    registerBuiltins(this, this.#databases);
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
    if (typeof name !== "string" || !NAME_PATTERN.test(name)) {
      throw new TriggerKitError(
        "INVALID_ACTION",
        `Cannot register action ${
          typeof name === "string" ? `"${name}"` : describeType(name)
        }: a name of letters, digits, "_", ".", ":" or "-" (starting with a letter or "_") is required`,
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
    const limits = {
      timeoutMs: positiveNumber(name, "timeoutMs", options.timeoutMs) ??
        SANDBOX_DEFAULTS.timeoutMs,
      memoryMb: positiveNumber(name, "memoryMb", options.memoryMb) ??
        SANDBOX_DEFAULTS.memoryMb,
      maxResultBytes:
        positiveNumber(name, "maxResultBytes", options.maxResultBytes) ??
          SANDBOX_DEFAULTS.maxResultBytes,
    };
    const module = resolveModuleUrl(name, action);
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
   * Stops sandbox processes and Workers and closes database connections, so
   * that the process can exit. Using the registry again starts them anew.
   */
  async close(): Promise<void> {
    const sandbox = this.#sandbox;
    this.#sandbox = undefined;
    await Promise.all([sandbox?.close(), this.#databases.close()]);
  }

  #getSandbox(): SandboxHost {
    return this.#sandbox ??= new SandboxHost(this.#sandboxOptions);
  }

  #lookup(name: string): Entry {
    const entry = this.#entries.get(name);
    if (entry) return entry;
    throw new TriggerKitError(
      "ACTION_NOT_FOUND",
      `Unknown action "${String(name)}"${
        didYouMean(String(name), this.#entries.keys())
      }`,
    );
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

function copyInfo(info: ActionInfo): ActionInfo {
  const copy = { ...info };
  if (info.permissions) copy.permissions = structuredClone(info.permissions);
  return copy;
}

function elapsed(started: number): number {
  return Math.round((performance.now() - started) * 1000) / 1000;
}

function positiveNumber(
  name: string,
  key: string,
  value: number | undefined,
): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new TriggerKitError(
      "INVALID_ACTION",
      `Cannot register action "${name}": ${key} must be a positive number, received ${
        typeof value === "number" ? value : describeType(value)
      }`,
    );
  }
  return value;
}

function assertRows(name: string, data: unknown): asserts data is Row[] {
  if (!Array.isArray(data)) {
    throw new TriggerKitError(
      "INVALID_DATA",
      `Cannot run action "${name}": data must be an array of plain objects, received ${
        describeType(data)
      }`,
    );
  }
  for (let i = 0; i < data.length; i++) {
    if (!isPlainObject(data[i])) {
      throw new TriggerKitError(
        "INVALID_DATA",
        `Cannot run action "${name}": data[${i}] must be a plain object, received ${
          describeType(data[i])
        }`,
      );
    }
  }
}

function abortError(name: string, signal: AbortSignal): TriggerKitError {
  return new TriggerKitError(
    "ACTION_TIMEOUT",
    `Action "${name}" was aborted`,
    { cause: signal.reason },
  );
}

function raceAbort<T>(
  name: string,
  pending: Promise<T>,
  signal: AbortSignal,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortError(name, signal));
    signal.addEventListener("abort", onAbort, { once: true });
    pending.then(resolve, reject).finally(() =>
      signal.removeEventListener("abort", onAbort)
    );
  });
}

function wrapActionError(name: string, error: unknown): TriggerKitError {
  if (error instanceof TriggerKitError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new TriggerKitError(
    "ACTION_FAILED",
    `Action "${name}" failed: ${message}`,
    { cause: error },
  );
}

/** The permissions type, re-exported for the sandbox. */
export type { Permissions };
