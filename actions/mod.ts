/**
 * The built-in actions, registered on every registry.
 *
 * @module
 */
import type { Registry } from "../src/registry.ts";
import type { Databases } from "../src/databases.ts";
import { runSql, runSqlConfig } from "./run_sql.ts";

/** Registers the built-in actions on a registry. */
export function registerBuiltins(
  registry: Registry,
  databases: Databases,
): void {
  registry.registerBuiltin("run_sql", runSql(databases), {
    description:
      "Run a SQL statement on SQLite or PostgreSQL, per row or once, in one transaction",
    config: runSqlConfig,
  });
}
