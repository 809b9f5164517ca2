/**
 * The databases a registry talks to, by URL, opened on first use and closed
 * together: `sqlite:./file.db`, `sqlite::memory:`, `postgres://…`.
 *
 * @module
 */
import type { Database } from "./database.ts";
import { describeType, TriggerKitError } from "./errors.ts";
import { SqliteDatabase, type SqliteOptions } from "./sqlite.ts";
import { PostgresDatabase, type PostgresOptions } from "./postgres.ts";

/** How the databases of a registry are opened. */
export interface DatabaseOptions extends SqliteOptions, PostgresOptions {}

/** A database URL with its password masked. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.href;
  } catch {
    return url.replace(/\/\/([^:/@]+):[^@]*@/, "//$1:***@");
  }
}

/** Whether a string is a database URL TriggerKit knows. */
export function isDatabaseUrl(url: unknown): url is string {
  return typeof url === "string" &&
    /^(sqlite:|postgres:\/\/|postgresql:\/\/)/.test(url);
}

/** Database connections by URL, closed together. */
export class Databases {
  #open = new Map<string, Database>();
  readonly #options: DatabaseOptions;

  /**
   * @param options SQLite's lock wait (`busyTimeoutMs`, 5000) and
   * PostgreSQL's connect deadline (`connectTimeoutMs`, 10000).
   */
  constructor(options: DatabaseOptions = {}) {
    this.#options = options;
  }

  /**
   * The database of a URL, opened on first use.
   *
   * @param url `sqlite:<path>`, `sqlite::memory:` or `postgres://…`.
   * @returns The open database.
   * @throws {TriggerKitError} `INVALID_CONFIG` for an unknown URL, `DATABASE_ERROR` when it cannot be opened.
   */
  get(url: string): Database {
    let database = this.#open.get(url);
    if (database) return database;
    if (!isDatabaseUrl(url)) {
      throw new TriggerKitError(
        "INVALID_CONFIG",
        `Unknown database URL ${
          typeof url === "string" ? `"${redactUrl(url)}"` : describeType(url)
        }: use sqlite:./file.db, sqlite::memory: or postgres://user@host:port/db`,
      );
    }
    const label = redactUrl(url);
    database = url.startsWith("sqlite:")
      ? new SqliteDatabase(
        url.slice("sqlite:".length) || ":memory:",
        label,
        this.#options,
      )
      : new PostgresDatabase(url, label, this.#options);
    this.#open.set(url, database);
    return database;
  }

  /** Closes every open connection. */
  async close(): Promise<void> {
    const open = [...this.#open.values()];
    this.#open.clear();
    await Promise.all(open.map((database) => database.close()));
  }
}
