/**
 * Run summaries in the SQL store: the columns a run's summary is read from
 * (`row_count`, `new_row_count`, beside `status`, `started_at`, …), added
 * to a table made before them, and a summary row read back. A row written
 * before the columns existed has them NULL: its summary is read from its
 * report, once per read (no backfill: old rows age out with pruning).
 *
 * @module
 */
import type { NamedSql } from "../db/named_sql.ts";
import type { Row } from "../types.ts";
import type { RunRecord, RunSummary } from "./contract.ts";
import { parseNamedSql } from "../db/named_sql.ts";
import { KEY_BATCH } from "./_sql_statements.ts";

/** The summary columns, in the order they were added. */
const COLUMNS = ["row_count", "new_row_count"] as const;

/**
 * Adds the summary columns to a run table made before them. Instances
 * starting together may both add one: the loser's add is refused as a
 * duplicate (SQLite: "duplicate column name"; PostgreSQL: "already
 * exists"), and the column is there.
 *
 * @param columns The run table's columns, as read (`runColumns`).
 * @param run Runs a statement.
 */
export async function addSummaryColumns(
  columns: readonly Row[],
  run: (sql: NamedSql) => Promise<unknown>,
): Promise<void> {
  const have = new Set(columns.map((row) => String(row.name)));
  for (const column of COLUMNS) {
    if (have.has(column)) continue;
    try {
      await run(
        parseNamedSql(
          `ALTER TABLE triggerkit_runs ADD COLUMN ${column} BIGINT`,
        ),
      );
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (!/duplicate column|already exists/i.test(message)) throw error;
    }
  }
}

/** The parameters of a report's summary columns. */
export function summaryParams(
  report: Pick<RunRecord, "rowCount" | "newRowCount" | "finishedAt">,
): Row {
  return {
    rowCount: report.rowCount,
    newRowCount: report.newRowCount,
    finishedAt: report.finishedAt,
  };
}

/** A summary from the summary columns of a row that has them. */
function summaryRow(row: Row): RunSummary {
  return {
    runId: String(row.run_id),
    jobName: String(row.job_name),
    dryRun: Number(row.dry_run) === 1,
    status: String(row.status) as RunSummary["status"],
    startedAt: String(row.started_at),
    finishedAt: row.finished_at === null || row.finished_at === undefined
      ? ""
      : String(row.finished_at),
    rowCount: Number(row.row_count),
    newRowCount: Number(row.new_row_count),
  };
}

/** A summary of a row written before the summary columns: from its report. */
function summaryFromReport(row: Row, report: string): RunSummary {
  const record = JSON.parse(report) as RunRecord;
  return {
    runId: record.runId,
    jobName: record.jobName,
    dryRun: record.dryRun,
    status: String(row.status) as RunSummary["status"],
    startedAt: record.startedAt,
    finishedAt: record.finishedAt,
    rowCount: record.rowCount,
    newRowCount: record.newRowCount,
  };
}

/** The statements {@linkcode readRecentRuns} runs. */
export interface RecentStatements {
  /** The latest runs of a job (`job`) or a batch of jobs (`keys`). */
  recent: NamedSql;
  /** Whether `recent` reads one job rather than a batch. */
  recentPerJob: boolean;
  /** The reports of the runs of `:keys` (rows without summary columns). */
  reports: NamedSql;
}

/**
 * The latest runs of each job, newest first, as summaries: one statement a
 * job or a batch of jobs; no report read but those of rows written before
 * the summary columns.
 *
 * @param query Runs a statement with its parameters.
 * @param statements The store's statements.
 * @param jobs The jobs (each maps to a list, empty when it has no runs).
 * @param perJob At most this many per job.
 * @param staleBefore A running run whose heartbeat is older (ms) was cut short.
 */
export async function readRecentRuns(
  query: (sql: NamedSql, params: Row) => Promise<Row[]>,
  statements: RecentStatements,
  jobs: readonly string[],
  perJob: number,
  staleBefore: number,
): Promise<Map<string, RunSummary[]>> {
  const found = new Map(jobs.map((job) => [job, [] as RunSummary[]]));
  const limit = Math.max(1, Math.floor(perJob));
  // No run has a NUL in its job: the binder would refuse it.
  const names = [...found.keys()].filter((job) => !job.includes("\u0000"));
  const rows: Row[] = [];
  const { recent } = statements;
  if (statements.recentPerJob) {
    for (const job of names) {
      rows.push(...await query(recent, { job, perJob: limit, staleBefore }));
    }
  } else {
    for (let i = 0; i < names.length; i += KEY_BATCH) {
      const keys = JSON.stringify(names.slice(i, i + KEY_BATCH));
      rows.push(...await query(recent, { keys, perJob: limit, staleBefore }));
    }
  }
  // Rows written before the summary columns: their reports, a batch at once.
  const old = rows.filter((row) =>
    row.row_count === null || row.row_count === undefined
  ).map((row) => String(row.run_id));
  const reports = new Map<string, string>();
  for (let i = 0; i < old.length; i += KEY_BATCH) {
    const keys = JSON.stringify(old.slice(i, i + KEY_BATCH));
    for (const stored of await query(statements.reports, { keys })) {
      reports.set(String(stored.run_id), String(stored.report));
    }
  }
  for (const row of rows) {
    const stale = row.row_count === null || row.row_count === undefined;
    const report = stale ? reports.get(String(row.run_id)) : undefined;
    if (stale && report === undefined) continue; // pruned meanwhile
    found.get(String(row.job_name))?.push(
      report === undefined ? summaryRow(row) : summaryFromReport(row, report),
    );
  }
  return found;
}
