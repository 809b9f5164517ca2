/**
 * PostgreSQL through `npm:postgres`: one pool per URL. Parameters are sent
 * separately from the SQL text (`$1`, `$2`, …); inserts of many rows go as
 * multi-row statements in batches.
 *
 * @module
 */
import postgres from "postgres";
import {
  bindRow,
  type Database,
  databaseError,
  type ExecuteOptions,
  type ExecuteResult,
  toParameter,
} from "./contract.ts";
import { type NamedSql, splitInsertValues, toNumbered } from "./named_sql.ts";
import type { Row } from "../types.ts";
import { TriggerKitError } from "../errors.ts";

/** PostgreSQL's limit on parameters in one statement. */
const MAX_PARAMETERS = 65_535;
/** Rows per multi-row INSERT. */
const MAX_BATCH_ROWS = 1_000;

class Rollback extends Error {
  constructor(readonly result: ExecuteResult) {
    super("dry run");
  }
}

/** A value as a PostgreSQL parameter: as everywhere, but bigints as text (postgres.js casts them). */
function pgParameter(value: unknown): unknown {
  return typeof value === "bigint" ? value.toString() : toParameter(value);
}

/**
 * Objects are bound as JSON text, as on SQLite; postgres.js would otherwise
 * JSON-encode that text again for json/jsonb columns.
 */
const JSON_TEXT = {
  to: 114,
  from: [114, 3802],
  serialize: (value: unknown) =>
    typeof value === "string" ? value : JSON.stringify(value),
  parse: (text: string) => JSON.parse(text),
};

/** A PostgreSQL connection pool. */
export class PostgresDatabase implements Database {
  readonly kind = "postgres" as const;
  readonly label: string;
  readonly #sql: postgres.Sql;
  readonly #secrets: string[];

  /**
   * @param url A `postgres://` URL.
   * @param label The URL with its password masked.
   */
  constructor(url: string, label: string) {
    this.label = label;
    const password = decodeURIComponent(new URL(url).password);
    this.#secrets = password ? [password] : [];
    this.#sql = postgres(url, {
      max: 4,
      onnotice: () => {},
      connect_timeout: 10,
      idle_timeout: 30,
      types: { json: JSON_TEXT },
    });
  }

  async query(sql: NamedSql, params: Row = {}): Promise<Row[]> {
    try {
      const values = bindRow(sql.names, params, 0, pgParameter);
      const rows = await this.#sql.unsafe(toNumbered(sql), values as never[], {
        prepare: true,
      });
      return rows.map((row) => ({ ...row }));
    } catch (error) {
      throw error instanceof TriggerKitError
        ? error
        : databaseError(this.label, error, { secrets: this.#secrets });
    }
  }

  async execute(
    sql: NamedSql,
    options: ExecuteOptions,
  ): Promise<ExecuteResult> {
    const insert = options.params.length > 1
      ? splitInsertValues(sql)
      : undefined;
    const work = insert
      ? (tx: postgres.TransactionSql) =>
        this.#insertBatches(tx, insert, options.params)
      : (tx: postgres.TransactionSql) => this.#eachRow(tx, sql, options.params);
    try {
      return await this.#sql.begin(async (tx) => {
        const result = await work(tx);
        if (options.dryRun) throw new Rollback(result);
        return result;
      }) as ExecuteResult;
    } catch (error) {
      if (error instanceof Rollback) return error.result;
      if (error instanceof TriggerKitError) throw error;
      const row = (error as { triggerkitRow?: number }).triggerkitRow;
      throw databaseError(this.label, error, {
        secrets: this.#secrets,
        ...(row === undefined ? {} : { row }),
      });
    }
  }

  /** One statement per row, pipelined on the transaction's connection. */
  async #eachRow(
    tx: postgres.TransactionSql,
    sql: NamedSql,
    params: Row[],
  ): Promise<ExecuteResult> {
    const text = toNumbered(sql);
    const pending = params.map((row, index) =>
      tx.unsafe(text, bindRow(sql.names, row, index, pgParameter) as never[], {
        prepare: true,
      })
        .catch((error) => {
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
    insert: NonNullable<ReturnType<typeof splitInsertValues>>,
    params: Row[],
  ): Promise<ExecuteResult> {
    const names = insert.tuple.names;
    const perRow = Math.max(1, names.length);
    const batch = Math.max(
      1,
      Math.min(MAX_BATCH_ROWS, Math.floor(MAX_PARAMETERS / perRow)),
    );
    const texts = new Map<number, string>();
    const textFor = (rows: number) => {
      let text = texts.get(rows);
      if (!text) {
        const tuples = Array.from(
          { length: rows },
          (_, i) => toNumbered(insert.tuple, i * names.length),
        );
        text = `${insert.head}${tuples.join(",")}${insert.tail}`;
        texts.set(rows, text);
      }
      return text;
    };
    let rowsAffected = 0;
    let statements = 0;
    for (let start = 0; start < params.length; start += batch) {
      const end = Math.min(params.length, start + batch);
      const values: unknown[] = new Array((end - start) * names.length);
      let k = 0;
      for (let index = start; index < end; index++) {
        const row = params[index]!;
        for (const name of names) {
          if (!(name in row)) bindRow(names, row, index);
          values[k++] = pgParameter(row[name]);
        }
      }
      try {
        const result = await tx.unsafe(
          textFor(end - start),
          values as never[],
          { prepare: true },
        );
        rowsAffected += result.count ?? 0;
      } catch (error) {
        throw Object.assign(error as Error, { triggerkitRow: start });
      }
      statements++;
    }
    return { rowsAffected, statements };
  }

  async close(): Promise<void> {
    await this.#sql.end({ timeout: 5 });
  }
}
