/**
 * `validate`: every check that can be made before a run, and every problem
 * reported at once, each with its place — the file's keys and variables,
 * the definitions, then what the registry can check (databases answer,
 * views prepare, dedupe keys are columns, modules load, secrets are set).
 *
 * @module
 */
import { isTriggerKitError, type ValidationProblem } from "../errors.ts";
import { createRegistry } from "../registry/registry.ts";
import type { TriggerKitConfig } from "./schema.ts";
import { findConfigFile, readConfig, substituteEnv } from "./read.ts";
import { checkConfig } from "./check.ts";
import { resolvePaths } from "./paths.ts";
import { applyConfig, folderOf, problemsOf, registryOptions } from "./apply.ts";

/** Options of {@linkcode validateConfig}. */
export interface ValidateConfigOptions {
  /** The folder relative paths of a config object are relative to (default: the working directory). */
  dir?: string;
  /** How long each database may take to answer, in ms (default 5000). */
  timeoutMs?: number;
}

/** What {@linkcode validateConfig} found. */
export interface ConfigValidation {
  /** The config file, when one was read. */
  file?: string;
  /** Every problem, each with its key path; empty when the config is valid. */
  problems: ValidationProblem[];
  /** How many views, jobs and actions were defined. */
  counts: { views: number; jobs: number; actions: number };
}

/**
 * Checks a config file (or config object) as far as it can be checked
 * before a run, and reports every problem: unknown keys and unset
 * variables, bad or duplicate definitions, step configs, databases that do
 * not answer, view SQL that does not prepare, dedupe keys that are not
 * columns, module actions that do not load, environment variables steps
 * name that are not set. Nothing is run or written.
 *
 * @param source A config file path (default: looked for in the working
 * directory) or a config object.
 * @param options The folder of a config object; the databases' deadline.
 * @returns The problems found, with the file and counts.
 * @throws {TriggerKitError} `INVALID_CONFIG` when there is no config file.
 *
 * @example A TOML config with a typo
 * ```ts
 * import { validateConfig } from "@triggerkit/triggerkit";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/triggerkit.toml`, [
 *   "[views.v]", 'database = "sqlite::memory:"', 'sql = "SELECT 1 AS id"',
 *   "[jobs.alerts]", 'view = "v"', 'schedul = "hourly"', 'actions = ["http_request"]',
 * ].join("\n"));
 * const { problems } = await validateConfig(`${dir}/triggerkit.toml`);
 * assert.equal(problems[0]!.path, "jobs.alerts");
 * assert.equal(problems[0]!.message, 'unknown key "schedul" in jobs.alerts; did you mean "schedule"?');
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function validateConfig(
  source?: string | TriggerKitConfig,
  options: ValidateConfigOptions = {},
): Promise<ConfigValidation> {
  const problems: ValidationProblem[] = [];
  const counts = { views: 0, jobs: 0, actions: 0 };
  let file: string | undefined;
  let raw: TriggerKitConfig;
  if (typeof source === "object") {
    raw = substituteEnv(source, "config", { problems }) as TriggerKitConfig;
  } else {
    file = findConfigFile(source);
    try {
      raw = await readConfig(file, problems);
    } catch (error) {
      if (!isTriggerKitError(error)) throw error;
      return { file, problems: problemsOf(error, ""), counts };
    }
  }
  const where = file ?? `${options.dir ?? Deno.cwd()}/config`;
  problems.push(...checkConfig(raw));
  const config = resolvePaths(raw, folderOf(where));
  let registry;
  try {
    registry = createRegistry(registryOptions(config, where));
  } catch (error) {
    if (!isTriggerKitError(error)) throw error;
    problems.push(...problemsOf(error, ""));
    return { ...(file ? { file } : {}), problems, counts };
  }
  try {
    applyConfig(registry, config, where, { problems });
    problems.push(
      ...await registry.validate(
        options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs },
      ),
    );
    counts.views = registry.listViews().length;
    counts.jobs = registry.listJobs().length;
    counts.actions = registry.listAvailable().length;
  } finally {
    await registry.close();
  }
  return { ...(file ? { file } : {}), problems, counts };
}
