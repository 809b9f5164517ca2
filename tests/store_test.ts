/** One contract, every run store: SQLite, Deno KV, PostgreSQL. */
import assert from "node:assert/strict";
import {
  type Clock,
  createRegistry,
  openRunStore,
  type RunReport,
  type RunStore,
} from "../mod.ts";
import { FakeClock } from "./_fake_clock.ts";
import { SqlRunStore } from "../src/store/sql.ts";
import { type KvLike, KvRunStore } from "../src/store/kv.ts";
import { SqliteDatabase } from "../src/db/sqlite.ts";
import { PostgresDatabase } from "../src/db/postgres.ts";
import { TEST_PG, throwsWithCode, uniqueTable } from "./_helpers.ts";

interface Subject {
  name: string;
  ignore?: boolean;
  open(
    clock: Clock,
  ): Promise<{ store: RunStore; close: () => Promise<void> }>;
}

const SUBJECTS: Subject[] = [
  {
    name: "sqlite",
    open: (clock) => {
      const db = new SqliteDatabase(":memory:", "sqlite::memory:");
      return Promise.resolve({
        store: new SqlRunStore(db, { clock }),
        close: () => db.close(),
      });
    },
  },
  {
    name: "kv",
    open: async (clock) => {
      const kv =
        await (Deno as unknown as { openKv(path: string): Promise<KvLike> })
          .openKv(":memory:");
      const store = new KvRunStore(Promise.resolve(kv), { clock });
      return { store, close: () => store.close() };
    },
  },
  {
    name: "postgres",
    ignore: !TEST_PG && Deno.env.get("CI") !== "true",
    open: (clock) => {
      const db = new PostgresDatabase(TEST_PG!, "postgres");
      return Promise.resolve({
        store: new SqlRunStore(db, { clock }),
        close: () => db.close(),
      });
    },
  },
];

function report(
  runId: string,
  jobName: string,
  status: RunReport["status"],
  startedAt: string,
): RunReport {
  return {
    runId,
    jobName,
    dryRun: false,
    status,
    startedAt,
    finishedAt: startedAt,
    rowCount: 1,
    newRowCount: 1,
    actions: [{
      action: "a",
      status: "succeeded",
      durationMs: 1,
      result: { big: 1n } as never,
    }],
  };
}

for (const subject of SUBJECTS) {
  const test = (
    name: string,
    fn: (store: RunStore, clock: FakeClock, job: string) => Promise<void>,
  ) =>
    Deno.test({
      name: `store [${subject.name}]: ${name}`,
      ignore: subject.ignore ?? false,
      fn: async () => {
        const clock = new FakeClock(1_000_000);
        const { store, close } = await subject.open(clock);
        try {
          await fn(store, clock, uniqueTable("job"));
        } finally {
          await close();
        }
      },
    });

  test(
    "history lists runs newest first, by job, with a limit",
    async (store, _clock, job) => {
      for (const [i, id] of ["r1", "r2", "r3"].entries()) {
        const startedAt = new Date(Date.UTC(2026, 0, 1, 0, i)).toISOString();
        await store.start({
          runId: `${job}-${id}`,
          jobName: job,
          dryRun: false,
          startedAt,
        });
        await store.finish(
          report(
            `${job}-${id}`,
            job,
            i === 1 ? "failed" : "succeeded",
            startedAt,
          ),
        );
      }
      await store.start({
        runId: `${job}-other`,
        jobName: `${job}_other`,
        dryRun: true,
        startedAt: "2026-01-02T00:00:00.000Z",
      });
      const mine = await store.history({ job, limit: 2 });
      assert.deepEqual(mine.map((r) => [r.runId, r.status]), [[
        `${job}-r3`,
        "succeeded",
      ], [`${job}-r2`, "failed"]]);
      assert.equal(mine[0]!.actions[0]!.result!.big, "1");
      const other = await store.history({ job: `${job}_other` });
      assert.deepEqual(other.map((r) => [r.status, r.dryRun]), [[
        "running",
        true,
      ]]);
    },
  );

  test(
    "a running run whose heartbeat is a minute old is interrupted",
    async (store, clock, job) => {
      await store.start({
        runId: `${job}-x`,
        jobName: job,
        dryRun: false,
        startedAt: "2026-01-01T00:00:00.000Z",
      });
      clock.tick(30_000);
      await store.heartbeat(`${job}-x`);
      clock.tick(59_000);
      assert.equal((await store.history({ job }))[0]!.status, "running");
      clock.tick(2_000);
      assert.equal((await store.history({ job }))[0]!.status, "interrupted");
    },
  );

  test(
    "get returns one run by its id as history shows it",
    async (store, clock, job) => {
      const startedAt = "2026-01-01T00:00:00.000Z";
      await store.start({
        runId: `${job}-a`,
        jobName: job,
        dryRun: false,
        startedAt,
      });
      await store.finish(report(`${job}-a`, job, "failed", startedAt));
      await store.start({
        runId: `${job}-b`,
        jobName: job,
        dryRun: true,
        startedAt,
      });
      const finished = await store.get(`${job}-a`);
      assert.deepEqual(
        finished,
        (await store.history({ job }))
          .find((run) => run.runId === `${job}-a`),
      );
      assert.equal(finished!.status, "failed");
      assert.equal(finished!.actions[0]!.result!.big, "1");
      assert.equal((await store.get(`${job}-b`))!.status, "running");
      clock.tick(61_000);
      assert.equal((await store.get(`${job}-b`))!.status, "interrupted");
      assert.equal(await store.get(`${job}-`), undefined, "no prefix match");
      assert.equal(await store.get(`${job}-missing`), undefined);
    },
  );

  test("dedupe keys are seen until they expire", async (store, _clock, job) => {
    const keys = Array.from({ length: 25 }, (_, i) => `[${i}]`);
    await store.remember(job, keys.slice(0, 20), 5_000, 1_000);
    const seen = await store.seen(job, keys, 2_000);
    assert.equal(seen.size, 20);
    assert.ok(!seen.has("[24]"));
    assert.equal((await store.seen(job, keys, 6_000)).size, 0);
    assert.equal((await store.seen(`${job}_other`, keys, 2_000)).size, 0);
  });

  test(
    "leases: one claim per slot, none while a run is unfinished, take over after expiry",
    async (store, _clock, job) => {
      assert.equal(await store.claim(job, 60_000, "a", 10_000), true);
      assert.equal(
        await store.claim(job, 60_000, "b", 10_000),
        false,
        "a slot is claimed once",
      );
      assert.equal(
        await store.claim(job, 120_000, "b", 10_000),
        false,
        "no claim while a run is unfinished",
      );
      assert.equal(await store.renew(job, "a", 20_000), true);
      assert.equal(await store.renew(job, "b", 20_000), false);
      assert.equal(
        await store.takeOver(job, "b", 30_000, 15_000),
        undefined,
        "the lease is alive",
      );
      const taken = await store.takeOver(job, "b", 40_000, 25_000);
      assert.deepEqual(taken, {
        slot: 60_000,
        instance: "b",
        leaseUntil: 40_000,
        done: false,
        attempt: 2,
      });
      assert.equal(
        await store.renew(job, "a", 50_000),
        false,
        "the old instance lost it",
      );
      await store.release(job, "b");
      assert.equal(
        await store.claim(job, 60_000, "c", 10_000),
        false,
        "a finished slot does not run again",
      );
      assert.equal(await store.claim(job, 120_000, "c", 10_000), true);
      assert.deepEqual(await store.lease(job), {
        slot: 120_000,
        instance: "c",
        leaseUntil: 10_000,
        done: false,
        attempt: 1,
      });
    },
  );
}

Deno.test("openRunStore() opens a SQLite file store, creating its folder", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const store = openRunStore(`sqlite:${dir}/nested/state.db`);
    await store.start({
      runId: "r1",
      jobName: "j",
      dryRun: false,
      startedAt: "2026-03-01T10:00:00.000Z",
    });
    assert.deepEqual((await store.history()).map((r) => r.runId), ["r1"]);
    await store.close?.();
    assert.ok((await Deno.stat(`${dir}/nested/state.db`)).isFile);
    // What it recorded, a registry on the same URL reads.
    const registry = createRegistry({ store: `sqlite:${dir}/nested/state.db` });
    assert.deepEqual((await registry.history()).map((r) => r.runId), ["r1"]);
    await registry.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("openRunStore() opens Deno KV from a kv: URL", async () => {
  const store = openRunStore("kv::memory:");
  try {
    assert.deepEqual(await store.history(), []);
  } finally {
    await store.close?.();
  }
});

Deno.test("openRunStore() refuses an unknown URL with INVALID_CONFIG", () => {
  throwsWithCode(
    () => openRunStore("mysql://user:secret@db/x"),
    "INVALID_CONFIG",
    /Unknown database "mysql:\/\/user:\*\*\*@db\/x"/,
  );
});

Deno.test("a run cut short by a crash shows as interrupted once its heartbeat is a minute old (store clock)", async () => {
  const dir = await Deno.makeTempDir();
  const clock = new FakeClock(1_000_000);
  const url = `sqlite:${dir}/state.db`;
  try {
    const crashed = openRunStore(url, { clock });
    await crashed.start({
      runId: "r1",
      jobName: "j",
      dryRun: false,
      startedAt: new Date(clock.now()).toISOString(),
    });
    assert.equal((await crashed.history())[0]!.status, "running");
    await crashed.close?.();
    clock.tick(61_000);
    const restarted = openRunStore(url, { clock });
    assert.equal((await restarted.history())[0]!.status, "interrupted");
    await restarted.close?.();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
