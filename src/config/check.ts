/**
 * The checks of a config file as a whole, before anything is registered:
 * unknown keys at every level (with the closest known key), sections of the
 * wrong type, duplicate view and job names. Every problem is collected.
 *
 * @module
 */
import { describeType, type ValidationProblem } from "../errors.ts";
import { isPlainObject } from "../_plain.ts";
import { joinPath, unknownKeys } from "../_strict.ts";
import { CONFIG_SHAPE, type TriggerKitConfig } from "./schema.ts";
import { isDatabaseUrl, redactUrl } from "../db/url.ts";

/** One view, job or action of a config, and where it is written. */
export interface ConfigEntry {
  /** Its name: the table key, or the list item's `name`. */
  name: string;
  /** Where it is: `jobs.alerts`, `views[2]`. */
  path: string;
  /** What is written there (a view or job gets its `name`). */
  value: unknown;
}

function problem(path: string, message: string): ValidationProblem {
  return { path, code: "INVALID_CONFIG", message };
}

/**
 * The problems of a config as a whole. Unknown keys are removed from
 * `config` once reported, so that later checks report only other problems.
 *
 * @param config The config as read (its objects are changed).
 * @returns Every problem found.
 */
export function checkConfig(config: TriggerKitConfig): ValidationProblem[] {
  const problems: ValidationProblem[] = [];
  for (const unknown of unknownKeys(config, CONFIG_SHAPE)) {
    problems.push(problem(unknown.path, unknown.message));
    delete unknown.owner[unknown.key];
  }
  const { databases, store } = config as Record<string, unknown>;
  problems.push(...numberProblems(config));
  if (databases !== undefined) {
    if (!isPlainObject(databases)) {
      problems.push(problem(
        "databases",
        `databases must be a table of names and URLs, received ${
          describeType(databases)
        }`,
      ));
    } else {
      for (const [name, url] of Object.entries(databases)) {
        if (typeof url !== "string") {
          problems.push(problem(
            joinPath("databases", name),
            `databases.${name} must be a database URL, received ${
              describeType(url)
            }`,
          ));
          delete databases[name];
        } else if (!url.includes("${") && !isDatabaseUrl(url)) {
          problems.push(problem(
            joinPath("databases", name),
            `databases.${name} is not a database URL (received "${
              redactUrl(url)
            }"): use sqlite:./file.db, sqlite::memory: or postgres://user@host:port/db`,
          ));
        }
      }
    }
  }
  if (store !== undefined && typeof store !== "string") {
    problems.push(problem(
      "store",
      `store must be a database URL or name, received ${describeType(store)}`,
    ));
    delete config.store;
  } else if (
    typeof store === "string" && !store.includes("${") &&
    !store.startsWith("kv:") && !isDatabaseUrl(store) &&
    !(isPlainObject(databases) && typeof databases[store] === "string")
  ) {
    problems.push(problem(
      "store",
      `store must be a database URL (sqlite:…, postgres://…), kv:, kv:<path>, or a name in databases, received "${
        redactUrl(store)
      }"`,
    ));
    delete config.store;
  }
  for (const section of ["views", "jobs"] as const) {
    configEntries(config, section, problems);
  }
  configEntries(config, "actions", problems);
  return problems;
}

/** The least value of each number of `sandbox` and `serve` (all whole numbers). */
const LEAST: Record<string, Record<string, number>> = {
  sandbox: { maxWorkersPerAction: 1, maxProcesses: 1 },
  serve: { leaseMs: 1, graceMs: 0, storeRetryMs: 1 },
};

/**
 * The problems of `sandbox` and `serve` settings (whole numbers, `true` or
 * `false`); each bad setting is removed once reported, so that the registry
 * can still be made and the rest checked.
 */
function numberProblems(config: TriggerKitConfig): ValidationProblem[] {
  const problems: ValidationProblem[] = [];
  for (const section of ["sandbox", "serve"] as const) {
    const table = config[section] as unknown;
    if (table === undefined) continue;
    if (!isPlainObject(table)) {
      problems.push(problem(
        section,
        `${section} must be a table, received ${describeType(table)}`,
      ));
      delete config[section];
      continue;
    }
    for (const [key, value] of Object.entries(table)) {
      const least = LEAST[section]![key];
      const path = joinPath(section, key);
      if (least === undefined) {
        if (typeof value === "boolean") continue;
        problems.push(problem(
          path,
          `${path} must be true or false, received ${describeType(value)}`,
        ));
      } else if (
        typeof value === "number" && Number.isSafeInteger(value) &&
        value >= least
      ) continue;
      else {
        problems.push(problem(
          path,
          `${path} must be a whole number of ${least} or more, received ${
            typeof value === "number" ? value : describeType(value)
          }`,
        ));
      }
      delete table[key];
    }
  }
  return problems;
}

/**
 * The entries of a section (`views`, `jobs` as a list or a table; `actions`
 * as a table), each with its path. Items that are not tables, or repeat a
 * name, are left out and reported in `problems` when given.
 */
export function configEntries(
  config: TriggerKitConfig,
  section: "views" | "jobs" | "actions",
  problems?: ValidationProblem[],
): ConfigEntry[] {
  const items = config[section] as unknown;
  const what = section.slice(0, -1);
  const report = (path: string, message: string) =>
    problems?.push(problem(path, message));
  if (items === undefined) return [];
  const entries: ConfigEntry[] = [];
  if (Array.isArray(items) && section !== "actions") {
    const first = new Map<unknown, string>();
    items.forEach((item, i) => {
      const path = joinPath(section, i);
      if (!isPlainObject(item)) {
        return report(
          path,
          `${path} must be a ${what} table, received ${describeType(item)}`,
        );
      }
      const seen = first.get(item.name);
      if (seen !== undefined) {
        return report(
          joinPath(path, "name"),
          `duplicate ${what} name ${
            JSON.stringify(item.name)
          } (also at ${seen}): each ${what} needs its own name`,
        );
      }
      first.set(item.name, path);
      entries.push({ name: String(item.name), path, value: item });
    });
    return entries;
  }
  if (!isPlainObject(items)) {
    report(
      section,
      `${section} must be ${
        section === "actions" ? "a table" : "a list or a table"
      } of ${section}, received ${describeType(items)}`,
    );
    return [];
  }
  for (const [name, item] of Object.entries(items)) {
    const path = joinPath(section, name);
    if (section === "actions") {
      entries.push({ name, path, value: item });
      continue;
    }
    if (!isPlainObject(item)) {
      report(
        path,
        `${path} must be a ${what} table, received ${describeType(item)}`,
      );
      continue;
    }
    if (item.name !== undefined && item.name !== name) {
      report(
        joinPath(path, "name"),
        `${path} is named by its key; its name ${
          JSON.stringify(item.name)
        } differs (remove it)`,
      );
      continue;
    }
    entries.push({ name, path, value: { ...item, name } });
  }
  return entries;
}

/** A problem as one line: `path: message` (the path left out when the message names it). */
export function describeProblem(found: ValidationProblem): string {
  return found.path && !found.message.includes(` in ${found.path}`)
    ? `${found.path}: ${found.message}`
    : found.message;
}
