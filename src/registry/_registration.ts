/**
 * The checks of one `register()` call: the name, the options (keys and
 * values), the action itself, whether the name is free, the config schema,
 * and for a sandboxed action its permissions and module. Every problem is
 * reported at once, each with its place (`name`, `options.timeoutMs`), in
 * one error whose code is the first problem's.
 *
 * @module
 */
import {
  describeType,
  type ErrorCode,
  isTriggerKitError,
  TriggerKitError,
  type ValidationProblem,
} from "../errors.ts";
import type { ConfigSchema, Permissions, RegisterOptions } from "../types.ts";
import { isPlainObject } from "../_plain.ts";
import { nameProblem } from "../_names.ts";
import { isZodSchema } from "./_action_config.ts";
import { optionProblems } from "./_options.ts";
import { checkPermissions } from "./permissions.ts";
import { resolveModuleUrl } from "../../sandbox/host/module_url.ts";

/** The options only a sandboxed (module) action takes. */
const SANDBOX_ONLY = [
  "permissions",
  "timeoutMs",
  "memoryMb",
  "maxResultBytes",
] as const;

/** What a registration that passed its checks holds. */
export interface Registration {
  /** The config schema, if any. */
  schema: ConfigSchema | undefined;
  /** A sandboxed action's module (a `file:` URL) and permissions, normalized. */
  sandboxed?: { module: URL; permissions: Permissions };
}

/**
 * Checks a `register()` call and reports every problem at once.
 *
 * @param name The action's name.
 * @param action A function, or a module path or URL.
 * @param options The call's options.
 * @param taken Whether an action of that name is registered.
 * @returns The config schema and, for a module, its URL and permissions.
 * @throws {TriggerKitError} one error naming every problem: its code is the
 * first problem's (`INVALID_ACTION`, `INVALID_OPTIONS`, `ACTION_EXISTS`);
 * `issues` lists them all as `{ path, code, message }`.
 */
export function checkRegistration(
  name: unknown,
  action: unknown,
  options: unknown,
  taken: boolean,
): Registration {
  const found: ValidationProblem[] = [];
  const add = (code: ErrorCode, path: string, message: string) =>
    found.push({ path, code, message });
  const label = typeof name === "string"
    ? JSON.stringify(name)
    : describeType(name);
  const prefix = `Cannot register action ${label}: `;
  /** A thrown error's reason, without the prefix this error gives anyway. */
  const reasonOf = (error: TriggerKitError) =>
    error.message.startsWith(prefix)
      ? error.message.slice(prefix.length)
      : error.message;

  const badName = nameProblem(name);
  if (badName) add("INVALID_ACTION", "name", badName);
  for (const problem of optionProblems("register", options) ?? []) {
    add(problem.code, `options.${problem.path}`, problem.message);
  }
  const given: RegisterOptions<unknown> = isPlainObject(options) ? options : {};
  if (taken && given.overwrite !== true) {
    add(
      "ACTION_EXISTS",
      "name",
      "the name is taken (pass overwrite: true to replace it)",
    );
  }
  if (given.config !== undefined && !isZodSchema(given.config)) {
    add(
      "INVALID_ACTION",
      "options.config",
      `config must be a zod schema, received ${describeType(given.config)}`,
    );
  }
  const registration: Registration = {
    schema: given.config as ConfigSchema | undefined,
  };
  if (typeof action === "function") {
    for (const key of SANDBOX_ONLY) {
      const path = `options.${key}`;
      // A value already refused is not named twice.
      if (given[key] === undefined || found.some((p) => p.path === path)) {
        continue;
      }
      add(
        "INVALID_OPTIONS",
        path,
        `option "${key}" of register() applies to sandboxed (module) actions only: a function action runs in this process, where it has no effect`,
      );
    }
  } else if (typeof action === "string" || action instanceof URL) {
    const checked = checkPermissions(given.permissions);
    for (const { key, reason } of checked.problems) {
      add(
        "INVALID_ACTION",
        key ? `options.permissions.${key}` : "options.permissions",
        reason,
      );
    }
    try {
      registration.sandboxed = {
        module: resolveModuleUrl(String(name), action),
        permissions: checked.permissions,
      };
    } catch (error) {
      if (!isTriggerKitError(error)) throw error;
      add(error.code, "action", reasonOf(error));
    }
  } else {
    add(
      "INVALID_ACTION",
      "action",
      `a function or module URL is required, received ${describeType(action)}`,
    );
  }
  if (found.length > 0) {
    const error = new TriggerKitError(
      found[0]!.code,
      `${prefix}${found.map((problem) => problem.message).join("; ")}`,
      { issues: found },
    );
    LISTED.set(error, found);
    throw error;
  }
  return registration;
}

const LISTED = new WeakMap<TriggerKitError, readonly ValidationProblem[]>();

/**
 * The problems a `register()` error stands for, each with its place in the
 * call (`name`, `action`, `options.timeoutMs`), or `undefined` for another
 * error.
 */
export function problemsOfRegistration(
  error: TriggerKitError,
): readonly ValidationProblem[] | undefined {
  return LISTED.get(error);
}
