/**
 * The databases a registry talks to: the one place where a configured
 * database name (`databases: { main: "postgres://…" }`) becomes its URL, and
 * where connections are opened on first use and closed together. Views,
 * `run_sql`, the run store and the command line all go through it.
 *
 * @module
 */
import type { Database } from "./contract.ts";
import { describeType, TriggerKitError } from "../errors.ts";
import { SqliteDatabase, type SqliteOptions } from "./sqlite.ts";
import { PostgresDatabase, type PostgresOptions } from "./postgres.ts";
import { isDatabaseUrl, redactUrl } from "./url.ts";

export { isDatabaseUrl, redactUrl } from "./url.ts";

/** How the databases of a registry are opened. */
export interface DatabaseOptions extends SqliteOptions, PostgresOptions {}

/** Database connections by URL, reached by URL or by configured name. */
export class Databases {
  readonly #names: ReadonlyMap<string, string>;
  readonly #open = new Map<string, Database>();
  readonly #options: DatabaseOptions;

  /**
   * @param names Configured database names and their URLs.
   * @param options SQLite's lock wait (`busyTimeoutMs`, 5000) and
   * PostgreSQL's connect deadline (`connectTimeoutMs`, 10000).
   */
  constructor(
    names: Record<string, string> = {},
    options: DatabaseOptions = {},
  ) {
    this.#names = new Map(Object.entries(names));
    this.#options = options;
  }

  /**
   * The URL a configured name stands for; any other string as it is.
   *
   * @param nameOrUrl A configured name or a URL.
   * @returns The URL.
   */
  resolve(nameOrUrl: string): string {
    return this.#names.get(nameOrUrl) ?? nameOrUrl;
  }

  /**
   * Whether a string is a configured database name or a database URL.
   *
   * @param nameOrUrl What a view or step names as its database.
   * @returns `true` when {@linkcode Databases.get} can open it.
   */
  has(nameOrUrl: unknown): nameOrUrl is string {
    return typeof nameOrUrl === "string" &&
      isDatabaseUrl(this.resolve(nameOrUrl));
  }

  /**
   * The database of a configured name or URL, opened on first use.
   *
   * @param nameOrUrl A configured name, `sqlite:<path>`, `sqlite::memory:` or `postgres://…`.
   * @returns The open database.
   * @throws {TriggerKitError} `INVALID_CONFIG` for an unknown name or URL,
   * `DATABASE_ERROR` when it cannot be opened.
   */
  get(nameOrUrl: string): Database {
    const url = typeof nameOrUrl === "string"
      ? this.resolve(nameOrUrl)
      : nameOrUrl;
    let database = this.#open.get(url);
    if (database) return database;
    if (!isDatabaseUrl(url)) throw this.#unknown(url);
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

  #unknown(url: unknown): TriggerKitError {
    const names = [...this.#names.keys()];
    return new TriggerKitError(
      "INVALID_CONFIG",
      `Unknown database ${
        typeof url === "string" ? `"${redactUrl(url)}"` : describeType(url)
      }: use sqlite:./file.db, sqlite::memory: or postgres://user@host:port/db${
        names.length > 0 ? `, or a configured name (${names.join(", ")})` : ""
      }`,
    );
  }
}
