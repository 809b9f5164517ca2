/**
 * `serve` exits within its grace period of SIGTERM when a run hangs in an
 * action on a destination that accepts connections and never answers:
 * `run_sql` into PostgreSQL, `send_slack_message` (Web API and webhook),
 * `http_request` — real processes, a real hung TCP server.
 */
import { startHungServer } from "./_hung_server.ts";
import { assertStopsWhileHung, MOD, spawnServe } from "./_faults.ts";

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
    try {
      await assertStopsWhileHung(server, hung, GRACE_MS);
    } finally {
      try {
        server.kill("SIGKILL");
      } catch { /* exited */ }
      await hung.close();
      await Deno.remove(dir, { recursive: true });
    }
  });
}
