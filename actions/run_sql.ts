/**
 * `run_sql`: runs a statement on SQLite or PostgreSQL, once per row (row
 * fields bound as `:field` parameters) or once per run, in one transaction.
 * A dry run executes inside a transaction that is rolled back.
 *
 * In a job step, units (each row, or the run's one statement) already in
 * the delivery journal are left out; the others are recorded after the
 * commit (a crash in between runs that transaction's rows again).
 *
 * @module
 */
import { z } from "zod";
import type { ActionFn } from "../src/types.ts";
import type { Databases } from "../src/db/databases.ts";
import { parseNamedSql } from "../src/db/named_sql.ts";
import type { BuiltinInput } from "../src/delivery/journal.ts";
import { unitKeysOf } from "../src/delivery/journal.ts";
import type { Clock } from "../src/clock.ts";

/** How long a `run_sql` transaction may take by default, in ms (5 minutes). */
export const DEFAULT_TIMEOUT_MS = 300_000;
/** setTimeout's longest delay. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/**
 * The config of `run_sql` on a registry: `database` is a URL or one of the
 * registry's configured database names.
 */
export function runSqlConfig(databases: Databases) {
  return z.object({
    database: z.string().refine((name) => databases.has(name), {
      message:
        "Expected a database URL (sqlite:./file.db, sqlite::memory:, postgres://…) or a configured database name",
    }).describe("Database URL or configured database name"),
    sql: z.string().min(1).describe(
      "One statement; :field binds a row field (each) or :rows, :count, :runId, :jobName (once)",
    ),
    mode: z.enum(["each", "once"]).default("each").describe(
      "each: once per row; once: once per run",
    ),
    timeoutMs: z.number().int().positive().max(MAX_TIMEOUT_MS).default(
      DEFAULT_TIMEOUT_MS,
    ).describe(
      "The transaction's deadline in ms (connecting and lock waits included): past it the step fails with DATABASE_ERROR and the transaction is rolled back (PostgreSQL cancels the statement; SQLite stops waiting for locks)",
    ),
  }).strict();
}

type Config = z.output<ReturnType<typeof runSqlConfig>>;

/** What `run_sql` returns. */
export interface RunSqlResult extends Record<string, unknown> {
  rowsAffected: number;
  statements: number;
  durationMs: number;
  dryRun: boolean;
}

/** The `run_sql` action, bound to a registry's databases. */
export function runSql(databases: Databases, clock: Clock): ActionFn<Config> {
  return async function run_sql(input: BuiltinInput<Config>) {
    const { config, dryRun, runId, jobName, delivery } = input;
    const started = performance.now();
    const database = databases.get(config.database);
    const named = parseNamedSql(config.sql);
    const keys = delivery
      ? unitKeysOf(delivery, input.data, config.mode === "each")
      : [];
    const done = delivery ? await delivery.journal.get(keys) : new Map();
    const todo = keys.filter((key) => done.get(key)?.state !== "delivered");
    const data = config.mode === "each" && done.size > 0
      ? input.data.filter((_, i) => done.get(keys[i]!)?.state !== "delivered")
      : input.data;
    const params = config.mode === "each"
      ? data
      : delivery && todo.length === 0
      ? []
      : [{ rows: data, count: data.length, runId, jobName: jobName ?? null }];
    const { rowsAffected, statements } = params.length === 0
      ? { rowsAffected: 0, statements: 0 }
      // The run's signal: a run that lost its claim (paused past its lease
      // while the statements ran) rolls its transaction back.
      : await database.execute(named, {
        params,
        dryRun,
        signal: input.signal,
        timeoutMs: config.timeoutMs,
      });
    if (delivery && !dryRun && todo.length > 0) {
      const at = clock.now();
      await delivery.journal.record(
        new Map(todo.map((key) => [key, { state: "delivered", at }])),
      );
    }
    const skipped = keys.length - todo.length;
    const result: RunSqlResult = {
      rowsAffected,
      statements,
      durationMs: Math.round((performance.now() - started) * 1000) / 1000,
      dryRun,
      ...(skipped > 0 ? { skipped } : {}),
    };
    return result;
  };
}
