/**
 * The actions of a registry: registering (functions, sandboxed modules,
 * built-ins), describing, removing and running them. Sandboxed actions go
 * to a sandbox host started on first use.
 *
 * @module
 */
import { describeType, isTriggerKitError, TriggerKitError } from "../errors.ts";
import type {
  ActionFn,
  ActionInfo,
  ActionInput,
  ActionResult,
  ConfigSchema,
  RegisterOptions,
  Row,
  RunOptions,
} from "../types.ts";
import { isPlainObject } from "../_plain.ts";
import {
  abortError,
  assertRows,
  elapsed,
  raceAbort,
  wrapActionError,
} from "./_run_checks.ts";
import { lookup } from "../_suggest.ts";
import { nameProblem } from "../_names.ts";
import { isZodSchema, parseConfig, toJsonSchema } from "./_action_config.ts";
import { logger } from "../logger.ts";
import { normalizePermissions } from "./permissions.ts";
import type { SandboxOptions, SandboxProcessInfo } from "../../sandbox/host.ts";
import { SandboxHost } from "../../sandbox/host.ts";
import { resolveModuleUrl } from "../../sandbox/host/module_url.ts";
import type { BuiltinAction, BuiltinDeps } from "../../actions/mod.ts";
import {
  type BuiltinInput,
  idempotencyKeyOf,
  runKeyText,
  type StepRunOptions,
} from "../delivery/journal.ts";
import {
  copyInfo,
  type Entry,
  sandboxLimits,
  trustedEntry,
} from "./_entries.ts";

const log = logger("action");

const NEVER_ABORTED: AbortSignal = new AbortController().signal;

/** A registry's actions, by name. */
export class ActionTable {
  readonly #entries = new Map<string, Entry>();
  readonly #sandboxOptions: SandboxOptions;
  #sandbox: SandboxHost | undefined;

  /**
   * @param sandbox How sandboxed actions are hosted.
   */
  constructor(sandbox: SandboxOptions = {}) {
    this.#sandboxOptions = sandbox;
  }

  /** Installs built-in actions, bound to the registry's databases and clock. */
  install(builtins: readonly BuiltinAction[], deps: BuiltinDeps): void {
    for (const builtin of builtins) {
      const { run, config } = builtin.create(deps);
      this.#entries.set(builtin.name, {
        info: {
          name: builtin.name,
          description: builtin.description,
          kind: "builtin",
        },
        schema: config,
        invoke: run as unknown as ActionFn,
      });
    }
  }

  /** Registers a function or module action; see `Registry.register`. */
  register<C>(
    name: string,
    action: ActionFn<C> | string | URL,
    options: RegisterOptions<C>,
  ): ActionInfo {
    const schema = this.#checkRegistration(name, options);
    let entry: Entry;
    if (typeof action === "function") {
      entry = {
        info: {
          name,
          description: options.description ?? "",
          kind: "function",
        },
        schema,
        invoke: action as unknown as ActionFn,
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
    return this.info(name);
  }

  #checkRegistration<C>(
    name: string,
    options: RegisterOptions<C>,
  ): ConfigSchema | undefined {
    const badName = nameProblem(name);
    if (badName) {
      throw new TriggerKitError(
        "INVALID_ACTION",
        `Cannot register action ${
          typeof name === "string" ? JSON.stringify(name) : describeType(name)
        }: ${badName}`,
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
    return options.config as ConfigSchema | undefined;
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
    this.#getSandbox().prepare(sandboxed);
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
      invokeWithKeyText: (input, keyText) =>
        this.#getSandbox().call(sandboxed, input, keyText),
      release: () => this.#sandbox?.release(sandboxed),
      load: () => this.#getSandbox().load(sandboxed),
    };
  }

  /** Describes an action; see `Registry.getInfo`. */
  info(name: string): ActionInfo {
    const entry = this.#lookup(name);
    if (entry.schema !== undefined && !entry.info.configSchema) {
      const configSchema = toJsonSchema(entry.schema);
      if (configSchema) entry.info.configSchema = configSchema;
    }
    return copyInfo(entry.info);
  }

  /** Every action's name, sorted (code-unit order). */
  names(): string[] {
    return [...this.#entries.keys()].sort((
      a,
      b,
    ) => (a < b ? -1 : a > b ? 1 : 0));
  }

  /** Whether an action of that name is registered. */
  has(name: string): boolean {
    return this.#entries.has(name);
  }

  /** Removes an action and frees what it holds. */
  unregister(name: string): boolean {
    this.#entries.get(name)?.release?.();
    return this.#entries.delete(name);
  }

  /**
   * Loads a module action's code without calling it, so that a module that
   * does not compile or has no default export fails now, as `INVALID_ACTION`.
   * Other actions have nothing to load.
   */
  async load(name: string): Promise<void> {
    try {
      await this.#lookup(name).load?.();
    } catch (error) {
      if (!isTriggerKitError(error) || error.code === "ACTION_FAILED") {
        throw new TriggerKitError(
          "INVALID_ACTION",
          `Cannot load action "${name}": ${
            error instanceof Error ? error.message : String(error)
          }`,
          { cause: error },
        );
      }
      throw error;
    }
  }

  /** Validates a config against the action's schema, defaults applied. */
  parseConfig(name: string, config: unknown): Record<string, unknown> {
    return parseConfig(name, this.#lookup(name).schema, config);
  }

  /** Runs an action on rows; see `Registry.run`. */
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
    // A job step's delivery scope (from the engine) reaches built-ins only;
    // every action gets the step's idempotency key, computed when read (an
    // accessor in the literal: defineProperty per call cost ~0.8 µs).
    const { delivery } = options as StepRunOptions;
    let key: string | undefined;
    const input: ActionInput = {
      data,
      context: options.context ?? {},
      config,
      runId,
      dryRun: options.dryRun ?? false,
      signal,
      get idempotencyKey(): string {
        return key ??= idempotencyKeyOf(name, data, { delivery, runId });
      },
    };
    if (options.jobName !== undefined) input.jobName = options.jobName;
    if (delivery && entry.info.kind === "builtin") {
      (input as BuiltinInput).delivery = delivery;
    }
    const started = performance.now();
    const meta = { action: name, jobName: options.jobName, runId };
    // Asked first: building a record nobody reads costs more than the call.
    if (log.isEnabledFor("debug")) {
      log.debug("Action {action} started on {rows} rows", {
        ...meta,
        rows: data.length,
        dryRun: input.dryRun,
      });
    }
    let result: unknown;
    try {
      if (signal.aborted) throw abortError(name, signal);
      const pending = entry.invokeWithKeyText && !delivery
        ? entry.invokeWithKeyText(input, runKeyText(name, runId))
        : entry.invoke(input);
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
    if (log.isEnabledFor("info")) {
      log.info("Action {action} succeeded in {durationMs} ms", {
        ...meta,
        durationMs: elapsed(started),
        rows: data.length,
        outcome: "succeeded",
      });
    }
    return result;
  }

  /** The sandbox processes running now. */
  sandboxProcesses(): SandboxProcessInfo[] {
    return this.#sandbox?.processes() ?? [];
  }

  /** Stops the sandbox's processes and Workers; using an action again starts them anew. */
  async close(): Promise<void> {
    const sandbox = this.#sandbox;
    this.#sandbox = undefined;
    await sandbox?.close();
  }

  #getSandbox(): SandboxHost {
    return this.#sandbox ??= new SandboxHost(this.#sandboxOptions);
  }

  #lookup(name: string): Entry {
    return lookup(this.#entries, name, "ACTION_NOT_FOUND", "action");
  }
}
