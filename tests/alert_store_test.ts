/** One alert store contract, every run store: SQLite, Deno KV, PostgreSQL. */
import assert from "node:assert/strict";
import type { AlertStore, KeyState, NoticeState } from "../mod.ts";
import { STORE_SUBJECTS } from "./_faults.ts";
import { alertStoreOf, TOMBSTONE_MS } from "../src/alerts/store.ts";
import { FakeClock } from "./_fake_clock.ts";
import { rejectsWithCode, throwsWithCode, uniqueTable } from "./_helpers.ts";
import { startHungServer } from "./_hung_server.ts";
import { SqlRunStore } from "../src/store/sql.ts";
import { PostgresDatabase } from "../src/db/postgres.ts";

const clock = new FakeClock(Date.parse("2026-03-01T10:00:00Z"), { auto: true });

function state(id: number, overrides: Partial<KeyState> = {}): KeyState {
  return {
    key: JSON.stringify([id]),
    state: "firing",
    since: 1000,
    firingSince: 1000,
    incident: 1,
    delivered: 1,
    lastDeliveredAt: 2000,
    fingerprint: `f${id}`,
    ...overrides,
  };
}

const summary = {
  digest: "2:abc.def",
  settings: "0/-",
  nextDueAt: null,
  owed: 0,
  firing: 2,
  pending: 0,
};

for (const subject of STORE_SUBJECTS) {
  const test = (
    name: string,
    fn: (alerts: AlertStore, job: string) => Promise<void>,
  ) =>
    Deno.test({
      name: `alert store (${subject.name}): ${name}`,
      ignore: subject.ignore,
      fn: async () => {
        const { store, close } = await subject.open(clock);
        try {
          await fn(alertStoreOf(store), uniqueTable("job"));
        } finally {
          await close();
        }
      },
    });

  test(
    "a commit writes states, rows and the summary; keys() leaves rows out",
    async (alerts, job) => {
      assert.equal(await alerts.summary(job), undefined);
      assert.deepEqual(await alerts.keys(job), []);
      await alerts.commit(job, {
        upserts: [
          { state: state(1), row: { id: 1, big: 2n ** 60n, at: "x" } },
          {
            state: state(2, {
              state: "pending",
              firingSince: null,
              delivered: 0,
              lastDeliveredAt: null,
            }),
            row: { id: 2 },
          },
        ],
        resolved: [],
        summary,
        now: 5000,
      });
      assert.deepEqual(await alerts.summary(job), summary);
      const keys = (await alerts.keys(job)).sort((a, b) =>
        a.key < b.key ? -1 : 1
      );
      assert.deepEqual(keys, [
        state(1),
        state(2, {
          state: "pending",
          firingSince: null,
          delivered: 0,
          lastDeliveredAt: null,
        }),
      ]);
      const rows = await alerts.rows(job, ["[1]", "[2]", "[3]"]);
      assert.deepEqual(rows.get("[2]"), { id: 2 });
      assert.equal(String(rows.get("[1]")!.big), String(2n ** 60n));
      assert.equal(rows.has("[3]"), false);
    },
  );

  test(
    "an upsert without a row keeps the last seen row",
    async (alerts, job) => {
      const base = { resolved: [], summary: null, now: 1 };
      await alerts.commit(job, {
        ...base,
        upserts: [{ state: state(1), row: { id: 1, v: "old" } }],
      });
      await alerts.commit(job, {
        ...base,
        upserts: [{ state: state(1, { delivered: 2 }) }],
      });
      assert.equal((await alerts.keys(job))[0]!.delivered, 2);
      assert.deepEqual((await alerts.rows(job, ["[1]"])).get("[1]"), {
        id: 1,
        v: "old",
      });
    },
  );

  test(
    "a resolved key becomes a tombstone: gone from keys() and rows(), its incident kept",
    async (alerts, job) => {
      await alerts.commit(job, {
        upserts: [{ state: state(1, { incident: 3 }), row: { id: 1 } }, {
          state: state(2),
          row: { id: 2 },
        }],
        resolved: [],
        summary,
        now: 1,
      });
      await alerts.commit(job, {
        upserts: [],
        resolved: [{ key: "[1]", incident: 3 }],
        summary: null,
        now: 2,
      });
      assert.deepEqual((await alerts.keys(job)).map((s) => s.key), ["[2]"]);
      assert.deepEqual(
        await alerts.tombstones(job, ["[1]", "[2]"]),
        new Map([["[1]", 3]]),
      );
      assert.equal((await alerts.rows(job, ["[1]"])).size, 0);
      assert.equal(
        await alerts.summary(job),
        undefined,
        "a null summary drops it",
      );
      await alerts.commit(job, {
        upserts: [{ state: state(1, { incident: 4 }), row: { id: 1 } }],
        resolved: [],
        summary: null,
        now: 3,
      });
      assert.deepEqual(await alerts.tombstones(job, ["[1]"]), new Map());
      assert.equal(
        (await alerts.keys(job)).find((s) => s.key === "[1]")!.incident,
        4,
      );
    },
  );

  test(
    "firing() reads a page of the firing keys and counts them all, with or without a summary",
    async (alerts, job) => {
      const pending = {
        state: "pending" as const,
        firingSince: null,
        delivered: 0,
        lastDeliveredAt: null,
      };
      const upserts = Array.from({ length: 250 }, (_, i) => ({
        // Every fifth key pending, between firing ones in key order.
        state: state(i, i % 5 === 0 ? pending : {}),
        row: { id: i },
      }));
      const counts = { ...summary, firing: 200, pending: 50 };
      await alerts.commit(job, {
        upserts,
        resolved: [],
        summary: counts,
        now: 5000,
      });
      await alerts.commit(`${job}_other`, {
        upserts: [{ state: state(1), row: { id: 1 } }],
        resolved: [],
        summary: { ...summary, firing: 1 },
        now: 5000,
      });
      const page = await alerts.firing!(job, 100);
      assert.equal(page.total, 200);
      assert.equal(page.keys.length, 100);
      assert.ok(page.keys.every((key) => key.state === "firing"));
      assert.equal(new Set(page.keys.map((key) => key.key)).size, 100);
      assert.deepEqual(
        page.keys.find((key) => key.key === page.keys[0]!.key),
        upserts.find((u) => u.state.key === page.keys[0]!.key)!.state,
      );
      assert.deepEqual(
        (await alerts.firing!(job, 100)).keys,
        page.keys,
        "the same page again",
      );
      assert.deepEqual(await alerts.firing!(job, 0), { keys: [], total: 200 });
      // A commit cut short leaves no summary: the keys are counted.
      await alerts.commit(job, {
        upserts: [{ state: state(0), row: { id: 0 } }],
        resolved: [{ key: state(1).key, incident: 1 }],
        summary: null,
        now: 6000,
      });
      assert.equal(await alerts.summary(job), undefined);
      const counted = await alerts.firing!(job, 10);
      assert.equal(counted.total, 200);
      assert.equal(counted.keys.length, 10);
      assert.deepEqual(await alerts.firing!("no such job", 10), {
        keys: [],
        total: 0,
      });
    },
  );

  test("more keys than one batch of reads or writes", async (alerts, job) => {
    const many = Array.from(
      { length: 1_234 },
      (_, i) => ({ state: state(i), row: { id: i } }),
    );
    await alerts.commit(job, { upserts: many, resolved: [], summary, now: 1 });
    assert.equal((await alerts.keys(job)).length, 1_234);
    const keys = many.map((m) => m.state.key);
    assert.equal((await alerts.rows(job, keys)).size, 1_234);
    await alerts.commit(job, {
      upserts: [],
      resolved: many.map((m) => ({ key: m.state.key, incident: 1 })),
      summary: null,
      now: 2,
    });
    assert.equal((await alerts.keys(job)).length, 0);
    assert.equal((await alerts.tombstones(job, keys)).size, 1_234);
  });

  if (subject.name !== "kv") { // KV expires tombstones itself (expireIn).
    test(
      "tombstones older than their retention are pruned",
      async (alerts, job) => {
        await alerts.commit(job, {
          upserts: [{ state: state(1), row: {} }, { state: state(2), row: {} }],
          resolved: [],
          summary: null,
          now: 1,
        });
        await alerts.commit(job, {
          upserts: [],
          resolved: [{ key: "[1]", incident: 1 }],
          summary: null,
          now: 10,
        });
        await alerts.commit(job, {
          upserts: [],
          resolved: [{ key: "[2]", incident: 1 }],
          summary: null,
          now: 10 + TOMBSTONE_MS + 1,
        });
        assert.deepEqual([
          ...(await alerts.tombstones(job, ["[1]", "[2]"])).keys(),
        ], ["[2]"]);
      },
    );
  }

  test(
    "mutes: recorded, listed while in force, removed together",
    async (alerts, job) => {
      await alerts.addMute({
        id: "m1",
        jobName: job,
        until: 10_000,
        keys: null,
        reason: "deploy",
        createdAt: 1_000,
      });
      await alerts.addMute({
        id: "m2",
        jobName: job,
        until: 5_000,
        keys: ["[1]"],
        reason: null,
        createdAt: 2_000,
      });
      await alerts.addMute({
        id: "m3",
        jobName: `${job}_other`,
        until: 10_000,
        keys: null,
        reason: null,
        createdAt: 3_000,
      });
      assert.deepEqual((await alerts.mutes(job, 4_000)).map((m) => m.id), [
        "m1",
        "m2",
      ]);
      assert.deepEqual((await alerts.mutes(job, 6_000)).map((m) => m.id), [
        "m1",
      ]);
      assert.deepEqual(await alerts.mutes(job, 4_000).then((m) => m[1]), {
        id: "m2",
        jobName: job,
        until: 5_000,
        keys: ["[1]"],
        reason: null,
        createdAt: 2_000,
      });
      const all = (await alerts.mutes(undefined, 4_000)).map((m) => m.id);
      assert.ok(all.includes("m1") && all.includes("m3"));
      assert.equal(await alerts.removeMutes(job, 6_000), 1);
      assert.deepEqual(await alerts.mutes(job, 0), []);
      assert.equal((await alerts.mutes(`${job}_other`, 0)).length, 1);
      await alerts.removeMutes(`${job}_other`, 0);
    },
  );

  test(
    "notice state: written only over the version read",
    async (alerts, job) => {
      const first: NoticeState = {
        consecutiveFailures: 1,
        lastSuccessAt: null,
        watchedSince: 1,
        incidents: 0,
        open: null,
      };
      assert.equal(await alerts.notice(job), undefined);
      assert.equal(await alerts.putNotice(job, first, null), true);
      assert.equal(
        await alerts.putNotice(job, first, null),
        false,
        "someone wrote first",
      );
      const read = (await alerts.notice(job))!;
      assert.deepEqual(read.state, first);
      const second = { ...first, consecutiveFailures: 2 };
      assert.equal(await alerts.putNotice(job, second, read.version), true);
      assert.equal(
        await alerts.putNotice(job, first, read.version),
        false,
        "a stale version",
      );
      assert.deepEqual((await alerts.notice(job))!.state, second);
    },
  );
}

Deno.test("alertStoreOf() refuses a store without alert state with INVALID_CONFIG", () => {
  throwsWithCode(() => alertStoreOf({}), "INVALID_CONFIG", /alert state/);
});

Deno.test("alert store (postgres): a call to a server that accepts and never answers fails at the run store's call deadline, never hangs", async () => {
  const hung = startHungServer();
  const db = new PostgresDatabase(hung.postgresUrl, "postgres");
  const store = new SqlRunStore(db, { callTimeoutMs: 300 });
  try {
    const started = performance.now();
    await rejectsWithCode(
      alertStoreOf(store).summary("job"),
      "DATABASE_ERROR",
      /timed out after 300 ms/,
    );
    assert.ok(performance.now() - started < 5_000);
  } finally {
    await db.close();
    await hung.close();
  }
});
