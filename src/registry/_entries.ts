/**
 * What the registry keeps per action, and how module actions become entries.
 *
 * @module
 */
import { TriggerKitError } from "../errors.ts";
import type {
  ActionFn,
  ActionInfo,
  ActionInput,
  ActionResult,
  ConfigSchema,
  RegisterOptions,
} from "../types.ts";

/** Sandboxed action defaults: time limit, heap limit, result size cap. */
export const SANDBOX_DEFAULTS = {
  timeoutMs: 30_000,
  memoryMb: 128,
  maxResultBytes: 8 * 1024 * 1024,
} as const;

/** A registered action. */
export interface Entry {
  info: ActionInfo;
  schema: ConfigSchema | undefined;
  invoke: (input: ActionInput) => ActionResult | Promise<ActionResult>;
  /**
   * Runs it outside a job step given the text of its idempotency key, for
   * an action that hashes the key only if it reads it (a sandboxed one:
   * its Worker does).
   */
  invokeWithKeyText?: (
    input: ActionInput,
    keyText: string,
  ) => Promise<ActionResult>;
  /** Frees what the action holds (a sandboxed action's Workers). */
  release?: () => void;
  /** Loads a module action's code without running it (a dry-run Worker for a sandboxed one). */
  load?: () => Promise<void>;
}

/** A sandboxed action's limits, defaults applied (its options are checked by `register`). */
export function sandboxLimits(
  options: RegisterOptions<unknown>,
): { timeoutMs: number; memoryMb: number; maxResultBytes: number } {
  return {
    timeoutMs: options.timeoutMs ?? SANDBOX_DEFAULTS.timeoutMs,
    memoryMb: options.memoryMb ?? SANDBOX_DEFAULTS.memoryMb,
    maxResultBytes: options.maxResultBytes ?? SANDBOX_DEFAULTS.maxResultBytes,
  };
}

/**
 * A module action loaded into this process, by explicit opt-in where no
 * sandbox can run: it is as trusted as a function action.
 */
export function trustedEntry(
  name: string,
  module: URL,
  description: string,
  schema: ConfigSchema | undefined,
): Entry {
  let loaded: Promise<ActionFn> | undefined;
  const load = () =>
    loaded ??= import(module.href).then((imported) => {
      if (typeof imported.default !== "function") {
        throw new TriggerKitError(
          "INVALID_ACTION",
          `Cannot load action "${name}": the module ${module.href} has no default export that is a function`,
        );
      }
      return imported.default as ActionFn;
    }).catch((error) => {
      loaded = undefined;
      throw error;
    });
  return {
    info: { name, description, kind: "function", module: module.href },
    schema,
    invoke: async (input) => (await load())(input),
    load: async () => void await load(),
  };
}

/** A copy of an action's info that callers cannot use to change the registry. */
export function copyInfo(info: ActionInfo): ActionInfo {
  const copy = { ...info };
  if (info.permissions) copy.permissions = structuredClone(info.permissions);
  return copy;
}
