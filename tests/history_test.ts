/**
 * Nothing vanishes from the history (SPEC §4.1): an interrupted run keeps
 * what it had done; slots that do not run are recorded `skipped` with the
 * reason, in one log line each; old runs are pruned by `serve` (at start
 * and daily) while dedupe keys and deliveries still needed are kept.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { configure, type LogRecord, reset } from "@logtape/logtape";
import { createRegistry, openRunStore } from "../mod.ts";
import { FakeClock, settle } from "./_fake_clock.ts";
import { cutOff } from "./_faults.ts";

const DAY = 86_400_000;

Deno.test("an interrupted run keeps its row counts and finished actions", async () => {
  const dir = await Deno.makeTempDir({ prefix: "triggerkit-history-" });
  const clock = new FakeClock();
  const url = `sqlite:${dir}/state.db`;
  const stores = [openRunStore(url, { clock }), openRunStore(url, { clock })];
  const a = createRegistry({ store: cutOff(stores[0]!), clock });
  const b = createRegistry({ store: stores[1]!, clock });
  try {
    for (const registry of [a, b]) {
      registry.defineView({
        name: "rows",
        database: "sqlite::memory:",
        sql: "SELECT 1 AS id UNION ALL SELECT 2 UNION ALL SELECT 3",
      });
      registry.register("first", () => ({ first: true }));
    }
    a.register("hangs", () => new Promise(() => {}));
    b.register("hangs", () => ({}));
    for (const registry of [a, b]) {
      registry.defineJob({
        name: "p",
        view: "rows",
        actions: ["first", "hangs"],
      });
    }
    const running = a.runJob("p");
    await settle();
    await clock.advance(1_000, 1_000); // progress is written within a second
    const [live] = await b.history({ job: "p" });
    assert.deepEqual(
      [
        live!.status,
        live!.rowCount,
        live!.newRowCount,
        live!.actions.map((x) => x.status),
      ],
      ["running", 3, 3, ["succeeded"]],
      "progress is written as actions finish",
    );
    await clock.advance(60_000, 1_000);
    await running;
    assert.equal((await b.runJob("p")).status, "succeeded");
    const interrupted = (await b.history({ job: "p" })).find((run) =>
      run.runId === live!.runId
    )!;
    assert.deepEqual(
      [
        interrupted.status,
        interrupted.rowCount,
        interrupted.actions[0]!.result,
      ],
      ["interrupted", 3, { first: true }],
    );
  } finally {
    await Promise.all([a.close(), b.close()]);
    await Promise.all(stores.map((store) => store.close?.()));
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("serve() logs one line per skipped slot and records each, with the reason", async () => {
  const records: LogRecord[] = [];
  await configure({
    sinks: { memory: (record) => records.push(record) },
    loggers: [
      {
        category: ["triggerkit", "scheduler"],
        sinks: ["memory"],
        lowestLevel: "warning",
      },
      { category: ["logtape", "meta"], sinks: [], lowestLevel: "error" },
    ],
  });
  const clock = new FakeClock(Date.parse("2026-03-01T10:00:30Z"));
  const registry = createRegistry({ store: "sqlite::memory:", clock });
  const stop = new AbortController();
  try {
    registry.defineView({
      name: "one",
      database: "sqlite::memory:",
      sql: "SELECT 1 AS id",
    });
    let release!: () => void;
    registry.register(
      "slow",
      () => new Promise((resolve) => release = () => resolve({})),
    );
    registry.defineJob({
      name: "s",
      view: "one",
      actions: ["slow"],
      schedule: "every minute",
    });
    const serving = registry.serve({
      signal: stop.signal,
      handleSignals: false,
    });
    await settle();
    await clock.advance(3 * 60_000, 10_000); // 10:01 runs and hangs; 10:02, 10:03 come
    release();
    await settle();
    stop.abort();
    await serving;
    const skipped = (await registry.history({ job: "s" })).filter((run) =>
      run.status === "skipped"
    );
    assert.deepEqual(skipped.map((run) => run.slot).sort(), [
      "2026-03-01T10:02:00.000Z",
      "2026-03-01T10:03:00.000Z",
    ]);
    assert.ok(
      skipped.every((run) =>
        /already in progress: held by instance .+ \(this instance\)/.test(
          run.reason!,
        )
      ),
    );
    const lines = records.filter((record) =>
      String(record.rawMessage).includes("skipped")
    );
    assert.equal(lines.length, 2, "one line per skipped slot");
  } finally {
    await reset();
    await registry.close();
  }
});

Deno.test("serve() prunes runs older than history.keepDays at start and daily, keeping dedupe keys and deliveries still needed", async () => {
  const dir = await Deno.makeTempDir({ prefix: "triggerkit-prune-" });
  const t0 = Date.parse("2026-01-01T00:00:00Z");
  const clock = new FakeClock(t0);
  const data = new DatabaseSync(`${dir}/data.db`);
  data.exec(
    "CREATE TABLE items (id INTEGER PRIMARY KEY); CREATE TABLE done (id INTEGER)",
  );
  data.exec("INSERT INTO items VALUES (1), (2)");
  const registry = createRegistry({
    store: `sqlite:${dir}/state.db`,
    clock,
    history: { keepDays: 30 },
  });
  const stop = new AbortController();
  try {
    registry.defineView({
      name: "items",
      database: `sqlite:${dir}/data.db`,
      sql: "SELECT id FROM items",
      // runUntil moves the fake clock to the next sleeper while the read
      // waits in its reader Worker: on a loaded machine a 60 s deadline on
      // that clock passes before the Worker answers.
      timeoutMs: 365 * DAY,
    });
    let fail = false;
    registry.register("notify", () => {
      if (fail) throw new Error("down");
      return {};
    });
    // Remembers its rows for 90 days.
    registry.defineJob({
      name: "seen",
      view: "items",
      actions: ["notify"],
      dedupe: { key: ["id"], ttl: "90d" },
    });
    // No dedupe: its journal says what a failed run already did.
    registry.defineJob({
      name: "copy",
      view: "items",
      actions: [
        {
          action: "run_sql",
          config: {
            database: `sqlite:${dir}/data.db`,
            sql: "INSERT INTO done VALUES (:id)",
          },
        },
        "notify",
      ],
    });
    registry.defineJob({
      name: "yearly",
      view: "items",
      actions: ["notify"],
      schedule: "0 0 1 1 *",
    });
    // runUntil moves the clock on while a view read waits in its reader
    // Worker (a file database): run times drift by seconds, so days are floored.
    const run = (name: string) => clock.runUntil(registry.runJob(name));
    assert.equal((await run("seen")).status, "succeeded"); // day 0
    assert.equal((await run("copy")).status, "succeeded"); // day 0
    clock.tick(DAY);
    assert.equal((await run("copy")).status, "succeeded"); // day 1: copy's last success
    clock.tick(DAY);
    fail = true;
    assert.equal((await run("copy")).status, "failed"); // day 2: run_sql done, notify failed
    fail = false;
    clock.tick(38 * DAY); // day 40
    const serving = registry.serve({
      signal: stop.signal,
      handleSignals: false,
    });
    await settle();
    const left = await registry.history({ limit: 100 });
    assert.deepEqual(
      left.map((
        r,
      ) => [
        r.jobName,
        Math.floor((Date.parse(r.startedAt) - t0) / DAY),
        r.status,
      ]),
      [["copy", 1, "succeeded"], ["seen", 0, "succeeded"]],
      "pruned at start, each job's last success kept",
    );
    // Dedupe keys (90 days) and copy's journal are still there.
    assert.equal((await run("seen")).newRowCount, 0);
    const copy = await run("copy");
    assert.deepEqual(copy.actions.map((a) => [a.action, a.resumed ?? false]), [
      ["run_sql", true],
      ["notify", false],
    ]);
    assert.equal(data.prepare("SELECT COUNT(*) AS n FROM done").get()!.n, 6);
    // Daily: 31 days on, the runs of day 40 are gone but each job's last success.
    await clock.advance(31 * DAY, DAY);
    const later = await registry.history({ limit: 100 });
    assert.deepEqual(
      later.map((
        r,
      ) => [
        r.jobName,
        Math.floor((Date.parse(r.startedAt) - t0) / DAY),
        r.status,
      ]),
      [["copy", 40, "succeeded"], ["seen", 0, "succeeded"]],
    );
    stop.abort();
    await serving;
  } finally {
    stop.abort();
    await registry.close();
    data.close();
    await Deno.remove(dir, { recursive: true });
  }
});
