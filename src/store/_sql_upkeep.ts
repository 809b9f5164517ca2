/**
 * The SQL run store's delivery receipts, read in batches, and its pruning:
 * finished runs older than a time (never a job's last successful run, nor
 * one a lease names), expired dedupe keys, and delivery receipts of
 * generations that succeeded.
 *
 * @module
 */
import type { Database } from "../db/contract.ts";
import type { Row } from "../types.ts";
import {
  type PruneOptions,
  type PruneResult,
  STALE_AFTER_MS,
} from "./contract.ts";
import type { DeliveryReceipt } from "../delivery/journal.ts";
import {
  KEY_BATCH,
  PRUNE_MS,
  receiptOf,
  type Statements,
} from "./_sql_statements.ts";

/**
 * The delivery receipts of those units that have one.
 *
 * @param query Runs the `deliveries` statement with its parameters.
 * @param jobName The job.
 * @param unitKeys The units asked about.
 */
export async function readDeliveries(
  query: (params: Row) => Promise<Row[]>,
  jobName: string,
  unitKeys: readonly string[],
): Promise<Map<string, DeliveryReceipt>> {
  const found = new Map<string, DeliveryReceipt>();
  for (let i = 0; i < unitKeys.length; i += KEY_BATCH) {
    const rows = await query({
      jobName,
      keys: JSON.stringify(unitKeys.slice(i, i + KEY_BATCH)),
    });
    for (const row of rows) found.set(String(row.unit_key), receiptOf(row));
  }
  return found;
}

/**
 * Deletes what {@linkcode PruneOptions} names, one statement a table.
 *
 * @param db The store's database.
 * @param sql The store's statements.
 * @param options Before when runs go, and now (expired keys go).
 * @returns How many runs were deleted.
 */
export async function pruneRuns(
  db: Database,
  sql: Statements,
  options: PruneOptions,
): Promise<PruneResult> {
  // Deleting a month of runs may take longer than a run's write.
  const long = { params: [] as Row[], dryRun: false, timeoutMs: PRUNE_MS };
  const { rowsAffected: runs } = await db.execute(sql.pruneRuns, {
    ...long,
    params: [{
      before: new Date(options.before).toISOString(),
      staleBefore: options.now - STALE_AFTER_MS,
    }],
  });
  await db.execute(sql.pruneDedupe, {
    ...long,
    params: [{ now: options.now }],
  });
  await db.execute(sql.pruneDeliveries, { ...long, params: [{}] });
  return { runs };
}
