/** Alerts through the registry: firing → resolved, pendingFor, repeatEvery, mutes, dry runs (SPEC §4.2). */
import assert from "node:assert/strict";
import type { JobDefinition, RunReport, RunStore } from "../mod.ts";
import { SqlRunStore } from "../src/store/sql.ts";
import { SqliteDatabase } from "../src/db/sqlite.ts";
import { FakeClock } from "./_fake_clock.ts";
import { closing, heatRegistry } from "./_alert_registry.ts";
import {
  rejectsWithCode,
  TEST_PG,
  throwsWithCode,
  uniqueTable,
} from "./_helpers.ts";

const MIN = 60_000;

/** A registry on in-memory SQLite with a `readings` table and a view of the hot ones. */
async function setup(
  options: { clock?: FakeClock; store?: string | RunStore; db?: string } = {},
) {
  const heat = await heatRegistry(options);
  const take = (step?: string) => {
    const taken = heat.calls.filter((call) => !step || call.step === step);
    heat.calls.length = 0;
    return taken;
  };
  return { ...heat, take };
}

function statuses(outcomes: RunReport["actions"] | undefined): string[] {
  return (outcomes ?? []).map((outcome) => outcome.status);
}

Deno.test("alerts: keys present fire; a later run without them resolves them once, with their last seen values", async () => {
  const { registry, define, set, take } = await setup();
  await closing(registry, async () => {
    define();
    await set({ 1: 60, 2: 70, 3: 20 });
    const first = await registry.runJob("heat");
    assert.equal(first.status, "succeeded");
    assert.equal(first.newRowCount, 2);
    assert.deepEqual(take().map((c) => [c.step, c.ids]), [["notify", [1, 2]]]);
    assert.deepEqual(statuses(first.resolvedActions), ["skipped"]);

    await set({ 1: 61, 2: 75 }); // still firing, values move
    const quiet = await registry.runJob("heat");
    assert.equal(quiet.status, "skipped");
    assert.equal(quiet.newRowCount, 0);
    assert.deepEqual(take(), []);

    await set({ 2: 76 });
    const resolving = await registry.runJob("heat");
    assert.equal(resolving.status, "succeeded");
    assert.deepEqual(statuses(resolving.actions), ["skipped"]);
    assert.deepEqual(statuses(resolving.resolvedActions), ["succeeded"]);
    assert.deepEqual(resolving.resolvedActions![0]!.result, { n: 1 });
    const [resolved] = take();
    assert.deepEqual(
      [resolved!.step, resolved!.ids, resolved!.celsius],
      ["on_resolved", [1], [61]],
      "the last seen values",
    );
    await registry.runJob("heat");
    assert.deepEqual(take(), [], "resolved once");
    assert.deepEqual(
      (await registry.alerts("heat")).map((a) => [a.key, a.state]),
      [[[2], "firing"]],
    );
  });
});

Deno.test("alerts: a run whose view fails resolves nothing", async () => {
  const { registry, define, set, sql, take } = await setup();
  await closing(registry, async () => {
    define();
    await set({ 1: 60 });
    await registry.runJob("heat");
    take();
    await sql("ALTER TABLE readings RENAME TO readings_away");
    const failed = await registry.runJob("heat");
    assert.equal(failed.status, "failed");
    assert.equal(failed.error?.code, "DATABASE_ERROR");
    assert.deepEqual(statuses(failed.resolvedActions), ["skipped"]);
    assert.deepEqual(take(), []);
    assert.equal((await registry.alerts("heat")).length, 1, "still firing");
    await sql("ALTER TABLE readings_away RENAME TO readings");
    await set({});
    await registry.runJob("heat");
    assert.deepEqual(take().map((c) => [c.step, c.ids]), [["on_resolved", [
      1,
    ]]]);
  });
});

Deno.test("alerts: a run that finds nothing new still resolves (no resolved steps: silently)", async () => {
  const { registry, define, set, take } = await setup();
  await closing(registry, async () => {
    define({ alert: {} });
    await set({ 1: 60, 2: 70 });
    await registry.runJob("heat");
    take();
    await set({ 2: 70 });
    const report = await registry.runJob("heat");
    assert.equal(report.status, "skipped");
    assert.deepEqual(report.resolvedActions, []);
    assert.deepEqual((await registry.alerts("heat")).map((a) => a.key), [[2]]);
  });
});

Deno.test("alerts: a failed delivery resolves nothing and is delivered again with the same idempotency key", async () => {
  const { registry, define, set, take, failing } = await setup();
  await closing(registry, async () => {
    define();
    await set({ 1: 60 });
    failing.add("notify");
    const failed = await registry.runJob("heat");
    assert.equal(failed.status, "failed");
    const [first] = take();
    failing.clear();
    await registry.runJob("heat");
    const [again] = take();
    assert.equal(again!.key, first!.key);
    await set({});
    failing.add("on_resolved");
    assert.equal((await registry.runJob("heat")).status, "failed");
    const [resolveTry] = take();
    assert.equal((await registry.alerts("heat")).length, 1, "not resolved yet");
    failing.clear();
    await registry.runJob("heat");
    const [resolveAgain] = take();
    assert.equal(resolveAgain!.key, resolveTry!.key);
    assert.equal((await registry.alerts("heat")).length, 0);
  });
});

Deno.test("alerts: pendingFor fires a key only once present that long; one that leaves first never fires nor resolves", async () => {
  const { registry, clock, define, set, take } = await setup();
  await closing(registry, async () => {
    define({ alert: { pendingFor: "10m", resolved: ["on_resolved"] } });
    await set({ 1: 60, 2: 70 });
    await registry.runJob("heat");
    assert.deepEqual(take(), []);
    assert.deepEqual(
      (await registry.alerts("heat")).map((a) => [a.key[0], a.state, a.since]),
      [[1, "pending", "2026-03-01T10:00:00.000Z"], [
        2,
        "pending",
        "2026-03-01T10:00:00.000Z",
      ]],
    );
    clock.tick(5 * MIN);
    await set({ 1: 60 });
    await registry.runJob("heat");
    assert.deepEqual(take(), [], "2 left while pending: no resolution");
    clock.tick(5 * MIN);
    const firing = await registry.runJob("heat");
    assert.equal(firing.newRowCount, 1);
    assert.deepEqual(take().map((c) => [c.step, c.ids]), [["notify", [1]]]);
    const [alert] = await registry.alerts("heat");
    assert.deepEqual([alert!.state, alert!.since, alert!.lastDeliveredAt], [
      "firing",
      "2026-03-01T10:10:00.000Z",
      "2026-03-01T10:10:00.000Z",
    ]);
  });
});

Deno.test("alerts: repeatEvery delivers still-firing keys again at that interval, and only those", async () => {
  const { registry, clock, define, set, take } = await setup();
  await closing(registry, async () => {
    define({ alert: { repeatEvery: "1h", resolved: ["on_resolved"] } });
    await set({ 1: 60 });
    await registry.runJob("heat");
    clock.tick(30 * MIN);
    await set({ 1: 60, 2: 70 });
    await registry.runJob("heat");
    assert.deepEqual(take().map((c) => c.ids), [[1], [2]]);
    clock.tick(30 * MIN);
    await registry.runJob("heat");
    assert.deepEqual(take().map((c) => c.ids), [[1]]);
    clock.tick(20 * MIN);
    await registry.runJob("heat");
    assert.deepEqual(take(), []);
    clock.tick(10 * MIN);
    await registry.runJob("heat");
    assert.deepEqual(take().map((c) => c.ids), [[2]]);
  });
});

Deno.test("alerts: each delivery is its own unit — first firing, repeat, resolution, re-fire — whatever dedupe.ttl says", async () => {
  const { registry, clock, define, set, take } = await setup();
  await closing(registry, async () => {
    define({
      dedupe: { key: ["id"], ttl: "30d" },
      alert: { repeatEvery: "1h", resolved: ["on_resolved"] },
    });
    await set({ 1: 60 });
    await registry.runJob("heat");
    clock.tick(60 * MIN);
    await registry.runJob("heat");
    await set({});
    await registry.runJob("heat");
    await set({ 1: 60 });
    await registry.runJob("heat");
    const calls = take();
    assert.deepEqual(calls.map((c) => c.step), [
      "notify",
      "notify",
      "on_resolved",
      "notify",
    ]);
    assert.equal(new Set(calls.map((c) => c.key)).size, 4);
  });
});

Deno.test("alerts: mute holds deliveries while state moves; never-delivered keys go out after it, resolutions in it are not sent", async () => {
  const { registry, clock, define, set, take } = await setup();
  await closing(registry, async () => {
    define();
    await set({ 1: 60 });
    await registry.runJob("heat");
    take();
    const mute = await registry.mute("heat", {
      for: "2h",
      reason: "maintenance",
    });
    assert.equal(mute.until, "2026-03-01T12:00:00.000Z");
    await set({ 2: 70, 3: 80 });
    const during = await registry.runJob("heat");
    assert.equal(during.status, "skipped");
    assert.deepEqual(take(), [], "1 resolved and 2, 3 fired: none sent");
    assert.deepEqual(
      (await registry.alerts("heat")).map((
        a,
      ) => [a.key[0], a.state, a.muted, a.lastDeliveredAt]),
      [[2, "firing", true, null], [3, "firing", true, null]],
    );
    clock.tick(2 * 60 * MIN);
    await set({ 2: 70 });
    await registry.runJob("heat");
    assert.deepEqual(take().map((c) => [c.step, c.ids]), [["notify", [2]]]);
    assert.deepEqual((await registry.alerts("heat")).map((a) => a.muted), [
      false,
    ]);
  });
});

Deno.test("alerts: a mute of some keys, and unmute", async () => {
  const { registry, define, set, take } = await setup();
  await closing(registry, async () => {
    define();
    await registry.mute("heat", { for: "1d", keys: [[1], ["2"]] });
    await set({ 1: 60, 2: 60, 3: 60 });
    await registry.runJob("heat");
    assert.deepEqual(take().map((c) => c.ids), [[3]]);
    assert.deepEqual(
      (await registry.alerts("heat")).map((a) => [a.key[0], a.muted]),
      [[1, true], [2, true], [3, false]],
    );
    assert.equal(await registry.unmute("heat"), 1);
    assert.equal(await registry.unmute("heat"), 0);
    await registry.runJob("heat");
    assert.deepEqual(take().map((c) => c.ids), [[1, 2]]);
  });
});

Deno.test("alerts: mutes and alert state survive a restart", async () => {
  const dir = await Deno.makeTempDir();
  const paths = {
    store: `sqlite:${dir}/state.db`,
    db: `sqlite:${dir}/view.db`,
  };
  const clock = new FakeClock();
  const first = await setup({ clock, ...paths });
  await closing(first.registry, async () => {
    first.define();
    await first.set({ 1: 60 });
    await first.registry.runJob("heat");
    await first.registry.mute("heat", { for: "1h" });
  });
  const second = await setup({ clock, ...paths });
  await closing(second.registry, async () => {
    second.define();
    assert.deepEqual(
      (await second.registry.alerts()).map((a) => [a.key, a.state, a.muted]),
      [[[1], "firing", true]],
    );
    await second.set({});
    await second.registry.runJob("heat");
    assert.deepEqual(second.take(), [], "muted: the resolution is not sent");
  });
  await Deno.remove(dir, { recursive: true });
});

Deno.test("alerts: a dry run renders firing and resolved rows and changes no state", async () => {
  const { registry, define, set, take } = await setup();
  await closing(registry, async () => {
    define();
    await set({ 1: 60 });
    await registry.runJob("heat");
    take();
    await set({ 2: 70 });
    const before = await registry.alerts("heat");
    const dry = await registry.runJob("heat", { dryRun: true });
    assert.equal(dry.dryRun, true);
    assert.deepEqual(
      take().map((c) => [c.step, c.ids, c.dryRun]),
      [["notify", [2], true], ["on_resolved", [1], true]],
    );
    assert.deepEqual(await registry.alerts("heat"), before);
    await registry.runJob("heat");
    assert.deepEqual(
      take().map((c) => [c.step, c.ids, c.dryRun]),
      [["notify", [2], false], ["on_resolved", [1], false]],
    );
  });
});

Deno.test("alerts: steps see counts in context.alert; summary steps get new and resolved rows together", async () => {
  const { registry, define, set, take } = await setup();
  await closing(registry, async () => {
    define({ alert: { resolved: ["on_resolved"], summary: ["summarize"] } });
    await set({ 1: 60, 2: 70 });
    await registry.runJob("heat");
    take();
    await set({ 3: 60, 4: 60, 5: 60 });
    const report = await registry.runJob("heat");
    assert.deepEqual(statuses(report.summaryActions), ["succeeded"]);
    const calls = take();
    assert.deepEqual(calls.map((c) => [c.step, c.ids]), [
      ["notify", [3, 4, 5]],
      ["on_resolved", [1, 2]],
      ["summarize", [3, 4, 5, 1, 2]],
    ]);
    assert.deepEqual(calls[2]!.context.alert, {
      new: 3,
      repeated: 0,
      resolved: 2,
      muted: 0,
      pending: 0,
      firing: 3,
    });
  });
});

Deno.test("alerts: a row without the key column fails the run with INVALID_DATA", async () => {
  const { registry, define, set } = await setup();
  await closing(registry, async () => {
    define({ dedupe: { key: ["reading_id"] } });
    await set({ 1: 60 });
    const report = await registry.runJob("heat");
    assert.equal(report.status, "failed");
    assert.equal(report.error?.code, "INVALID_DATA");
  });
});

Deno.test("alerts: a run with nothing new and nothing due reads no key state", async () => {
  const clock = new FakeClock();
  const db = new SqliteDatabase(":memory:", "sqlite::memory:");
  const store = new SqlRunStore(db, { clock });
  let reads = 0;
  const keys = store.alerts.keys.bind(store.alerts);
  store.alerts.keys = (job) => {
    reads++;
    return keys(job);
  };
  const { registry, define, set } = await setup({ clock, store });
  await closing(registry, async () => {
    define({ alert: { repeatEvery: "1h" } });
    await set({ 1: 60, 2: 70 });
    await registry.runJob("heat");
    assert.equal(reads, 1);
    await registry.runJob("heat");
    await registry.runJob("heat");
    assert.equal(reads, 1, "the fast path");
    await set({ 1: 60, 2: 71 });
    await registry.runJob("heat");
    assert.equal(reads, 2, "a value changed: its last seen row is kept");
    await registry.runJob("heat");
    assert.equal(reads, 2);
    clock.tick(60 * MIN);
    await registry.runJob("heat");
    assert.equal(reads, 3, "a repeat is due");
  });
  await db.close();
});

Deno.test("alerts: mute() refuses bad options with INVALID_OPTIONS naming the closest key", async () => {
  const { registry, define } = await setup();
  await closing(registry, async () => {
    define();
    registry.defineJob({ name: "plain", view: "hot", actions: ["notify"] });
    await rejectsWithCode(
      registry.mute("heat", { fr: "2h" } as never),
      "INVALID_OPTIONS",
      /"fr".*did you mean "for"/,
    );
    await rejectsWithCode(
      registry.mute("heat", { for: "soon" }),
      "INVALID_OPTIONS",
      /duration/,
    );
    await rejectsWithCode(
      registry.mute("heat", { for: "1h", keys: [1] as never }),
      "INVALID_OPTIONS",
      /array of 1 value/,
    );
    await rejectsWithCode(
      registry.mute("nope", { for: "1h" }),
      "JOB_NOT_FOUND",
    );
    await rejectsWithCode(
      registry.mute("plain", { for: "1h" }),
      "INVALID_OPTIONS",
      /no alert block/,
    );
  });
});

Deno.test("alerts: mute() names every bad option at once, with the value received", async () => {
  const { registry, define } = await setup();
  await closing(registry, async () => {
    define();
    const error = await rejectsWithCode(
      registry.mute("heat", {
        for: "0s",
        keys: [[1], [1, 2]],
        reason: 5,
        until: "x",
      } as never),
      "INVALID_OPTIONS",
    );
    for (
      const part of [
        /Unknown mute\(\) option "until"/,
        /"for" must be longer than 0, received "0s"/,
        /"keys" must be a list of keys, each an array of 1 value \(id\), received keys\[1\]: array of 2/,
        /"reason" must be a string, received number 5/,
      ]
    ) {
      assert.match(error.message, part);
    }
    assert.deepEqual(await registry.alerts("heat"), [], "nothing was muted");
  });
});

Deno.test("alerts: definitions are checked when defined", async () => {
  const { registry } = await setup();
  await closing(registry, () => {
    const job = (extra: Record<string, unknown>) => () =>
      registry.defineJob({
        name: "j",
        view: "hot",
        actions: ["notify"],
        ...extra,
      } as JobDefinition);
    throwsWithCode(job({ alert: {} }), "INVALID_JOB", /alert needs dedupe.key/);
    const keyed = { dedupe: { key: ["id"] } };
    throwsWithCode(
      job({ ...keyed, alert: { pendingfor: "1m" } }),
      "INVALID_JOB",
      /unknown key "pendingfor" in alert; did you mean "pendingFor"/,
    );
    throwsWithCode(
      job({ ...keyed, alert: { repeatEvery: "often" } }),
      "INVALID_JOB",
      /Invalid duration "often"/,
    );
    throwsWithCode(
      job({ ...keyed, alert: { repeatEvery: 5 } }),
      "INVALID_JOB",
      /alert.repeatEvery must be a duration/,
    );
    throwsWithCode(
      job({ ...keyed, alert: { resolved: ["nope"] } }),
      "ACTION_NOT_FOUND",
      /alert.resolved\[0\] names unknown action "nope"/,
    );
    throwsWithCode(
      job({
        ...keyed,
        alert: { resolved: [{ action: "run_sql", config: { sq: "x" } }] },
      }),
      "INVALID_CONFIG",
      /alert.resolved\[0\]/,
    );
    throwsWithCode(
      job({ alert: [] }),
      "INVALID_JOB",
      /alert must be an object/,
    );
    throwsWithCode(
      job({ onRecovery: { actions: ["notify"] } }),
      "INVALID_JOB",
      /onRecovery needs onFailure/,
    );
    throwsWithCode(
      job({ onFailure: { actions: ["notify"], after: 0 } }),
      "INVALID_JOB",
      /onFailure.after must be a whole number/,
    );
    throwsWithCode(
      job({ onFailure: { actions: [] } }),
      "INVALID_JOB",
      /onFailure.actions must list at least one step/,
    );
    throwsWithCode(
      job({ onFailure: { action: ["notify"] } }),
      "INVALID_JOB",
      /unknown key "action" in onFailure; did you mean "actions"/,
    );
    const ok = registry.defineJob({
      name: "j",
      view: "hot",
      actions: ["notify"],
      dedupe: { key: ["id"] },
      alert: {
        pendingFor: "10m",
        repeatEvery: "4h",
        resolved: ["on_resolved"],
      },
      onFailure: { actions: ["notify"], after: 3, stale: "2h" },
      onRecovery: { actions: ["notify"] },
    });
    assert.deepEqual(ok.alertPlan, {
      pendingForMs: 600_000,
      repeatEveryMs: 14_400_000,
      resolvedSteps: [{ action: "on_resolved" }],
      summarySteps: [],
    });
    assert.deepEqual(ok.noticePlan, {
      failureSteps: [{ action: "notify" }],
      after: 3,
      staleMs: 7_200_000,
      recoverySteps: [{ action: "notify" }],
    });
    return Promise.resolve();
  });
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
      `alerts (${name} store): fire, mute, resolve in silence, re-fire, notices`,
    ignore: store === undefined && Deno.env.get("CI") !== "true",
    fn: async () => {
      const { registry, clock, set, take, sql } = await setup({
        store: store!,
      });
      const job = uniqueTable("heat");
      await closing(registry, async () => {
        registry.defineJob({
          name: job,
          view: "hot",
          actions: ["notify"],
          dedupe: { key: ["id"] },
          alert: { pendingFor: "5m", resolved: ["on_resolved"] },
          onFailure: { actions: ["summarize"] },
          onRecovery: { actions: ["summarize"] },
        });
        await set({ 1: 60, 2: 70 });
        await registry.runJob(job);
        clock.tick(5 * MIN);
        await registry.runJob(job);
        assert.deepEqual(take().map((c) => [c.step, c.ids]), [["notify", [
          1,
          2,
        ]]]);
        await registry.mute(job, { for: "1h", keys: [[2]] });
        await set({ 1: 60 });
        await registry.runJob(job);
        assert.deepEqual(take(), [], "2 resolved while muted");
        await set({});
        await registry.runJob(job);
        assert.deepEqual(take().map((c) => [c.step, c.ids]), [["on_resolved", [
          1,
        ]]]);
        await set({ 1: 60 });
        clock.tick(5 * MIN);
        await registry.runJob(job);
        clock.tick(5 * MIN);
        await registry.runJob(job);
        const [refire] = take();
        assert.deepEqual([refire!.step, refire!.ids], ["notify", [1]]);
        assert.deepEqual(
          (await registry.alerts(job)).map((a) => [a.key, a.state, a.muted]),
          [[[1], "firing", false]],
        );
        await sql("ALTER TABLE readings RENAME TO readings_away");
        await registry.runJob(job);
        await sql("ALTER TABLE readings_away RENAME TO readings");
        await registry.runJob(job);
        assert.deepEqual(
          take().map((c) => c.step),
          ["summarize", "summarize"],
          "onFailure, then onRecovery",
        );
      });
    },
  });
}
