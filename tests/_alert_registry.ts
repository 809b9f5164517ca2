import { createRegistry, type Registry, type RunStore } from "../mod.ts";
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
