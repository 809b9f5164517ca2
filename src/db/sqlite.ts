/**
 * SQLite through `node:sqlite` (no FFI, no native download). Rows come back
 * as plain objects, integers as numbers (bigints past 2^53); values are
 * checked against their column's declared type before they are bound.
 *
 * Many processes may share one file: every connection opens in WAL mode and
 * waits for a lock up to `busyTimeoutMs`. The wait is asynchronous (SQLite
 * waits at most {@linkcode BUSY_SLICE_MS} at a time, then the event loop
 * runs), and one call at a time uses the connection.
 *
 * @module
 */
import { DatabaseSync, type StatementSync } from "node:sqlite";
import {
  type Binding,
  bindingFor,
  bindRow,
  type CallOptions,
  type Database,
  databaseError,
  type ExecuteOptions,
  type ExecuteResult,
  throwIfStopped,
  unlimited,
  withDeadline,
} from "./contract.ts";
import { type ColumnKind, sqliteKind } from "./_column_kinds.ts";
import { type NamedSql, parameterColumns, toNumbered } from "./named_sql.ts";
import type { Row } from "../types.ts";
import { TriggerKitError } from "../errors.ts";
import {
  CAN_READ_IN_WORKERS,
  ReaderError,
  SqliteReaders,
} from "./_sqlite_readers.ts";

/** The longest SQLite itself blocks the event loop waiting for a lock. */
export const BUSY_SLICE_MS = 25;
/** How long a call waits for other connections' locks, by default. */
export const DEFAULT_BUSY_TIMEOUT_MS = 5_000;

/** Options of {@linkcode SqliteDatabase}. */
export interface SqliteOptions {
  /** How long a call waits for another connection's lock before `DATABASE_ERROR` [5000]. */
  busyTimeoutMs?: number;
}

interface Prepared {
  statement: StatementSync;
  /** Binders for `query`: the checks that hold for every column. */
  anyBinding?: Binding;
  /** Binders for `execute`, from the columns the parameters are stored in. */
  binding?: Binding;
}

const BUSY = /database (?:table |schema )?is locked/;
const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** A safe-integer bigint as a number: read with bigints, every integer is one. */
function plainValue(value: unknown): unknown {
  return typeof value === "bigint" && value >= MIN_SAFE && value <= MAX_SAFE
    ? Number(value)
    : value;
}

/** Rows as plain objects from column names and value arrays. */
function toRows(names: readonly string[], rows: unknown[][]): Row[] {
  return rows.map((values) => {
    const row: Row = {};
    for (let i = 0; i < names.length; i++) {
      row[names[i]!] = plainValue(values[i]);
    }
    return row;
  });
}

/** `setReturnArrays` is in Deno 2.9's node:sqlite, not yet in its types. */
type ArrayStatement = StatementSync & {
  setReturnArrays(enabled: boolean): void;
};

/** Statements a read-only connection may run (a write is refused there, then run here). */
const READ_ONLY = /^\s*(?:select|with|values)\b/i;
/** What a reader's own connection cannot do: write, or see this connection's temp objects. */
const ON_THIS_THREAD = /readonly database|no such table|no such function/;

const pause = (ms: number) =>
  new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A statement that failed on one row of `execute`. */
class FailedRow extends Error {
  constructor(readonly row: number, override readonly cause: unknown) {
    super("row failed");
  }
}

/** A SQLite database file, or `:memory:`. */
export class SqliteDatabase implements Database {
  readonly kind = "sqlite" as const;
  readonly label: string;
  readonly #db: DatabaseSync;
  readonly #memory: boolean;
  readonly #busyTimeoutMs: number;
  readonly #path: string;
  #readers: SqliteReaders | undefined;
  readonly #statements = new Map<string, Prepared>();
  /** The call in progress: calls take turns on the one connection. */
  #turn: Promise<unknown> = Promise.resolve();
  #ready = false;

  /**
   * @param path A file path or `:memory:`.
   * @param label The URL, for messages.
   * @param options The lock wait.
   */
  constructor(path: string, label: string, options: SqliteOptions = {}) {
    this.label = label;
    this.#memory = path === ":memory:" || path === "";
    // The reader Workers open the same file: by an absolute path.
    this.#path = this.#memory || /^(?:\/|[A-Za-z]:[\\/])/.test(path)
      ? path
      : `${Deno.cwd()}/${path}`;
    this.#busyTimeoutMs = options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS;
    try {
      this.#db = new DatabaseSync(path);
      this.#db.exec(
        `PRAGMA busy_timeout = ${
          Math.min(BUSY_SLICE_MS, Math.max(0, this.#busyTimeoutMs))
        }`,
      );
    } catch (error) {
      throw databaseError(label, error);
    }
  }

  /** A prepared statement, `:name` rewritten as `?N`: binding by position is twice as fast. */
  #prepare(sql: NamedSql): Prepared {
    let prepared = this.#statements.get(sql.sql);
    if (!prepared) {
      const statement = this.#db.prepare(toNumbered(sql, 0, "?"));
      prepared = { statement };
      if (this.#statements.size > 100) this.#statements.clear();
      this.#statements.set(sql.sql, prepared);
    }
    return prepared;
  }

  /** The declared type of the column each parameter is stored in. */
  #binding(sql: NamedSql, prepared: Prepared): Binding {
    if (prepared.binding) return prepared.binding;
    const target = parameterColumns(sql);
    const kinds = new Map<string, ColumnKind>();
    if (target) {
      const columns = this.#db.prepare(
        target.schema === undefined
          ? "SELECT name, type, hidden FROM pragma_table_xinfo(?)"
          : "SELECT name, type, hidden FROM pragma_table_xinfo(?, ?)",
      ).all(
        ...(target.schema === undefined
          ? [target.table]
          : [target.table, target.schema]),
      ) as Array<{ name: string; type: string; hidden: number | bigint }>;
      const byName = new Map(
        columns.map((column) => [column.name.toLowerCase(), column.type]),
      );
      const stored = columns.filter((column) => Number(column.hidden) === 0);
      for (const [param, column] of target.columns) {
        const type = byName.get(column.toLowerCase());
        if (type !== undefined) kinds.set(param, sqliteKind(type));
      }
      for (const [param, position] of target.positions) {
        const column = stored[position];
        if (column) kinds.set(param, sqliteKind(column.type));
      }
    }
    prepared.binding = bindingFor(
      sql.names,
      (name) => kinds.get(name) ?? "any",
      "sqlite",
    );
    return prepared.binding;
  }

  /**
   * Runs `work` on the connection when the calls before it are done, and
   * again after a pause while another connection holds a lock, until
   * `busyTimeoutMs` has passed or the call's deadline stops it.
   */
  #take<T>(work: () => T, options: CallOptions): Promise<T> {
    let stopped: TriggerKitError | undefined;
    const attempt = async (): Promise<T> => {
      const until = performance.now() + this.#busyTimeoutMs;
      for (let round = 0;; round++) {
        if (stopped) throw stopped;
        try {
          if (!this.#ready) this.#open();
          return work();
        } catch (error) {
          const busy = error instanceof Error && BUSY.test(error.message);
          if (!busy) throw error;
          if (performance.now() >= until) {
            throw new Error(
              `${error.message}: another connection held the lock for longer than busyTimeoutMs (${this.#busyTimeoutMs} ms)`,
              { cause: error },
            );
          }
        }
        await pause(Math.min(5 * 2 ** Math.min(round, 3), 40) * Math.random());
      }
    };
    const run = this.#turn.then(attempt, attempt);
    this.#turn = run.catch(() => {});
    if (unlimited(options)) return run;
    return withDeadline(this.label, options, () => run, (error) => {
      stopped = error;
    });
  }

  /**
   * WAL lets the readers and the one writer of other processes work at
   * once. A file that cannot switch (read-only, on a network share) keeps
   * its journal mode; waiting for locks still holds.
   */
  #open(): void {
    if (!this.#memory) {
      try {
        this.#db.exec("PRAGMA journal_mode = WAL");
      } catch (error) {
        if (error instanceof Error && BUSY.test(error.message)) throw error;
      }
    }
    this.#ready = true;
  }

  query(
    sql: NamedSql,
    params: Row = {},
    options: CallOptions = {},
  ): Promise<Row[]> {
    const readers = this.#readersFor(sql, options);
    let work: Promise<Row[]>;
    if (readers) {
      const stop = new AbortController();
      work = withDeadline(
        this.label,
        options,
        () => this.#read(readers, sql, params, stop.signal),
        (error) => stop.abort(error),
      );
    } else {
      work = this.#queryHere(sql, params, options);
    }
    return work.catch((error) => {
      throw error instanceof TriggerKitError
        ? error
        : databaseError(this.label, error);
    });
  }

  /** A query on this thread's connection. */
  #queryHere(sql: NamedSql, params: Row, options: CallOptions): Promise<Row[]> {
    return this.#take(() => {
      const prepared = this.#prepare(sql);
      const binding = this.#anyBinding(sql, prepared);
      const bound = bindRow(sql.names, params, 0, binding);
      const statement = prepared.statement as ArrayStatement;
      // Read as bigints, every integer is one: no RangeError half-way
      // through a statement that may have written; safe ones become numbers.
      // Rows as arrays, made objects here: three times faster than asking
      // node:sqlite for objects and copying them.
      statement.setReadBigInts(true);
      statement.setReturnArrays(true);
      const rows = statement.all(...bound as never[]) as unknown as unknown[][];
      return toRows(statement.columns().map((column) => column.name), rows);
    }, options);
  }

  #anyBinding(sql: NamedSql, prepared: Prepared): Binding {
    return prepared.anyBinding ??= bindingFor(sql.names, () => "any", "sqlite");
  }

  /**
   * The reader Workers, for a read-only query of a file database that has a
   * deadline or a signal: only off the host's thread can a deadline end a
   * long statement on time. Queries without limits stay on this thread.
   */
  #readersFor(sql: NamedSql, options: CallOptions): SqliteReaders | undefined {
    if (this.#memory || !CAN_READ_IN_WORKERS || unlimited(options)) {
      return undefined;
    }
    if (!READ_ONLY.test(sql.sql)) return undefined;
    this.#readers ??= new SqliteReaders(this.#path, this.#busyTimeoutMs);
    return this.#readers;
  }

  /** A query in a reader Worker; on this thread when the Worker's read-only connection cannot run it. */
  async #read(
    readers: SqliteReaders,
    sql: NamedSql,
    params: Row,
    signal: AbortSignal,
  ): Promise<Row[]> {
    // The file is switched to WAL on this thread first: the readers' read-only
    // connections cannot do it.
    if (!this.#ready) await this.#take(() => undefined, {});
    const binding = bindingFor(sql.names, () => "any", "sqlite");
    const values = bindRow(sql.names, params, 0, binding);
    try {
      const { names, rows } = await readers.read(
        toNumbered(sql, 0, "?"),
        values,
        signal,
      );
      return toRows(names, rows);
    } catch (error) {
      if (error instanceof ReaderError && ON_THIS_THREAD.test(error.message)) {
        return await this.#queryHere(sql, params, {});
      }
      throw error;
    }
  }

  execute(sql: NamedSql, options: ExecuteOptions): Promise<ExecuteResult> {
    return this.#take(() => {
      this.#db.exec("BEGIN IMMEDIATE");
      return this.#transaction(sql, options);
    }, options).catch((error) => {
      if (error instanceof FailedRow) {
        throw error.cause instanceof TriggerKitError
          ? error.cause
          : databaseError(this.label, error.cause, { row: error.row });
      }
      throw error instanceof TriggerKitError
        ? error
        : databaseError(this.label, error);
    });
  }

  /** The statement once per parameter set, inside the open transaction. */
  #transaction(sql: NamedSql, options: ExecuteOptions): ExecuteResult {
    let rowsAffected = 0;
    let index = -1;
    try {
      const prepared = this.#prepare(sql);
      const binding = this.#binding(sql, prepared);
      const { statement } = prepared;
      // run() reads no rows; its counts stay numbers (cheaper).
      statement.setReadBigInts(false);
      const { params } = options;
      for (index = 0; index < params.length; index++) {
        const values = bindRow(sql.names, params[index]!, index, binding);
        rowsAffected += statement.run(...values as never[]).changes as number;
      }
      index = -1;
      // A run that lost its claim meanwhile commits nothing.
      if (!options.dryRun) throwIfStopped(this.label, options.signal);
      this.#db.exec(options.dryRun ? "ROLLBACK" : "COMMIT");
    } catch (error) {
      if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
      // A busy COMMIT is retried whole by #take; a row's failure is final.
      const busy = error instanceof Error && BUSY.test(error.message);
      throw index < 0 || busy ? error : new FailedRow(index, error);
    }
    return { rowsAffected, statements: options.params.length };
  }

  async close(): Promise<void> {
    this.#readers?.close();
    await this.#turn;
    this.#statements.clear();
    if (this.#db.isOpen) this.#db.close();
  }
}
