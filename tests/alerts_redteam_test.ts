/** Attacks on the alert lifecycle (SPEC §4.2): flapping, boundaries, mutes by value, failures and dry runs in the middle, restarts. */
import assert from "node:assert/strict";
import type { RunReport } from "../mod.ts";
import { FakeClock } from "./_fake_clock.ts";
import { alertRegistry, closing, heatRegistry } from "./_alert_registry.ts";
import {
  rejectsWithCode,
  TEST_PG,
  throwsWithCode,
  uniqueTable,
} from "./_helpers.ts";
import { runMain } from "./_cli.ts";
import { liveRow, storedRow } from "../src/alerts/_rows.ts";

const MIN = 60_000;

async function setup(
  options: { clock?: FakeClock; store?: string; db?: string } = {},
) {
  const heat = await heatRegistry(options, [
    "notify",
    "on_resolved",
    "page",
    "recovered",
  ]);
  const take = () => heat.calls.splice(0).map((c) => [c.step, c.ids] as const);
  return { ...heat, take };
}

const statuses = (o: RunReport["actions"] | undefined) =>
  (o ?? []).map((x) => x.status);

Deno.test("alerts: a key that flaps (present, absent, present) fires, resolves and fires again as a new incident", async () => {
  const { registry, define, set, take, calls } = await setup();
  await closing(registry, async () => {
    define();
    await set({ 1: 60 });
    await registry.runJob("heat");
    await set({});
    await registry.runJob("heat");
    await set({ 1: 60 });
    await registry.runJob("heat");
    const keys = calls.map((c) => c.key);
    assert.deepEqual(take(), [["notify", [1]], ["on_resolved", [1]], [
      "notify",
      [1],
    ]]);
    assert.equal(new Set(keys).size, 3, "each delivery its own unit");
  });
});

Deno.test("alerts: with pendingFor, a key that flaps before it is due never fires, and its clock starts again", async () => {
  const { registry, clock, define, set, take } = await setup();
  await closing(registry, async () => {
    define({ alert: { pendingFor: "10m", resolved: ["on_resolved"] } });
    await set({ 1: 60 });
    await registry.runJob("heat");
    clock.tick(9 * MIN);
    await set({});
    await registry.runJob("heat");
    await set({ 1: 60 });
    clock.tick(2 * MIN);
    await registry.runJob("heat"); // 11 min after first seen, 0 min after it came back
    assert.deepEqual(
      await registry.alerts("heat").then((a) => a.map((x) => x.state)),
      ["pending"],
    );
    clock.tick(10 * MIN - 1);
    await registry.runJob("heat");
    assert.deepEqual(take(), [], "nothing fired, nothing resolved");
    clock.tick(1);
    await registry.runJob("heat");
    assert.deepEqual(take(), [["notify", [1]]], "fires exactly at pendingFor");
  });
});

Deno.test("alerts: repeatEvery is due exactly at its interval, not a millisecond before", async () => {
  const { registry, clock, define, set, take } = await setup();
  await closing(registry, async () => {
    define({ alert: { repeatEvery: "1h" } });
    await set({ 1: 60 });
    await registry.runJob("heat");
    take();
    clock.tick(60 * MIN - 1);
    await registry.runJob("heat");
    assert.deepEqual(take(), []);
    clock.tick(1);
    await registry.runJob("heat");
    assert.deepEqual(take(), [["notify", [1]]]);
    clock.tick(30 * MIN);
    await set({ 1: 60, 2: 70 });
    await registry.runJob("heat");
    assert.deepEqual(take(), [["notify", [2]]], "only the new key");
    clock.tick(30 * MIN);
    await registry.runJob("heat");
    assert.deepEqual(take(), [["notify", [1]]], "1 is due again, 2 is not");
  });
});

Deno.test("alerts: a mute's keys compare by value — number, digit string and bigint are one key", async () => {
  for (const muteKey of [1, "1", 1n]) {
    const { registry, define, set, take } = await setup();
    await closing(registry, async () => {
      define();
      await registry.mute("heat", { for: "1h", keys: [[muteKey]] });
      await set({ 1: 60, 2: 60 });
      await registry.runJob("heat");
      assert.deepEqual(take(), [["notify", [2]]], `muted by ${typeof muteKey}`);
      const muted = (await registry.alerts("heat")).map((
        a,
      ) => [a.key, a.muted]);
      assert.deepEqual(muted, [[[1], true], [[2], false]]);
    });
  }
});

Deno.test("alerts: an integer past 2^53 is one key whether a number, a bigint or a digit string", async () => {
  const { registry, define, take } = await setup();
  await closing(registry, async () => {
    registry.defineView({
      name: "big",
      database: "db",
      sql: "SELECT 9007199254740994 AS id UNION ALL SELECT 1",
    });
    define({ view: "big" });
    await registry.mute("heat", { for: "1h", keys: [[9007199254740994]] });
    await registry.runJob("heat");
    assert.deepEqual(take(), [["notify", [1]]]);
  });
});

Deno.test("alerts: a mute ends exactly at its end; unmute ends it at once", async () => {
  const { registry, clock, define, set, take } = await setup();
  await closing(registry, async () => {
    define();
    await registry.mute("heat", { for: "30m" });
    await set({ 1: 60 });
    await registry.runJob("heat");
    clock.tick(30 * MIN - 1);
    await registry.runJob("heat");
    assert.deepEqual(take(), []);
    clock.tick(1);
    await registry.runJob("heat");
    assert.deepEqual(take(), [["notify", [1]]]);
    await registry.mute("heat", { for: "1d" });
    await set({ 1: 60, 2: 60 });
    await registry.runJob("heat");
    assert.deepEqual(take(), []);
    assert.equal(await registry.unmute("heat"), 1);
    await registry.runJob("heat");
    assert.deepEqual(take(), [["notify", [2]]]);
  });
});

Deno.test("alerts: a failed run in the middle resolves nothing; the next good run resolves once", async () => {
  const { registry, define, set, take, failing } = await setup();
  await closing(registry, async () => {
    define();
    await set({ 1: 60 });
    await registry.runJob("heat");
    take();
    await set({ 2: 60 }); // 1 gone, 2 new — but notify is down
    failing.add("notify");
    const bad = await registry.runJob("heat");
    assert.equal(bad.status, "failed");
    assert.deepEqual(statuses(bad.resolvedActions), ["skipped"]);
    assert.deepEqual(
      (await registry.alerts("heat")).map((a) => [a.key, a.state]),
      [[[1], "firing"], [[2], "firing"]],
      "1 still firing",
    );
    failing.delete("notify");
    take();
    await registry.runJob("heat");
    assert.deepEqual(take(), [["notify", [2]], ["on_resolved", [1]]]);
    await registry.runJob("heat");
    assert.deepEqual(take(), []);
  });
});

Deno.test("alerts: dry runs between real runs change nothing", async () => {
  const { registry, clock, define, set, take } = await setup();
  await closing(registry, async () => {
    define({
      alert: { pendingFor: "5m", repeatEvery: "1h", resolved: ["on_resolved"] },
    });
    await set({ 1: 60 });
    await registry.runJob("heat", { dryRun: true });
    clock.tick(5 * MIN);
    await registry.runJob("heat", { dryRun: true });
    assert.deepEqual(
      await registry.alerts("heat"),
      [],
      "a dry run records no key",
    );
    await registry.runJob("heat");
    clock.tick(5 * MIN);
    await registry.runJob("heat");
    await set({});
    await registry.runJob("heat", { dryRun: true });
    take();
    const alerts = await registry.alerts("heat");
    assert.equal(alerts.length, 1);
    await registry.runJob("heat");
    assert.deepEqual(take(), [["on_resolved", [1]]]);
  });
});

Deno.test("alerts: onFailure after N runs, once per incident; onRecovery once; dry runs count for neither", async () => {
  const { registry, define, set, take, sql } = await setup();
  await closing(registry, async () => {
    define({
      onFailure: { actions: ["page"], after: 2 },
      onRecovery: { actions: ["recovered"] },
    });
    await set({ 1: 60 });
    await registry.runJob("heat");
    take();
    await sql("ALTER TABLE readings RENAME TO gone");
    await registry.runJob("heat");
    await registry.runJob("heat", { dryRun: true });
    assert.deepEqual(take(), [], "one failure, and a dry one");
    await registry.runJob("heat");
    assert.deepEqual(take(), [["page", [undefined]]]);
    await registry.runJob("heat");
    await registry.runJob("heat");
    assert.deepEqual(take(), [], "once per incident");
    await sql("ALTER TABLE gone RENAME TO readings");
    await registry.runJob("heat", { dryRun: true });
    assert.deepEqual(
      take().filter(([s]) => s === "recovered"),
      [],
      "a dry success is no recovery",
    );
    await registry.runJob("heat");
    assert.deepEqual(take(), [["recovered", [undefined]]]);
    await registry.runJob("heat");
    assert.deepEqual(take(), []);
  });
});

Deno.test("alerts: {{state}} renders firing and resolved in Slack templates", async () => {
  const { registry, define, set } = await setup();
  await closing(registry, async () => {
    const slack = (text: string) => ({
      action: "send_slack_message",
      config: { channel: "#ops", text, webhookUrlEnv: "NO_SUCH_HOOK_RT2" },
      dryRun: true,
    });
    define({
      actions: [slack("{{count}} {{state}}")],
      alert: {
        resolved: [
          slack("{{count}} {{state}} {{#rows}}{{sensor}}={{celsius}}{{/rows}}"),
        ],
      },
    });
    await set({ 1: 60 });
    const first = await registry.runJob("heat");
    // deno-lint-ignore no-explicit-any
    const text = (r: any) => r?.result?.messages?.[0]?.text;
    assert.equal(text(first.actions[0]), "1 firing");
    await set({});
    const second = await registry.runJob("heat");
    assert.equal(text(second.resolvedActions?.[0]), "1 resolved s1=60");
  });
});

Deno.test({
  name:
    "alerts: state and mutes survive a restart on a PostgreSQL store, keys by value from int8",
  ignore: TEST_PG === undefined,
  fn: async () => {
    const clock = new FakeClock();
    const job = uniqueTable("heat");
    const table = uniqueTable("readings");
    const make = async () => {
      const s = await alertRegistry({ clock, store: TEST_PG!, db: TEST_PG! });
      const calls: unknown[][] = [];
      s.registry.register("notify", (i) => {
        calls.push(["notify", i.data.map((r) => r.id)]);
        return {};
      });
      s.registry.register("on_resolved", (i) => {
        calls.push(["on_resolved", i.data.map((r) => r.id)]);
        return {};
      });
      s.registry.defineView({
        name: "hot",
        database: "db",
        sql: `SELECT id FROM ${table}`,
      });
      s.registry.defineJob({
        name: job,
        view: "hot",
        actions: ["notify"],
        dedupe: { key: ["id"] },
        alert: { resolved: ["on_resolved"] },
      });
      return { ...s, calls };
    };
    const first = await make();
    await closing(first.registry, async () => {
      await first.sql(`CREATE TABLE ${table} (id bigint)`);
      await first.sql(`INSERT INTO ${table} VALUES (1), (9007199254740993)`);
      await first.registry.mute(job, { for: "1h", keys: [[1]] });
      await first.registry.runJob(job);
      assert.deepEqual(first.calls, [["notify", ["9007199254740993"]]]);
    });
    const second = await make();
    await closing(second.registry, async () => {
      assert.deepEqual(
        (await second.registry.alerts(job)).map((a) => [a.key, a.muted])
          .sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
        [[[1], true], [["9007199254740993"], false]],
      );
      await second.sql(`DELETE FROM ${table} WHERE id = 9007199254740993`);
      await second.registry.runJob(job);
      await second.registry.runJob(job);
      assert.deepEqual(second.calls, [["on_resolved", ["9007199254740993"]]]);
      await second.sql(`DROP TABLE ${table}`);
    });
  },
});

Deno.test("alerts: mute() refuses a duration too long to be a date, with INVALID_OPTIONS", async () => {
  const { registry, define } = await setup();
  await closing(registry, async () => {
    define();
    await rejectsWithCode(
      registry.mute("heat", { for: "99999999999w" }),
      "INVALID_OPTIONS",
    );
  });
});

Deno.test("durations past 100 years are refused when defined, not when a run stores them", async () => {
  const { registry, define } = await setup();
  await closing(registry, () => {
    throwsWithCode(
      () => define({ alert: { repeatEvery: "99999999999w" } }),
      "INVALID_JOB",
      /at most 100 years/,
    );
    throwsWithCode(
      () => define({ alert: {}, dedupe: { key: ["id"], ttl: "99999999999w" } }),
      "INVALID_JOB",
      /dedupe\.ttl.*at most 100 years/,
    );
    define({ alert: {}, dedupe: { key: ["id"], ttl: "36500d" } });
    return Promise.resolve();
  });
});

Deno.test('alerts: output: "rows" enriches the rows of the firing, resolved and summary steps; repeats still deliver', async () => {
  const { registry, clock, set, calls, sql } = await setup();
  await closing(registry, async () => {
    registry.register("tag", ({ data }) => ({
      rows: data.map((row) => ({ ...row, tag: `hot-${row.id}` })),
    }));
    registry.register("explode", ({ data }) => ({
      rows: data.flatMap((row) => [{ ...row, part: 1 }, { ...row, part: 2 }]),
    }));
    registry.defineJob({
      name: "heat",
      view: "hot",
      actions: [{ action: "tag", output: "rows" }, "notify"],
      dedupe: { key: ["id"] },
      alert: {
        repeatEvery: "1h",
        resolved: [{ action: "explode", output: "rows" }, {
          action: "run_sql",
          config: {
            database: "db",
            sql: "INSERT INTO cooled (id, part) VALUES (:id, :part)",
          },
        }, "on_resolved"],
        summary: [{ action: "tag", output: "rows" }, "page"],
      },
    });
    await sql("CREATE TABLE cooled (id INTEGER, part INTEGER)");
    await set({ 1: 60 });
    const first = await registry.runJob("heat");
    assert.equal(first.status, "succeeded");
    const tags = () =>
      calls.splice(0).map((c) => [c.step, c.rows.map((r) => r.tag ?? r.part)]);
    assert.deepEqual(tags(), [["notify", ["hot-1"]], ["page", ["hot-1"]]]);
    clock.tick(60 * MIN);
    await registry.runJob("heat");
    assert.deepEqual(
      tags(),
      [["notify", ["hot-1"]], ["page", ["hot-1"]]],
      "a repeat is delivered again",
    );
    await set({});
    const last = await registry.runJob("heat");
    assert.equal(last.status, "succeeded", JSON.stringify(last));
    assert.deepEqual(tags(), [["on_resolved", [1, 2]], ["page", ["hot-1"]]]);
    registry.defineView({
      name: "cooled",
      database: "db",
      sql: "SELECT id, part FROM cooled",
    });
    registry.defineJob({ name: "peek", view: "cooled", actions: ["notify"] });
    await registry.runJob("peek");
    assert.deepEqual(
      tags(),
      [["notify", [1, 2]]],
      "run_sql wrote one row per enriched row",
    );
  });
});

Deno.test('alerts: output: "rows" that is not a list of plain objects fails the step with INVALID_RESULT naming it', async () => {
  const { registry, set } = await setup();
  await closing(registry, async () => {
    registry.register("broken", () => ({ rows: "nope" }));
    registry.defineJob({
      name: "heat",
      view: "hot",
      actions: ["notify"],
      dedupe: { key: ["id"] },
      alert: {
        resolved: [{ action: "broken", output: "rows" }, "on_resolved"],
      },
    });
    await set({ 1: 60 });
    await registry.runJob("heat");
    await set({});
    const report = await registry.runJob("heat");
    assert.equal(report.status, "failed");
    assert.equal(report.resolvedActions?.[0]?.error?.code, "INVALID_RESULT");
    assert.match(
      report.resolvedActions![0]!.error!.message,
      /alert\.resolved\[0\] \(broken\)/,
    );
  });
});

Deno.test("CLI: an extra argument is a usage error (exit 2): `unmute heat boiler` ends no mute, `run My Job` runs nothing", async () => {
  const { registry, define } = await setup();
  await closing(registry, async () => {
    define();
    await registry.mute("heat", { for: "1h" });
    const unmute = await runMain(["unmute", "heat", "boiler"], { registry });
    assert.equal(unmute.code, 2);
    assert.match(unmute.stderr, /Unexpected argument "boiler"/);
    assert.equal((await registry.alerts("heat")).length, 0);
    assert.equal(await registry.unmute("heat"), 1, "the mute is still there");
    const run = await runMain(["run", "My", "Job"], { registry });
    assert.equal(run.code, 2);
    assert.match(run.stderr, /a name with spaces is quoted: "My Job"/);
    assert.equal((await runMain(["alerts", "heat"], { registry })).code, 2);
  });
});

Deno.test("CLI: mute --key compares by value; bad durations and keys exit 2", async () => {
  const { registry, define, set, take } = await setup();
  await closing(registry, async () => {
    define();
    const mute = await runMain([
      "mute",
      "heat",
      "--for",
      "1h",
      "--key",
      "1",
      "--json",
    ], { registry });
    assert.equal(mute.code, 0, mute.stderr);
    assert.deepEqual(JSON.parse(mute.stdout).keys, [[1]]);
    await set({ 1: 60, 2: 60 });
    await registry.runJob("heat");
    assert.deepEqual(take(), [["notify", [2]]]);
    for (
      const args of [
        ["mute", "heat"],
        ["mute", "heat", "--for", "2x"],
        ["mute", "heat", "--for", "0s"],
        ["mute", "heat", "--for", "1h", "--key", "[1, 2]"],
        ["mute", "nope", "--for", "1h"],
        ["mute", "heat", "--for", "1h", "--fr", "x"],
      ]
    ) {
      assert.equal((await runMain(args, { registry })).code, 2, args.join(" "));
    }
  });
});

Deno.test("alerts: a stored last seen row reads back exactly through JSON and structured clone", () => {
  const row = {
    id: 1,
    big: 9007199254740993n,
    bytes: new Uint8Array([0, 255]),
    at: new Date("2026-01-02T03:04:05.678Z"),
    bad: new Date(NaN),
    nan: NaN,
    inf: -Infinity,
    zero: -0,
    gone: undefined,
    json: { a: [1, "x", null] },
    text: "~tk1",
  };
  for (
    const copy of [
      (v: unknown) => JSON.parse(JSON.stringify(v)),
      structuredClone,
    ]
  ) {
    const back = liveRow(copy(storedRow(row)));
    assert.deepEqual(back, row);
    assert.ok(Object.is(back.zero, -0) && Number.isNaN(back.nan));
    assert.ok(Number.isNaN((back.bad as Date).getTime()));
  }
  assert.deepEqual(liveRow({ id: 1, legacy: "x" }), { id: 1, legacy: "x" });
});

for (
  const [name, store] of [
    ["sqlite", "sqlite::memory:"],
    ["kv", "kv::memory:"],
    ["postgres", TEST_PG],
  ] as const
) {
  Deno.test({
    name:
      `alerts (${name} store): resolved steps get the last seen values exactly (a bigint, bytes), not their JSON`,
    ignore: store === undefined,
    fn: async () => {
      const { registry, sql } = await alertRegistry({ store: store! });
      await closing(registry, async () => {
        await sql("CREATE TABLE wide (id INTEGER, big INTEGER, bytes BLOB)");
        await sql("INSERT INTO wide VALUES (1, 9007199254740993, x'00ff')");
        let resolved: Record<string, unknown> | undefined;
        registry.register("fired", () => ({}));
        registry.register("resolved", ({ data }) => {
          resolved = { ...data[0] };
          return {};
        });
        registry.defineView({
          name: "wide",
          database: "db",
          sql: "SELECT * FROM wide",
        });
        const job = uniqueTable("exact");
        registry.defineJob({
          name: job,
          view: "wide",
          actions: ["fired"],
          dedupe: { key: ["id"] },
          alert: { resolved: ["resolved"] },
        });
        await registry.runJob(job);
        await sql("DELETE FROM wide");
        const report = await registry.runJob(job);
        assert.equal(report.status, "succeeded", JSON.stringify(report));
        assert.deepEqual(resolved, {
          id: 1,
          big: 9007199254740993n,
          bytes: new Uint8Array([0, 255]),
        });
      });
    },
  });
}

Deno.test("alerts (kv store): many wide rows and a row over 64 KiB are committed; the huge one resolves with its key columns", async () => {
  const { registry, sql } = await alertRegistry({ store: "kv::memory:" });
  await closing(registry, async () => {
    await sql("CREATE TABLE wide (id INTEGER, blob TEXT)");
    await sql(
      "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 400) INSERT INTO wide SELECT i, printf('%.4000c', 'x') FROM c",
    );
    await sql("INSERT INTO wide VALUES (0, printf('%.100000c', 'y'))");
    const resolved: Record<string, unknown>[] = [];
    registry.register("fired", () => ({}));
    registry.register("resolved", ({ data }) => {
      resolved.push(...data.map((row) => ({ ...row })));
      return {};
    });
    registry.defineView({
      name: "wide",
      database: "db",
      sql: "SELECT * FROM wide ORDER BY id",
    });
    registry.defineJob({
      name: "wide",
      view: "wide",
      actions: ["fired"],
      dedupe: { key: ["id"] },
      alert: { resolved: ["resolved"] },
    });
    assert.equal((await registry.runJob("wide")).status, "succeeded");
    await sql("DELETE FROM wide WHERE id < 2");
    assert.equal((await registry.runJob("wide")).status, "succeeded");
    assert.deepEqual(
      resolved.map((row) => [row.id, String(row.blob ?? "").length]),
      [[0, 0], [1, 4000]],
    );
  });
});

Deno.test("alerts: mute(), unmute() and alerts() refuse a job that is not a name with INVALID_OPTIONS; a key holding a nested bigint is a key", async () => {
  const { registry, define } = await setup();
  await closing(registry, async () => {
    define();
    await rejectsWithCode(
      registry.alerts({ job: "heat" } as never),
      "INVALID_OPTIONS",
      /job name/,
    );
    await rejectsWithCode(
      registry.unmute(5 as never),
      "INVALID_OPTIONS",
      /job name/,
    );
    await rejectsWithCode(
      registry.mute(["heat"] as never, { for: "1h" }),
      "INVALID_OPTIONS",
    );
    const mute = await registry.mute("heat", {
      for: "1h",
      keys: [[{ a: 1n }]],
    });
    assert.deepEqual(mute.keys, [[{ a: "1" }]]);
  });
});

Deno.test("notices survive a restart: an incident opened before it recovers once after it, and is not opened again", async () => {
  const dir = await Deno.makeTempDir();
  const clock = new FakeClock();
  const paths = {
    store: `sqlite:${dir}/state.db`,
    db: `sqlite:${dir}/view.db`,
  };
  const define = (s: Awaited<ReturnType<typeof setup>>) =>
    s.define({
      onFailure: { actions: ["page"], after: 2 },
      onRecovery: { actions: ["recovered"] },
    });
  const first = await setup({ clock, ...paths });
  await closing(first.registry, async () => {
    define(first);
    await first.set({ 1: 60 });
    await first.registry.runJob("heat");
    await first.sql("ALTER TABLE readings RENAME TO away");
    await first.registry.runJob("heat");
    await first.registry.runJob("heat");
    assert.deepEqual(first.take().map(([step]) => step), ["notify", "page"]);
  });
  const second = await setup({ clock, ...paths });
  await closing(second.registry, async () => {
    define(second);
    await second.sql("DROP TABLE readings"); // setup made an empty one
    await second.registry.runJob("heat");
    assert.deepEqual(second.take(), [], "still failing: no second page");
    await second.sql("ALTER TABLE away RENAME TO readings");
    await second.registry.runJob("heat");
    await second.registry.runJob("heat");
    assert.deepEqual(second.take().map(([step]) => step), ["recovered"]);
  });
  await Deno.remove(dir, { recursive: true });
});

Deno.test("CLI: `alerts` prints a key's control characters and bidi overrides escaped, never raw to the terminal", async () => {
  const { registry, sql } = await alertRegistry();
  await closing(registry, async () => {
    await sql("CREATE TABLE evil (name TEXT)");
    await sql(
      "INSERT INTO evil VALUES (char(27) || ']0;pwned' || char(7) || char(8238) || 'txt.exe')",
    );
    registry.register("notify", () => ({}));
    registry.defineView({
      name: "evil",
      database: "db",
      sql: "SELECT name FROM evil",
    });
    registry.defineJob({
      name: "evil",
      view: "evil",
      actions: ["notify"],
      dedupe: { key: ["name"] },
      alert: {},
    });
    await registry.runJob("evil");
    const { code, stdout } = await runMain(["alerts"], { registry });
    assert.equal(code, 0);
    assert.match(stdout, /\\u001b\]0;pwned\\u0007\\u202etxt\.exe/);
    // deno-lint-ignore no-control-regex
    assert.doesNotMatch(stdout, /[\u0000-\u0008\u001b\u202e]/);
  });
});
