/**
 * The SQL of the run store, written once for both dialects. Where they
 * differ: the store's clock (PostgreSQL's `clock_timestamp()`; SQLite has
 * no server, so its `now` is the store's `Clock`, passed as `:now`), the
 * row lock that serializes a fenced write with a takeover (PostgreSQL's
 * `FOR SHARE`; a SQLite write transaction already excludes every other),
 * and how a JSON array of keys becomes a table.
 *
 * @module
 */
import { type NamedSql, parseNamedSql } from "../db/named_sql.ts";
import type { DeliveryReceipt } from "../delivery/journal.ts";
import type { Row } from "../types.ts";
import type { Clock } from "../clock.ts";
import type {
  Claim,
  ClaimRequest,
  Holder,
  Lease,
  RunRecord,
} from "./contract.ts";

/** Keys per comparison query: one JSON parameter each. */
export const KEY_BATCH = 10_000;
/** The deadline of each pruning statement, in ms. */
export const PRUNE_MS = 300_000;

/** A run's row as the history shows it (a run gone quiet reads as interrupted). */
export function recordOf(row: Row): RunRecord {
  const record = JSON.parse(String(row.report)) as RunRecord;
  record.status = row.status as RunRecord["status"];
  return record;
}

/** A claim's row as a lease, with the generation it was claimed in. */
export function leaseOf(row: Row): Lease & { generation: string } {
  const lease: Lease & { generation: string } = {
    runId: String(row.run_id),
    holder: JSON.parse(String(row.holder)) as Holder,
    epoch: Number(row.epoch),
    lastSlot: Number(row.last_slot),
    done: Number(row.done) === 1,
    expired: Number(row.expired) === 1,
    attempt: Number(row.attempt),
    generation: String(row.generation),
  };
  if (row.slot !== null && row.slot !== undefined) {
    lease.slot = Number(row.slot);
  }
  return lease;
}

/** The claim a lease row grants to the run that made it. */
export function claimOf(
  jobName: string,
  lease: Lease & { generation: string },
  request: Omit<ClaimRequest, "slot">,
): Claim {
  return {
    jobName,
    epoch: lease.epoch,
    runId: request.runId,
    holder: request.holder,
    ...(lease.slot === undefined ? {} : { slot: lease.slot }),
    attempt: lease.attempt,
    generation: lease.generation,
    leaseMs: request.leaseMs,
  };
}

/** A delivery's row as its receipt. */
export function receiptOf(row: Row): DeliveryReceipt {
  const receipt: DeliveryReceipt = {
    state: String(row.state) as DeliveryReceipt["state"],
    at: Number(row.at),
  };
  if (row.detail !== null && row.detail !== undefined) {
    receipt.detail = JSON.parse(String(row.detail));
  }
  return receipt;
}

/** The tables, created on first use. */
export const SCHEMA: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS triggerkit_runs (
    run_id TEXT PRIMARY KEY,
    job_name TEXT NOT NULL,
    dry_run INTEGER NOT NULL,
    status TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    heartbeat_at BIGINT NOT NULL,
    report TEXT,
    row_count BIGINT,
    new_row_count BIGINT
  )`,
  "CREATE INDEX IF NOT EXISTS triggerkit_runs_job ON triggerkit_runs (job_name, started_at)",
  "CREATE INDEX IF NOT EXISTS triggerkit_runs_time ON triggerkit_runs (started_at)",
  `CREATE TABLE IF NOT EXISTS triggerkit_dedupe (
    job_name TEXT NOT NULL,
    row_key TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (job_name, row_key)
  )`,
  "CREATE INDEX IF NOT EXISTS triggerkit_dedupe_expiry ON triggerkit_dedupe (expires_at)",
  `CREATE TABLE IF NOT EXISTS triggerkit_claims (
    job_name TEXT PRIMARY KEY,
    epoch BIGINT NOT NULL,
    run_id TEXT NOT NULL,
    holder TEXT NOT NULL,
    slot BIGINT,
    last_slot BIGINT NOT NULL,
    lease_until BIGINT NOT NULL,
    done INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    generation TEXT NOT NULL,
    key_digest TEXT,
    key_valid_until BIGINT
  )`,
  `CREATE TABLE IF NOT EXISTS triggerkit_deliveries (
    job_name TEXT NOT NULL,
    unit_key TEXT NOT NULL,
    generation TEXT NOT NULL,
    state TEXT NOT NULL,
    at BIGINT NOT NULL,
    detail TEXT,
    PRIMARY KEY (job_name, unit_key)
  )`,
];

/**
 * Runs a `CREATE … IF NOT EXISTS`. Instances starting together can race on
 * it in PostgreSQL ("duplicate key … pg_type"): the loser retries.
 *
 * @param run Runs one statement.
 * @param clock The clock of the pauses between tries.
 * @param text The statement.
 */
export async function createRetrying(
  run: (sql: NamedSql) => Promise<unknown>,
  clock: Clock,
  text: string,
): Promise<void> {
  for (let attempt = 0;; attempt++) {
    try {
      await run(parseNamedSql(text));
      return;
    } catch (error) {
      if (attempt >= 4) throw error;
      await clock.sleep(20 + Math.random() * 80);
    }
  }
}

/** The statements of one dialect. */
export type Statements = ReturnType<typeof statementsFor>;

/** The store's clock in SQL, in ms: PostgreSQL's own; SQLite's, a parameter (`:now`). */
function nowSql(kind: "sqlite" | "postgres", parameter = ":now"): string {
  return kind === "postgres"
    ? "(extract(epoch from clock_timestamp()) * 1000)::bigint"
    : parameter;
}

/**
 * The condition every fenced write holds in its `WHERE`: the claim
 * `:jobName`/`:epoch` is still the job's, and alive by the store's clock
 * (SQLite: the `now` parameter). PostgreSQL locks the claim's row for the
 * statement.
 *
 * @param kind The dialect.
 * @param now The parameter holding the store's time on SQLite (default `:now`).
 * @returns An SQL boolean expression.
 */
export function fenceSql(kind: "sqlite" | "postgres", now = ":now"): string {
  return `EXISTS (SELECT 1 FROM triggerkit_claims c WHERE c.job_name = :jobName AND c.epoch = :epoch AND c.done = 0 AND c.lease_until >= ${
    nowSql(kind, now)
  }${kind === "postgres" ? " FOR SHARE" : ""})`;
}

/** The statements, parsed once per dialect. */
export function statementsFor(kind: "sqlite" | "postgres") {
  const pg = kind === "postgres";
  /** The store's clock, in ms. */
  const NOW = nowSql(kind);
  /**
   * A JSON array parameter `:keys` (its text) as a table `j(value)`. The
   * parameter is text to the server: a json parameter would take the
   * string as one JSON string.
   */
  const KEYS = pg
    ? "json_array_elements_text(CAST(CAST(:keys AS text) AS json)) AS j(value)"
    : "json_each(:keys) AS j";
  /** The write's claim is still the job's, and alive by the store's clock. */
  const FENCE = fenceSql(kind);
  /** The run holding the lease finished (or the lease was given up). */
  const FREE =
    "(done = 1 OR EXISTS (SELECT 1 FROM triggerkit_runs r WHERE r.run_id = triggerkit_claims.run_id AND r.status <> 'running'))";
  /** The job's last successful run: the delivery journal's generation. */
  const GENERATION =
    "COALESCE((SELECT g.run_id FROM triggerkit_runs g WHERE g.job_name = :jobName AND g.status = 'succeeded' AND g.dry_run = 0 ORDER BY g.started_at DESC, g.run_id DESC LIMIT 1), '')";
  const sql = (text: string): NamedSql => parseNamedSql(text);
  /** A run's status (gone quiet: interrupted) and report. */
  const RECORD =
    "SELECT CASE WHEN status = 'running' AND heartbeat_at < :staleBefore THEN 'interrupted' ELSE status END AS status, report FROM triggerkit_runs";
  /** A report and the summary columns written with it. */
  const COUNTS =
    "report = :report, finished_at = :finishedAt, row_count = :rowCount, new_row_count = :newRowCount";
  /**
   * The latest runs of a job (SQLite: of `:job`, one statement a job, on
   * the covering `triggerkit_runs_summary` index: a row's `report`, stored
   * before the summary columns, is never read) or of each job of `:keys`
   * (PostgreSQL: `LATERAL … LIMIT` on its index; TOAST keeps reports out of
   * the way), newest first, as summaries. A row written before the summary
   * columns (row_count NULL) is summarised from its report, read apart.
   */
  const SUMMARY_COLUMNS =
    "r.run_id, r.job_name, r.dry_run, CASE WHEN r.status = 'running' AND r.heartbeat_at < :staleBefore THEN 'interrupted' ELSE r.status END AS status, r.started_at, r.finished_at, r.row_count, r.new_row_count";
  const RECENT = pg
    ? `SELECT ${SUMMARY_COLUMNS} FROM ${KEYS} CROSS JOIN LATERAL (SELECT * FROM triggerkit_runs x
         WHERE x.job_name = j.value ORDER BY x.started_at DESC, x.run_id DESC LIMIT :perJob) r
       ORDER BY r.job_name, r.started_at DESC, r.run_id DESC`
    : `SELECT ${SUMMARY_COLUMNS} FROM triggerkit_runs r INDEXED BY triggerkit_runs_summary
       WHERE r.job_name = :job ORDER BY r.started_at DESC, r.run_id DESC LIMIT :perJob`;
  /** Run ids in code point order (`_id_prefix.ts`), on an index either way. */
  const ID = pg ? 'run_id COLLATE "C"' : "run_id";
  return {
    /** What SCHEMA lacks in this dialect: PostgreSQL's code point order of ids. */
    schema: pg
      ? [
        `CREATE INDEX IF NOT EXISTS triggerkit_runs_id ON triggerkit_runs (${ID})`,
      ]
      : [],
    pragmas: pg ? [] : [
      // The store is TriggerKit's own file: NORMAL sync (with the WAL the
      // driver sets) makes a run's small writes cheap and still survives a
      // crash of the process. Lock waits are the driver's (asynchronous, up
      // to its busyTimeoutMs); after them the store's retries take over.
      sql("PRAGMA synchronous = NORMAL"),
    ],
    interrupt: sql(
      "UPDATE triggerkit_runs SET status = 'interrupted' WHERE status = 'running' AND heartbeat_at < :staleBefore",
    ),
    claimNew: sql(
      `INSERT INTO triggerkit_claims (job_name, epoch, run_id, holder, slot, last_slot, lease_until, done, attempt, generation)
       VALUES (:jobName, 1, :runId, :holder, :slot, :lastSlot, ${NOW} + :leaseMs, 0, 1, ${GENERATION})
       ON CONFLICT (job_name) DO NOTHING`,
    ),
    claimSlot: sql(
      `UPDATE triggerkit_claims SET epoch = epoch + 1, run_id = :runId, holder = :holder, slot = :slot, last_slot = :slot,
         lease_until = ${NOW} + :leaseMs, done = 0, attempt = 1, generation = ${GENERATION}
       WHERE job_name = :jobName AND last_slot < :slot AND ${FREE}`,
    ),
    claimManual: sql(
      `UPDATE triggerkit_claims SET epoch = epoch + 1, run_id = :runId, holder = :holder, slot = NULL,
         lease_until = ${NOW} + :leaseMs, done = 0, attempt = 1, generation = ${GENERATION}
       WHERE job_name = :jobName AND (${FREE} OR lease_until < ${NOW})`,
    ),
    takeOver: sql(
      `UPDATE triggerkit_claims SET epoch = epoch + 1, run_id = :runId, holder = :holder,
         lease_until = ${NOW} + :leaseMs, attempt = attempt + 1
       WHERE job_name = :jobName AND done = 0 AND slot IS NOT NULL AND lease_until < ${NOW}
         AND NOT EXISTS (SELECT 1 FROM triggerkit_runs r WHERE r.run_id = triggerkit_claims.run_id AND r.status <> 'running')`,
    ),
    freeExpired: sql(
      `UPDATE triggerkit_claims SET done = 1
       WHERE job_name = :jobName AND done = 0 AND lease_until < ${NOW} AND (slot IS NULL OR ${FREE})`,
    ),
    markInterrupted: sql(
      "UPDATE triggerkit_runs SET status = 'interrupted' WHERE run_id = :runId AND status = 'running'",
    ),
    lease: sql(
      `SELECT epoch, run_id, holder, slot, last_slot, done, attempt, generation,
         CASE WHEN lease_until < ${NOW} THEN 1 ELSE 0 END AS expired
       FROM triggerkit_claims WHERE job_name = :jobName`,
    ),
    renew: sql(
      `UPDATE triggerkit_claims SET lease_until = ${NOW} + :leaseMs
       WHERE job_name = :jobName AND epoch = :epoch AND done = 0 AND lease_until >= ${NOW}`,
    ),
    heartbeat: sql(
      "UPDATE triggerkit_runs SET heartbeat_at = :now WHERE run_id = :runId AND status = 'running'",
    ),
    release: sql(
      "UPDATE triggerkit_claims SET done = 1 WHERE job_name = :jobName AND epoch = :epoch AND done = 0",
    ),
    skipSlot: sql(
      "UPDATE triggerkit_claims SET last_slot = :slot WHERE job_name = :jobName AND last_slot < :slot",
    ),
    skipFirstSlot: sql(
      `INSERT INTO triggerkit_claims (job_name, epoch, run_id, holder, slot, last_slot, lease_until, done, attempt, generation)
       VALUES (:jobName, 0, '', '{}', NULL, :slot, 0, 1, 0, '') ON CONFLICT (job_name) DO NOTHING`,
    ),
    start: sql(
      `INSERT INTO triggerkit_runs (run_id, job_name, dry_run, status, started_at, heartbeat_at, report, row_count, new_row_count)
       VALUES (:runId, :jobName, :dryRun, 'running', :startedAt, :now, :report, 0, 0)`,
    ),
    startFenced: sql(
      `INSERT INTO triggerkit_runs (run_id, job_name, dry_run, status, started_at, heartbeat_at, report, row_count, new_row_count)
       SELECT CAST(:runId AS TEXT), CAST(:jobName AS TEXT), CAST(:dryRun AS INTEGER), 'running', CAST(:startedAt AS TEXT),
         CAST(:now AS BIGINT), CAST(:report AS TEXT), 0, 0 WHERE ${FENCE}
       ON CONFLICT (run_id) DO NOTHING`,
    ),
    runStatus: sql("SELECT status FROM triggerkit_runs WHERE run_id = :runId"),
    recent: sql(RECENT),
    /** Whether `recent` reads one job (`:job`) rather than a batch (`:keys`). */
    recentPerJob: !pg,
    /** The reports of the runs of `:keys`, to summarise rows written before the summary columns. */
    reports: sql(
      `SELECT r.run_id, r.report FROM ${KEYS} JOIN triggerkit_runs r ON r.run_id = j.value`,
    ),
    /** What needs the summary columns, made once they exist. */
    summaryIndex: pg ? [] : [
      "CREATE INDEX IF NOT EXISTS triggerkit_runs_summary ON triggerkit_runs (job_name, started_at, run_id, status, heartbeat_at, finished_at, dry_run, row_count, new_row_count)",
    ],
    /** The run table's columns (the summary columns are added to an older table). */
    runColumns: sql(
      pg
        ? "SELECT column_name AS name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'triggerkit_runs'"
        : "SELECT name FROM pragma_table_info('triggerkit_runs')",
    ),
    record: sql(
      `INSERT INTO triggerkit_runs (run_id, job_name, dry_run, status, started_at, finished_at, heartbeat_at, report, row_count, new_row_count)
       VALUES (:runId, :jobName, :dryRun, :status, :startedAt, :finishedAt, :now, :report, :rowCount, :newRowCount)
       ON CONFLICT (run_id) DO NOTHING`,
    ),
    progress: sql(
      `UPDATE triggerkit_runs SET ${COUNTS}, heartbeat_at = :now WHERE run_id = :runId AND status = 'running'`,
    ),
    progressFenced: sql(
      `UPDATE triggerkit_runs SET ${COUNTS}, heartbeat_at = :now
       WHERE run_id = :runId AND status = 'running' AND ${FENCE}`,
    ),
    finish: sql(
      `UPDATE triggerkit_runs SET status = :status, ${COUNTS}, heartbeat_at = :now
       WHERE run_id = :runId`,
    ),
    finishFenced: sql(
      `UPDATE triggerkit_runs SET status = :status, ${COUNTS}, heartbeat_at = :now
       WHERE run_id = :runId AND status = 'running' AND ${FENCE}`,
    ),
    historyAll: sql(
      `${RECORD} ORDER BY started_at DESC, run_id DESC LIMIT :limit`,
    ),
    get: sql(`${RECORD} WHERE run_id = :runId`),
    historyJob: sql(
      `${RECORD} WHERE job_name = :jobName ORDER BY started_at DESC, run_id DESC LIMIT :limit`,
    ),
    byIdRange: sql(
      `${RECORD} WHERE ${ID} >= :start AND ${ID} < :end ORDER BY ${ID} LIMIT :limit`,
    ),
    byIdFrom: sql(
      `${RECORD} WHERE ${ID} >= :start ORDER BY ${ID} LIMIT :limit`,
    ),
    remember: sql(
      `INSERT INTO triggerkit_dedupe (job_name, row_key, expires_at)
       SELECT CAST(:jobName AS TEXT), j.value, CAST(:expiresAt AS BIGINT) FROM ${KEYS} WHERE ${FENCE}
       ON CONFLICT (job_name, row_key) DO UPDATE SET expires_at = excluded.expires_at`,
    ),
    /**
     * A run's keys are written pending (`expires_at` = minus its epoch: not
     * seen), batch by batch, then made seen by this one statement: a run
     * that loses its claim between two batches leaves none of its keys
     * seen, so the run that takes over sees the same new rows (and the same
     * delivery units) as the one it took over.
     */
    keep: sql(
      `UPDATE triggerkit_dedupe SET expires_at = :expiresAt
       WHERE job_name = :jobName AND expires_at = :pending AND ${FENCE}`,
    ),
    /** Expired keys, and the pending keys of earlier claims (minus their epoch). */
    forget: sql(
      "DELETE FROM triggerkit_dedupe WHERE job_name = :jobName AND expires_at <= :now",
    ),
    keySet: sql(
      `UPDATE triggerkit_claims SET key_digest = :digest, key_valid_until = :validUntil
       WHERE job_name = :jobName AND epoch = :epoch AND done = 0 AND lease_until >= ${NOW}`,
    ),
    sameKeySet: sql(
      `SELECT key_digest, key_valid_until,
         CASE WHEN EXISTS (SELECT 1 FROM triggerkit_dedupe d WHERE d.job_name = :jobName) THEN 1 ELSE 0 END AS any_key
       FROM triggerkit_claims WHERE job_name = :jobName`,
    ),
    unseen: sql(
      `SELECT j.value AS row_key FROM ${KEYS} WHERE NOT EXISTS (SELECT 1 FROM triggerkit_dedupe d
         WHERE d.job_name = :jobName AND d.row_key = j.value AND d.expires_at > :now)`,
    ),
    seenUntil: sql(
      // CROSS JOIN: SQLite then looks each key up (its planner, with no
      // statistics, scanned the job's keys once per key: 9 s for 10,000).
      `SELECT MIN(d.expires_at) AS until FROM ${KEYS} CROSS JOIN triggerkit_dedupe d
         WHERE d.job_name = :jobName AND d.row_key = j.value AND d.expires_at > :now`,
    ),
    deliveries: sql(
      `SELECT unit_key, state, at, detail FROM triggerkit_deliveries
       WHERE job_name = :jobName AND unit_key IN (SELECT j.value FROM ${KEYS})`,
    ),
    recordDelivery: sql(
      `INSERT INTO triggerkit_deliveries (job_name, unit_key, generation, state, at, detail)
       SELECT CAST(:jobName AS TEXT), CAST(:unitKey AS TEXT), CAST(:generation AS TEXT), CAST(:state AS TEXT),
         CAST(:at AS BIGINT), CAST(:detail AS TEXT) WHERE ${FENCE}
       ON CONFLICT (job_name, unit_key) DO UPDATE SET generation = excluded.generation, state = excluded.state,
         at = excluded.at, detail = excluded.detail`,
    ),
    forgetDeliveries: sql(
      "DELETE FROM triggerkit_deliveries WHERE job_name = :jobName AND generation <> :generation",
    ),
    pruneRuns: sql(
      `DELETE FROM triggerkit_runs WHERE started_at < :before
         AND (status <> 'running' OR heartbeat_at < :staleBefore)
         AND run_id NOT IN (SELECT run_id FROM triggerkit_claims WHERE done = 0)
         AND NOT (status = 'succeeded' AND dry_run = 0 AND NOT EXISTS (SELECT 1 FROM triggerkit_runs n
           WHERE n.job_name = triggerkit_runs.job_name AND n.status = 'succeeded' AND n.dry_run = 0
             AND n.started_at > triggerkit_runs.started_at))`,
    ),
    // Pending keys (expires_at < 0) only when their claim has moved on.
    pruneDedupe: sql(
      `DELETE FROM triggerkit_dedupe WHERE expires_at <= :now AND (expires_at >= 0 OR NOT EXISTS
         (SELECT 1 FROM triggerkit_claims c WHERE c.job_name = triggerkit_dedupe.job_name
           AND c.epoch = -triggerkit_dedupe.expires_at AND c.done = 0))`,
    ),
    pruneDeliveries: sql(
      `DELETE FROM triggerkit_deliveries WHERE generation <> COALESCE((SELECT g.run_id FROM triggerkit_runs g
         WHERE g.job_name = triggerkit_deliveries.job_name AND g.status = 'succeeded' AND g.dry_run = 0
         ORDER BY g.started_at DESC, g.run_id DESC LIMIT 1), '')`,
    ),
  };
}
