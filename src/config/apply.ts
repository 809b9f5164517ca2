/**
 * Applying a config: a registry created from its options, its actions
 * registered, its views and jobs defined. Every error names the file.
 *
 * @module
 */
import { describeType, isTriggerKitError, TriggerKitError } from "../errors.ts";
import { isPlainObject } from "../_plain.ts";
import {
  createRegistry,
  type Registry,
  type RegistryOptions,
} from "../registry/registry.ts";
import type { JobDefinition, ViewDefinition } from "../jobs/definitions.ts";
import type { TriggerKitConfig } from "./schema.ts";
import { findConfigFile, readConfig } from "./read.ts";

/**
 * Loads a config file into a new registry: its actions registered, views
 * and jobs defined. Every error names the file.
 *
 * @param path The config file (default: looked for in the working directory).
 * @param options Registry options that the config does not set.
 * @returns The registry, and the file it came from.
 * @throws {TriggerKitError} `INVALID_CONFIG`, `INVALID_VIEW`, `INVALID_JOB`, `INVALID_SCHEDULE`, …
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
