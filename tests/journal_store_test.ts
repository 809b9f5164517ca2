/**
 * The delivery journal in the run store, wired into job runs: fenced
 * records, step keys from the job's generation, row keys from dedupe keys,
 * steps and units already done skipped when the same rows come again, and
 * `input.idempotencyKey` stable across retries of the same rows.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import {
  type Clock,
  createRegistry,
  openRunStore,
  type Registry,
} from "../mod.ts";
import { FakeClock } from "./_fake_clock.ts";
import { StoreJournal } from "../src/store/journal.ts";
import { HeldClaim } from "../src/jobs/_claim.ts";
import { ClaimLostError } from "../src/store/contract.ts";
import { uniqueTable } from "./_helpers.ts";
import { STORE_SUBJECTS } from "./_faults.ts";

const HOLDER = { instance: "i", host: "h", pid: 1 };

for (const subject of STORE_SUBJECTS) {
  Deno.test({
    name:
      `journal [${subject.name}]: records under the run's claim, read back; refused for a stale claim (its signal fires) and for a dry run`,
    ignore: subject.ignore,
    fn: async () => {
      const clock = new FakeClock();
      const { store, close } = await subject.open(clock);
      const job = uniqueTable("journal");
      try {
        const granted = await store.claim(job, {
          runId: "r1",
          holder: HOLDER,
          leaseMs: 60_000,
        });
        assert.ok(granted.claimed);
        const held = new HeldClaim(store, granted.claim, {
          clock,
          claimedAt: clock.now(),
        });
        const journal = new StoreJournal(store, job, held);
        await journal.record(
          new Map([["u1", { state: "sending", at: 1, detail: { since: 1 } }]]),
        );
        await journal.record(
          new Map([["u1", { state: "delivered", at: 2, detail: { ts: "9" } }]]),
        );
        assert.deepEqual(
          await journal.get(["u1", "u2"]),
          new Map([["u1", { state: "delivered", at: 2, detail: { ts: "9" } }]]),
        );
        // A dry run holds no claim: it reads, never records.
        const readOnly = new StoreJournal(store, job, {
          call: (_what, op) => op(),
        });
        await assert.rejects(
          readOnly.record(new Map([["u2", { state: "delivered", at: 3 }]])),
          (error: Error & { code?: string }) => error.code === "STORE_ERROR",
        );
        await held.stop();
        // A run whose claim was taken over holds an older epoch.
        const stale = new HeldClaim(store, {
          ...granted.claim,
          epoch: granted.claim.epoch - 1,
        }, {
          clock,
          claimedAt: clock.now(),
        });
        const staleJournal = new StoreJournal(store, job, stale);
        await assert.rejects(
          staleJournal.record(new Map([["u3", { state: "delivered", at: 4 }]])),
          ClaimLostError,
        );
        assert.equal(
          stale.signal.aborted,
          true,
          "the stale run's signal fired",
        );
        assert.equal((await journal.get(["u3"])).size, 0);
        await stale.stop();
      } finally {
        await close();
      }
    },
  });
}

/** A registry on a SQLite file store with a SQLite data file holding `items`. */
async function withData(
  fn: (registry: Registry, data: DatabaseSync, url: string) => Promise<void>,
  options: { clock?: Clock } = {},
) {
  const dir = await Deno.makeTempDir({ prefix: "triggerkit-journal-" });
  const url = `sqlite:${dir}/data.db`;
  const data = new DatabaseSync(`${dir}/data.db`);
  data.exec(
    "CREATE TABLE items (id INTEGER PRIMARY KEY); CREATE TABLE done (id INTEGER PRIMARY KEY)",
  );
  data.exec("INSERT INTO items VALUES (1), (2)");
  const registry = createRegistry({
    store: `sqlite:${dir}/state.db`,
    ...(options.clock ? { clock: options.clock } : {}),
  });
  try {
    registry.defineView({
      name: "items",
      database: url,
      sql: "SELECT id FROM items ORDER BY id",
    });
    await fn(registry, data, url);
  } finally {
    await registry.close();
    data.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("run_sql then a failing step: the next run does not run run_sql again for the same rows", async () => {
  await withData(async (registry, data, url) => {
    let fail = true;
    registry.register("notify", () => {
      if (fail) throw new Error("Slack is down");
      return { notified: true };
    });
    registry.defineJob({
      name: "alerts",
      view: "items",
      dedupe: { key: ["id"] },
      actions: [
        {
          action: "run_sql",
          config: { database: url, sql: "INSERT INTO done (id) VALUES (:id)" },
        },
        "notify",
      ],
    });
    const first = await registry.runJob("alerts");
    assert.deepEqual(first.actions.map((a) => a.status), [
      "succeeded",
      "failed",
    ]);
    const second = await registry.runJob("alerts");
    assert.equal(second.status, "failed", JSON.stringify(second.actions));
    assert.deepEqual(
      second.actions.map((a) => [a.status, a.resumed ?? false]),
      [["succeeded", true], ["failed", false]],
      "run_sql is not run again: no UNIQUE failure",
    );
    // A new row comes: run_sql does only that one (its units), notify all.
    data.exec("INSERT INTO items VALUES (3)");
    fail = false;
    const third = await registry.runJob("alerts");
    assert.equal(third.status, "succeeded", JSON.stringify(third.actions));
    assert.equal(third.actions[0]!.result!.rowsAffected, 1);
    assert.deepEqual(
      data.prepare("SELECT id FROM done ORDER BY id").all().map((r) => r.id),
      [1, 2, 3],
    );
    // After a success, the same rows are new work only if dedupe says so.
    assert.equal((await registry.runJob("alerts")).newRowCount, 0);
  });
});

Deno.test("a job without dedupe acts on the same rows again after a success (a new generation)", async () => {
  await withData(async (registry, _data, url) => {
    registry.defineJob({
      name: "copy",
      view: "items",
      actions: [{
        action: "run_sql",
        config: {
          database: url,
          sql: "INSERT OR REPLACE INTO done (id) VALUES (:id)",
        },
      }],
    });
    const first = await registry.runJob("copy");
    const second = await registry.runJob("copy");
    assert.deepEqual(
      [
        first.actions[0]!.result!.rowsAffected,
        second.actions[0]!.result!.rowsAffected,
      ],
      [2, 2],
    );
    assert.equal(second.actions[0]!.resumed, undefined);
  });
});

Deno.test("input.idempotencyKey is stable across retries and failed runs of the same rows, new after a success", async () => {
  const clock = new FakeClock(Date.parse("2026-03-01T10:00:00Z"));
  await withData(async (registry) => {
    const keys: string[] = [];
    let calls = 0;
    registry.register("keyed", ({ idempotencyKey }) => {
      keys.push(idempotencyKey!);
      if (++calls <= 3) throw new Error("flaky");
      return {};
    });
    registry.defineJob({
      name: "k",
      view: "items",
      actions: [{ action: "keyed", retries: 1, retryDelayMs: 10 }],
    });
    const run = () => clock.runUntil(registry.runJob("k"));
    assert.equal((await run()).status, "failed");
    assert.equal((await run()).status, "succeeded");
    assert.equal(new Set(keys).size, 1, "one key for one set of rows");
    assert.equal(keys.length, 4);
    await run();
    assert.notEqual(keys.at(-1), keys[0], "a new generation after a success");
  }, { clock });
});

Deno.test("the demo with an unreachable Slack fails on Slack, run after run, never on UNIQUE", async () => {
  const dir = await Deno.makeTempDir({ prefix: "triggerkit-demo-" });
  const demo = new URL("../examples/demo.ts", import.meta.url).pathname;
  const config = new URL("../deno.json", import.meta.url).pathname;
  try {
    const run = () =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", `--config=${config}`, demo],
        env: {
          TRIGGERKIT_DEMO_DB: `${dir}/demo.db`,
          TRIGGERKIT_DEMO_STATE: `${dir}/state.db`,
          SLACK_BOT_TOKEN: "xoxb-unreachable",
          // No route out: slack.com cannot be reached (as in CI).
          HTTPS_PROXY: "http://127.0.0.1:9",
          NO_COLOR: "1",
        },
        cwd: dir,
      }).output();
    const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
    for (const attempt of [1, 2]) {
      const output = await run();
      const text = decode(output.stdout) + decode(output.stderr);
      assert.equal(output.code, 1, text);
      assert.doesNotMatch(text, /UNIQUE constraint failed/, `run ${attempt}`);
      assert.match(text, /send_slack_message/);
    }
    const store = openRunStore(`sqlite:${dir}/state.db`);
    const [last] = await store.history({ job: "temperature_alerts" });
    await store.close?.();
    assert.deepEqual(
      last!.actions.map((a) => [a.action, a.status]),
      [["run_sql", "succeeded"], ["score_alerts", "succeeded"], [
        "send_slack_message",
        "failed",
      ]],
    );
    // An alert job: its deliveries are journal units (a key's incident and
    // delivery), so run_sql skips the rows the first run wrote.
    assert.deepEqual(
      [
        last!.actions[0]!.result!.rowsAffected,
        last!.actions[0]!.result!.skipped,
      ],
      [0, last!.newRowCount],
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("dedupe keys compare integers by value: a number, a bigint and a digit string are one key", async () => {
  await withData(async (registry) => {
    registry.register("notify", ({ data }) => ({ rows: data.length }));
    const views = [
      "SELECT 1 AS id",
      // An integer past 2^53 anywhere makes node:sqlite read every integer as a bigint.
      "SELECT 1 AS id, 9007199254740993 AS big",
      "SELECT '1' AS id",
    ];
    const counts: number[] = [];
    for (const sql of views) {
      const overwrite = { overwrite: true };
      registry.defineView(
        { name: "one", database: "sqlite::memory:", sql },
        overwrite,
      );
      registry.defineJob({
        name: "by_value",
        view: "one",
        actions: ["notify"],
        dedupe: { key: ["id"] },
      }, overwrite);
      counts.push((await registry.runJob("by_value")).newRowCount);
    }
    assert.deepEqual(counts, [1, 0, 0]);
  });
});
