/**
 * The alert store on the run store's SQL database (SQLite or PostgreSQL), in
 * tables of its own: `triggerkit_alert_keys` (pending and firing keys, and
 * tombstones of resolved ones), `triggerkit_alert_jobs` (each job's
 * summary), `triggerkit_alert_mutes` and `triggerkit_alert_notices`.
 *
 * @module
 */
import type { CallOptions, Database } from "../db/contract.ts";
import { type NamedSql, parseNamedSql } from "../db/named_sql.ts";
import type { Row } from "../types.ts";
import { toJson } from "../_json.ts";
import type { Clock } from "../clock.ts";
import { ClaimLostError } from "./contract.ts";
import { createRetrying, fenceSql } from "./_sql_statements.ts";
import {
  type AlertFence,
  type AlertStore,
  type FiringPage,
  type NoticeState,
  TOMBSTONE_MS,
  type VersionedNotice,
} from "../alerts/store.ts";
import type {
  AlertCommit,
  AlertSummary,
  KeyState,
  Mute,
} from "../alerts/state.ts";

const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS triggerkit_alert_keys (
    job_name TEXT NOT NULL,
    row_key TEXT NOT NULL,
    state TEXT NOT NULL,
    since BIGINT NOT NULL,
    firing_since BIGINT,
    incident INTEGER NOT NULL,
    delivered INTEGER NOT NULL,
    last_delivered_at BIGINT,
    fingerprint TEXT NOT NULL,
    row_json TEXT,
    resolved_at BIGINT,
    PRIMARY KEY (job_name, row_key)
  )`,
  // The status page's bounded read: a job's firing keys in key order, counted.
  `CREATE INDEX IF NOT EXISTS triggerkit_alert_keys_by_state
    ON triggerkit_alert_keys (job_name, state, row_key)`,
  `CREATE TABLE IF NOT EXISTS triggerkit_alert_jobs (
    job_name TEXT PRIMARY KEY,
    summary TEXT NOT NULL
  )`,
  `CREATE TABLE IF NOT EXISTS triggerkit_alert_mutes (
    mute_id TEXT PRIMARY KEY,
    job_name TEXT NOT NULL,
    until_at BIGINT NOT NULL,
    mute_keys TEXT,
    reason TEXT,
    created_at BIGINT NOT NULL
  )`,
  `CREATE TABLE IF NOT EXISTS triggerkit_alert_notices (
    job_name TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    state TEXT NOT NULL
  )`,
];

const STATE_COLUMNS =
  "state, since, firing_since, incident, delivered, last_delivered_at, fingerprint";

/** A job's keys as `KeyState`s (columns named as its fields). */
const KEY_COLUMNS =
  `SELECT row_key AS "key", state, since, firing_since AS "firingSince", incident, delivered,
     last_delivered_at AS "lastDeliveredAt", fingerprint
   FROM triggerkit_alert_keys WHERE job_name = :job`;

const SQL = {
  summary: parseNamedSql(
    "SELECT summary FROM triggerkit_alert_jobs WHERE job_name = :job",
  ),
  dropSummary: parseNamedSql(
    "DELETE FROM triggerkit_alert_jobs WHERE job_name = :job",
  ),
  putSummary: parseNamedSql(
    `INSERT INTO triggerkit_alert_jobs (job_name, summary) VALUES (:job, :summary)
     ON CONFLICT (job_name) DO UPDATE SET summary = excluded.summary`,
  ),
  keys: parseNamedSql(`${KEY_COLUMNS} AND state <> 'resolved'`),
  firing: parseNamedSql(
    `${KEY_COLUMNS} AND state = 'firing' ORDER BY row_key LIMIT :limit`,
  ),
  countFiring: parseNamedSql(
    "SELECT COUNT(*) AS n FROM triggerkit_alert_keys WHERE job_name = :job AND state = 'firing'",
  ),
  upsertWithRow: parseNamedSql(
    `INSERT INTO triggerkit_alert_keys (job_name, row_key, ${STATE_COLUMNS}, row_json, resolved_at)
     VALUES (:job, :key, :state, :since, :firingSince, :incident, :delivered, :lastDeliveredAt, :fingerprint, :row, NULL)
     ON CONFLICT (job_name, row_key) DO UPDATE SET state = excluded.state, since = excluded.since,
       firing_since = excluded.firing_since, incident = excluded.incident, delivered = excluded.delivered,
       last_delivered_at = excluded.last_delivered_at, fingerprint = excluded.fingerprint,
       row_json = excluded.row_json, resolved_at = NULL`,
  ),
  update: parseNamedSql(
    `UPDATE triggerkit_alert_keys SET state = :state, since = :since, firing_since = :firingSince,
       incident = :incident, delivered = :delivered, last_delivered_at = :lastDeliveredAt, fingerprint = :fingerprint
     WHERE job_name = :job AND row_key = :key`,
  ),
  resolve: parseNamedSql(
    `UPDATE triggerkit_alert_keys SET state = 'resolved', incident = :incident, resolved_at = :now,
       row_json = NULL, firing_since = NULL
     WHERE job_name = :job AND row_key = :key`,
  ),
  prune: parseNamedSql(
    "DELETE FROM triggerkit_alert_keys WHERE job_name = :job AND state = 'resolved' AND resolved_at < :before",
  ),
  mutesAll: parseNamedSql(
    "SELECT mute_id, job_name, until_at, mute_keys, reason, created_at FROM triggerkit_alert_mutes WHERE until_at > :now ORDER BY created_at, mute_id",
  ),
  mutesJob: parseNamedSql(
    "SELECT mute_id, job_name, until_at, mute_keys, reason, created_at FROM triggerkit_alert_mutes WHERE job_name = :job AND until_at > :now ORDER BY created_at, mute_id",
  ),
  addMute: parseNamedSql(
    `INSERT INTO triggerkit_alert_mutes (mute_id, job_name, until_at, mute_keys, reason, created_at)
     VALUES (:id, :job, :until, :keys, :reason, :createdAt)`,
  ),
  countMutes: parseNamedSql(
    "SELECT COUNT(*) AS n FROM triggerkit_alert_mutes WHERE job_name = :job AND until_at > :now",
  ),
  removeMutes: parseNamedSql(
    "DELETE FROM triggerkit_alert_mutes WHERE job_name = :job",
  ),
  pruneMutes: parseNamedSql(
    "DELETE FROM triggerkit_alert_mutes WHERE until_at <= :now",
  ),
  notice: parseNamedSql(
    "SELECT version, state FROM triggerkit_alert_notices WHERE job_name = :job",
  ),
  insertNotice: parseNamedSql(
    `INSERT INTO triggerkit_alert_notices (job_name, version, state) VALUES (:job, 1, :state)
     ON CONFLICT (job_name) DO NOTHING`,
  ),
  updateNotice: parseNamedSql(
    "UPDATE triggerkit_alert_notices SET version = version + 1, state = :state WHERE job_name = :job AND version = :version",
  ),
};

/**
 * The writes of a run, fenced by its claim: each holds the fence in its
 * `WHERE`, so that none lands once the claim is lost.
 */
function fencedStatements(kind: "sqlite" | "postgres") {
  // The run's `now` is a column value here; the store's time is `:fenceNow`.
  const fence = fenceSql(kind, ":fenceNow");
  const sql = parseNamedSql;
  return {
    held: sql(`SELECT 1 AS held WHERE ${fence}`),
    dropSummary: sql(
      `DELETE FROM triggerkit_alert_jobs WHERE job_name = :job AND ${fence}`,
    ),
    putSummary: sql(
      `INSERT INTO triggerkit_alert_jobs (job_name, summary)
       SELECT CAST(:job AS TEXT), CAST(:summary AS TEXT) WHERE ${fence}
       ON CONFLICT (job_name) DO UPDATE SET summary = excluded.summary`,
    ),
    upsertWithRow: sql(
      `INSERT INTO triggerkit_alert_keys (job_name, row_key, ${STATE_COLUMNS}, row_json, resolved_at)
       SELECT CAST(:job AS TEXT), CAST(:key AS TEXT), CAST(:state AS TEXT), CAST(:since AS BIGINT),
         CAST(:firingSince AS BIGINT), CAST(:incident AS INTEGER), CAST(:delivered AS INTEGER),
         CAST(:lastDeliveredAt AS BIGINT), CAST(:fingerprint AS TEXT), CAST(:row AS TEXT), NULL
       WHERE ${fence}
       ON CONFLICT (job_name, row_key) DO UPDATE SET state = excluded.state, since = excluded.since,
         firing_since = excluded.firing_since, incident = excluded.incident, delivered = excluded.delivered,
         last_delivered_at = excluded.last_delivered_at, fingerprint = excluded.fingerprint,
         row_json = excluded.row_json, resolved_at = NULL`,
    ),
    update: sql(`${SQL.update.sql} AND ${fence}`),
    resolve: sql(`${SQL.resolve.sql} AND ${fence}`),
    insertNotice: sql(
      `INSERT INTO triggerkit_alert_notices (job_name, version, state)
       SELECT CAST(:job AS TEXT), 1, CAST(:state AS TEXT) WHERE ${fence}
       ON CONFLICT (job_name) DO NOTHING`,
    ),
    updateNotice: sql(`${SQL.updateNotice.sql} AND ${fence}`),
  };
}

/** Keys per `IN (…)` query (well under both databases' parameter limits). */
const IN_BATCH = 500;

/** An {@linkcode AlertStore} on a SQL database. */
export class SqlAlertStore implements AlertStore {
  readonly #db: Database;
  readonly #clock: Clock;
  /** Each call's deadline (PostgreSQL: the run store's), as the run store's own calls have. */
  readonly #call: CallOptions;
  #ready: Promise<void> | undefined;
  #fenced: ReturnType<typeof fencedStatements> | undefined;

  /**
   * @param db The run store's database (the tables are created on first use).
   * @param clock The clock of retries when instances create the tables together.
   * @param call Each call's options: its deadline (a PostgreSQL server that
   * is down or hung fails the call, never hangs it).
   */
  constructor(db: Database, clock: Clock, call: CallOptions = {}) {
    this.#db = db;
    this.#clock = clock;
    this.#call = call;
  }

  #init(): Promise<void> {
    this.#ready ??= (async () => {
      const run = (sql: NamedSql) => this.#run(sql, [{}]);
      for (const text of SCHEMA) await createRetrying(run, this.#clock, text);
    })();
    this.#ready.catch(() => this.#ready = undefined);
    return this.#ready;
  }

  async #run(sql: NamedSql, params: Row[]): Promise<void> {
    if (params.length === 0) return;
    await this.#db.execute(sql, { params, dryRun: false, ...this.#call });
  }

  async #query(sql: NamedSql, params: Row): Promise<Row[]> {
    await this.#init();
    return await this.#db.query(sql, params, this.#call);
  }

  /** Rows of `SELECT row_key, <columns> … WHERE job_name = :job AND <filter> AND row_key IN (…)`, in batches. */
  async #byKeys(
    columns: string,
    filter: string,
    job: string,
    keys: readonly string[],
  ): Promise<Row[]> {
    const found: Row[] = [];
    for (let i = 0; i < keys.length; i += IN_BATCH) {
      const params: Row = { job };
      const names = keys.slice(i, i + IN_BATCH).map((key, j) => {
        params[`k${j}`] = key;
        return `:k${j}`;
      });
      found.push(
        ...await this.#query(
          parseNamedSql(
            `SELECT row_key, ${columns} FROM triggerkit_alert_keys WHERE job_name = :job AND ${filter} AND row_key IN (${
              names.join(", ")
            })`,
          ),
          params,
        ),
      );
    }
    return found;
  }

  async summary(jobName: string): Promise<AlertSummary | undefined> {
    const [row] = await this.#query(SQL.summary, { job: jobName });
    return row ? JSON.parse(String(row.summary)) as AlertSummary : undefined;
  }

  async keys(jobName: string): Promise<KeyState[]> {
    return this.#states(await this.#query(SQL.keys, { job: jobName }));
  }

  async firing(jobName: string, limit: number): Promise<FiringPage> {
    const [keys, [count]] = await Promise.all([
      limit > 0
        ? this.#query(SQL.firing, { job: jobName, limit })
        : Promise.resolve([]),
      this.#query(SQL.countFiring, { job: jobName }),
    ]);
    return { keys: this.#states(keys), total: Number(count?.n ?? 0) };
  }

  #states(rows: Row[]): KeyState[] {
    // Columns are named as KeyState's fields; PostgreSQL's BIGINTs come as text.
    if (this.#db.kind === "postgres") {
      for (const row of rows) {
        row.since = Number(row.since);
        if (row.firingSince !== null) row.firingSince = Number(row.firingSince);
        if (row.lastDeliveredAt !== null) {
          row.lastDeliveredAt = Number(row.lastDeliveredAt);
        }
      }
    }
    return rows as unknown as KeyState[];
  }

  async tombstones(
    jobName: string,
    keys: readonly string[],
  ): Promise<Map<string, number>> {
    const rows = await this.#byKeys(
      "incident",
      "state = 'resolved'",
      jobName,
      keys,
    );
    return new Map(
      rows.map((row) => [String(row.row_key), Number(row.incident)]),
    );
  }

  async rows(
    jobName: string,
    keys: readonly string[],
  ): Promise<Map<string, Row>> {
    const rows = await this.#byKeys(
      "row_json",
      "row_json IS NOT NULL",
      jobName,
      keys,
    );
    return new Map(
      rows.map((
        row,
      ) => [String(row.row_key), JSON.parse(String(row.row_json))]),
    );
  }

  /** The statements of a fenced write, and its parameters with the fence's. */
  #writes(fence: AlertFence | undefined) {
    const statements = fence
      ? this.#fenced ??= fencedStatements(this.#db.kind)
      : SQL;
    const params = (rows: Row[]): Row[] =>
      fence
        ? rows.map((row) => ({
          ...row,
          jobName: fence.jobName,
          epoch: fence.epoch,
          fenceNow: this.#clock.now(),
        }))
        : rows;
    return { statements, params };
  }

  /** Throws when the fence's claim is no longer the job's. */
  async #hold(fence: AlertFence, what: string): Promise<void> {
    const { statements, params } = this.#writes(fence);
    const [held] = await this.#db.query(
      (statements as ReturnType<typeof fencedStatements>).held,
      params([{}])[0]!,
      this.#call,
    );
    if (!held) throw new ClaimLostError(fence, what);
  }

  async commit(
    jobName: string,
    commit: AlertCommit,
    fence?: AlertFence,
  ): Promise<void> {
    await this.#init();
    const job = jobName;
    const { statements: S, params } = this.#writes(fence);
    if (fence) await this.#hold(fence, "recording alert state");
    await this.#run(S.dropSummary, params([{ job }]));
    const withRow: Row[] = [];
    const without: Row[] = [];
    for (const { state, row } of commit.upserts) {
      const values = stateParams(job, state);
      if (row) withRow.push({ ...values, row: toJson(row) });
      else without.push(values);
    }
    await this.#run(S.upsertWithRow, params(withRow));
    await this.#run(S.update, params(without));
    await this.#run(
      S.resolve,
      params(commit.resolved.map(({ key, incident }) => ({
        job,
        key,
        incident,
        now: commit.now,
      }))),
    );
    if (commit.resolved.length > 0) {
      await this.#run(SQL.prune, [{ job, before: commit.now - TOMBSTONE_MS }]);
    }
    if (commit.summary) {
      await this.#run(
        S.putSummary,
        params([{ job, summary: JSON.stringify(commit.summary) }]),
      );
    }
    // A claim lost during the commit refused its later writes: say so.
    if (fence) await this.#hold(fence, "recording alert state");
  }

  async mutes(jobName: string | undefined, now: number): Promise<Mute[]> {
    const rows = jobName === undefined
      ? await this.#query(SQL.mutesAll, { now })
      : await this.#query(SQL.mutesJob, { job: jobName, now });
    return rows.map((row) => ({
      id: String(row.mute_id),
      jobName: String(row.job_name),
      until: Number(row.until_at),
      keys: row.mute_keys === null
        ? null
        : JSON.parse(String(row.mute_keys)) as string[],
      reason: row.reason === null ? null : String(row.reason),
      createdAt: Number(row.created_at),
    }));
  }

  async addMute(mute: Mute): Promise<void> {
    await this.#init();
    await this.#run(SQL.pruneMutes, [{ now: mute.createdAt }]);
    await this.#run(SQL.addMute, [{
      id: mute.id,
      job: mute.jobName,
      until: mute.until,
      keys: mute.keys === null ? null : JSON.stringify(mute.keys),
      reason: mute.reason,
      createdAt: mute.createdAt,
    }]);
  }

  async removeMutes(jobName: string, now: number): Promise<number> {
    const [row] = await this.#query(SQL.countMutes, { job: jobName, now });
    await this.#run(SQL.removeMutes, [{ job: jobName }]);
    return Number(row?.n ?? 0);
  }

  async notice(jobName: string): Promise<VersionedNotice | undefined> {
    const [row] = await this.#query(SQL.notice, { job: jobName });
    return row
      ? {
        state: JSON.parse(String(row.state)) as NoticeState,
        version: String(row.version),
      }
      : undefined;
  }

  async putNotice(
    jobName: string,
    state: NoticeState,
    expected: string | null,
    fence?: AlertFence,
  ): Promise<boolean> {
    await this.#init();
    const { statements: S, params } = this.#writes(fence);
    const text = JSON.stringify(state);
    const { rowsAffected } = expected === null
      ? await this.#db.execute(S.insertNotice, {
        params: params([{ job: jobName, state: text }]),
        dryRun: false,
        ...this.#call,
      })
      : await this.#db.execute(S.updateNotice, {
        params: params([{
          job: jobName,
          state: text,
          version: Number(expected),
        }]),
        dryRun: false,
        ...this.#call,
      });
    // Nothing written: another writer came first, or the claim was lost.
    if (rowsAffected === 0 && fence) {
      await this.#hold(fence, "recording the notice state");
    }
    return rowsAffected > 0;
  }
}

function stateParams(job: string, state: KeyState): Row {
  return {
    job,
    key: state.key,
    state: state.state,
    since: state.since,
    firingSince: state.firingSince,
    incident: state.incident,
    delivered: state.delivered,
    lastDeliveredAt: state.lastDeliveredAt,
    fingerprint: state.fingerprint,
  };
}
