/**
 * PostgreSQL through `npm:postgres`: one pool per URL. Parameters are sent
 * separately from the SQL text (`$1`, `$2`, …); inserts of many rows go as
 * multi-row statements in batches. Each value is checked against the type
 * the server infers for its parameter before it is sent.
 *
 * Nothing waits forever: connections are made by TriggerKit's own socket
 * factory, which ends a connection the server has not answered within
 * `connectTimeoutMs`; a call past its deadline (or aborted) is cancelled on
 * the server, and a pool whose server does not answer is destroyed and
 * replaced.
 *
 * @module
 */
import type postgres from "postgres";
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
  withDeadline,
} from "./contract.ts";
import { postgresKind } from "./_column_kinds.ts";
import {
  DEFAULT_CONNECT_TIMEOUT_MS,
  endPool,
  openPool,
  type Pool,
} from "./_postgres_pool.ts";
import { type NamedSql, splitInsertValues, toNumbered } from "./named_sql.ts";
import type { Row } from "../types.ts";
import { TriggerKitError } from "../errors.ts";

/** PostgreSQL's limit on parameters in one statement. */
const MAX_PARAMETERS = 65_535;
/** Rows per multi-row INSERT. */
const MAX_BATCH_ROWS = 1_000;
/** How long a cancelled call may take to end before its pool is destroyed. */
const CANCEL_GRACE_MS = 1_000;

/** Options of {@linkcode PostgresDatabase}. */
export interface PostgresOptions {
  /** How long connecting may take, until the server's first answer [10000]. */
  connectTimeoutMs?: number;
}

class Rollback extends Error {
  constructor(readonly result: ExecuteResult) {
    super("dry run");
  }
}

/** What postgres.js keeps on a query: whether it runs on a connection that answered. */
interface QueryState {
  active?: boolean;
  state?: { pid: number | null };
}

/** A PostgreSQL connection pool. */
export class PostgresDatabase implements Database {
  readonly kind = "postgres" as const;
  readonly label: string;
  readonly #url: string;
  readonly #secrets: string[];
  readonly #connectTimeoutMs: number;
  readonly #bindings = new Map<string, Binding>();
  /** Pools being destroyed and cancels in flight; `close()` waits for them. */
  readonly #cleanups = new Set<Promise<unknown>>();
  #pool: Pool | undefined;

  /**
   * @param url A `postgres://` URL.
   * @param label The URL with its password masked.
   * @param options The connect deadline.
   */
  constructor(url: string, label: string, options: PostgresOptions = {}) {
    this.label = label;
    this.#url = url;
    let password: string;
    try {
      password = new URL(url).password;
    } catch {
      // The parser's message would print the URL, password and all.
      throw new TriggerKitError(
        "INVALID_CONFIG",
        `Invalid PostgreSQL URL ${label}: write postgres://user:password@host:port/db, with "/", "#", "?", "@" and spaces in the password percent-encoded (%2F, %23, %3F, %40, %20)`,
      );
    }
    let decoded = password;
    try {
      decoded = decodeURIComponent(password);
    } catch {
      // A "%" that encodes nothing: the password as written.
    }
    this.#secrets = [...new Set([password, decoded])].filter(Boolean);
    this.#connectTimeoutMs = options.connectTimeoutMs ??
      DEFAULT_CONNECT_TIMEOUT_MS;
  }

  /** The current pool, created on first use and after a hung one was destroyed. */
  #current(): Pool {
    return this.#pool ??= openPool(this.#url, this.#connectTimeoutMs);
  }

  /** Destroys a pool and every socket it opened, now. */
  #destroy(pool: Pool): void {
    if (this.#pool === pool) this.#pool = undefined;
    this.#track(endPool(pool, 0));
  }

  #track(promise: Promise<unknown>): void {
    const done = promise.catch(() => {}).finally(() =>
      this.#cleanups.delete(done)
    );
    this.#cleanups.add(done);
  }

  /**
   * Runs `work` on the current pool under the call's deadline. The queries
   * `work` starts are handed to `running`, so that a deadline can cancel
   * them; when they do not end soon after, or never reached a server that
   * answered, the pool is destroyed.
   */
  #call<T>(
    options: CallOptions,
    work: (sql: postgres.Sql, running: Running) => Promise<T>,
  ): Promise<T> {
    const pool = this.#current();
    const running: Running = new Set();
    let promise: Promise<unknown> = Promise.resolve();
    let settled = false;
    return withDeadline(this.label, options, () => {
      const started = work(pool.sql, running);
      promise = started.catch(() => {}).finally(() => (settled = true));
      return started;
    }, () => {
      const answered = [...running].some((query) => {
        const state = query as unknown as QueryState;
        return state.active === true && state.state?.pid != null;
      });
      for (const query of running) {
        this.#track(bounded(query.cancel(), CANCEL_GRACE_MS));
      }
      if (!answered) return this.#destroy(pool);
      // The server answered before: its cancel should end the query soon.
      this.#track(
        bounded(promise, CANCEL_GRACE_MS).then(() => {
          if (!settled) this.#destroy(pool);
        }),
      );
    });
  }

  /** Starts a query and lists it as running, for a deadline to cancel. */
  #start(
    sql: postgres.Sql | postgres.TransactionSql,
    running: Running,
    text: string,
    values: unknown[],
  ): Promise<postgres.RowList<Row[]>> {
    return track(
      running,
      sql.unsafe(text, values as never[], { prepare: true }),
    ) as never;
  }

  /**
   * The binding of a statement's parameters, from the types the server
   * infers for them (described once per statement text).
   */
  async #bindingOf(
    sql: postgres.Sql | postgres.TransactionSql,
    running: Running,
    text: string,
    names: readonly string[],
  ): Promise<Binding> {
    let binding = this.#bindings.get(text);
    if (binding) return binding;
    if (names.length === 0) return { kinds: [], dialect: "postgres" };
    const { types } = await track(
      running,
      sql.unsafe(text, [], { prepare: true }).describe() as never,
    ) as { types: number[] };
    binding = bindingFor(
      names,
      (_name, index) => postgresKind(types[index] ?? 0),
      "postgres",
    );
    if (this.#bindings.size > 100) this.#bindings.clear();
    this.#bindings.set(text, binding);
    return binding;
  }

  #error(
    error: unknown,
    row?: number | readonly [number, number],
    field?: string,
  ): TriggerKitError {
    if (error instanceof TriggerKitError) return error;
    return databaseError(this.label, error, {
      secrets: this.#secrets,
      ...(row === undefined ? {} : { row }),
      ...(field === undefined ? {} : { field }),
    });
  }

  async query(
    sql: NamedSql,
    params: Row = {},
    options: CallOptions = {},
  ): Promise<Row[]> {
    try {
      const text = toNumbered(sql);
      return await this.#call(options, async (pool, running) => {
        const binding = await this.#bindingOf(pool, running, text, sql.names);
        const values = bindRow(sql.names, params, 0, binding);
        const rows = await this.#start(pool, running, text, values);
        return rows.map((row) => ({ ...row }));
      });
    } catch (error) {
      throw this.#error(error);
    }
  }

  async execute(
    sql: NamedSql,
    options: ExecuteOptions,
  ): Promise<ExecuteResult> {
    const insert = options.params.length > 1
      ? splitInsertValues(sql)
      : undefined;
    try {
      return await this.#call(
        options,
        (pool, running) =>
          this.#transaction(
            pool,
            options,
            (tx) =>
              insert
                ? this.#insertBatches(tx, running, insert, options.params)
                : this.#eachRow(tx, running, sql, options.params),
          ),
      );
    } catch (error) {
      const names = insert ? insert.tuple.names : sql.names;
      if (!insert || !(error instanceof FailedBatch)) {
        const parameter = refusedParameter(error);
        throw this.#error(
          error,
          (error as FailedRow).triggerkitRow,
          parameter === undefined ? undefined : names[parameter],
        );
      }
      // The server names the parameter it could not read: its row and
      // field follow from its number.
      const parameter = refusedParameter(error.cause);
      if (parameter !== undefined) {
        throw this.#error(
          error.cause,
          error.start + Math.floor(parameter / names.length),
          names[parameter % names.length],
        );
      }
      // Which row of the batch failed: replayed in a transaction that is
      // always rolled back, under the same deadline.
      const row = await this.#call(
        options,
        (pool, running) =>
          this.#findFailingRow(pool, running, insert, options.params, error),
      ).catch(() => undefined);
      throw this.#error(error.cause, row ?? [error.start, error.end - 1]);
    }
  }

  /**
   * Runs `work` in a transaction, rolled back for a dry run or when the
   * call's signal fired meanwhile (a run that lost its claim commits nothing).
   */
  async #transaction(
    pool: postgres.Sql,
    options: ExecuteOptions,
    work: (tx: postgres.TransactionSql) => Promise<ExecuteResult>,
  ): Promise<ExecuteResult> {
    try {
      return await pool.begin(async (tx) => {
        const result = await work(tx);
        if (options.dryRun) throw new Rollback(result);
        throwIfStopped(this.label, options.signal);
        return result;
      }) as ExecuteResult;
    } catch (error) {
      if (error instanceof Rollback) return error.result;
      throw error;
    }
  }

  /** One statement per row, pipelined on the transaction's connection. */
  async #eachRow(
    tx: postgres.TransactionSql,
    running: Running,
    sql: NamedSql,
    params: Row[],
  ): Promise<ExecuteResult> {
    const text = toNumbered(sql);
    const binding = await this.#bindingOf(tx, running, text, sql.names);
    // Every row is bound before any is sent: a refused value stops the
    // call before a statement is in flight.
    const bound = params.map((row, index) =>
      bindRow(sql.names, row, index, binding)
    );
    const pending = bound.map((values, index) =>
      this.#start(tx, running, text, values).catch((error) => {
        throw Object.assign(error, { triggerkitRow: index });
      })
    );
    const results = await Promise.all(pending);
    return {
      rowsAffected: results.reduce(
        (total, result) => total + (result.count ?? 0),
        0,
      ),
      statements: params.length,
    };
  }

  /**
   * Rows grouped into multi-row INSERTs. Every full batch has the same text,
   * so the statement is prepared once and reused.
   */
  async #insertBatches(
    tx: postgres.TransactionSql,
    running: Running,
    insert: InsertParts,
    params: Row[],
    until = params.length,
  ): Promise<ExecuteResult> {
    const names = insert.tuple.names;
    const batch = batchRows(names.length);
    const binding = await this.#bindingOf(
      tx,
      running,
      insertText(insert, 1),
      names,
    );
    let rowsAffected = 0;
    let statements = 0;
    for (let start = 0; start < until; start += batch) {
      const end = Math.min(until, start + batch);
      const values: unknown[] = new Array((end - start) * names.length);
      for (let index = start; index < end; index++) {
        const offset = (index - start) * names.length;
        bindRow(names, params[index]!, index, binding, values, offset);
      }
      try {
        const result = await this.#start(
          tx,
          running,
          insertText(insert, end - start),
          values,
        );
        rowsAffected += result.count ?? 0;
      } catch (error) {
        throw end - start === 1
          ? Object.assign(error as Error, { triggerkitRow: start })
          : new FailedBatch(start, end, error);
      }
      statements++;
    }
    return { rowsAffected, statements };
  }

  /**
   * The row of a failed batch that fails alone: the batches before it are
   * sent again, then its rows one by one, and everything is rolled back.
   */
  async #findFailingRow(
    pool: postgres.Sql,
    running: Running,
    insert: InsertParts,
    params: Row[],
    failed: FailedBatch,
  ): Promise<number | undefined> {
    let found: number | undefined;
    await this.#transaction(pool, { params: [], dryRun: true }, async (tx) => {
      await this.#insertBatches(tx, running, insert, params, failed.start);
      const text = insertText(insert, 1);
      const binding = await this.#bindingOf(
        tx,
        running,
        text,
        insert.tuple.names,
      );
      for (let index = failed.start; index < failed.end; index++) {
        const values = bindRow(
          insert.tuple.names,
          params[index]!,
          index,
          binding,
        );
        try {
          await this.#start(tx, running, text, values);
        } catch {
          found = index;
          break;
        }
      }
      return { rowsAffected: 0, statements: 0 };
    });
    return found;
  }

  async close(): Promise<void> {
    const pool = this.#pool;
    this.#pool = undefined;
    if (pool) await endPool(pool, 5);
    while (this.#cleanups.size > 0) await Promise.all(this.#cleanups);
  }
}

type InsertParts = NonNullable<ReturnType<typeof splitInsertValues>>;

/** A multi-row INSERT that failed: which of its rows is found afterwards. */
class FailedBatch extends Error {
  constructor(
    readonly start: number,
    readonly end: number,
    override readonly cause: unknown,
  ) {
    super("batch failed");
  }
}

type FailedRow = { triggerkitRow?: number };

/**
 * The index (from 0) of the parameter a PostgreSQL error says it could not
 * read (its context: `unnamed portal parameter $4 = '...'`), or undefined.
 */
function refusedParameter(error: unknown): number | undefined {
  const where = (error as { where?: unknown } | null)?.where;
  if (typeof where !== "string") return undefined;
  const match = /\bportal parameter \$(\d+)\b/.exec(where);
  return match ? Number(match[1]) - 1 : undefined;
}

/** The queries of one call that a deadline would cancel. */
type Running = Set<{ cancel(): unknown }>;

/** Lists a query as running until it settles. */
function track<T extends Promise<unknown> & { cancel(): unknown }>(
  running: Running,
  query: T,
): Promise<Awaited<T>> {
  running.add(query);
  return query.finally(() => running.delete(query)) as Promise<Awaited<T>>;
}

/** Settles when `promise` does or after `ms`, whichever is first; clears its timer. */
function bounded(promise: unknown, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    Promise.resolve(promise).catch(() => {}).finally(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Rows per multi-row INSERT for tuples of `perRow` parameters. */
function batchRows(perRow: number): number {
  return Math.max(
    1,
    Math.min(MAX_BATCH_ROWS, Math.floor(MAX_PARAMETERS / Math.max(1, perRow))),
  );
}

const insertTexts = new WeakMap<InsertParts, Map<number, string>>();

/** The text of a multi-row INSERT of `rows` tuples, built once. */
function insertText(insert: InsertParts, rows: number): string {
  let texts = insertTexts.get(insert);
  if (!texts) insertTexts.set(insert, texts = new Map());
  let text = texts.get(rows);
  if (!text) {
    const width = insert.tuple.names.length;
    const tuples = Array.from(
      { length: rows },
      (_, i) => toNumbered(insert.tuple, i * width),
    );
    text = `${insert.head}${tuples.join(",")}${insert.tail}`;
    texts.set(rows, text);
  }
  return text;
}
