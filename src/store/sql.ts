/**
 * The run store in portable SQL over a {@linkcode Database}: SQLite (the
 * default file `.triggerkit/state.db`) or PostgreSQL.
 *
 * Every write of a claimed run is one statement that checks the claim's
 * epoch and lease itself (`… WHERE EXISTS (claim still ours)`), so a write
 * and a takeover are ordered by the database: on PostgreSQL the check takes
 * a share lock on the claim's row (`FOR SHARE`) until the write commits; on
 * SQLite every write is a transaction that excludes all others. Leases run
 * on the store's clock: PostgreSQL's `clock_timestamp()`; SQLite has no
 * server, so its clock is the store's `Clock` — one clock for the
 * processes of one machine that share the file.
 *
 * @module
 */
import type { CallOptions, Database } from "../db/contract.ts";
import type { NamedSql } from "../db/named_sql.ts";
import type { Row } from "../types.ts";
import { toJson } from "../_json.ts";
import { type Clock, realClock } from "../clock.ts";
import type { DeliveryReceipt } from "../delivery/journal.ts";
import {
  type Claim,
  ClaimLostError,
  type ClaimRequest,
  type ClaimResult,
  type DedupeRecord,
  type HistoryOptions,
  type Lease,
  type PruneOptions,
  type PruneResult,
  runningRecord,
  type RunRecord,
  type RunReport,
  type RunStart,
  type RunStore,
  type RunSummary,
  STALE_AFTER_MS,
  type UnseenKeys,
} from "./contract.ts";
import { SqlAlertStore } from "./sql_alerts.ts";
import { idRange } from "./_id_prefix.ts";
import {
  claimOf,
  createRetrying,
  KEY_BATCH,
  leaseOf,
  recordOf,
  SCHEMA,
  type Statements,
  statementsFor,
} from "./_sql_statements.ts";
import {
  addSummaryColumns,
  readRecentRuns,
  summaryParams,
} from "./_sql_summaries.ts";
import { pruneRuns, readDeliveries } from "./_sql_upkeep.ts";

/** Options of {@linkcode SqlRunStore}. */
export interface SqlRunStoreOptions {
  /** The clock of heartbeats, staleness, and SQLite's leases (default: the real one). */
  clock?: Clock;
  /** Close the database with the store (when nothing else shares it). */
  ownsDatabase?: boolean;
  /** The deadline of each PostgreSQL call, in ms (default 10000); SQLite calls wait for locks up to the driver's busy timeout. */
  callTimeoutMs?: number;
}

/** A {@linkcode RunStore} on a SQL database. */
export class SqlRunStore implements RunStore {
  readonly #db: Database;
  readonly #clock: Clock;
  readonly #ownsDatabase: boolean;
  readonly #call: CallOptions;
  readonly #sql: Statements;
  #ready: Promise<void> | undefined;
  /** Alert state, mutes and notices, in tables of their own (issue 14). */
  readonly alerts: SqlAlertStore;

  /**
   * @param db The database (its tables are created on first use).
   * @param options The clock; whether the store closes the database; call deadline.
   */
  constructor(db: Database, options: SqlRunStoreOptions = {}) {
    this.#db = db;
    this.#clock = options.clock ?? realClock;
    this.#ownsDatabase = options.ownsDatabase ?? false;
    // SQLite: locks wait up to its busy timeout (a deadline sends reads to a Worker).
    this.#call = db.kind === "postgres"
      ? { timeoutMs: options.callTimeoutMs ?? 10_000 }
      : {};
    this.alerts = new SqlAlertStore(db, this.#clock, this.#call);
    this.#sql = statementsFor(db.kind);
  }

  #now(): number {
    return this.#clock.now();
  }

  /** Creates the tables, and marks runs whose process died as interrupted; tried again after a failure. */
  #init(): Promise<void> {
    this.#ready ??= (async () => {
      for (const pragma of this.#sql.pragmas) await this.#query(pragma, {});
      const run = (sql: NamedSql) => this.#run(sql, {});
      for (const text of [...SCHEMA, ...this.#sql.schema]) {
        await createRetrying(run, this.#clock, text);
      }
      const columns = await this.#query(this.#sql.runColumns, {});
      await addSummaryColumns(columns, run);
      for (const index of this.#sql.summaryIndex) {
        await createRetrying(run, this.#clock, index);
      }
      await this.#run(this.#sql.interrupt, {
        staleBefore: this.#now() - STALE_AFTER_MS,
      });
    })();
    const ready = this.#ready;
    ready.catch(() => {
      if (this.#ready === ready) this.#ready = undefined;
    });
    return ready;
  }

  /** Runs a statement once (one parameter set per run); how many rows it changed. */
  async #run(sql: NamedSql, ...params: Row[]): Promise<number> {
    const { rowsAffected } = await this.#db.execute(sql, {
      params,
      dryRun: false,
      ...this.#call,
    });
    return rowsAffected;
  }

  async #query(sql: NamedSql, params: Row): Promise<Row[]> {
    return await this.#db.query(sql, params, this.#call);
  }

  /** Parameters every statement may use: the store's clock for SQLite. */
  #params(params: Row): Row {
    return { now: this.#now(), ...params };
  }

  #fence(claim: Claim): Row {
    return this.#params({ jobName: claim.jobName, epoch: claim.epoch });
  }

  async claim(jobName: string, request: ClaimRequest): Promise<ClaimResult> {
    await this.#init();
    const params = this.#params({
      jobName,
      runId: request.runId,
      holder: JSON.stringify(request.holder),
      slot: request.slot ?? null,
      lastSlot: request.slot ?? 0,
      leaseMs: request.leaseMs,
    });
    // By hand, a job whose holder stopped renewing is taken at once (no
    // scheduler may be there to take it over): its run is interrupted.
    const before = request.slot === undefined
      ? await this.#readLease(jobName)
      : undefined;
    const won = await this.#run(this.#sql.claimNew, params) > 0 ||
      await this.#run(
          request.slot === undefined
            ? this.#sql.claimManual
            : this.#sql.claimSlot,
          params,
        ) > 0;
    if (won && before && !before.done) {
      await this.#run(this.#sql.markInterrupted, { runId: before.runId });
    }
    const lease = await this.#readLease(jobName);
    // A try given up on may have won: the lease names this run.
    if (lease && lease.runId === request.runId && !lease.done) {
      return {
        claimed: true,
        claim: claimOf(jobName, lease, request),
      };
    }
    return { claimed: false, lease: lease! };
  }

  async takeOver(
    jobName: string,
    request: Omit<ClaimRequest, "slot">,
  ): Promise<Claim | undefined> {
    await this.#init();
    const before = await this.#readLease(jobName);
    if (!before || before.done || !before.expired) return undefined;
    const params = this.#params({
      jobName,
      runId: request.runId,
      holder: JSON.stringify(request.holder),
      leaseMs: request.leaseMs,
    });
    if (await this.#run(this.#sql.takeOver, params) === 0) {
      // A run started by hand is not run again, nor one that finished.
      await this.#run(this.#sql.freeExpired, params);
      return undefined;
    }
    const lease = await this.#readLease(jobName);
    if (!lease || lease.runId !== request.runId) return undefined;
    await this.#run(this.#sql.markInterrupted, { runId: before.runId });
    return claimOf(jobName, lease, request);
  }

  async renew(claim: Claim): Promise<boolean> {
    await this.#init();
    const renewed = await this.#run(this.#sql.renew, {
      ...this.#fence(claim),
      leaseMs: claim.leaseMs,
    }) > 0;
    if (renewed) {
      await this.#run(
        this.#sql.heartbeat,
        this.#params({ runId: claim.runId }),
      );
    }
    return renewed;
  }

  async release(claim: Claim): Promise<void> {
    await this.#init();
    await this.#run(this.#sql.release, this.#fence(claim));
  }

  async lease(jobName: string): Promise<Lease | undefined> {
    await this.#init();
    const lease = await this.#readLease(jobName);
    if (!lease) return undefined;
    const { generation: _, ...rest } = lease;
    return rest;
  }

  async #readLease(
    jobName: string,
  ): Promise<(Lease & { generation: string }) | undefined> {
    const [row] = await this.#query(
      this.#sql.lease,
      this.#params({ jobName }),
    );
    return row === undefined ? undefined : leaseOf(row);
  }

  async skipSlot(jobName: string, slot: number): Promise<boolean> {
    await this.#init();
    return await this.#run(this.#sql.skipSlot, { jobName, slot }) > 0 ||
      await this.#run(this.#sql.skipFirstSlot, { jobName, slot }) > 0;
  }

  async start(run: RunStart, claim?: Claim): Promise<void> {
    await this.#init();
    const params = {
      runId: run.runId,
      jobName: run.jobName,
      dryRun: run.dryRun ? 1 : 0,
      startedAt: run.startedAt,
      report: JSON.stringify(runningRecord(run)),
    };
    if (!claim) {
      await this.#run(this.#sql.start, this.#params(params));
    } else if (
      await this.#run(this.#sql.startFenced, {
          ...this.#fence(claim),
          ...params,
        }) === 0 && await this.#status(run.runId) === undefined
    ) throw new ClaimLostError(claim, "recording the run's start");
  }

  /** A run's stored status: what a try given up on may have written already. */
  async #status(runId: string): Promise<string | undefined> {
    const [row] = await this.#query(this.#sql.runStatus, { runId });
    return row === undefined ? undefined : String(row.status);
  }

  async progress(report: RunReport, claim?: Claim): Promise<void> {
    await this.#init();
    const params = {
      runId: report.runId,
      report: toJson(report),
      ...summaryParams(report),
    };
    if (!claim) {
      await this.#run(this.#sql.progress, this.#params(params));
    } else if (
      await this.#run(this.#sql.progressFenced, {
        ...this.#fence(claim),
        ...params,
      }) === 0
    ) throw new ClaimLostError(claim, "recording the run's progress");
  }

  async finish(
    report: RunReport,
    claim?: Claim,
    dedupe?: DedupeRecord,
  ): Promise<void> {
    await this.#init();
    const params = {
      runId: report.runId,
      status: report.status,
      report: toJson(report),
      ...summaryParams(report),
    };
    if (!claim) {
      await this.#run(this.#sql.finish, this.#params(params));
      return;
    }
    const fence = this.#fence(claim);
    // Written already by a try given up on: done (every step below repeats
    // safely, but its fence would now refuse).
    if (await this.#status(report.runId) === report.status) return;
    if (dedupe) await this.#remember(claim, dedupe);
    // The report is the commit: until it is written, the run is unfinished.
    if (
      await this.#run(this.#sql.finishFenced, { ...fence, ...params }) === 0 &&
      await this.#status(report.runId) !== report.status
    ) {
      throw new ClaimLostError(claim, "recording the run's outcome");
    }
    await this.#run(this.#sql.release, fence);
    if (report.status === "succeeded") {
      // This generation's deliveries are done with: the next run has a new one.
      await this.#run(this.#sql.forgetDeliveries, {
        jobName: claim.jobName,
        generation: report.runId,
      });
    }
  }

  async #remember(claim: Claim, dedupe: DedupeRecord): Promise<void> {
    const fence = this.#fence(claim);
    // First expired keys, and pending ones (below `now`) of earlier claims.
    await this.#run(this.#sql.forget, { ...fence, now: dedupe.now });
    // Distinct keys in JSON batches, pending (not seen) until `keep`.
    const pending = -claim.epoch;
    for (let i = 0; i < dedupe.keys.length; i += KEY_BATCH) {
      const keys = JSON.stringify(dedupe.keys.slice(i, i + KEY_BATCH));
      const params = { ...fence, keys, expiresAt: pending };
      const written = await this.#run(this.#sql.remember, params);
      if (written < Math.min(KEY_BATCH, dedupe.keys.length - i)) break;
    }
    const kept = dedupe.keys.length === 0 ? 0 : await this.#run(
      this.#sql.keep,
      { ...fence, pending, expiresAt: dedupe.expiresAt },
    );
    // A batch or `keep` refused by the fence: none of the keys is seen.
    if (kept < dedupe.keys.length) {
      throw new ClaimLostError(claim, "recording dedupe keys");
    }
    if (dedupe.viewDigest) {
      const { digest, validUntil } = dedupe.viewDigest;
      await this.#run(this.#sql.keySet, {
        ...fence,
        digest,
        // Infinity does not fit a BIGINT: an empty set stays valid "forever".
        validUntil: Math.min(validUntil, Number.MAX_SAFE_INTEGER),
      });
    }
  }

  async record(report: RunReport): Promise<void> {
    await this.#init();
    await this.#run(
      this.#sql.record,
      this.#params({
        runId: report.runId,
        jobName: report.jobName,
        dryRun: report.dryRun ? 1 : 0,
        status: report.status,
        startedAt: report.startedAt,
        report: toJson(report),
        ...summaryParams(report),
      }),
    );
  }

  /** Runs as the history shows them (one gone quiet: interrupted). */
  async #records(sql: NamedSql, params: Row): Promise<RunRecord[]> {
    await this.#init();
    const staleBefore = this.#now() - STALE_AFTER_MS;
    return (await this.#query(sql, { ...params, staleBefore })).map(recordOf);
  }

  history(options: HistoryOptions = {}): Promise<RunRecord[]> {
    // No run has a NUL in its job or id: the binder would refuse it.
    if (options.job?.includes("\u0000")) return Promise.resolve([]);
    const limit = Math.max(1, Math.floor(options.limit ?? 20));
    return options.job === undefined
      ? this.#records(this.#sql.historyAll, { limit })
      : this.#records(this.#sql.historyJob, { jobName: options.job, limit });
  }

  async get(runId: string): Promise<RunRecord | undefined> {
    if (runId.includes("\u0000")) return undefined;
    return (await this.#records(this.#sql.get, { runId }))[0];
  }

  findByIdPrefix(prefix: string, count: number): Promise<RunRecord[]> {
    if (prefix.includes("\u0000")) return Promise.resolve([]);
    const { start, end } = idRange(prefix);
    const limit = Math.max(0, Math.floor(count));
    return end === undefined
      ? this.#records(this.#sql.byIdFrom, { start, limit })
      : this.#records(this.#sql.byIdRange, { start, end, limit });
  }

  async recentRuns(
    jobs: readonly string[],
    perJob: number,
  ): Promise<Map<string, RunSummary[]>> {
    await this.#init();
    const staleBefore = this.#now() - STALE_AFTER_MS;
    const query = (sql: NamedSql, params: Row) => this.#query(sql, params);
    return await readRecentRuns(query, this.#sql, jobs, perJob, staleBefore);
  }

  async unseen(
    jobName: string,
    keys: readonly string[],
    now: number,
  ): Promise<UnseenKeys> {
    await this.#init();
    const found = new Set<string>();
    let seenUntil = Infinity;
    for (let i = 0; i < keys.length; i += KEY_BATCH) {
      const params = {
        jobName,
        now,
        keys: JSON.stringify(keys.slice(i, i + KEY_BATCH)),
      };
      for (const row of await this.#query(this.#sql.unseen, params)) {
        found.add(String(row.row_key));
      }
      const [until] = await this.#query(this.#sql.seenUntil, params);
      if (until?.until !== null && until?.until !== undefined) {
        seenUntil = Math.min(seenUntil, Number(until.until));
      }
    }
    return { keys: [...found], seenUntil };
  }

  async sameKeySet(
    jobName: string,
    digest: string,
    now: number,
  ): Promise<boolean> {
    await this.#init();
    const [row] = await this.#query(this.#sql.sameKeySet, { jobName });
    // Keys deleted behind the store's back (a reset) void the digest.
    return row !== undefined && row.key_digest === digest &&
      Number(row.key_valid_until) > now &&
      (Number(row.any_key) === 1 || digest.endsWith(":0"));
  }

  async deliveries(
    jobName: string,
    unitKeys: readonly string[],
  ): Promise<Map<string, DeliveryReceipt>> {
    await this.#init();
    return await readDeliveries(
      (params) => this.#query(this.#sql.deliveries, params),
      jobName,
      unitKeys,
    );
  }

  async recordDeliveries(
    claim: Claim,
    receipts: ReadonlyMap<string, DeliveryReceipt>,
  ): Promise<void> {
    await this.#init();
    const fence = this.#fence(claim);
    const params = [...receipts].map(([unitKey, receipt]) => ({
      ...fence,
      unitKey,
      generation: claim.generation,
      state: receipt.state,
      at: receipt.at,
      detail: receipt.detail === undefined ? null : toJson(receipt.detail),
    }));
    if (params.length === 0) return;
    // One statement for all: a transaction, so all or none.
    if (await this.#run(this.#sql.recordDelivery, ...params) < params.length) {
      throw new ClaimLostError(claim, "recording deliveries");
    }
  }

  async prune(options: PruneOptions): Promise<PruneResult> {
    await this.#init();
    return await pruneRuns(this.#db, this.#sql, options);
  }

  /** Closes the database when the store owns it. */
  async close(): Promise<void> {
    if (this.#ownsDatabase) await this.#db.close();
  }
}
