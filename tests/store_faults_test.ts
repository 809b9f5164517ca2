/**
 * Faults of the run store (SPEC §4.1 "Faults are survived"): nothing in
 * `serve` is an unhandled rejection; store calls are retried with backoff
 * on the clock while the claim holds, and give up with `STORE_ERROR`; a run
 * whose actions finished is never re-run because a write failed after.
 * In process on a fake clock; then a real `serve` process whose PostgreSQL
 * store (a private cluster) is stopped for 10 s in the middle of a run.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import postgres from "postgres";
import {
  createRegistry,
  openRunStore,
  type Registry,
  type RunReport,
  type RunStore,
} from "../mod.ts";
import { FakeClock, settle } from "./_fake_clock.ts";
import { startFakeSlack } from "./_fake_slack.ts";
import { startPgCluster } from "./_pg_cluster.ts";
import { startHungServer } from "./_hung_server.ts";
import { rejectsWithCode } from "./_helpers.ts";
import {
  assertStopsWhileHung,
  canRunPgCluster,
  failingCall,
  type Flaky,
  flaky,
  MOD,
  settlesWithin,
  spawnServe,
  until,
} from "./_faults.ts";

const START = Date.parse("2026-03-01T10:00:30Z");

/** Fails the test on any unhandled rejection while `fn` runs. */
async function noUnhandledRejection(fn: () => Promise<void>): Promise<void> {
  const unhandled: unknown[] = [];
  const listener = (event: PromiseRejectionEvent) => {
    event.preventDefault();
    unhandled.push(event.reason);
  };
  globalThis.addEventListener("unhandledrejection", listener);
  try {
    await fn();
    await settle();
  } finally {
    globalThis.removeEventListener("unhandledrejection", listener);
  }
  assert.deepEqual(unhandled, [], "unhandled rejections");
}

async function withStore(
  fn: (
    registry: Registry,
    store: Flaky,
    clock: FakeClock,
    url: string,
  ) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "triggerkit-faults-" });
  const url = `sqlite:${dir}/state.db`;
  const clock = new FakeClock(START);
  const real = openRunStore(url, { clock });
  const store = flaky(real);
  const registry = createRegistry({ store, clock });
  try {
    registry.defineView({
      name: "one",
      database: "sqlite::memory:",
      sql: "SELECT 1 AS id",
    });
    await fn(registry, store, clock, url);
  } finally {
    await registry.close();
    await real.close?.();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("serve() lives through a store outage: no unhandled rejection; the slots it missed are recorded skipped once the store is back", async () => {
  await noUnhandledRejection(() =>
    withStore(async (registry, store, clock) => {
      let calls = 0;
      registry.register("count", () => ({ calls: ++calls }));
      registry.defineJob({
        name: "minutely",
        view: "one",
        actions: ["count"],
        schedule: "every minute",
      });
      const stop = new AbortController();
      const runs: RunReport[] = [];
      const serving = registry.serve({
        signal: stop.signal,
        handleSignals: false,
        onRun: (report) => runs.push(report),
      });
      await settle();
      await clock.advance(2 * 60_000, 5_000); // 10:01, 10:02 run
      store.down = true;
      await clock.advance(3 * 60_000, 5_000); // 10:02:30 – 10:05:30: no store
      store.down = false;
      await clock.advance(2 * 60_000, 5_000); // 10:05 runs late; 10:06, 10:07 run
      stop.abort();
      await serving;
      const history = await store.history({ job: "minutely", limit: 50 });
      const bySlot = history
        .map((run) => [run.slot?.slice(11, 16), run.status] as const)
        .sort(([a], [b]) => (a! < b! ? -1 : 1));
      assert.deepEqual(bySlot, [
        ["10:01", "succeeded"],
        ["10:02", "succeeded"],
        ["10:03", "skipped"],
        ["10:04", "skipped"],
        ["10:05", "succeeded"],
        ["10:06", "succeeded"],
        ["10:07", "succeeded"],
      ]);
      assert.ok(
        history.filter((run) => run.status === "skipped").every((run) =>
          /could not be reached/.test(run.reason!)
        ),
      );
      assert.equal(calls, 5);
    })
  );
});

Deno.test("a run whose actions finished is not run again when recording its outcome fails: the write is retried while the claim holds", async () => {
  await noUnhandledRejection(() =>
    withStore(async (registry, store, clock) => {
      let calls = 0;
      registry.register("effect", () => {
        calls++;
        store.down = true; // the store goes down right after the action
        return { done: true };
      });
      registry.defineJob({ name: "once", view: "one", actions: ["effect"] });
      const running = registry.runJob("once");
      await clock.advance(20_000, 1_000); // down for 20 s of a 60 s lease
      store.down = false;
      const report = await clock.runUntil(running);
      assert.equal(report.status, "succeeded");
      const [record] = await store.history({ job: "once" });
      assert.deepEqual([record!.status, calls], ["succeeded", 1]);
    })
  );
});

Deno.test("when the store stays down past the lease the run gives up with STORE_ERROR, and the next run sees its actions as done", async () => {
  await noUnhandledRejection(() =>
    withStore(async (registry, store, clock, url) => {
      let calls = 0;
      registry.register("effect", () => ({ done: ++calls }));
      registry.defineJob({ name: "lost", view: "one", actions: ["effect"] });
      store.downOn = "finish"; // down once the actions are done
      const running = registry.runJob("lost");
      await settle();
      await clock.advance(61_000, 1_000);
      const report = await running;
      assert.equal(report.status, "failed");
      assert.equal(report.error?.code, "STORE_ERROR");
      assert.match(report.reason!, /lost its claim/);
      // Another instance, with a store that answers.
      const other = createRegistry({
        store: openRunStore(url, { clock }),
        clock,
      });
      try {
        other.defineView({
          name: "one",
          database: "sqlite::memory:",
          sql: "SELECT 1 AS id",
        });
        other.register("effect", () => ({ done: ++calls }));
        other.defineJob({ name: "lost", view: "one", actions: ["effect"] });
        const next = await other.runJob("lost");
        assert.equal(next.status, "succeeded", next.reason);
        assert.deepEqual(next.actions[0]!.result, { done: 1 });
        assert.equal(next.actions[0]!.resumed, true);
        assert.equal(calls, 1, "the action was not run again");
      } finally {
        await other.close();
      }
    })
  );
});

Deno.test("runJob() rejects with STORE_ERROR when the store cannot be reached to claim the job", async () => {
  await withStore(async (registry, store, clock) => {
    registry.register("noop", () => ({}));
    registry.defineJob({ name: "n", view: "one", actions: ["noop"] });
    store.down = true;
    await rejectsWithCode(
      clock.runUntil(registry.runJob("n")),
      "STORE_ERROR",
      /could not be reached after \d+ tries \(claiming the job\): connect ECONNREFUSED/,
    );
  });
});

// --- storeRetryMs: a store call that keeps failing while the claim holds. ---

/** A registry on a SQLite store file whose journal reads fail while `failing()`. */
async function withFailingJournal(
  failing: () => boolean,
  fn: (
    registry: Registry,
    clock: FakeClock,
    store: RunStore,
    calls: () => number,
  ) => Promise<void>,
  options: { storeRetryMs?: number } = {},
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "triggerkit-retry-" });
  const clock = new FakeClock(START);
  const real = openRunStore(`sqlite:${dir}/state.db`, { clock });
  const registry = createRegistry({
    store: failingCall(real, "deliveries", failing),
    clock,
    ...(options.storeRetryMs ? { serve: options } : {}),
  });
  let calls = 0;
  try {
    registry.defineView({
      name: "one",
      database: "sqlite::memory:",
      sql: "SELECT 1 AS id",
    });
    registry.register("effect", () => ({ done: ++calls }));
    registry.defineJob({
      name: "stuck",
      view: "one",
      actions: ["effect"],
      schedule: "every minute",
    });
    await fn(registry, clock, real, () => calls);
  } finally {
    await registry.close();
    await real.close?.();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("a run's store call that keeps failing while its lease is renewed gives up after storeRetryMs (default 5 minutes): the run fails with STORE_ERROR, recorded", async () => {
  await noUnhandledRejection(() =>
    withFailingJournal(() => true, async (registry, clock, store, calls) => {
      const started = clock.now();
      const report = await settlesWithin(
        clock,
        registry.runJob("stuck"),
        15 * 60_000,
        10_000,
      );
      const took = clock.now() - started;
      assert.ok(took >= 300_000 && took <= 320_000, `gave up after ${took} ms`);
      assert.equal(report.status, "failed");
      assert.equal(report.actions[0]!.error?.code, "STORE_ERROR");
      assert.match(
        report.actions[0]!.error!.message,
        /could not be reached after \d+ tries \(reading the delivery journal; storeRetryMs 300000 passed\): deliveries: database is locked/,
      );
      assert.equal(calls(), 0, "no action runs without its journal");
      const [record] = await store.history({ job: "stuck" });
      assert.equal(record!.status, "failed");
      assert.equal(record!.actions[0]!.error?.code, "STORE_ERROR");
    })
  );
});

Deno.test("serve({ storeRetryMs }): the run whose store call gave up fails with STORE_ERROR, and serve goes on with the next slot", async () => {
  let failing = false;
  await noUnhandledRejection(() =>
    withFailingJournal(() => failing, async (registry, clock, store, calls) => {
      const stop = new AbortController();
      const runs: RunReport[] = [];
      const serving = registry.serve({
        signal: stop.signal,
        handleSignals: false,
        storeRetryMs: 5_000,
        onRun: (report) => runs.push(report),
      });
      await settle();
      failing = true;
      await clock.advance(60_000, 1_000); // 10:01: the journal fails for 5 s
      await clock.advance(10_000, 1_000);
      failing = false;
      await clock.advance(60_000, 1_000); // 10:02 runs
      stop.abort();
      await serving;
      const bySlot = (await store.history({ job: "stuck" }))
        .map((run) => [run.slot, run.status, run.actions[0]?.error?.code])
        .sort(([a], [b]) => (a! < b! ? -1 : 1));
      assert.deepEqual(bySlot, [
        ["2026-03-01T10:01:00.000Z", "failed", "STORE_ERROR"],
        ["2026-03-01T10:02:00.000Z", "succeeded", undefined],
      ]);
      assert.match(runs[0]!.actions[0]!.error!.message, /storeRetryMs 5000/);
      assert.equal(calls(), 1);
    }, { storeRetryMs: 60_000 })
  );
});

Deno.test({
  name:
    "a PostgreSQL store whose journal table is locked by another session: the run gives up after storeRetryMs with STORE_ERROR, recorded; serve goes on once it is unlocked",
  ignore: !(await canRunPgCluster()),
  fn: async () => {
    const cluster = await startPgCluster();
    const registry = createRegistry({ store: cluster.url });
    const locker = postgres(cluster.url, { onnotice: () => {}, max: 1 });
    const stop = new AbortController();
    try {
      registry.defineView({
        name: "one",
        database: "sqlite::memory:",
        sql: "SELECT 1 AS id",
      });
      let calls = 0;
      registry.register("effect", () => ({ done: ++calls }));
      registry.defineJob({
        name: "locked",
        view: "one",
        actions: ["effect"],
        schedule: "every 2 seconds",
      });
      assert.equal((await registry.runJob("locked")).status, "succeeded");
      // Another session holds the journal table: every read of it waits.
      let unlock!: () => void;
      const unlocked = new Promise<void>((resolve) => unlock = resolve);
      let locked!: () => void;
      const isLocked = new Promise<void>((resolve) => locked = resolve);
      const holding = locker.begin(async (sql) => {
        await sql`LOCK TABLE triggerkit_deliveries IN ACCESS EXCLUSIVE MODE`;
        locked();
        await unlocked;
      });
      await isLocked;
      const runs: RunReport[] = [];
      const serving = registry.serve({
        signal: stop.signal,
        handleSignals: false,
        leaseMs: 60_000,
        storeRetryMs: 2_000,
        onRun: (report) => runs.push(report),
      });
      await until(
        "a run that gave up",
        () => runs.some((run) => run.status === "failed"),
        30_000,
      );
      const failed = runs.find((run) => run.status === "failed")!;
      assert.equal(failed.actions[0]!.error?.code, "STORE_ERROR");
      assert.match(failed.actions[0]!.error!.message, /storeRetryMs 2000/);
      assert.equal((await registry.getRun(failed.runId))?.status, "failed");
      unlock();
      await holding;
      await until(
        "a run after the unlock",
        () => runs.some((run) => run.status === "succeeded"),
        30_000,
      );
      stop.abort();
      await serving;
      assert.ok(calls >= 2);
    } finally {
      stop.abort();
      await locker.end({ timeout: 1 });
      await registry.close();
      await cluster.drop();
    }
  },
});

// --- A real serve process; its PostgreSQL store stopped for 10 s mid-run. ---

const OUTAGE_CONFIG = `
import { defineConfig } from ${JSON.stringify(MOD)};
export default defineConfig({
  store: Deno.env.get("TK_STORE"),
  serve: { leaseMs: 30000, graceMs: 5000 },
  views: [{ name: "items", database: "sqlite:" + Deno.env.get("TK_DATA"), sql: "SELECT id FROM items ORDER BY id" }],
  jobs: [{
    name: "outage", view: "items", schedule: "every 2 seconds", dedupe: { key: ["id"] },
    actions: [{ action: "send_slack_message", config: {
      channel: "#outage", text: "row {{id}}", mode: "per_row", minIntervalMs: 400, retryBaseMs: 50,
      slackApiUrl: Deno.env.get("TK_SLACK"),
    } }],
  }],
});
`;

Deno.test({
  name:
    "store down 10 s during a long run under a real serve process: serve lives, goes on after, nothing done twice",
  ignore: !(await canRunPgCluster()),
  fn: async () => {
    const cluster = await startPgCluster();
    const dir = await Deno.makeTempDir({ prefix: "triggerkit-outage-" });
    const slack = startFakeSlack();
    const data = new DatabaseSync(`${dir}/data.db`);
    data.exec("CREATE TABLE items (id INTEGER PRIMARY KEY)");
    for (let id = 1; id <= 20; id++) {
      data.exec(`INSERT INTO items VALUES (${id})`);
    }
    await Deno.writeTextFile(`${dir}/triggerkit.config.ts`, OUTAGE_CONFIG);
    const server = spawnServe(dir, {
      TK_STORE: cluster.url,
      TK_DATA: `${dir}/data.db`,
      TK_SLACK: slack.apiUrl,
      SLACK_BOT_TOKEN: "xoxb-test-token",
    });
    const stderr = new Response(server.stderr).text();
    let failure: unknown;
    try {
      await until("4 messages", () => slack.delivered.length >= 4, 30_000);
      await cluster.stop();
      const during = slack.delivered.length;
      await new Promise((resolve) => setTimeout(resolve, 10_000));
      await cluster.start();
      // The run goes on where it was, and later runs take new rows.
      await until("20 messages", () => slack.delivered.length >= 20, 60_000);
      assert.ok(during < 20, "the outage did not fall inside the run");
      data.exec("INSERT INTO items VALUES (21)");
      await until("21 messages", () => slack.delivered.length >= 21, 30_000);
      await new Promise((resolve) => setTimeout(resolve, 2_000));
    } catch (error) {
      failure = error;
    }
    server.kill("SIGTERM");
    const { code } = await server.status;
    const log = await stderr;
    data.close();
    await slack.close();
    await Deno.remove(dir, { recursive: true });
    try {
      if (failure) throw new Error(`${failure}\n${log}`, { cause: failure });
      assert.equal(code, 0, log);
      assert.doesNotMatch(log, /Uncaught|unhandled/i);
      const texts = slack.delivered.map((message) => message.text);
      assert.equal(new Set(texts).size, texts.length, "a row was posted twice");
      assert.equal(texts.length, 21);
      const store = openRunStore(cluster.url);
      const runs = await store.history({ job: "outage", limit: 500 });
      await store.close?.();
      const succeeded = runs.filter((run) => run.status === "succeeded");
      assert.deepEqual(
        succeeded.map((run) => run.newRowCount).sort((a, b) => b - a),
        [20, 1],
      );
      assert.ok(
        runs.some((run) =>
          run.status === "skipped" &&
          /in progress|could not be reached/.test(run.reason!)
        ),
        `the slots during the long run are recorded skipped: ${
          JSON.stringify(runs.map((r) => [r.slot, r.status, r.reason]))
        }`,
      );
    } finally {
      await cluster.drop();
    }
  },
});

// --- Deadlines: a database that accepts and never answers. ---

Deno.test("a view's timeoutMs fails the run with DATABASE_ERROR when its database hangs", async () => {
  const hung = startHungServer();
  const registry = createRegistry({ store: "sqlite::memory:" });
  try {
    registry.defineView({
      name: "stuck",
      database: hung.postgresUrl,
      sql: "SELECT 1 AS id",
      timeoutMs: 300,
    });
    registry.register("never", () => {
      throw new Error("the view cannot have rows");
    });
    registry.defineJob({ name: "stuck", view: "stuck", actions: ["never"] });
    const started = performance.now();
    const report = await registry.runJob("stuck");
    assert.ok(performance.now() - started < 3_000, "the deadline held");
    assert.equal(report.status, "failed");
    assert.equal(report.error?.code, "DATABASE_ERROR");
    assert.match(report.error!.message, /timed out after 300 ms/);
    assert.doesNotMatch(report.error!.message, /hung-secret-pw/);
    assert.equal(
      (await registry.history({ job: "stuck" }))[0]!.status,
      "failed",
    );
  } finally {
    await registry.close();
    await hung.close();
  }
});

Deno.test("serve() returns within its grace period when a run hangs on its view, and records the run failed", async () => {
  const hung = startHungServer();
  const registry = createRegistry({ store: "sqlite::memory:" });
  const stop = new AbortController();
  try {
    registry.defineView({
      name: "stuck",
      database: hung.postgresUrl,
      sql: "SELECT 1 AS id",
    });
    registry.register("noop", () => ({}));
    registry.defineJob({
      name: "stuck",
      view: "stuck",
      actions: ["noop"],
      schedule: "every 1 second",
    });
    const serving = registry.serve({
      signal: stop.signal,
      handleSignals: false,
      graceMs: 1_000,
    });
    await until(
      "a connection to the hung server",
      () => hung.accepted > 0,
      10_000,
    );
    const stopped = performance.now();
    stop.abort();
    await serving;
    const took = performance.now() - stopped;
    assert.ok(took < 1_000 + 300, `serve() took ${Math.round(took)} ms`);
    const [run] = await registry.history({ job: "stuck" });
    assert.equal(run!.status, "failed");
    assert.equal(run!.error?.code, "DATABASE_ERROR");
  } finally {
    await registry.close();
    await hung.close();
  }
});

const HUNG_CONFIG = `
import { defineConfig } from ${JSON.stringify(MOD)};
export default defineConfig({
  store: Deno.env.get("TK_STORE"),
  serve: { graceMs: 2000, leaseMs: 30000 },
  actions: { noop: () => ({}) },
  views: [{ name: "v", database: Deno.env.get("TK_VIEW_DB"), sql: "SELECT 1 AS id" }],
  jobs: [{ name: "hung", view: "v", schedule: "every 1 second", actions: ["noop"] }],
});
`;

for (
  const what of [
    { name: "a hung view", store: "sqlite", view: "hung" },
    { name: "a hung store", store: "hung", view: "sqlite::memory:" },
  ] as const
) {
  Deno.test(`serve exits within its grace period of SIGTERM whatever is hung: ${what.name}`, async () => {
    const hung = startHungServer();
    const dir = await Deno.makeTempDir({ prefix: "triggerkit-hung-" });
    await Deno.writeTextFile(`${dir}/triggerkit.config.ts`, HUNG_CONFIG);
    const server = spawnServe(dir, {
      TK_STORE: what.store === "hung"
        ? hung.postgresUrl
        : `sqlite:${dir}/state.db`,
      TK_VIEW_DB: what.view === "hung" ? hung.postgresUrl : what.view,
    });
    try {
      await assertStopsWhileHung(server, hung, 2_000);
    } finally {
      try {
        server.kill("SIGKILL");
      } catch { /* exited */ }
      await hung.close();
      await Deno.remove(dir, { recursive: true });
    }
  });
}
