/**
 * The run store in portable SQL over a {@linkcode Database}: SQLite (the
 * default file `.triggerkit/state.db`) or PostgreSQL.
 *
 * @module
 */
import type { Database } from "../db/contract.ts";
import { type NamedSql, parseNamedSql } from "../db/named_sql.ts";
import type { Row } from "../types.ts";
import { toJson } from "../_json.ts";
import { type Clock, realClock } from "../clock.ts";
import {
  type HistoryOptions,
  type Lease,
  runningRecord,
  type RunRecord,
  type RunReport,
  type RunStart,
  type RunStore,
  STALE_AFTER_MS,
} from "./contract.ts";
import { SqlAlertStore } from "./sql_alerts.ts";

const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS triggerkit_runs (
    run_id TEXT PRIMARY KEY,
    job_name TEXT NOT NULL,
    dry_run INTEGER NOT NULL,
    status TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    heartbeat_at BIGINT NOT NULL,
    report TEXT
  )`,
  "CREATE INDEX IF NOT EXISTS triggerkit_runs_job ON triggerkit_runs (job_name, started_at)",
  `CREATE TABLE IF NOT EXISTS triggerkit_dedupe (
    job_name TEXT NOT NULL,
    row_key TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (job_name, row_key)
  )`,
  `CREATE TABLE IF NOT EXISTS triggerkit_leases (
    job_name TEXT PRIMARY KEY,
    slot BIGINT NOT NULL,
    instance TEXT NOT NULL,
    lease_until BIGINT NOT NULL,
    done INTEGER NOT NULL,
    attempt INTEGER NOT NULL
  )`,
];

const SQL = {
  start: parseNamedSql(
    `INSERT INTO triggerkit_runs (run_id, job_name, dry_run, status, started_at, heartbeat_at, report)
     VALUES (:runId, :jobName, :dryRun, 'running', :startedAt, :now, :report)`,
  ),
  heartbeat: parseNamedSql(
    "UPDATE triggerkit_runs SET heartbeat_at = :now WHERE run_id = :runId AND status = 'running'",
  ),
  finish: parseNamedSql(
    `UPDATE triggerkit_runs SET status = :status, finished_at = :finishedAt, heartbeat_at = :now, report = :report
     WHERE run_id = :runId`,
  ),
  interrupt: parseNamedSql(
    "UPDATE triggerkit_runs SET status = 'interrupted' WHERE status = 'running' AND heartbeat_at < :staleBefore",
  ),
  historyAll: parseNamedSql(
    "SELECT CASE WHEN status = 'running' AND heartbeat_at < :staleBefore THEN 'interrupted' ELSE status END AS status, report FROM triggerkit_runs ORDER BY started_at DESC, run_id DESC LIMIT :limit",
  ),
  get: parseNamedSql(
    "SELECT CASE WHEN status = 'running' AND heartbeat_at < :staleBefore THEN 'interrupted' ELSE status END AS status, report FROM triggerkit_runs WHERE run_id = :runId",
  ),
  historyJob: parseNamedSql(
    "SELECT CASE WHEN status = 'running' AND heartbeat_at < :staleBefore THEN 'interrupted' ELSE status END AS status, report FROM triggerkit_runs WHERE job_name = :job ORDER BY started_at DESC, run_id DESC LIMIT :limit",
  ),
  remember: parseNamedSql(
    `INSERT INTO triggerkit_dedupe (job_name, row_key, expires_at) VALUES (:jobName, :key, :expiresAt)
     ON CONFLICT (job_name, row_key) DO UPDATE SET expires_at = excluded.expires_at`,
  ),
  forget: parseNamedSql(
    "DELETE FROM triggerkit_dedupe WHERE job_name = :jobName AND expires_at <= :now",
  ),
  lease: parseNamedSql(
    "SELECT slot, instance, lease_until, done, attempt FROM triggerkit_leases WHERE job_name = :jobName",
  ),
  claimNew: parseNamedSql(
    `INSERT INTO triggerkit_leases (job_name, slot, instance, lease_until, done, attempt)
     VALUES (:jobName, :slot, :instance, :leaseUntil, 0, 1) ON CONFLICT (job_name) DO NOTHING`,
  ),
  claimNext: parseNamedSql(
    `UPDATE triggerkit_leases SET slot = :slot, instance = :instance, lease_until = :leaseUntil, done = 0, attempt = 1
     WHERE job_name = :jobName AND done = 1 AND slot < :slot`,
  ),
  takeOver: parseNamedSql(
    `UPDATE triggerkit_leases SET instance = :instance, lease_until = :leaseUntil, attempt = attempt + 1
     WHERE job_name = :jobName AND done = 0 AND lease_until < :now AND instance = :previous AND attempt = :attempt`,
  ),
  renew: parseNamedSql(
    "UPDATE triggerkit_leases SET lease_until = :leaseUntil WHERE job_name = :jobName AND instance = :instance AND done = 0",
  ),
  release: parseNamedSql(
    "UPDATE triggerkit_leases SET done = 1 WHERE job_name = :jobName AND instance = :instance AND done = 0",
  ),
};

/** Keys per `seen` query (well under both databases' parameter limits). */
const SEEN_BATCH = 500;

/** Options of {@linkcode SqlRunStore}. */
export interface SqlRunStoreOptions {
  /** The clock of heartbeats and staleness (default: the real one). */
  clock?: Clock;
  /** Close the database with the store (when nothing else shares it). */
  ownsDatabase?: boolean;
}

/** A {@linkcode RunStore} on a SQL database. */
export class SqlRunStore implements RunStore {
  readonly #db: Database;
  readonly #clock: Clock;
  readonly #ownsDatabase: boolean;
  #ready: Promise<void> | undefined;
  /** Alert state, mutes and notices, in tables of their own (issue 14). */
  readonly alerts: SqlAlertStore;

  /**
   * @param db The database (its tables are created on first use).
   * @param options The clock; whether the store closes the database.
   */
  constructor(db: Database, options: SqlRunStoreOptions = {}) {
    this.#db = db;
    this.#clock = options.clock ?? realClock;
    this.#ownsDatabase = options.ownsDatabase ?? false;
    this.alerts = new SqlAlertStore(db, this.#clock);
  }

  #now(): number {
    return this.#clock.now();
  }

  /** Creates the tables, and marks runs whose process died as interrupted. */
  #init(): Promise<void> {
    this.#ready ??= (async () => {
      if (this.#db.kind === "sqlite") {
        // The store is TriggerKit's own file: WAL and NORMAL sync make a run's
        // two small writes cheap and still survive a crash of the process.
        await this.#db.query(parseNamedSql("PRAGMA journal_mode = WAL"));
        await this.#db.query(parseNamedSql("PRAGMA synchronous = NORMAL"));
      }
      for (const statement of SCHEMA) {
        await this.#create(parseNamedSql(statement));
      }
      await this.#run(SQL.interrupt, {
        staleBefore: this.#now() - STALE_AFTER_MS,
      });
    })();
    return this.#ready;
  }

  /**
   * Runs a `CREATE … IF NOT EXISTS`. Instances starting together can race
   * on it in PostgreSQL ("duplicate key … pg_type"): the loser retries.
   */
  async #create(sql: NamedSql): Promise<void> {
    for (let attempt = 0;; attempt++) {
      try {
        return await this.#run(sql, {});
      } catch (error) {
        if (attempt >= 4) throw error;
        await this.#clock.sleep(20 + Math.random() * 80);
      }
    }
  }

  async #run(sql: NamedSql, params: Row): Promise<void> {
    await this.#db.execute(sql, { params: [params], dryRun: false });
  }

  async start(run: RunStart): Promise<void> {
    await this.#init();
    await this.#run(SQL.start, {
      runId: run.runId,
      jobName: run.jobName,
      dryRun: run.dryRun ? 1 : 0,
      startedAt: run.startedAt,
      now: this.#now(),
      report: JSON.stringify(runningRecord(run)),
    });
  }

  async heartbeat(runId: string): Promise<void> {
    await this.#init();
    await this.#run(SQL.heartbeat, { runId, now: this.#now() });
  }

  async finish(report: RunReport): Promise<void> {
    await this.#init();
    await this.#run(SQL.finish, {
      runId: report.runId,
      status: report.status,
      finishedAt: report.finishedAt,
      now: this.#now(),
      report: toJson(report),
    });
  }

  async history(options: HistoryOptions = {}): Promise<RunRecord[]> {
    await this.#init();
    const limit = Math.max(1, Math.floor(options.limit ?? 20));
    const staleBefore = this.#now() - STALE_AFTER_MS;
    const rows = options.job === undefined
      ? await this.#db.query(SQL.historyAll, { limit, staleBefore })
      : await this.#db.query(SQL.historyJob, {
        job: options.job,
        limit,
        staleBefore,
      });
    return rows.map(toRecord);
  }

  async get(runId: string): Promise<RunRecord | undefined> {
    await this.#init();
    const staleBefore = this.#now() - STALE_AFTER_MS;
    const [row] = await this.#db.query(SQL.get, { runId, staleBefore });
    return row && toRecord(row);
  }

  async seen(
    jobName: string,
    keys: readonly string[],
    now: number,
  ): Promise<Set<string>> {
    await this.#init();
    const found = new Set<string>();
    for (let i = 0; i < keys.length; i += SEEN_BATCH) {
      const batch = keys.slice(i, i + SEEN_BATCH);
      const params: Row = { jobName, now };
      const names = batch.map((key, j) => {
        params[`k${j}`] = key;
        return `:k${j}`;
      });
      const rows = await this.#db.query(
        parseNamedSql(
          `SELECT row_key FROM triggerkit_dedupe WHERE job_name = :jobName AND expires_at > :now AND row_key IN (${
            names.join(", ")
          })`,
        ),
        params,
      );
      for (const row of rows) found.add(String(row.row_key));
    }
    return found;
  }

  async remember(
    jobName: string,
    keys: readonly string[],
    expiresAt: number,
    now: number,
  ): Promise<void> {
    await this.#init();
    await this.#run(SQL.forget, { jobName, now });
    if (keys.length === 0) return;
    await this.#db.execute(SQL.remember, {
      params: keys.map((key) => ({ jobName, key, expiresAt })),
      dryRun: false,
    });
  }

  async lease(jobName: string): Promise<Lease | undefined> {
    await this.#init();
    const [row] = await this.#db.query(SQL.lease, { jobName });
    if (row === undefined) return undefined;
    return {
      slot: Number(row.slot),
      instance: String(row.instance),
      leaseUntil: Number(row.lease_until),
      done: Number(row.done) === 1,
      attempt: Number(row.attempt),
    };
  }

  async claim(
    jobName: string,
    slot: number,
    instance: string,
    leaseUntil: number,
  ): Promise<boolean> {
    await this.#init();
    const params = { jobName, slot, instance, leaseUntil };
    if (await this.#changes(SQL.claimNew, params)) return true;
    return await this.#changes(SQL.claimNext, params);
  }

  async takeOver(
    jobName: string,
    instance: string,
    leaseUntil: number,
    now: number,
  ): Promise<Lease | undefined> {
    const lease = await this.lease(jobName);
    if (!lease || lease.done || lease.leaseUntil >= now) return undefined;
    const won = await this.#changes(SQL.takeOver, {
      jobName,
      instance,
      leaseUntil,
      now,
      previous: lease.instance,
      attempt: lease.attempt,
    });
    return won
      ? { ...lease, instance, leaseUntil, attempt: lease.attempt + 1 }
      : undefined;
  }

  async renew(
    jobName: string,
    instance: string,
    leaseUntil: number,
  ): Promise<boolean> {
    await this.#init();
    return await this.#changes(SQL.renew, { jobName, instance, leaseUntil });
  }

  async release(jobName: string, instance: string): Promise<void> {
    await this.#init();
    await this.#run(SQL.release, { jobName, instance });
  }

  async #changes(sql: NamedSql, params: Row): Promise<boolean> {
    const { rowsAffected } = await this.#db.execute(sql, {
      params: [params],
      dryRun: false,
    });
    return rowsAffected > 0;
  }

  /** Closes the database when the store owns it. */
  async close(): Promise<void> {
    if (this.#ownsDatabase) await this.#db.close();
  }
}

function toRecord(row: Row): RunRecord {
  const record = JSON.parse(String(row.report)) as RunRecord;
  record.status = row.status as RunRecord["status"];
  return record;
}
