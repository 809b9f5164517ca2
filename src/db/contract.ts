/**
 * What TriggerKit needs of a database, behind one small interface: SQLite
 * (`node:sqlite`) and PostgreSQL (`npm:postgres`) implement it in their own
 * files.
 *
 * @module
 */
import { TriggerKitError } from "../errors.ts";
import { toJson } from "../_json.ts";
import type { Row } from "../types.ts";
import type { NamedSql } from "./named_sql.ts";

/** Limits on one database call. */
export interface CallOptions {
  /** Aborts the call: the query is cancelled and the call fails with `DATABASE_ERROR`. */
  signal?: AbortSignal;
  /**
   * Fails the call with `DATABASE_ERROR` when it has not finished after this
   * many milliseconds (connecting and waiting for locks included); the query
   * is cancelled. No deadline when absent.
   */
  timeoutMs?: number;
}

/** How `execute` runs a statement. */
export interface ExecuteOptions extends CallOptions {
  /** The statement's parameters, one set per run of it. */
  params: Row[];
  /** Roll the transaction back at the end: report, change nothing. */
  dryRun: boolean;
}

/** What `execute` did. */
export interface ExecuteResult {
  /** Rows inserted, updated or deleted (would have been, in a dry run). */
  rowsAffected: number;
  /** Statements sent to the database. */
  statements: number;
}

/** A database connection (a pool, for PostgreSQL). */
export interface Database {
  /** `sqlite` or `postgres`. */
  readonly kind: "sqlite" | "postgres";
  /** The URL with any password masked, for messages. */
  readonly label: string;
  /** Runs a query and returns its rows as plain objects. */
  query(sql: NamedSql, params?: Row, options?: CallOptions): Promise<Row[]>;
  /** Runs a statement once per parameter set, all in one transaction. */
  execute(sql: NamedSql, options: ExecuteOptions): Promise<ExecuteResult>;
  /** Closes the connection. */
  close(): Promise<void>;
}

/** A value as a database parameter: JSON for objects, ISO text for dates. */
export function toParameter(value: unknown): unknown {
  if (value === undefined || value === null) return null;
  if (value instanceof Date) return value.toISOString();
  if (value instanceof Uint8Array) return value;
  if (typeof value === "object") return toJson(value);
  return value;
}

/**
 * The parameter values of one statement run, in `names` order, or
 * `INVALID_DATA` naming the row and the missing field.
 */
export function bindRow(
  names: readonly string[],
  row: Row,
  index: number,
  convert: (value: unknown) => unknown = toParameter,
): unknown[] {
  const values = new Array<unknown>(names.length);
  for (let i = 0; i < names.length; i++) {
    const name = names[i]!;
    if (!(name in row)) {
      throw new TriggerKitError(
        "INVALID_DATA",
        `Row ${index} has no field "${name}", which the SQL uses as :${name}`,
      );
    }
    values[i] = convert(row[name]);
  }
  return values;
}

/** A `DATABASE_ERROR` with the database's message, the row, never a secret. */
export function databaseError(
  database: string,
  error: unknown,
  context: { row?: number; secrets?: readonly string[] } = {},
): TriggerKitError {
  let message = error instanceof Error ? error.message : String(error);
  for (const secret of context.secrets ?? []) {
    if (secret) message = message.replaceAll(secret, "***");
  }
  const where = context.row === undefined ? "" : ` on row ${context.row}`;
  return new TriggerKitError(
    "DATABASE_ERROR",
    `Statement failed${where} (${database}): ${message}`,
    { cause: error },
  );
}
