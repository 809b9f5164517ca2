/** RunStore.recentRuns: each job's latest runs as summaries, as history() shows them, in every store. */
import assert from "node:assert/strict";
import type { RunReport } from "../mod.ts";
import { FakeClock } from "./_fake_clock.ts";
import { summaryOf } from "../src/store/contract.ts";
import { serveStatus, TEST_PG, uniqueTable } from "./_helpers.ts";
import { createRegistry } from "../mod.ts";
import { STORE_SUBJECTS } from "./_faults.ts";
import { SqliteDatabase } from "../src/db/sqlite.ts";
import { parseNamedSql } from "../src/db/named_sql.ts";
import { SqlRunStore } from "../src/store/sql.ts";
import { PostgresDatabase } from "../src/db/postgres.ts";

function finished(runId: string, jobName: string, at: string): RunReport {
  return {
    runId,
    jobName,
    dryRun: false,
    status: "succeeded",
    startedAt: at,
    finishedAt: at,
    rowCount: 3,
    newRowCount: 2,
    actions: [{
      action: "a",
      status: "succeeded",
      durationMs: 1,
      result: { big: "x".repeat(10_000) },
    }],
  };
}

for (const subject of STORE_SUBJECTS) {
  Deno.test({
    name:
      `recentRuns [${subject.name}]: summaries equal history's, newest first, perJob, interrupted judged alike, unknown job empty`,
    ignore: subject.ignore,
    fn: async () => {
      const clock = new FakeClock(Date.parse("2026-03-01T10:00:00Z"));
      const { store, close } = await subject.open(clock);
      try {
        const job = uniqueTable("job");
        const other = uniqueTable("other");
        for (let i = 0; i < 4; i++) {
          await store.record(
            finished(`${job}-${i}`, job, `2026-03-01T09:0${i}:00.000Z`),
          );
        }
        await store.record(
          finished(`${other}-0`, other, "2026-03-01T09:00:00.000Z"),
        );
        // A run without a claim that goes quiet: interrupted after a minute.
        const start = {
          runId: `${job}-quiet`,
          jobName: job,
          dryRun: true,
          startedAt: "2026-03-01T09:59:00.000Z",
        };
        await store.start(start);
        await store.progress({
          ...finished(start.runId, job, start.startedAt),
          dryRun: true,
          status: "succeeded",
          finishedAt: "",
          rowCount: 7,
          newRowCount: 5,
        });
        const read = async (perJob: number) => {
          const found = await store.recentRuns!([job, other, "nobody"], perJob);
          for (const name of [job, other]) {
            const history = await store.history({ job: name, limit: perJob });
            assert.deepEqual(found.get(name), history.map(summaryOf));
          }
          assert.deepEqual(found.get("nobody"), []);
          return found;
        };
        const now = await read(3);
        assert.equal(now.get(job)!.length, 3);
        assert.equal(now.get(job)![0]!.status, "running");
        assert.equal(now.get(job)![0]!.rowCount, 7);
        assert.deepEqual(now.get(job)!.map((r) => r.runId), [
          `${job}-quiet`,
          `${job}-3`,
          `${job}-2`,
        ]);
        assert.equal((await read(1)).get(job)!.length, 1);
        assert.equal((await read(20)).get(job)!.length, 5);
        clock.tick(61_000);
        const later = await read(2);
        assert.equal(later.get(job)![0]!.status, "interrupted");
      } finally {
        await close();
      }
    },
  });
}

Deno.test("recentRuns [sqlite]: a run table made before the summary columns gets them at init; its old rows are summarized from their reports", async () => {
  const db = new SqliteDatabase(":memory:", "sqlite::memory:");
  const old = finished("old-1", "j", "2026-03-01T09:00:00.000Z");
  await db.execute(
    parseNamedSql(
      `CREATE TABLE triggerkit_runs (run_id TEXT PRIMARY KEY, job_name TEXT NOT NULL,
      dry_run INTEGER NOT NULL, status TEXT NOT NULL, started_at TEXT NOT NULL, finished_at TEXT,
      heartbeat_at BIGINT NOT NULL, report TEXT)`,
    ),
    { params: [{}], dryRun: false },
  );
  await db.execute(
    parseNamedSql(
      `INSERT INTO triggerkit_runs VALUES ('old-1', 'j', 0, 'succeeded', :at, :at, 0, :report)`,
    ),
    {
      params: [{ at: old.startedAt, report: JSON.stringify(old) }],
      dryRun: false,
    },
  );
  const store = new SqlRunStore(db, { ownsDatabase: true });
  try {
    await store.record(finished("new-1", "j", "2026-03-01T09:01:00.000Z"));
    const found = await store.recentRuns(["j"], 5);
    assert.deepEqual(
      found.get("j"),
      (await store.history({ job: "j" })).map(summaryOf),
    );
    assert.equal(found.get("j")!.length, 2);
    const columns = await db.query(
      parseNamedSql("SELECT row_count FROM triggerkit_runs ORDER BY run_id"),
      {},
    );
    assert.deepEqual(columns.map((r) => r.row_count), [3, null]);
  } finally {
    await store.close();
  }
});

Deno.test("status page: GET / reads each job's runs as summaries, never their results (history() only for the 15 latest runs)", async () => {
  const db = new SqliteDatabase(":memory:", "sqlite::memory:");
  const inner = new SqlRunStore(db);
  const historyCalls: Array<{ job?: string; limit?: number }> = [];
  const store = new Proxy(inner, {
    get(target, key) {
      const value = Reflect.get(target, key, target);
      if (key === "history") {
        return (options: { job?: string; limit?: number } = {}) => {
          historyCalls.push(options);
          return target.history(options);
        };
      }
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  const registry = createRegistry({ store });
  const big = "x".repeat(200_000);
  registry.defineView({
    name: "v",
    database: "sqlite::memory:",
    sql: "SELECT 1 AS id",
  });
  registry.register("fetch", () => ({ image: big }));
  for (let i = 0; i < 30; i++) {
    registry.defineJob({ name: `job_${i}`, view: "v", actions: ["fetch"] });
  }
  for (let i = 0; i < 30; i++) await registry.runJob(`job_${i}`);
  const served = await serveStatus(registry);
  try {
    historyCalls.length = 0;
    const page = await (await fetch(served.url)).text();
    assert.match(page, /job_29/);
    assert.ok(!page.includes(big.slice(0, 1000)), "no result on the page");
    // Only the "latest runs" list reads records; the 30 jobs' sparklines
    // and last runs come from one summary read.
    assert.deepEqual(historyCalls, [{ limit: 15 }]);
  } finally {
    await served.stop();
    await registry.close();
    await db.close();
  }
});

for (const subject of STORE_SUBJECTS.filter((s) => s.name !== "kv")) {
  Deno.test({
    name:
      `recentRuns [${subject.name}]: rows without summary columns (written by an older version) are summarised from their reports, read in one batch`,
    ignore: subject.ignore,
    fn: async () => {
      const dbUrl = subject.name === "postgres" ? TEST_PG! : undefined;
      const db = dbUrl
        ? new PostgresDatabase(dbUrl, "postgres")
        : new SqliteDatabase(":memory:", "sqlite::memory:");
      const store = new SqlRunStore(db);
      const job = uniqueTable("older");
      try {
        for (let i = 0; i < 3; i++) {
          await store.record(
            finished(`${job}-${i}`, job, `2026-03-01T09:0${i}:00.000Z`),
          );
        }
        // As an older version wrote them: no summary columns.
        await db.execute(
          parseNamedSql(
            "UPDATE triggerkit_runs SET row_count = NULL, new_row_count = NULL WHERE job_name = :job AND run_id <> :kept",
          ),
          { params: [{ job, kept: `${job}-2` }], dryRun: false },
        );
        const found = await store.recentRuns([job], 5);
        assert.deepEqual(
          found.get(job),
          (await store.history({ job })).map(summaryOf),
        );
        assert.equal(found.get(job)!.length, 3);
      } finally {
        await db.execute(
          parseNamedSql("DELETE FROM triggerkit_runs WHERE job_name = :job"),
          { params: [{ job }], dryRun: false },
        );
        await db.close();
      }
    },
  });
}
