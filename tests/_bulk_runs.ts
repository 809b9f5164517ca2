/**
 * Many runs in a SQLite run store, fast: one `INSERT … SELECT` from a
 * recursive count, straight into the store's table (the store's own writes
 * would take a statement each).
 */
import { SqliteDatabase } from "../src/db/sqlite.ts";
import { parseNamedSql } from "../src/db/named_sql.ts";
import { SqlRunStore } from "../src/store/sql.ts";
import type { Clock } from "../src/clock.ts";

/** A SQLite run store in memory, and its database for bulk writes. */
export function bulkStore(clock?: Clock): {
  store: SqlRunStore;
  db: SqliteDatabase;
} {
  const db = new SqliteDatabase(":memory:", "sqlite::memory:");
  return { store: new SqlRunStore(db, clock ? { clock } : {}), db };
}

/**
 * Inserts `count` finished runs of the job `bulk`, ids `bulk-000001`…,
 * all started at `startedAt` (the store's tables must exist: record a run
 * first).
 */
export async function insertRuns(
  db: SqliteDatabase,
  count: number,
  startedAt: string,
): Promise<void> {
  await db.execute(
    parseNamedSql(
      `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :count)
       INSERT INTO triggerkit_runs (run_id, job_name, dry_run, status, started_at, finished_at, heartbeat_at, report)
       SELECT printf('bulk-%06d', i), 'bulk', 0, 'succeeded', :startedAt, :startedAt, 0,
         json_object('runId', printf('bulk-%06d', i), 'jobName', 'bulk', 'dryRun', json('false'),
           'status', 'succeeded', 'startedAt', :startedAt, 'finishedAt', :startedAt,
           'rowCount', 0, 'newRowCount', 0, 'actions', json('[]'))
       FROM n`,
    ),
    { params: [{ count, startedAt }], dryRun: false },
  );
}
