/**
 * SQLite through `node:sqlite` (no FFI, no native download). Rows come back
 * as plain objects; booleans bind as 1/0, `undefined` as NULL.
 *
 * @module
 */
import { DatabaseSync, type StatementSync } from "node:sqlite";
import {
  bindRow,
  type Database,
  databaseError,
  type ExecuteOptions,
  type ExecuteResult,
  toParameter,
} from "./contract.ts";
import { type NamedSql, toNumbered } from "./named_sql.ts";
import type { Row } from "../types.ts";
import { TriggerKitError } from "../errors.ts";

function sqliteParameter(value: unknown): unknown {
  if (typeof value === "boolean") return value ? 1 : 0;
  return toParameter(value) as never;
}

/** A SQLite database file, or `:memory:`. */
export class SqliteDatabase implements Database {
  readonly kind = "sqlite" as const;
  readonly label: string;
  readonly #db: DatabaseSync;
  readonly #statements = new Map<string, StatementSync>();

  /**
   * @param path A file path or `:memory:`.
   * @param label The URL, for messages.
   */
  constructor(path: string, label: string) {
    this.label = label;
    try {
      this.#db = new DatabaseSync(path);
    } catch (error) {
      throw databaseError(label, error);
    }
  }

  /** A prepared statement, `:name` rewritten as `?N`: binding by position is twice as fast. */
  #prepare(sql: NamedSql): StatementSync {
    let statement = this.#statements.get(sql.sql);
    if (!statement) {
      statement = this.#db.prepare(toNumbered(sql, 0, "?"));
      if (this.#statements.size > 100) this.#statements.clear();
      this.#statements.set(sql.sql, statement);
    }
    return statement;
  }

  query(sql: NamedSql, params: Row = {}): Promise<Row[]> {
    try {
      const statement = this.#prepare(sql);
      const bound = bindRow(sql.names, params, 0, sqliteParameter) as never[];
      let rows: Row[];
      try {
        rows = statement.all(...bound) as Row[];
      } catch (error) {
        // An integer past 2^53 cannot be a number: read it as a bigint.
        if (!(error instanceof RangeError)) throw error;
        statement.setReadBigInts(true);
        try {
          rows = statement.all(...bound) as Row[];
        } finally {
          statement.setReadBigInts(false);
        }
      }
      return Promise.resolve(rows.map((row) => ({ ...row })));
    } catch (error) {
      return Promise.reject(
        error instanceof TriggerKitError
          ? error
          : databaseError(this.label, error),
      );
    }
  }

  execute(sql: NamedSql, options: ExecuteOptions): Promise<ExecuteResult> {
    let rowsAffected = 0;
    let index = 0;
    try {
      this.#db.exec("BEGIN IMMEDIATE");
    } catch (error) {
      return Promise.reject(databaseError(this.label, error));
    }
    try {
      const statement = this.#prepare(sql);
      for (; index < options.params.length; index++) {
        const values = bindRow(
          sql.names,
          options.params[index]!,
          index,
          sqliteParameter,
        );
        rowsAffected += Number(statement.run(...values as never[]).changes);
      }
      this.#db.exec(options.dryRun ? "ROLLBACK" : "COMMIT");
      return Promise.resolve({
        rowsAffected,
        statements: options.params.length,
      });
    } catch (error) {
      this.#db.exec("ROLLBACK");
      return Promise.reject(
        error instanceof TriggerKitError
          ? error
          : databaseError(this.label, error, { row: index }),
      );
    }
  }

  close(): Promise<void> {
    this.#statements.clear();
    if (this.#db.isOpen) this.#db.close();
    return Promise.resolve();
  }
}
