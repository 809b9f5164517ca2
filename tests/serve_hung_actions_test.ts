/**
 * `serve` exits within its grace period of SIGTERM when a run hangs in an
 * action on a destination that accepts connections and never answers:
 * `run_sql` into PostgreSQL, `send_slack_message` (Web API and webhook),
 * `http_request` — real processes, a real hung TCP server.
 */
import assert from "node:assert/strict";
import { startHungServer } from "./_hung_server.ts";
import { MOD, spawnServe, until } from "./_faults.ts";

const GRACE_MS = 2_000;

const ACTIONS: Record<string, (port: number, pg: string) => string> = {
  run_sql: (_port, pg) =>
    `{ action: "run_sql", config: { database: ${
      JSON.stringify(pg)
    }, sql: "INSERT INTO t VALUES (:id)" } }`,
  "send_slack_message (Web API)": (port) =>
    `{ action: "send_slack_message", config: { channel: "C0123456", text: "x", slackApiUrl: "http://127.0.0.1:${port}/api/" } }`,
  "send_slack_message (webhook)": () =>
    `{ action: "send_slack_message", config: { channel: "C0123456", text: "x", webhookUrlEnv: "TK_HOOK" } }`,
  http_request: (port) =>
    `{ action: "http_request", config: { url: "http://127.0.0.1:${port}/x", method: "POST" } }`,
};

for (const [name, action] of Object.entries(ACTIONS)) {
  Deno.test(`serve exits within its grace period of SIGTERM while ${name} hangs on a server that never answers`, async () => {
    const hung = startHungServer();
    const dir = await Deno.makeTempDir({ prefix: "triggerkit-hung-action-" });
    await Deno.writeTextFile(
      `${dir}/triggerkit.config.ts`,
      `
import { defineConfig } from ${JSON.stringify(MOD)};
export default defineConfig({
  store: "sqlite:${dir}/state.db",
  serve: { graceMs: ${GRACE_MS}, leaseMs: 30000 },
  views: [{ name: "v", database: "sqlite::memory:", sql: "SELECT 1 AS id" }],
  jobs: [{ name: "hung", view: "v", schedule: "every 1 second", actions: [${
        action(hung.port, hung.postgresUrl)
      }] }],
});
`,
    );
    const server = spawnServe(dir, {
      SLACK_BOT_TOKEN: "xoxb-test",
      TK_HOOK: `http://127.0.0.1:${hung.port}/hook`,
    });
    const stderr = new Response(server.stderr).text();
    try {
      await until(
        "a connection to the hung server",
        () => hung.accepted > 0,
        20_000,
      );
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      server.kill("SIGTERM");
      const stopped = performance.now();
      const { code } = await server.status;
      const took = performance.now() - stopped;
      const log = await stderr;
      assert.equal(code, 0, log);
      assert.doesNotMatch(log, /Uncaught|hung-secret-pw/);
      // The grace period, then closing a PostgreSQL connection that hangs
      // (up to 5 s).
      assert.ok(
        took < GRACE_MS + 6_000,
        `took ${Math.round(took)} ms to stop\n${log}`,
      );
    } finally {
      try {
        server.kill("SIGKILL");
      } catch { /* exited */ }
      await hung.close();
      await Deno.remove(dir, { recursive: true });
    }
  });
}
