/**
 * Relative paths in a config file are relative to the file's folder, never
 * to the working directory: SQLite URLs (databases, views, the store, a
 * step's `database`), `kv:` stores, module paths and `read`/`write` grants.
 * So `serve` started from another folder uses the same files.
 *
 * @module
 */
import { isPlainObject } from "../_plain.ts";
import type { TriggerKitConfig } from "./schema.ts";

/** A path made absolute against `dir`, with `.` and `..` resolved. */
export function absolutePath(path: string, dir: string): string {
  const joined = path.startsWith("/") ? path : `${dir}/${path}`;
  const parts: string[] = [];
  for (const part of joined.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") parts.pop();
    else parts.push(part);
  }
  return `/${parts.join("/")}`;
}

/**
 * A store or database URL with a relative file path made absolute against
 * `dir`: `sqlite:./shop.db` → `sqlite:/dir/shop.db`, `kv:./state` →
 * `kv:/dir/state`. In-memory and other URLs are kept as they are.
 */
export function absoluteUrl(url: string, dir: string): string {
  const match = /^(sqlite|kv):(.*)$/s.exec(url);
  if (!match) return url;
  const [, scheme, path] = match as unknown as [string, string, string];
  if (path === "" || path === ":memory:" || path.startsWith("/")) return url;
  return `${scheme}:${absolutePath(path, dir)}`;
}

/** The default store of a config: `.triggerkit/state.db` in its folder. */
export function defaultStore(dir: string): string {
  return `sqlite:${absolutePath(".triggerkit/state.db", dir)}`;
}

/**
 * A copy of a config with its relative paths made absolute against `dir`
 * (module paths are resolved where actions are registered).
 */
export function resolvePaths(
  config: TriggerKitConfig,
  dir: string,
): TriggerKitConfig {
  const out: Record<string, unknown> = { ...config };
  const url = (value: unknown) =>
    typeof value === "string" ? absoluteUrl(value, dir) : value;
  if (isPlainObject(config.databases)) {
    out.databases = mapValues(config.databases, url);
  }
  out.store = url(config.store);
  out.views = mapEntries(config.views, (view) => ({
    ...view,
    ...("database" in view ? { database: url(view.database) } : {}),
  }));
  out.jobs = mapEntries(config.jobs, (job) => jobWithUrls(job, url));
  if (isPlainObject(config.actions)) {
    out.actions = mapValues(
      config.actions,
      (action) =>
        isPlainObject(action) && isPlainObject(action.permissions)
          ? { ...action, permissions: grantsFrom(action.permissions, dir) }
          : action,
    );
  }
  for (const key of Object.keys(out)) {
    if (out[key] === undefined) delete out[key];
  }
  return out as TriggerKitConfig;
}

/** Where a job holds steps: its actions, and its alert and notice blocks. */
const STEP_LISTS = [
  [null, "actions"],
  ["alert", "resolved"],
  ["alert", "summary"],
  ["onFailure", "actions"],
  ["onRecovery", "actions"],
] as const;

/** A job whose steps' database URLs are made absolute, wherever the steps are. */
function jobWithUrls(
  job: Record<string, unknown>,
  url: (value: unknown) => unknown,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...job };
  for (const [block, list] of STEP_LISTS) {
    const owner = block === null ? out : out[block];
    if (!isPlainObject(owner) || !Array.isArray(owner[list])) continue;
    const steps = (owner[list] as unknown[]).map((step) =>
      stepWithUrl(step, url)
    );
    if (block === null) out[list] = steps;
    else out[block] = { ...owner, [list]: steps };
  }
  return out;
}

/** A step whose config names a database by URL, the URL made absolute. */
function stepWithUrl(step: unknown, url: (value: unknown) => unknown): unknown {
  if (!isPlainObject(step) || !isPlainObject(step.config)) return step;
  if (typeof step.config.database !== "string") return step;
  return {
    ...step,
    config: { ...step.config, database: url(step.config.database) },
  };
}

/** `read` and `write` paths made absolute against `dir`. */
function grantsFrom(
  permissions: Record<string, unknown>,
  dir: string,
): Record<string, unknown> {
  const out = { ...permissions };
  for (const key of ["read", "write"]) {
    const paths = permissions[key];
    if (Array.isArray(paths)) {
      out[key] = paths.map((path) =>
        typeof path === "string" && path !== "" ? absolutePath(path, dir) : path
      );
    }
  }
  return out;
}

function mapValues(
  table: Record<string, unknown>,
  fn: (value: unknown) => unknown,
): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(table).map(([key, value]) => [key, fn(value)]),
  );
}

/** Maps the objects of a list or a table of them; anything else is kept. */
function mapEntries(
  items: unknown,
  fn: (item: Record<string, unknown>) => Record<string, unknown>,
): unknown {
  const each = (item: unknown) => isPlainObject(item) ? fn(item) : item;
  if (Array.isArray(items)) return items.map(each);
  if (isPlainObject(items)) return mapValues(items, each);
  return items;
}
