/**
 * Applying a config: a registry created from its options, its actions
 * registered, its views and jobs defined. Every error names the file and
 * the key path.
 *
 * @module
 */
import {
  describeType,
  isTriggerKitError,
  TriggerKitError,
  type ValidationProblem,
} from "../errors.ts";
import { isPlainObject } from "../_plain.ts";
import {
  createRegistry,
  type Registry,
  type RegistryOptions,
} from "../registry/registry.ts";
import {
  type JobDefinition,
  problemsOfDefinition,
  type ViewDefinition,
} from "../jobs/definitions.ts";
import type { ActionFn, RegisterOptions } from "../types.ts";
import { problemsOfRegistration } from "../registry/_registration.ts";
import type { TriggerKitConfig } from "./schema.ts";
import { findConfigFile, readConfig } from "./read.ts";
import { checkConfig, configEntries, describeProblem } from "./check.ts";
import { absolutePath, defaultStore, resolvePaths } from "./paths.ts";

/**
 * Loads a config file into a new registry: its actions registered, views
 * and jobs defined. Relative paths in it are relative to its folder.
 *
 * @param path The config file (default: looked for in the working directory).
 * @param options Registry options that the config does not set.
 * @returns The registry, and the file it came from.
 * @throws {TriggerKitError} `INVALID_CONFIG` (naming every unknown key and
 * unset variable), `ACTION_EXISTS`, `INVALID_VIEW`, `INVALID_JOB`,
 * `INVALID_SCHEDULE`, …, each naming the file and key path.
 *
 * @example Loading a TOML config
 * ```ts
 * import { loadConfig } from "@triggerkit/triggerkit";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(
 *   `${dir}/triggerkit.toml`,
 *   'store = "sqlite::memory:"\n[views.one]\ndatabase = "sqlite::memory:"\nsql = "SELECT 1 AS id"\n',
 * );
 * const { registry } = await loadConfig(`${dir}/triggerkit.toml`);
 * assert.deepEqual(registry.listViews().map((view) => view.name), ["one"]);
 * await registry.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function loadConfig(
  path?: string,
  options: RegistryOptions = {},
): Promise<{ registry: Registry; file: string; config: TriggerKitConfig }> {
  const file = findConfigFile(path);
  const problems: ValidationProblem[] = [];
  const raw = await readConfig(file, problems);
  problems.push(...checkConfig(raw));
  if (problems.length > 0) throw configError(file, problems);
  const config = resolvePaths(raw, folderOf(file));
  const registry = createRegistry(registryOptions(config, file, options));
  try {
    applyConfig(registry, config, file);
  } catch (error) {
    await registry.close();
    throw error;
  }
  return { registry, file, config };
}

/** The folder of a file path. */
export function folderOf(file: string): string {
  return file.slice(0, file.lastIndexOf("/")) || "/";
}

/** The registry options of a config: its own, then the caller's, then the defaults. */
export function registryOptions(
  config: TriggerKitConfig,
  file: string,
  options: RegistryOptions = {},
): RegistryOptions {
  return {
    ...options,
    ...(config.sandbox ? { sandbox: config.sandbox } : {}),
    store: config.store ?? options.store ?? defaultStore(folderOf(file)),
    ...(config.databases ? { databases: config.databases } : {}),
    ...(config.serve ? { serve: config.serve } : {}),
    ...(config.history ? { history: config.history } : {}),
  };
}

/** One `INVALID_CONFIG` for the problems of a file, each named in the message. */
export function configError(
  file: string,
  problems: readonly ValidationProblem[],
): TriggerKitError {
  return new TriggerKitError(
    problems[0]?.code ?? "INVALID_CONFIG",
    `${file}: ${problems.map(describeProblem).join("; ")}`,
    { issues: problems },
  );
}

/** Options of {@linkcode applyConfig}. */
export interface ApplyOptions {
  /** Collect every problem here instead of throwing at the first. */
  problems?: ValidationProblem[];
}

/**
 * Registers a config's actions, views and jobs on a registry. A config
 * action named like a built-in needs `overwrite: true`.
 *
 * @param registry Where to register them.
 * @param config The config, its paths already resolved.
 * @param file The config file, for messages and module paths.
 * @param options Where to collect problems (default: throw at the first).
 */
export function applyConfig(
  registry: Registry,
  config: TriggerKitConfig,
  file: string,
  options: ApplyOptions = {},
): void {
  const dir = folderOf(file);
  const failed = new Set<string>();
  const attempt = (path: string, fn: () => void, refs?: unknown): boolean => {
    try {
      fn();
      return true;
    } catch (error) {
      if (!isTriggerKitError(error)) throw error;
      if (!options.problems) {
        throw new TriggerKitError(
          error.code,
          `${file}: ${path}: ${error.message}`,
          { cause: error, ...(error.issues ? { issues: error.issues } : {}) },
        );
      }
      options.problems.push(
        ...problemsOf(error, path).filter((found) =>
          !refersToFailed(found, path, refs, failed)
        ),
      );
      return false;
    }
  };
  for (const { name, path, value } of configEntries(config, "actions")) {
    if (!attempt(path, () => registerAction(registry, name, value, dir))) {
      failed.add(`action:${name}`);
    }
  }
  for (const { name, path, value } of configEntries(config, "views")) {
    if (!attempt(path, () => registry.defineView(value as ViewDefinition))) {
      failed.add(`view:${name}`);
    }
  }
  for (const { path, value } of configEntries(config, "jobs")) {
    attempt(path, () => registry.defineJob(value as JobDefinition), value);
  }
}

function registerAction(
  registry: Registry,
  name: string,
  action: unknown,
  dir: string,
): void {
  let target: ActionFn | URL;
  let options: RegisterOptions = {};
  if (typeof action === "function") target = action as ActionFn;
  else if (typeof action === "string") target = moduleUrl(action, dir);
  else if (isPlainObject(action) && typeof action.module === "string") {
    const { module, ...rest } = action;
    target = moduleUrl(module, dir);
    options = rest as RegisterOptions;
  } else {
    throw new TriggerKitError(
      "INVALID_ACTION",
      `a function, a module path, or { module, permissions?, timeoutMs?, memoryMb? } is required, received ${
        describeType(action)
      }`,
    );
  }
  if (
    options.overwrite !== true &&
    registry.listAvailable().some((info) =>
      info.name === name && info.kind === "builtin"
    )
  ) {
    throw new TriggerKitError(
      "ACTION_EXISTS",
      `"${name}" is the name of a built-in action; to replace it, make the entry a table with overwrite = true (overwrite: true)`,
    );
  }
  registry.register(name, target, options);
}

/**
 * The problems an error stands for, at `path`: one per problem of a
 * definition (which reports all of its own), else the error itself.
 */
export function problemsOf(
  error: TriggerKitError,
  path: string,
): ValidationProblem[] {
  const registered = problemsOfRegistration(error);
  if (registered) {
    // An action entry's keys are register()'s options; its name and module
    // are the entry itself.
    return registered.map((found) => ({
      path: found.path.startsWith("options.")
        ? `${path}.${found.path.slice("options.".length)}`
        : path,
      code: found.code,
      message: found.message,
    }));
  }
  const listed = problemsOfDefinition(error);
  if (!listed) return [{ path, code: error.code, message: error.message }];
  return listed.map((found) => ({
    path: found.path === ""
      ? path
      : found.path.startsWith("[")
      ? `${path}${found.path}`
      : `${path}.${found.path}`,
    code: found.code,
    message: found.message,
  }));
}

/**
 * Whether a job's problem only says that its view or action is unknown
 * because that view or action was refused: that was reported already.
 */
function refersToFailed(
  found: ValidationProblem,
  path: string,
  job: unknown,
  failed: ReadonlySet<string>,
): boolean {
  if (!isPlainObject(job)) return false;
  if (found.code === "VIEW_NOT_FOUND" && found.path === `${path}.view`) {
    return failed.has(`view:${job.view}`);
  }
  const step = /^\.actions\[(\d+)\]\.action$/.exec(
    found.path.slice(path.length),
  );
  if (
    found.code !== "ACTION_NOT_FOUND" || !step || !Array.isArray(job.actions)
  ) {
    return false;
  }
  const item = job.actions[Number(step[1])];
  const name = isPlainObject(item) ? item.action : item;
  return failed.has(`action:${name}`);
}

function moduleUrl(module: string, dir: string): URL {
  if (/^[a-z][a-z0-9+.-]*:/i.test(module)) return new URL(module);
  const url = new URL("file:///");
  url.pathname = absolutePath(module, dir);
  return url;
}
