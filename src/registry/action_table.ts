/**
 * The actions of a registry: registering (functions, sandboxed modules,
 * built-ins), describing, removing and running them. Sandboxed actions go
 * to a sandbox host started on first use.
 *
 * @module
 */
import { isTriggerKitError, TriggerKitError } from "../errors.ts";
import type {
  ActionFn,
  ActionInfo,
  ActionResult,
  ConfigSchema,
  RegisterOptions,
  Row,
  RunOptions,
} from "../types.ts";
import { assertRows } from "./_run_checks.ts";
import { inputOf, invoke, NO_OPTIONS } from "./_invoke.ts";
import { lookup } from "../_suggest.ts";
import { parseConfig, toJsonSchema } from "./_action_config.ts";
import type { SandboxOptions, SandboxProcessInfo } from "../../sandbox/host.ts";
import { SandboxHost } from "../../sandbox/host.ts";
import { checkRegistration, type Registration } from "./_registration.ts";
import type { BuiltinAction, BuiltinDeps } from "../../actions/mod.ts";
import {
  copyInfo,
  type Entry,
  sandboxLimits,
  trustedEntry,
} from "./_entries.ts";

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

  /**
   * Registers a function or module action; see `Registry.register`. Every
   * problem of the call (name, options, action, taken name) is reported at
   * once.
   */
  register<C>(
    name: string,
    action: ActionFn<C> | string | URL,
    options: RegisterOptions<C>,
  ): ActionInfo {
    const { schema, sandboxed } = checkRegistration(
      name,
      action,
      options,
      this.#entries.has(name),
    );
    const entry: Entry = sandboxed
      ? this.#sandboxedEntry(name, sandboxed, options, schema)
      : {
        info: {
          name,
          description: options.description ?? "",
          kind: "function",
        },
        schema,
        invoke: action as unknown as ActionFn,
      };
    this.#entries.get(name)?.release?.();
    this.#entries.set(name, entry);
    return this.info(name);
  }

  #sandboxedEntry(
    name: string,
    { module, permissions }: NonNullable<Registration["sandboxed"]>,
    options: RegisterOptions<unknown>,
    schema: ConfigSchema | undefined,
  ): Entry {
    const limits = sandboxLimits(options);
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

  /**
   * Runs an action on rows; see `Registry.run`. Every failure, a refused
   * call included, is the returned promise's rejection.
   */
  run(
    name: string,
    data: Row[],
    options: RunOptions = NO_OPTIONS,
  ): Promise<ActionResult> {
    try {
      const entry = this.#lookup(name);
      assertRows(name, data);
      return invoke(name, entry, inputOf(name, entry, data, options));
    } catch (error) {
      return Promise.reject(error);
    }
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
