/**
 * Opening a run store from a URL: `sqlite:<file>` (its folder created),
 * `sqlite::memory:`, `postgres://…`, or `kv:` / `kv:<path>` / `kv::memory:`.
 *
 * @module
 */
import { TriggerKitError } from "../errors.ts";
import { type Clock, realClock } from "../clock.ts";
import { Databases } from "../db/databases.ts";
import type { RunStore } from "./contract.ts";
import { SqlRunStore } from "./sql.ts";
import { openKvStore } from "./kv.ts";

/** The default run store: a SQLite file in the working directory. */
export const DEFAULT_STORE = "sqlite:.triggerkit/state.db";

/** Options of {@linkcode openRunStore}. */
export interface OpenRunStoreOptions {
  /** The clock of heartbeats and staleness (default: the real one). */
  clock?: Clock;
}

/**
 * Opens a run store from a URL, the same way `createRegistry({ store })`
 * does. Close it with `close()` when done.
 *
 * @param url `sqlite:./file.db` (the folder is created), `sqlite::memory:`,
 * `postgres://user@host/db`, or `kv:`, `kv:./path`, `kv::memory:` (Deno KV).
 * @param options The clock.
 * @returns The store.
 * @throws {TriggerKitError} `INVALID_CONFIG` for an unknown URL, a folder that
 * cannot be created, or Deno KV missing.
 *
 * @example A store for a script that reads the history
 * ```ts
 * import { openRunStore } from "@triggerkit/triggerkit";
 * import assert from "node:assert/strict";
 *
 * const store = openRunStore("sqlite::memory:");
 * assert.deepEqual(await store.history(), []);
 * await store.close?.();
 * ```
 */
export function openRunStore(
  url: string,
  options: OpenRunStoreOptions = {},
): RunStore {
  return openStore(url, { clock: options.clock ?? realClock });
}

/**
 * Opens a run store on a registry's databases (a SQL store shares their
 * connections and is closed with them) or, without, on its own connection.
 */
export function openStore(
  url: string,
  options: { clock: Clock; databases?: Databases },
): RunStore {
  const { clock } = options;
  const shared = options.databases;
  const resolved = shared?.resolve(url) ?? url;
  if (resolved.startsWith("kv:")) return openKvStore(resolved, clock);
  makeFolder(resolved);
  const database = (shared ?? new Databases()).get(resolved);
  return new SqlRunStore(database, { clock, ownsDatabase: !shared });
}

function makeFolder(url: string): void {
  const file = /^sqlite:(?!:memory:)(.+)$/.exec(url)?.[1];
  const dir = file?.includes("/")
    ? file.slice(0, file.lastIndexOf("/"))
    : undefined;
  if (!dir) return;
  try {
    Deno.mkdirSync(dir, { recursive: true });
  } catch (error) {
    throw new TriggerKitError(
      "INVALID_CONFIG",
      `The run store ${url} needs its folder ${dir}, which cannot be created (${
        (error as Error).message
      }); give --allow-write for it, or use another store (kv: on Deno Deploy)`,
      { cause: error },
    );
  }
}
