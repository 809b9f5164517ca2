/**
 * Run records in Deno KV: how a run is written (its record, its entry in
 * the time index, and its entry in the per-job index, whose value is the
 * run's summary) and read back — the history, one run, a range of ids,
 * and each job's latest runs as summaries, read from the per-job index
 * alone (no record, no action result).
 *
 * @module
 */
import {
  type Claim,
  type HistoryOptions,
  type RunRecord,
  type RunReport,
  type RunSummary,
  STALE_AFTER_MS,
  summaryOf,
} from "./contract.ts";
import { toJson } from "../_json.ts";
import type { Clock } from "../clock.ts";
import type { KvClaims } from "./_kv_claims.ts";
import {
  GET_MANY,
  jobIndexKey,
  type KvAtomic,
  type KvKey,
  type KvLike,
  ROOT,
  type StoredRun,
  type StoredSummary,
  storedSummary,
} from "./_kv_records.ts";

/** A run's key. */
export function runKey(runId: string): KvKey {
  return [ROOT, "runs", runId];
}

/** The run records of one KV database. */
export class KvRuns {
  readonly #kv: Promise<KvLike>;
  readonly #clock: Clock;
  readonly #claims: KvClaims;

  /**
   * @param kv The open database.
   * @param clock The clock of heartbeats.
   * @param claims The claims a running run is judged by.
   */
  constructor(kv: Promise<KvLike>, clock: Clock, claims: KvClaims) {
    this.#kv = kv;
    this.#clock = clock;
    this.#claims = claims;
  }

  /** A run as KV keeps it, with its heartbeat now, and its claim's epoch. */
  stored(
    record: RunRecord | RunReport,
    status: RunRecord["status"],
    claim?: Claim,
  ): StoredRun {
    const stored: StoredRun = {
      status,
      heartbeatAt: this.#clock.now(),
      report: toJson(record),
      jobName: record.jobName,
      startedAt: record.startedAt,
    };
    if (claim) stored.epoch = claim.epoch;
    return stored;
  }

  /** A new run's writes: its record and both index entries. */
  create(
    atomic: KvAtomic,
    run: RunRecord | RunReport,
    stored: StoredRun,
  ): KvAtomic {
    return this.update(atomic, run, stored)
      .set([ROOT, "runs_by_time", run.startedAt, run.runId], run.runId);
  }

  /** A run's writes: its record, and its summary in the per-job index. */
  update(
    atomic: KvAtomic,
    run: RunRecord | RunReport,
    stored: StoredRun,
  ): KvAtomic {
    return atomic
      .set(runKey(run.runId), stored)
      .set(jobIndexKey(run), storedSummary(run, stored));
  }

  async history(options: HistoryOptions = {}): Promise<RunRecord[]> {
    const kv = await this.#kv;
    const limit = Math.max(1, Math.floor(options.limit ?? 20));
    const prefix: KvKey = options.job === undefined
      ? [ROOT, "runs_by_time"]
      : [ROOT, "runs_by_job", options.job];
    const ids: string[] = [];
    try {
      for await (
        const entry of kv.list<string | StoredSummary>({ prefix }, {
          reverse: true,
          limit,
        })
      ) ids.push(indexedId(entry.value!));
    } catch (error) {
      if (keyTooLarge(error)) return [];
      throw error;
    }
    return await this.#records(kv, ids);
  }

  async #records(kv: KvLike, ids: readonly string[]): Promise<RunRecord[]> {
    const records: RunRecord[] = [];
    for (let i = 0; i < ids.length; i += GET_MANY) {
      const entries = await kv.getMany<StoredRun>(
        ids.slice(i, i + GET_MANY).map(runKey),
      );
      for (const entry of entries) {
        if (entry.value) records.push(await this.#record(kv, entry.value));
      }
    }
    return records;
  }

  async get(runId: string): Promise<RunRecord | undefined> {
    const kv = await this.#kv;
    let entry: { value: StoredRun | null };
    try {
      entry = await kv.get<StoredRun>(runKey(runId));
    } catch (error) {
      if (keyTooLarge(error)) return undefined;
      throw error;
    }
    return entry.value ? await this.#record(kv, entry.value) : undefined;
  }

  async findByIdPrefix(
    selector: { prefix: KvKey; start: KvKey } | { start: KvKey; end: KvKey },
    limit: number,
  ): Promise<RunRecord[]> {
    const kv = await this.#kv;
    const records: RunRecord[] = [];
    try {
      for await (const entry of kv.list<StoredRun>(selector, { limit })) {
        if (entry.value) records.push(await this.#record(kv, entry.value));
      }
    } catch (error) {
      if (keyTooLarge(error)) return [];
      throw error;
    }
    return records;
  }

  async #record(kv: KvLike, stored: StoredRun): Promise<RunRecord> {
    const record = JSON.parse(stored.report) as RunRecord;
    record.status = await this.#claims.runStatus(kv, stored, STALE_AFTER_MS);
    return record;
  }

  /**
   * Each job's latest runs, newest first, from the per-job index: its
   * entries' summaries (a running one judged as `history` judges it); an
   * entry written before summaries is read from its record.
   */
  async recentRuns(
    jobs: readonly string[],
    perJob: number,
  ): Promise<Map<string, RunSummary[]>> {
    const kv = await this.#kv;
    const limit = Math.max(1, Math.floor(perJob));
    const found = new Map<string, RunSummary[]>();
    for (const jobName of jobs) {
      if (found.has(jobName)) continue;
      const summaries: RunSummary[] = [];
      found.set(jobName, summaries);
      try {
        for await (
          const entry of kv.list<string | StoredSummary>({
            prefix: [ROOT, "runs_by_job", jobName],
          }, { reverse: true, limit })
        ) {
          const summary = await this.#summary(kv, jobName, entry.value!);
          if (summary) summaries.push(summary);
        }
      } catch (error) {
        if (!keyTooLarge(error)) throw error;
      }
    }
    return found;
  }

  async #summary(
    kv: KvLike,
    jobName: string,
    value: string | StoredSummary,
  ): Promise<RunSummary | undefined> {
    if (typeof value === "string") {
      // No record (as history, which skips it): no summary.
      const [record] = await this.#records(kv, [value]);
      return record && summaryOf(record);
    }
    const status = await this.#claims.runStatus(kv, {
      ...value,
      jobName,
      report: "",
    }, STALE_AFTER_MS);
    return {
      runId: value.runId,
      jobName,
      dryRun: value.dryRun,
      status,
      startedAt: value.startedAt,
      finishedAt: value.finishedAt,
      rowCount: value.rowCount,
      newRowCount: value.newRowCount,
    };
  }
}

/** The run id an index entry names (its value: the id, or a summary). */
function indexedId(value: string | StoredSummary): string {
  return typeof value === "string" ? value : value.runId;
}

/**
 * Whether Deno KV refused a read because its key is too large: no run has
 * that id or job name, since the write would have been refused too (KV
 * reads keys one byte longer than it writes).
 */
export function keyTooLarge(error: unknown): boolean {
  return error instanceof TypeError && /key too large/i.test(error.message);
}
