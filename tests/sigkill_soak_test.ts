/**
 * Soak: 3 `serve` processes on one SQLite state file, one of them killed
 * (SIGKILL) every few seconds mid-whatever and started again, while rows
 * keep arriving and Slack answers 5xx after storing some messages. No
 * row is posted twice, every row is posted, no slot succeeds twice.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { openRunStore } from "../mod.ts";
import { startFakeSlack } from "./_fake_slack.ts";
import { MOD, spawnServe, until } from "./_faults.ts";

const SOAK = Deno.env.get("TRIGGERKIT_SOAK") === "1";
const RUN_MS = 30_000;

for (const fault of ["SIGKILL", "SIGSTOP"] as const) {
  Deno.test({
    name: `soak: 3 serve processes on one SQLite file, one ${
      fault === "SIGKILL" ? "killed" : "paused 3 s (twice its lease)"
    } every 2–4 s, Slack 5xx after storing: every row posted exactly once, no slot succeeds twice`,
    ignore: !SOAK,
    fn: async () => {
      const dir = await Deno.makeTempDir({ prefix: "triggerkit-sigkill-" });
      const data = new DatabaseSync(`${dir}/data.db`);
      data.exec("PRAGMA journal_mode = WAL");
      data.exec("CREATE TABLE items (id INTEGER PRIMARY KEY)");
      const slack = startFakeSlack();
      slack.faultRates("chat.postMessage", { after5xx: 0.1 });
      await Deno.writeTextFile(
        `${dir}/triggerkit.config.ts`,
        `
import { defineConfig } from ${JSON.stringify(MOD)};
export default defineConfig({
  store: Deno.env.get("TK_STORE"),
  serve: { leaseMs: 1500, graceMs: 3000 },
  views: [{ name: "items", database: "sqlite:" + Deno.env.get("TK_DATA"), sql: "SELECT id FROM items ORDER BY id" }],
  jobs: [0, 1, 2].map((n) => ({
    name: "job_" + n, view: "items", schedule: "every 1 second", dedupe: { key: ["id"] },
    actions: [{ action: "send_slack_message", config: {
      channel: "#c" + n, text: "job " + n + " row {{id}}", mode: "per_row", minIntervalMs: 0, retryBaseMs: 20,
      slackApiUrl: Deno.env.get("TK_SLACK"),
    } }],
  })),
});
`,
      );
      const store = `sqlite:${dir}/state.db`;
      const spawn = () =>
        spawnServe(dir, {
          TK_STORE: store,
          TK_DATA: `${dir}/data.db`,
          TK_SLACK: slack.apiUrl,
          SLACK_BOT_TOKEN: "xoxb-test-token",
        });
      const servers = [spawn(), spawn(), spawn()];
      const logs: Promise<string>[] = servers.map((s) =>
        new Response(s.stderr).text()
      );
      const killed: Promise<Deno.CommandStatus>[] = [];
      let next = 1;
      const started = Date.now();
      try {
        while (Date.now() - started < RUN_MS) {
          for (let i = 0; i < 5; i++) {
            data.exec(`INSERT INTO items VALUES (${next++})`);
          }
          await new Promise((r) => setTimeout(r, 2000 + Math.random() * 2000));
          const victim = Math.floor(Math.random() * servers.length);
          if (fault === "SIGSTOP") {
            servers[victim]!.kill("SIGSTOP");
            await new Promise((r) => setTimeout(r, 3000));
            servers[victim]!.kill("SIGCONT");
            continue;
          }
          servers[victim]!.kill("SIGKILL");
          killed.push(servers[victim]!.status);
          servers[victim] = spawn();
          logs.push(new Response(servers[victim]!.stderr).text());
        }
        const rows = next - 1;
        // Every row of every job reaches Slack (later runs retry after kills).
        await until(
          "every row posted",
          () => new Set(slack.delivered.map((m) => m.text)).size === rows * 3,
          60_000,
        );
        await new Promise((r) => setTimeout(r, 3000));
      } finally {
        for (const server of servers) server.kill("SIGTERM");
        const statuses = await Promise.all(servers.map((s) => s.status));
        await Promise.all(killed);
        const log = (await Promise.all(logs)).join("\n");
        data.close();
        await slack.close();
        assert.deepEqual(statuses.map((s) => s.code), [0, 0, 0], log);
        assert.doesNotMatch(log, /Uncaught/);
      }
      const counts = new Map<string, number>();
      for (const m of slack.delivered) {
        counts.set(m.text, (counts.get(m.text) ?? 0) + 1);
      }
      assert.deepEqual(
        [...counts].filter(([, n]) => n > 1),
        [],
        "a row was posted twice",
      );
      const history = openRunStore(store);
      try {
        const runs = await history.history({ limit: 100_000 });
        const bySlot = new Map<string, number>();
        for (const run of runs.filter((r) => r.status === "succeeded")) {
          const key = `${run.jobName} ${run.slot}`;
          bySlot.set(key, (bySlot.get(key) ?? 0) + 1);
        }
        assert.deepEqual(
          [...bySlot].filter(([, n]) => n > 1),
          [],
          "a slot succeeded twice",
        );
      } finally {
        await history.close?.();
        await Deno.remove(dir, { recursive: true });
      }
    },
  });
}
