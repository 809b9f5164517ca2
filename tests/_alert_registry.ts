import {
  createRegistry,
  type JobDefinition,
  type Registry,
  type RunStore,
} from "../mod.ts";
import { FakeClock } from "./_fake_clock.ts";

/**
 * A registry for alert tests: an in-memory store (or the one given), a
 * database named `db`, a fake clock, and `sql()` to run a statement on `db`.
 */
export async function alertRegistry(
  options: {
    clock?: FakeClock;
    store?: string | RunStore;
    db?: string;
    setup?: string[];
  } = {},
): Promise<{
  registry: Registry;
  clock: FakeClock;
  sql: (statement: string) => Promise<unknown>;
}> {
  const clock = options.clock ?? new FakeClock();
  const registry = createRegistry({
    store: options.store ?? "sqlite::memory:",
    databases: { db: options.db ?? "sqlite::memory:" },
    clock,
  });
  const sql = (statement: string) =>
    registry.run("run_sql", [], {
      config: { database: "db", sql: statement, mode: "once" },
    });
  for (const statement of options.setup ?? []) await sql(statement);
  return { registry, clock, sql };
}

/** Runs `fn`, then closes the registry. */
export async function closing(
  registry: Registry,
  fn: () => Promise<void>,
): Promise<void> {
  try {
    await fn();
  } finally {
    await registry.close();
  }
}

/** The table of sensor readings that {@linkcode hotReadings} watches. */
export const READINGS_TABLE =
  "CREATE TABLE IF NOT EXISTS readings (id INTEGER PRIMARY KEY, sensor TEXT, celsius REAL)";

/**
 * Defines the view `hot` (readings over 50 °C) on `db`, and returns `set()`,
 * which replaces the readings (`{ id: celsius }`, sensor `s<id>`).
 */
export function hotReadings(
  registry: Registry,
  sql: (statement: string) => Promise<unknown>,
): (readings: Record<number, number>) => Promise<void> {
  registry.defineView({
    name: "hot",
    database: "db",
    sql:
      "SELECT id, sensor, celsius FROM readings WHERE celsius > 50 ORDER BY id",
  });
  return async (readings) => {
    await sql("DELETE FROM readings");
    for (const [id, celsius] of Object.entries(readings)) {
      await sql(
        `INSERT INTO readings (id, sensor, celsius) VALUES (${id}, 's${id}', ${celsius})`,
      );
    }
  };
}

/** One call of a recording step of {@linkcode heatRegistry}. */
export interface StepCall {
  step: string;
  ids: unknown[];
  celsius: unknown[];
  rows: Record<string, unknown>[];
  key: string;
  dryRun: boolean;
  context: Record<string, unknown>;
}

/**
 * A registry with the `readings` table, the view `hot`, steps that record
 * their calls (and fail while named in `failing`), and `define()` of the
 * alert job `heat` (notify; resolved: on_resolved) with any changes.
 */
export async function heatRegistry(
  options: { clock?: FakeClock; store?: string | RunStore; db?: string } = {},
  steps: readonly string[] = ["notify", "on_resolved", "summarize"],
) {
  const { registry, clock, sql } = await alertRegistry({
    ...options,
    setup: [READINGS_TABLE],
  });
  const calls: StepCall[] = [];
  const failing = new Set<string>();
  for (const step of steps) {
    registry.register(step, (input) => {
      calls.push({
        step,
        ids: input.data.map((row) => row.id),
        celsius: input.data.map((row) => row.celsius),
        rows: input.data.map((row) => ({ ...row })),
        key: input.idempotencyKey!,
        dryRun: input.dryRun,
        context: structuredClone(input.context),
      });
      if (failing.has(step)) throw new Error(`${step} is down`);
      return { n: input.data.length };
    });
  }
  const set = hotReadings(registry, sql);
  const define = (extra: Partial<JobDefinition> = {}) =>
    registry.defineJob({
      name: "heat",
      view: "hot",
      actions: ["notify"],
      dedupe: { key: ["id"] },
      alert: { resolved: ["on_resolved"] },
      ...extra,
    }, { overwrite: true });
  return { registry, clock, sql, define, set, calls, failing };
}
