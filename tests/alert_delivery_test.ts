/**
 * Alerts and notices through the built-ins: `{{state}}` in Slack and HTTP,
 * the "🔴 3 new / ✅ 2 resolved" summary, notice rows over HTTP, and each
 * delivery as its own journal unit across a crash (SPEC §4.2).
 */
import assert from "node:assert/strict";
import {
  type AlertStore,
  createRegistry,
  type JobDefinition,
  openRunStore,
  type Row,
  type RunReport,
  type RunStore,
} from "../mod.ts";
import { FakeClock } from "./_fake_clock.ts";
import { startFakeSlack } from "./_fake_slack.ts";
import { serveLocal } from "./_helpers.ts";
import { alertRegistry, closing } from "./_alert_registry.ts";
import { MemoryJournal } from "../src/delivery/journal.ts";
import { runAlerts } from "../src/alerts/run.ts";
import { SqlRunStore } from "../src/store/sql.ts";
import { SqliteDatabase } from "../src/db/sqlite.ts";
import { partsOf } from "../src/registry/action_registry.ts";

const TOKEN = "xoxb-test-token";
Deno.env.set("TK_TEST_SLACK_TOKEN", TOKEN);

async function setup(options: { store?: RunStore; clock?: FakeClock } = {}) {
  const { registry, clock, sql } = await alertRegistry({
    setup: ["CREATE TABLE readings (id INTEGER PRIMARY KEY, sensor TEXT)"],
    ...options,
  });
  registry.defineView({
    name: "hot",
    database: "db",
    sql: "SELECT id, sensor FROM readings ORDER BY id",
  });
  const set = async (ids: number[]) => {
    await sql("DELETE FROM readings");
    for (const id of ids) {
      await sql(
        `INSERT INTO readings (id, sensor) VALUES (${id}, 'sensor-${id}')`,
      );
    }
  };
  return { registry, clock, sql, set };
}

function slackStep(slackApiUrl: string, config: Record<string, unknown>) {
  return {
    action: "send_slack_message",
    config: {
      channel: "#alerts",
      tokenEnv: "TK_TEST_SLACK_TOKEN",
      slackApiUrl,
      minIntervalMs: 0,
      ...config,
    },
  };
}

Deno.test("alerts: Slack templates see {{state}}, firing then resolved", async () => {
  const slack = startFakeSlack({ token: TOKEN });
  const { registry, set } = await setup();
  await closing(registry, async () => {
    registry.defineJob({
      name: "heat",
      view: "hot",
      dedupe: { key: ["id"] },
      actions: [slackStep(slack.apiUrl, { text: "{{state}}: {{count}} hot" })],
      alert: {
        resolved: [
          slackStep(slack.apiUrl, {
            mode: "per_row",
            text: "{{state}}: {{sensor}} cooled",
          }),
        ],
      },
    });
    await set([1, 2]);
    await registry.runJob("heat");
    await set([2]);
    const report = await registry.runJob("heat");
    assert.equal(report.resolvedActions![0]!.status, "succeeded");
    assert.deepEqual(slack.delivered.map((m) => m.text), [
      "firing: 2 hot",
      "resolved: sensor-1 cooled",
    ]);
  });
  await slack.close();
});

Deno.test("alerts: a Slack summary posts new and resolved rows together: 🔴 3 new / ✅ 2 resolved", async () => {
  const slack = startFakeSlack({ token: TOKEN });
  const { registry, set } = await setup();
  await closing(registry, async () => {
    registry.register("log_alert", () => ({}));
    registry.defineJob({
      name: "heat",
      view: "hot",
      dedupe: { key: ["id"] },
      actions: ["log_alert"],
      alert: {
        summary: [
          slackStep(slack.apiUrl, {
            text:
              "🔴 {{context.alert.new}} new / ✅ {{context.alert.resolved}} resolved",
          }),
        ],
      },
    });
    await set([1, 2]);
    await registry.runJob("heat");
    await set([3, 4, 5]);
    await registry.runJob("heat");
    await registry.runJob("heat");
    assert.deepEqual(slack.delivered.map((m) => m.text), [
      "🔴 2 new / ✅ 0 resolved",
      "🔴 3 new / ✅ 2 resolved",
    ]);
  });
  await slack.close();
});

/** A local HTTP endpoint that records what it receives. */
function recorder() {
  const received: Array<{ body: unknown; key: string | null }> = [];
  const server = serveLocal(async (request) => {
    received.push({
      body: await request.json(),
      key: request.headers.get("idempotency-key"),
    });
    return Response.json({ ok: true });
  });
  return { ...server, received };
}

Deno.test("alerts: http_request bodies see {{state}}; each delivery has its own Idempotency-Key", async () => {
  const endpoint = recorder();
  const { registry, set } = await setup();
  await closing(registry, async () => {
    const step = {
      action: "http_request",
      config: {
        url: `${endpoint.url}/alerts`,
        mode: "each",
        body: '{"id": {{id}}, "state": "{{state}}"}',
        retries: 0,
      },
    };
    registry.defineJob({
      name: "heat",
      view: "hot",
      dedupe: { key: ["id"] },
      actions: [step],
      alert: { resolved: [step] },
    });
    await set([1]);
    await registry.runJob("heat");
    await set([]);
    await registry.runJob("heat");
    await set([1]);
    await registry.runJob("heat");
    assert.deepEqual(endpoint.received.map((r) => r.body), [
      { id: 1, state: "firing" },
      { id: 1, state: "resolved" },
      { id: 1, state: "firing" },
    ]);
    assert.equal(new Set(endpoint.received.map((r) => r.key)).size, 3);
  });
  await endpoint.close();
});

Deno.test("notices: onFailure and onRecovery post their row with http_request and with Slack", async () => {
  const endpoint = recorder();
  const slack = startFakeSlack({ token: TOKEN });
  const { registry, sql } = await setup();
  await closing(registry, async () => {
    const post = {
      action: "http_request",
      config: { url: `${endpoint.url}/notices`, body: "rows", retries: 0 },
    };
    registry.register("work", () => ({}));
    registry.defineJob({
      name: "heat",
      view: "hot",
      actions: ["work"],
      when: "always",
      onFailure: {
        actions: [
          post,
          slackStep(slack.apiUrl, {
            mode: "per_row",
            text:
              ":rotating_light: {{jobName}} {{status}} ({{state}}) after {{consecutiveFailures}} failed runs",
          }),
        ],
      },
      onRecovery: {
        actions: [
          post,
          slackStep(slack.apiUrl, {
            mode: "per_row",
            text: ":white_check_mark: {{jobName}} {{status}} ({{state}})",
          }),
        ],
      },
    } as JobDefinition);
    await sql("ALTER TABLE readings RENAME TO gone");
    const failed = await registry.runJob("heat");
    await sql("ALTER TABLE gone RENAME TO readings");
    const recovered = await registry.runJob("heat");
    const [failure, recovery] = endpoint.received.map((r) =>
      (r.body as Row[])[0]!
    );
    assert.equal(failure!.runId, failed.runId);
    assert.equal(failure!.status, "failed");
    assert.equal((failure!.error as { code: string }).code, "DATABASE_ERROR");
    assert.deepEqual(recovery, {
      jobName: "heat",
      runId: recovered.runId,
      status: "recovered",
      reason: null,
      error: null,
      consecutiveFailures: 1,
      lastSuccessAt: null,
    });
    assert.deepEqual(slack.delivered.map((m) => m.text), [
      ":rotating_light: heat failed (firing) after 1 failed runs",
      ":white_check_mark: heat recovered (resolved)",
    ]);
    assert.deepEqual(
      [failed, recovered].map((r: RunReport) =>
        r.notices!.map((n) => [n.kind, n.actions.map((a) => a.status)])
      ),
      [
        [["onFailure", ["succeeded", "succeeded"]]],
        [["onRecovery", ["succeeded", "succeeded"]]],
      ],
    );
  });
  await slack.close();
  await endpoint.close();
});

Deno.test("alerts: a run cut short after delivering sends nothing twice when retried on the same journal (firing and resolved)", async () => {
  const endpoint = recorder();
  const clock = new FakeClock();
  const db = new SqliteDatabase(":memory:", "sqlite::memory:");
  const store = new SqlRunStore(db, { clock });
  const registry = createRegistry({ store, clock });
  await closing(registry, async () => {
    registry.defineView({
      name: "v",
      database: "sqlite::memory:",
      sql: "SELECT 1 AS id",
    });
    const step = {
      action: "http_request",
      config: {
        url: `${endpoint.url}/a`,
        mode: "each",
        body: "row",
        retries: 0,
      },
    };
    const job = registry.defineJob({
      name: "heat",
      view: "v",
      dedupe: { key: ["id"] },
      actions: [step],
      alert: { resolved: [step] },
    });
    const journal = new MemoryJournal(); // stands for the store's journal
    const { actions } = partsOf(registry); // the engine's way in: delivery scopes reach the built-ins
    const host = {
      run: actions.run.bind(actions),
      clock,
      store: () => store,
      journal: () => journal,
    };
    const commit = store.alerts.commit.bind(store.alerts);
    let crash = true;
    store.alerts.commit = (name, change) => {
      if (crash) {
        crash = false;
        return Promise.reject(new Error("the process died"));
      }
      return commit(name, change);
    };
    const report = (): RunReport => ({
      runId: crypto.randomUUID(),
      jobName: "heat",
      dryRun: false,
      status: "succeeded",
      startedAt: new Date(clock.now()).toISOString(),
      finishedAt: "",
      rowCount: 2,
      newRowCount: 0,
      actions: [],
    });
    const rows = [{ id: 1 }, { id: 2 }];
    await assert.rejects(runAlerts(host, job, rows, report()), /died/);
    await runAlerts(host, job, rows, report());
    assert.equal(endpoint.received.length, 2, "the firing went out once");
    crash = true;
    await assert.rejects(runAlerts(host, job, [], report()), /died/);
    const retried = report();
    await runAlerts(host, job, [], retried);
    assert.equal(retried.resolvedActions![0]!.status, "succeeded");
    assert.deepEqual(endpoint.received.map((r) => r.body), [
      { id: 1 },
      { id: 2 },
      { id: 1 },
      { id: 2 },
    ], "the resolution went out once");
    assert.deepEqual(await registry.alerts("heat"), []);
  });
  await db.close();
  await endpoint.close();
});

Deno.test("alerts: a run whose alert state was not recorded after delivering sends nothing twice: it delivers through the store's journal", async () => {
  const endpoint = recorder();
  const store = openRunStore("sqlite::memory:") as RunStore & {
    alerts: AlertStore;
  };
  const { registry, set } = await setup({ store });
  await closing(registry, async () => {
    registry.defineJob({
      name: "heat",
      view: "hot",
      dedupe: { key: ["id"] },
      actions: [{
        action: "http_request",
        config: {
          url: `${endpoint.url}/alerts`,
          mode: "each",
          body: "row",
          retries: 0,
        },
      }],
      alert: {},
    });
    const commit = store.alerts.commit.bind(store.alerts);
    let crash = true;
    store.alerts.commit = (...args) => {
      if (!crash) return commit(...args);
      crash = false;
      return Promise.reject(new Error("the process died"));
    };
    await set([1, 2]);
    const first = await registry.runJob("heat");
    assert.equal(first.status, "failed");
    assert.match(first.reason!, /the process died/);
    const second = await registry.runJob("heat");
    assert.equal(second.status, "succeeded", JSON.stringify(second));
    assert.deepEqual(
      endpoint.received.map((r) => (r.body as Row).id),
      [1, 2],
      "each firing went out once",
    );
    assert.equal(second.actions[0]!.result!.skipped, 2);
    assert.equal((await registry.alerts("heat")).length, 2);
  });
  await endpoint.close();
});

Deno.test("alerts: a run that lost its claim while delivering records no alert state (its writes are fenced)", async () => {
  const clock = new FakeClock(Date.parse("2026-03-01T10:00:00Z"));
  const store = openRunStore("sqlite::memory:", { clock });
  const { registry, set } = await setup({ store, clock });
  await closing(registry, async () => {
    registry.register("notify", async () => {
      // Paused past its lease: another instance takes the job over.
      clock.tick(61_000);
      const taken = await store.takeOver("heat", {
        runId: "taker",
        holder: { instance: "other", host: "elsewhere", pid: 1 },
        leaseMs: 60_000,
      });
      assert.ok(taken, "taken over");
      return {};
    });
    registry.defineJob({
      name: "heat",
      view: "hot",
      dedupe: { key: ["id"] },
      actions: ["notify"],
      alert: {},
    });
    await set([1]);
    const report = await registry.runJob("heat");
    assert.equal(report.status, "failed");
    assert.match(report.reason!, /lost its claim/);
    assert.deepEqual(await registry.alerts("heat"), []);
  });
});
