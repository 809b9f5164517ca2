/** onFailure / onRecovery / stale: one notice per incident (SPEC §4.2). */
import assert from "node:assert/strict";
import {
  createRegistry,
  type JobDefinition,
  openRunStore,
  type Row,
} from "../mod.ts";
import { FakeClock, settle } from "./_fake_clock.ts";
import { alertRegistry } from "./_alert_registry.ts";
import { rejectsWithCode, TEST_PG, uniqueTable } from "./_helpers.ts";
import { claimNotices } from "../src/jobs/_notice_claim.ts";

const MIN = 60_000;

/** A registry whose view can be broken (its table renamed) and fixed. */
async function setup() {
  const { registry, clock, sql } = await alertRegistry({
    setup: [
      "CREATE TABLE items (id INTEGER PRIMARY KEY)",
      "INSERT INTO items (id) VALUES (1)",
    ],
  });
  const notices: Array<{ step: string; row: Row; key: string }> = [];
  const failing = new Set<string>();
  for (const step of ["work", "page", "all_clear"]) {
    registry.register(step, ({ data, idempotencyKey }) => {
      if (step !== "work") {
        notices.push({ step, row: data[0]!, key: idempotencyKey! });
      }
      if (failing.has(step)) throw new Error(`${step} failed`);
      return {};
    });
  }
  registry.defineView({
    name: "items",
    database: "db",
    sql: "SELECT id FROM items",
  });
  const define = (extra: Partial<JobDefinition> = {}) =>
    registry.defineJob({
      name: "sync",
      view: "items",
      actions: ["work"],
      onFailure: { actions: ["page"], after: 2 },
      onRecovery: { actions: ["all_clear"] },
      ...extra,
    });
  const breakView = () => sql("ALTER TABLE items RENAME TO items_away");
  const fixView = () => sql("ALTER TABLE items_away RENAME TO items");
  const take = () => notices.splice(0);
  return { registry, clock, define, breakView, fixView, take, failing };
}

Deno.test("notices: onFailure once per incident when failures in a row reach `after`; onRecovery on the first success", async () => {
  const { registry, clock, define, breakView, fixView, take } = await setup();
  try {
    define();
    const ok = await registry.runJob("sync");
    const lastSuccessAt = ok.startedAt;
    await breakView();
    clock.tick(MIN);
    const first = await registry.runJob("sync");
    assert.equal(first.notices, undefined);
    clock.tick(MIN);
    const second = await registry.runJob("sync");
    assert.deepEqual(
      second.notices?.map((n) => [n.kind, n.actions[0]!.status]),
      [
        ["onFailure", "succeeded"],
      ],
    );
    const [page] = take();
    assert.equal(page!.step, "page");
    assert.deepEqual({
      ...page!.row,
      error: { code: (page!.row.error as { code: string }).code },
    }, {
      jobName: "sync",
      runId: second.runId,
      status: "failed",
      reason: 'view "items" failed',
      error: { code: "DATABASE_ERROR" },
      consecutiveFailures: 2,
      lastSuccessAt,
    });
    clock.tick(MIN);
    const third = await registry.runJob("sync");
    assert.equal(third.notices, undefined, "once per incident");
    assert.deepEqual(take(), []);
    await fixView();
    clock.tick(MIN);
    const recovered = await registry.runJob("sync");
    assert.deepEqual(recovered.notices?.map((n) => n.kind), ["onRecovery"]);
    const [clear] = take();
    assert.deepEqual(clear!.row, {
      jobName: "sync",
      runId: recovered.runId,
      status: "recovered",
      reason: null,
      error: null,
      consecutiveFailures: 3,
      lastSuccessAt,
    });
    await registry.runJob("sync");
    assert.deepEqual(take(), [], "one recovery");
    await breakView();
    await registry.runJob("sync");
    await registry.runJob("sync");
    const [again] = take();
    assert.equal(again!.step, "page", "a new incident");
    assert.notEqual(again!.key, page!.key);
  } finally {
    await registry.close();
  }
});

Deno.test("notices: failures that stop short of `after` bring no notice and no recovery", async () => {
  const { registry, define, breakView, fixView, take } = await setup();
  try {
    define();
    await breakView();
    await registry.runJob("sync");
    await fixView();
    await registry.runJob("sync");
    await breakView();
    await registry.runJob("sync");
    assert.deepEqual(take(), []);
  } finally {
    await registry.close();
  }
});

Deno.test("notices: a failed action counts as a failure; its error is in the row", async () => {
  const { registry, define, take, failing } = await setup();
  try {
    define({ onFailure: { actions: ["page"] } });
    failing.add("work");
    const report = await registry.runJob("sync");
    assert.equal(report.status, "failed");
    const [page] = take();
    assert.equal((page!.row.error as { code: string }).code, "ACTION_FAILED");
    assert.equal(page!.row.lastSuccessAt, null);
  } finally {
    await registry.close();
  }
});

Deno.test("notices: a notice that failed is sent again by the next run, with the same row and idempotency key", async () => {
  const { registry, clock, define, breakView, take, failing } = await setup();
  try {
    define({ onFailure: { actions: ["page"] } });
    await breakView();
    failing.add("page");
    const first = await registry.runJob("sync");
    assert.deepEqual(first.notices![0]!.actions.map((a) => a.status), [
      "failed",
    ]);
    assert.equal(first.status, "failed");
    failing.clear();
    clock.tick(MIN);
    await registry.runJob("sync");
    const [tried, sent] = take();
    assert.deepEqual(sent!.row, tried!.row);
    assert.equal(sent!.key, tried!.key);
    await registry.runJob("sync");
    assert.deepEqual(take(), []);
  } finally {
    await registry.close();
  }
});

Deno.test("notices: dry runs count for nothing", async () => {
  const { registry, define, breakView, take } = await setup();
  try {
    define({ onFailure: { actions: ["page"] } });
    await breakView();
    const dry = await registry.runJob("sync", { dryRun: true });
    assert.equal(dry.status, "failed");
    assert.equal(dry.notices, undefined);
    assert.deepEqual(take(), []);
  } finally {
    await registry.close();
  }
});

Deno.test("notices: serve checks onFailure.stale at start and every minute, once per incident; a success recovers", async () => {
  const { registry, clock, define, take } = await setup();
  const stop = new AbortController();
  try {
    define({
      onFailure: { actions: ["page"], stale: "2h" },
    });
    await registry.runJob("sync");
    const lastSuccessAt = new Date(clock.now()).toISOString();
    clock.tick(90 * MIN);
    const serving = registry.serve({
      signal: stop.signal,
      handleSignals: false,
    });
    await settle();
    assert.deepEqual(take(), [], "90 minutes: not stale yet");
    await clock.advance(29 * MIN);
    assert.deepEqual(take(), []);
    await clock.advance(MIN);
    const [page] = take();
    assert.deepEqual(page?.row, {
      jobName: "sync",
      runId: null,
      status: "stale",
      reason: "no successful run for 120 minutes (onFailure.stale is 2h)",
      error: null,
      consecutiveFailures: 0,
      lastSuccessAt,
    });
    await clock.advance(3 * 60 * MIN, 10 * MIN);
    assert.deepEqual(take(), [], "once per incident");
    const recovered = await registry.runJob("sync");
    assert.deepEqual(recovered.notices?.map((n) => n.kind), ["onRecovery"]);
    assert.equal(take()[0]!.row.status, "recovered");
    await clock.advance(2 * 60 * MIN, 5 * MIN);
    assert.deepEqual(
      take().map((n) => n.row.status),
      ["stale"],
      "a new incident",
    );
    stop.abort();
    await serving;
  } finally {
    stop.abort();
    await registry.close();
  }
});

Deno.test("notices: a job that never succeeded goes stale counting from when serve first saw it", async () => {
  const { registry, clock, define, take } = await setup();
  const stop = new AbortController();
  try {
    define({ onFailure: { actions: ["page"], stale: "1h" } });
    const serving = registry.serve({
      signal: stop.signal,
      handleSignals: false,
    });
    await settle();
    await clock.advance(59 * MIN);
    assert.deepEqual(take(), []);
    await clock.advance(MIN);
    assert.deepEqual(take().map((n) => [n.row.status, n.row.lastSuccessAt]), [[
      "stale",
      null,
    ]]);
    stop.abort();
    await serving;
  } finally {
    stop.abort();
    await registry.close();
  }
});

for (
  const kind of [
    { name: "sqlite", ignore: false },
    { name: "kv", ignore: false },
    { name: "postgres", ignore: !TEST_PG },
  ]
) {
  Deno.test({
    name:
      `notices: two instances serving one store send a stale notice once per incident (the notice claim fences it) [${kind.name}]`,
    ignore: kind.ignore,
    fn: async () => {
      const dir = await Deno.makeTempDir({ prefix: "triggerkit-stale-" });
      const store = kind.name === "sqlite"
        ? `sqlite:${dir}/state.db`
        : kind.name === "kv"
        ? `kv:${dir}/state.kv`
        : TEST_PG!;
      const job = uniqueTable("stale");
      const clock = new FakeClock();
      const pages: string[] = [];
      const registries = [0, 1].map((instance) => {
        const registry = createRegistry({
          store,
          databases: { db: "sqlite::memory:" },
          clock,
        });
        registry.register("work", () => ({}));
        registry.register("page", async ({ data }) => {
          pages.push(`${instance}: ${data[0]!.status}`);
          // A slow destination: the other instance's check comes meanwhile.
          await new Promise((resolve) => setTimeout(resolve, 50));
          return {};
        });
        registry.defineView({ name: "items", database: "db", sql: "SELECT 1" });
        registry.defineJob({
          name: job,
          view: "items",
          actions: ["work"],
          onFailure: { actions: ["page"], stale: "1h" },
        });
        return registry;
      });
      const stop = new AbortController();
      try {
        // Both see the job first at the same time (the notice state is shared).
        const serving = registries.map((registry) =>
          registry.serve({ signal: stop.signal, handleSignals: false })
        );
        // Both instances asleep (their staleness check and pruning): each
        // minute's checks then start together, whatever the store's speed.
        const asleep = async () => {
          for (let i = 0; i < 2_000 && clock.pending < 4; i++) await settle(1);
        };
        await asleep();
        for (let minute = 0; minute < 60; minute++) {
          clock.tick(MIN);
          await settle(1);
          await asleep();
        }
        await settle(100); // time for a second one, if it came
        assert.equal(pages.length, 1, `sent ${JSON.stringify(pages)}`);
        assert.match(pages[0]!, /^[01]: stale$/);
        await clock.advance(3 * 60 * MIN, 10 * MIN);
        await settle(40);
        assert.equal(pages.length, 1, "once per incident");
        stop.abort();
        await Promise.all(serving);
      } finally {
        stop.abort();
        await Promise.all(registries.map((registry) => registry.close()));
        await Deno.remove(dir, { recursive: true });
      }
    },
  });
}

Deno.test("notices: the notice claim has one holder at a time; a holder paused past its lease loses it, and its journal writes are refused", async () => {
  const clock = new FakeClock();
  const store = openRunStore("sqlite::memory:", { clock });
  const host = (instance: string) => ({
    store: () => store,
    clock,
    holder: () => ({ instance, host: "h", pid: 1 }),
    leaseMs: 60_000,
  });
  try {
    const first = await claimNotices(host("a"), "sync");
    assert.ok(first);
    assert.equal(await claimNotices(host("b"), "sync"), undefined);
    clock.tick(61_000); // "a" was paused past its lease: no renewal got through
    await settle();
    const second = await claimNotices(host("b"), "sync");
    assert.ok(second, "taken once the lease ran out");
    assert.equal(first.signal.aborted, true);
    await rejectsWithCode(
      first.journal.record(new Map([["unit", { state: "delivered", at: 1 }]])),
      "STORE_ERROR",
      /lost its claim on job " notices of sync"/,
    );
    await second.journal.record(
      new Map([["unit", { state: "delivered", at: 2 }]]),
    );
    assert.equal(
      (await second.journal.get(["unit"])).get("unit")?.at,
      2,
    );
    await first.release();
    await second.release();
    const third = await claimNotices(host("a"), "sync");
    assert.ok(third, "free once released");
    await third.release();
  } finally {
    await store.close?.();
  }
});
