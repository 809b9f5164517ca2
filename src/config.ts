/**
 * Configuration files: a `triggerkit.config.ts` module (default export of
 * {@linkcode defineConfig}) or a TOML file, with `${VAR}` and
 * `${VAR:-default}` read from the environment.
 *
 * @module
 */
import { parse as parseToml } from "smol-toml";
import { describeType, isTriggerKitError, TriggerKitError } from "./errors.ts";
import { isPlainObject } from "./_plain.ts";
import {
  createRegistry,
  type Registry,
  type RegistryOptions,
} from "./registry.ts";
import type { JobDefinition, ViewDefinition } from "./jobs.ts";
import type { ActionFn, Permissions } from "./types.ts";
import type { SandboxOptions } from "../sandbox/host.ts";

/** A sandboxed action in a config: its module and limits. */
export interface ConfigModuleAction {
  /** The module path, relative to the config file, or a URL. */
  module: string;
  /** What it may do (default: nothing). */
  permissions?: Permissions;
  /** Time limit of one run in ms. */
  timeoutMs?: number;
  /** Heap limit in MiB. */
  memoryMb?: number;
  /** What it does. */
  description?: string;
}

/** What a config holds. Actions given as module paths run sandboxed. */
export interface TriggerKitConfig {
  /** Database URLs by name, usable in views and `run_sql` configs. */
  databases?: Record<string, string>;
  /** Where run history lives: a database URL or name (default `sqlite:.triggerkit/state.db`). */
  store?: string;
  /** Sandbox pool sizes. */
  sandbox?: SandboxOptions;
  /** `serve` defaults: `leaseMs` (how soon another instance takes over a dead one's run), `graceMs`. */
  serve?: { leaseMs?: number; graceMs?: number };
  /** Team actions: functions (in-process) or modules (sandboxed). */
  actions?: Record<string, ActionFn | string | ConfigModuleAction>;
  /** Views, as a list or by name. */
  views?: ViewDefinition[] | Record<string, Omit<ViewDefinition, "name">>;
  /** Jobs, as a list or by name. */
  jobs?: JobDefinition[] | Record<string, Omit<JobDefinition, "name">>;
}

/**
 * Types a config module's default export. It returns the config unchanged.
 *
 * @param config Databases, store, actions, views and jobs.
 * @returns The same config.
 *
 * @example A config module
 * ```ts
 * import { defineConfig } from "@triggerkit/triggerkit";
 *
 * export default defineConfig({
 *   databases: { main: "sqlite:./app.db" },
 *   views: [{ name: "big_orders", database: "main", sql: "SELECT id, total FROM orders WHERE total > 100" }],
 *   jobs: [{ name: "alert", view: "big_orders", actions: ["send_slack_message"], schedule: "every 15 minutes" }],
 * });
 * ```
 */
export function defineConfig(config: TriggerKitConfig): TriggerKitConfig {
  return config;
}

/** The config file names looked for, in order. */
export const CONFIG_FILES = [
  "triggerkit.config.ts",
  "triggerkit.config.js",
  "triggerkit.toml",
] as const;

const VARIABLE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/**
 * Replaces `${VAR}` and `${VAR:-default}` in every string of a value. An
 * unset variable without a default is an error naming it and the key path.
 */
export function substituteEnv(
  value: unknown,
  file: string,
  env: (name: string) => string | undefined = (name) => Deno.env.get(name),
  path = "",
): unknown {
  if (typeof value === "string") {
    return value.replace(
      VARIABLE,
      (_match, name: string, fallback: string | undefined) => {
        const found = env(name);
        if (found !== undefined && found !== "") return found;
        if (fallback !== undefined) return fallback;
        throw new TriggerKitError(
          "INVALID_CONFIG",
          `${file}: ${
            path || "(root)"
          }: \${${name}} is not set and has no default (write \${${name}:-default} for one)`,
        );
      },
    );
  }
  if (Array.isArray(value)) {
    return value.map((item, i) =>
      substituteEnv(item, file, env, `${path}[${i}]`)
    );
  }
  if (isPlainObject(value)) {
    return Object.fromEntries(
      Object.entries(value).map((
        [key, item],
      ) => [
        key,
        substituteEnv(item, file, env, path ? `${path}.${key}` : key),
      ]),
    );
  }
  return value;
}

/** Finds the config file: the given path, or the first of {@linkcode CONFIG_FILES} in the directory. */
export function findConfigFile(
  path?: string,
  cwd: string = Deno.cwd(),
): string {
  if (path) return absolute(path, cwd);
  for (const name of CONFIG_FILES) {
    const candidate = `${cwd}/${name}`;
    try {
      if (Deno.statSync(candidate).isFile) return candidate;
    } catch {
      // Not there: try the next name.
    }
  }
  throw new TriggerKitError(
    "INVALID_CONFIG",
    `No config file: looked for ${
      CONFIG_FILES.join(", ")
    } in ${cwd} (or pass --config FILE)`,
  );
}

function absolute(path: string, cwd: string): string {
  return path.startsWith("/") ? path : `${cwd}/${path}`.replace(/\/\.\//g, "/");
}

/** Reads a config file (module or TOML) and substitutes the environment. */
export async function readConfig(file: string): Promise<TriggerKitConfig> {
  let raw: unknown;
  if (file.endsWith(".toml")) {
    let text: string;
    try {
      text = await Deno.readTextFile(file);
    } catch (error) {
      throw new TriggerKitError(
        "INVALID_CONFIG",
        `${file}: cannot be read: ${(error as Error).message}`,
        { cause: error },
      );
    }
    try {
      raw = parseToml(text);
    } catch (error) {
      throw new TriggerKitError(
        "INVALID_CONFIG",
        `${file}: ${(error as Error).message}`,
        { cause: error },
      );
    }
  } else {
    try {
      raw = (await import(new URL(`file://${encodeURI(file)}`).href)).default;
    } catch (error) {
      throw new TriggerKitError(
        "INVALID_CONFIG",
        `${file}: cannot be loaded: ${(error as Error).message}`,
        { cause: error },
      );
    }
  }
  if (!isPlainObject(raw)) {
    throw new TriggerKitError(
      "INVALID_CONFIG",
      `${file}: the config must be an object (the module's default export), received ${
        describeType(raw)
      }`,
    );
  }
  return substituteEnv(raw, file) as TriggerKitConfig;
}

/**
 * Loads a config file into a new registry: its actions registered, views
 * and jobs defined. Every error names the file.
 *
 * @param path The config file (default: looked for in the working directory).
 * @param options Registry options that the config does not set.
 * @returns The registry, and the file it came from.
 * @throws {TriggerKitError} `INVALID_CONFIG`, `INVALID_VIEW`, `INVALID_JOB`, `INVALID_SCHEDULE`, …
 */
export async function loadConfig(
  path?: string,
  options: RegistryOptions = {},
): Promise<{ registry: Registry; file: string; config: TriggerKitConfig }> {
  const file = findConfigFile(path);
  const config = await readConfig(file);
  const registry = createRegistry({
    ...options,
    ...(config.sandbox ? { sandbox: config.sandbox } : {}),
    ...(config.store ? { store: config.store } : {}),
    ...(config.databases ? { databases: config.databases } : {}),
    ...(config.serve ? { serve: config.serve } : {}),
  });
  try {
    applyConfig(registry, config, file);
  } catch (error) {
    await registry.close();
    throw error;
  }
  return { registry, file, config };
}

/** Registers a config's actions, views and jobs on a registry. */
export function applyConfig(
  registry: Registry,
  config: TriggerKitConfig,
  file: string,
): void {
  const dir = file.slice(0, file.lastIndexOf("/") + 1);
  const named = <T extends { name: string }>(
    items: unknown,
    key: string,
  ): T[] => {
    if (items === undefined) return [];
    if (Array.isArray(items)) return items as T[];
    if (isPlainObject(items)) {
      return Object.entries(items).map(([name, item]) =>
        ({ name, ...(item as object) }) as T
      );
    }
    throw new TriggerKitError(
      "INVALID_CONFIG",
      `${file}: ${key} must be a list or a table, received ${
        describeType(items)
      }`,
    );
  };
  const inFile = (where: string, fn: () => void) => {
    try {
      fn();
    } catch (error) {
      if (!isTriggerKitError(error)) throw error;
      throw new TriggerKitError(
        error.code,
        `${file}: ${where}: ${error.message}`,
        {
          cause: error,
          ...(error.issues ? { issues: error.issues } : {}),
        },
      );
    }
  };
  for (const [name, action] of Object.entries(config.actions ?? {})) {
    inFile(`actions.${name}`, () => {
      if (typeof action === "function") {
        registry.register(name, action, { overwrite: true });
      } else if (typeof action === "string") {
        registry.register(name, moduleUrl(action, dir), { overwrite: true });
      } else if (isPlainObject(action) && typeof action.module === "string") {
        const { module, ...options } = action;
        registry.register(name, moduleUrl(module, dir), {
          ...options,
          overwrite: true,
        });
      } else {
        throw new TriggerKitError(
          "INVALID_ACTION",
          `a function, a module path, or { module, permissions?, timeoutMs?, memoryMb? } is required, received ${
            describeType(action)
          }`,
        );
      }
    });
  }
  named<ViewDefinition>(config.views, "views").forEach((view, i) =>
    inFile(`views.${view.name ?? i}`, () => registry.defineView(view))
  );
  named<JobDefinition>(config.jobs, "jobs").forEach((job, i) =>
    inFile(`jobs.${job.name ?? i}`, () => registry.defineJob(job))
  );
}

function moduleUrl(module: string, dir: string): URL {
  if (/^[a-z][a-z0-9+.-]*:/i.test(module)) return new URL(module);
  return new URL(
    `file://${encodeURI(module.startsWith("/") ? module : `${dir}${module}`)}`,
  );
}
