/**
 * What `validate` checks before any run, beyond the definitions (which are
 * checked when defined): each database answers, each view's SQL and each
 * `run_sql` statement prepares (never runs), dedupe keys are columns of
 * their view, module actions load, and the environment variables that steps
 * name are set. Every problem is reported, each with its place
 * (`views.big_orders.sql`, `jobs.sync.actions[1].config.sql`).
 *
 * @module
 */
import { isTriggerKitError, type ValidationProblem } from "../errors.ts";
import { isPlainObject } from "../_plain.ts";
import { didYouMean } from "../_suggest.ts";
import { joinPath } from "../_strict.ts";
import {
  type Job,
  jobSteps,
  type ViewDefinition,
} from "../jobs/definitions.ts";
import type { ActionInfo } from "../types.ts";
import { type DatabaseProbe, openProbe } from "./_db_probe.ts";
import { isDatabaseUrl } from "../db/url.ts";
import type { Jobs } from "../jobs/engine.ts";
import type { Databases } from "../db/databases.ts";
import type { ActionTable } from "./action_table.ts";
import type { RegistryOptions, ValidateOptions } from "./_options.ts";
import { DEFAULT_STORE } from "../store/open.ts";

/** What validating needs of a registry: its jobs, actions and databases. */
export type ValidateParts = readonly [Jobs, ActionTable, Databases];

/** The registry's own options (its database names and store) and the call's. */
type Settings = ValidateOptions & Pick<RegistryOptions, "databases" | "store">;

/** What the checks read, taken once from the registry's parts. */
interface ValidateHost {
  views: ViewDefinition[];
  jobs: Job[];
  actions: ActionInfo[];
  load(action: string): Promise<void>;
  parseConfig(action: string, config: unknown): Record<string, unknown>;
  databaseNames: ReadonlyMap<string, string>;
  resolve(nameOrUrl: string): string;
  isDatabase(nameOrUrl: string): boolean;
  store: string | undefined;
}

function hostOf(parts: ValidateParts, settings: Settings): ValidateHost {
  const [jobs, actions, databases] = parts;
  const { store = DEFAULT_STORE } = settings;
  return {
    views: jobs.listViews(),
    jobs: jobs.listJobs(),
    actions: actions.names().map((name) => actions.info(name)),
    load: (name) => actions.load(name),
    parseConfig: (name, config) => actions.parseConfig(name, config),
    databaseNames: new Map(Object.entries(settings.databases ?? {})),
    resolve: (name) => databases.resolve(name),
    isDatabase: (name) => databases.has(name),
    store: typeof store === "string" ? store : undefined,
  };
}

/** A database a check uses, and where it is named. */
interface Use {
  url: string;
  path: string;
  /** A view or step reads or writes it: a SQLite file must exist. */
  used: boolean;
}

/**
 * Checks what can be checked before a run and reports every problem.
 *
 * @param parts The registry's jobs, actions and databases.
 * @param options The databases' deadline; the registry's database names and store.
 * @returns The problems found; none when all is well.
 */
export async function validateRegistry(
  parts: ValidateParts,
  options: Settings = {},
): Promise<ValidationProblem[]> {
  const host = hostOf(parts, options);
  const timeoutMs = options.timeoutMs ?? 5000;
  const problems: ValidationProblem[] = [];
  const probes = new Map<string, DatabaseProbe>();
  try {
    // Each database once; a SQLite file only views or steps use must exist.
    const targets = uniqueByUrl(databaseUses(host)).filter((use) =>
      isDatabaseUrl(use.url) && (use.used || !use.url.startsWith("sqlite:"))
    );
    const opened = await Promise.allSettled(
      targets.map((use) => openProbe(use.url, timeoutMs)),
    );
    opened.forEach((outcome, i) => {
      const { url, path } = targets[i]!;
      if (outcome.status === "fulfilled") probes.set(url, outcome.value);
      else record(problems, path, outcome.reason);
    });
    const columns = new Map<string, string[]>();
    const prepared = await Promise.allSettled(host.views.map(async (view) => {
      const probe = probes.get(host.resolve(view.database));
      if (probe) columns.set(view.name, await probe.columns(view.sql));
    }));
    prepared.forEach((outcome, i) => {
      if (outcome.status === "fulfilled") return;
      const where = joinPath(joinPath("views", host.views[i]!.name), "sql");
      record(problems, where, outcome.reason);
    });
    problems.push(...dedupeProblems(host.jobs, columns));
    problems.push(...await statementProblems(host, probes));
    const modules = host.actions.filter((info) => info.module);
    const loaded = await Promise.allSettled(
      modules.map((info) => host.load(info.name)),
    );
    loaded.forEach((outcome, i) => {
      if (outcome.status === "fulfilled") return;
      record(problems, joinPath("actions", modules[i]!.name), outcome.reason);
    });
    problems.push(...environmentProblems(host));
  } finally {
    await Promise.all([...probes.values()].map((probe) => probe.close()));
  }
  return problems;
}

function record(
  problems: ValidationProblem[],
  path: string,
  error: unknown,
): void {
  if (!isTriggerKitError(error)) throw error;
  problems.push({ path, code: error.code, message: error.message });
}

/**
 * Every database the registry would open, where each is named first: a
 * configured name at `databases.<name>`, a URL where it is written.
 */
function databaseUses(host: ValidateHost): Use[] {
  const uses: Use[] = [];
  const pathOf = (nameOrUrl: string, where: string) =>
    host.databaseNames.has(nameOrUrl)
      ? joinPath("databases", nameOrUrl)
      : where;
  for (const [name, url] of host.databaseNames) {
    uses.push({ url, path: joinPath("databases", name), used: false });
  }
  for (const view of host.views) {
    uses.push({
      url: host.resolve(view.database),
      path: pathOf(
        view.database,
        joinPath(joinPath("views", view.name), "database"),
      ),
      used: true,
    });
  }
  for (const job of host.jobs) {
    jobSteps(job).forEach(({ step, path }) => {
      const database = step.config?.database;
      if (typeof database !== "string" || !host.isDatabase(database)) return;
      uses.push({
        url: host.resolve(database),
        path: pathOf(database, `${stepPath(job, path)}.config.database`),
        used: true,
      });
    });
  }
  if (host.store !== undefined && host.isDatabase(host.store)) {
    uses.push({
      url: host.resolve(host.store),
      path: pathOf(host.store, "store"),
      used: false,
    });
  }
  return uses;
}

/** One use per URL: the first path that names it, used if any use is. */
function uniqueByUrl(uses: Use[]): Use[] {
  const byUrl = new Map<string, Use>();
  for (const use of uses) {
    const seen = byUrl.get(use.url);
    if (!seen) byUrl.set(use.url, { ...use });
    else seen.used ||= use.used;
  }
  return [...byUrl.values()];
}

/** A statement that changes the schema: later statements may need it. */
const SCHEMA_CHANGE =
  /^(?:\s|--[^\n]*(?:\n|$)|\/\*[\s\S]*?\*\/)*(?:create|alter|drop)\b/i;

/**
 * Every `run_sql` statement of every job, prepared on its database as a run
 * would prepare it, never run. Within a job, statements after a schema
 * change (`CREATE`, `ALTER`, `DROP`) on the same database are left out: they
 * may need that change. An in-memory SQLite database is empty before a run:
 * there is nothing to prepare against.
 */
async function statementProblems(
  host: ValidateHost,
  probes: ReadonlyMap<string, DatabaseProbe>,
): Promise<ValidationProblem[]> {
  const runSql = host.actions.find((info) => info.name === "run_sql");
  if (runSql?.kind !== "builtin") return [];
  const checks: Array<{ path: string; what: string; done: Promise<void> }> = [];
  for (const job of host.jobs) {
    const changed = new Set<string>();
    for (const { step, path, label } of jobSteps(job)) {
      if (step.action !== "run_sql") continue;
      let config: Record<string, unknown>;
      try {
        config = host.parseConfig(step.action, step.config);
      } catch {
        continue; // Its definition was refused: reported there.
      }
      const url = host.resolve(String(config.database));
      const sql = String(config.sql);
      const probe = probes.get(url);
      if (!probe || changed.has(url) || isMemory(url)) continue;
      if (SCHEMA_CHANGE.test(sql)) changed.add(url);
      checks.push({
        path: `${stepPath(job, path)}.config.sql`,
        what: `the SQL of ${label} (run_sql) of job ${
          JSON.stringify(job.name)
        }`,
        done: probe.prepare(sql),
      });
    }
  }
  const problems: ValidationProblem[] = [];
  const outcomes = await Promise.allSettled(checks.map((check) => check.done));
  outcomes.forEach((outcome, i) => {
    if (outcome.status === "fulfilled") return;
    const { path, what } = checks[i]!;
    const error = outcome.reason;
    if (!isTriggerKitError(error)) throw error;
    problems.push({
      path,
      code: error.code,
      message: `${what} does not prepare: ${error.message}`,
    });
  });
  return problems;
}

function isMemory(url: string): boolean {
  return url === "sqlite:" || url === "sqlite::memory:";
}

function stepPath(job: Job, path: string): string {
  return `${joinPath("jobs", job.name)}.${path}`;
}

function dedupeProblems(
  jobs: Job[],
  columns: ReadonlyMap<string, string[]>,
): ValidationProblem[] {
  const problems: ValidationProblem[] = [];
  for (const job of jobs) {
    const known = columns.get(job.view);
    if (!job.dedupe || !known) continue;
    for (const key of job.dedupe.key) {
      if (known.includes(key)) continue;
      problems.push({
        path: `${joinPath("jobs", job.name)}.dedupe.key`,
        code: "INVALID_JOB",
        message:
          `dedupe key "${key}" is not a column of view "${job.view}" (its columns: ${
            known.join(", ")
          })${didYouMean(key, known)}`,
      });
    }
  }
  return problems;
}

/**
 * The environment variables a step's config names: every string under a key
 * ending in `Env` (`tokenEnv`, `webhookUrlEnv`, `headers.X.fromEnv`), at any
 * depth. A `tokenEnv` beside a `webhookUrlEnv` is not needed: the webhook
 * is used.
 */
export function namedVariables(
  config: unknown,
  path = "config",
): Array<{ path: string; key: string; variable: string }> {
  if (Array.isArray(config)) {
    return config.flatMap((item, i) => namedVariables(item, `${path}[${i}]`));
  }
  if (!isPlainObject(config)) return [];
  return Object.entries(config).flatMap(([key, value]) => {
    if (typeof value === "string" && key.endsWith("Env")) {
      if (key === "tokenEnv" && typeof config.webhookUrlEnv === "string") {
        return [];
      }
      return [{ path: joinPath(path, key), key, variable: value }];
    }
    return namedVariables(value, joinPath(path, key));
  });
}

function environmentProblems(host: ValidateHost): ValidationProblem[] {
  const problems: ValidationProblem[] = [];
  for (const job of host.jobs) {
    jobSteps(job).forEach(({ step, path: where, label }) => {
      // A step that is always a dry run sends nothing: it needs no secret.
      if (step.dryRun === true) return;
      let config: Record<string, unknown>;
      try {
        config = host.parseConfig(step.action, step.config);
      } catch {
        return; // Its definition was refused: reported there.
      }
      for (const { path, key, variable } of namedVariables(config)) {
        if (readEnv(variable)) continue;
        problems.push({
          path: `${stepPath(job, where)}.${path}`,
          code: "INVALID_CONFIG",
          message:
            `the environment variable ${variable} (${key} of ${label}, ${step.action}) is not set`,
        });
      }
    });
  }
  return problems;
}

function readEnv(name: string): boolean {
  try {
    return Boolean(Deno.env.get(name));
  } catch {
    return true; // Without --allow-env the check cannot be made here.
  }
}
