/**
 * What TriggerKit needs of a database, behind one small interface: SQLite
 * (`node:sqlite`) and PostgreSQL (`npm:postgres`) implement it in their own
 * files.
 *
 * @module
 */
import { TriggerKitError } from "../errors.ts";
import { bindValue } from "./_values.ts";
import {
  type ColumnKind,
  type Dialect,
  RefusedValue,
} from "./_column_kinds.ts";
import type { Row } from "../types.ts";
import type { NamedSql } from "./named_sql.ts";

/** Limits on one database call. */
export interface CallOptions {
  /** Aborts the call: the query is cancelled and the call fails with `DATABASE_ERROR`. */
  signal?: AbortSignal;
  /**
   * Fails the call with `DATABASE_ERROR` when it has not finished after this
   * many milliseconds (connecting and waiting for locks included), and
   * cancels it: PostgreSQL cancels the query on the server; SQLite ends a
   * read-only query of a file by terminating its reader Worker, and stops
   * waiting for locks, but cannot stop a statement already running on the
   * calling thread (node:sqlite has no interrupt). No deadline when absent.
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

/**
 * A database connection (a pool, for PostgreSQL).
 *
 * Values read back: integers are numbers when they are safe integers and
 * bigints past 2^53 on SQLite (PostgreSQL's `int8` comes back as a digit
 * string, as `npm:postgres` reads it); `canonicalKey` compares all three.
 * Values bound: each is stored so that it reads back equal or refused with
 * `INVALID_DATA` naming the row and field (see `_values.ts` and docs/builtins.md).
 */
export interface Database {
  /** `sqlite` or `postgres`. */
  readonly kind: "sqlite" | "postgres";
  /** The URL with any password masked, for messages. */
  readonly label: string;
  /** Runs a query and returns its rows as plain objects. */
  query(sql: NamedSql, params?: Row, options?: CallOptions): Promise<Row[]>;
  /** Runs a statement once per parameter set, all in one transaction. */
  execute(sql: NamedSql, options: ExecuteOptions): Promise<ExecuteResult>;
  /** Closes the connection; waits for cancelled calls to be cleaned up. */
  close(): Promise<void>;
}

/** How the parameters of one statement are bound: the column kind of each. */
export interface Binding {
  readonly kinds: readonly ColumnKind[];
  readonly dialect: Dialect;
}

/** The binding of a statement's parameters, from each one's column kind. */
export function bindingFor(
  names: readonly string[],
  kindOf: (name: string, index: number) => ColumnKind,
  dialect: Dialect,
): Binding {
  return { kinds: names.map(kindOf), dialect };
}

/**
 * The parameter values of one statement run, in `names` order, or
 * `INVALID_DATA` naming the row and the missing or refused field. They are
 * written into `values` from `offset` (a multi-row statement's array).
 */
export function bindRow(
  names: readonly string[],
  row: Row,
  index: number,
  binding: Binding,
  values: unknown[] = new Array<unknown>(names.length),
  offset = 0,
): unknown[] {
  const { kinds, dialect } = binding;
  for (let i = 0; i < names.length; i++) {
    const name = names[i]!;
    if (!(name in row)) {
      throw new TriggerKitError(
        "INVALID_DATA",
        `Row ${index} has no field "${name}", which the SQL uses as :${name}`,
      );
    }
    try {
      values[offset + i] = bindValue(row[name], kinds[i]!, dialect);
    } catch (error) {
      if (!(error instanceof RefusedValue)) throw error;
      throw new TriggerKitError(
        "INVALID_DATA",
        `Row ${index}, field "${name}": ${error.message}`,
      );
    }
  }
  return values;
}

/** Whether `options` ask for no limit at all (the common, fast path). */
export function unlimited(options: CallOptions): boolean {
  return options.signal === undefined &&
    (options.timeoutMs === undefined || options.timeoutMs === Infinity);
}

/**
 * Runs `work` under the call's deadline and signal. When either fires first,
 * the returned promise rejects at once with `DATABASE_ERROR` and `stop` is
 * called with that error, to cancel what `work` started; `work`'s own later
 * outcome is then ignored.
 */
export function withDeadline<T>(
  label: string,
  options: CallOptions,
  work: () => Promise<T>,
  stop: (error: TriggerKitError) => void,
): Promise<T> {
  if (unlimited(options)) return work();
  const { signal, timeoutMs } = options;
  if (
    timeoutMs !== undefined &&
    !(typeof timeoutMs === "number" && timeoutMs > 0)
  ) {
    return Promise.reject(
      new TriggerKitError(
        "DATABASE_ERROR",
        `Invalid timeoutMs for ${label}: expected a positive number of milliseconds, received ${timeoutMs}`,
      ),
    );
  }
  if (signal?.aborted) return Promise.reject(abortedError(label, signal));
  return new Promise<T>((resolve, reject) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expire = (error: TriggerKitError) => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      reject(error);
      stop(error);
    };
    const onAbort = () => expire(abortedError(label, signal!));
    signal?.addEventListener("abort", onAbort, { once: true });
    // Past setTimeout's longest delay (~24.8 days) a timer would fire at
    // once: such a deadline is no deadline.
    if (timeoutMs !== undefined && timeoutMs <= 2 ** 31 - 1) {
      timer = setTimeout(
        () =>
          expire(
            new TriggerKitError(
              "DATABASE_ERROR",
              `Query timed out after ${timeoutMs} ms (${label}); it was cancelled`,
            ),
          ),
        timeoutMs,
      );
    }
    work().then(resolve, reject).finally(() => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    });
  });
}

/**
 * Throws the call's `DATABASE_ERROR` when its signal has fired: checked
 * right before a transaction commits, so that a run aborted while its
 * statements ran (its claim lost) changes nothing.
 */
export function throwIfStopped(
  label: string,
  signal: AbortSignal | undefined,
): void {
  if (signal?.aborted) throw abortedError(label, signal);
}

function abortedError(label: string, signal: AbortSignal): TriggerKitError {
  return new TriggerKitError(
    "DATABASE_ERROR",
    `Query aborted (${label}); it was cancelled`,
    { cause: signal.reason },
  );
}

/** A `DATABASE_ERROR` with the database's message, the row and field, never a secret. */
export function databaseError(
  database: string,
  error: unknown,
  context: {
    row?: number | readonly [number, number];
    /** The row's field whose parameter the database refused. */
    field?: string;
    secrets?: readonly string[];
  } = {},
): TriggerKitError {
  let message = error instanceof Error ? error.message : String(error);
  for (const secret of context.secrets ?? []) {
    if (secret) message = message.replaceAll(secret, "***");
  }
  const { row, field } = context;
  let where = row === undefined
    ? ""
    : typeof row === "number"
    ? ` on row ${row}`
    : ` on one of rows ${row[0]} to ${row[1]}`;
  if (field !== undefined) where += `${where ? "," : ""} field "${field}"`;
  return new TriggerKitError(
    "DATABASE_ERROR",
    `Statement failed${where} (${database}): ${message}`,
    { cause: error },
  );
}
