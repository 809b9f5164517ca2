/**
 * A PostgreSQL store (and the view's database) behind a proxy that cuts every connection every
 * 200 ms (a flapping network): `serve` lives, posts every row exactly once,
 * and stops within its grace period on SIGTERM.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { pgTest, uniqueTable } from "./_helpers.ts";
import { startFakeSlack } from "./_fake_slack.ts";
import { MOD, spawnServe, until } from "./_faults.ts";

/** A TCP proxy to `target` that closes every connection every `everyMs`. */
function flappingProxy(
  target: { hostname: string; port: number },
  everyMs: number,
) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const open = new Set<Deno.Conn>();
  let cuts = 0;
  const timer = setInterval(() => {
    if (open.size > 0) cuts++;
    for (const conn of open) {
      try {
        conn.close();
      } catch { /* closed */ }
    }
    open.clear();
  }, everyMs);
  (async () => {
    for await (const client of listener) {
      let server: Deno.Conn;
      try {
        server = await Deno.connect(target);
      } catch {
        client.close();
        continue;
      }
      open.add(client);
      open.add(server);
      const pipe = (from: Deno.Conn, to: Deno.Conn) =>
        from.readable.pipeTo(to.writable).catch(() => {}).finally(() => {
          for (const c of [from, to]) {
            try {
              c.close();
            } catch { /* closed */ }
            open.delete(c);
          }
        });
      pipe(client, server);
      pipe(server, client);
    }
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    cuts: () => cuts,
    close() {
      clearInterval(timer);
      listener.close();
      for (const conn of open) {
        try {
          conn.close();
        } catch { /* closed */ }
      }
    },
  };
}

const ROWS = 150;

const SOAK = Deno.env.get("TRIGGERKIT_SOAK") === "1";

// 10–40 s: in the soak task. Before the guard in _postgres_guard.ts, serve
// died of npm:postgres's uncaught TypeError in 3 runs of 4.
(SOAK ? pgTest : () => {})(
  "soak: serve on a PostgreSQL store whose connections (and its view's) are cut every 200 ms: no unhandled error, every row posted exactly once, SIGTERM within grace",
  async (pg) => {
    const url = new URL(pg);
    const proxy = flappingProxy(
      { hostname: url.hostname, port: Number(url.port || 5432) },
      200,
    );
    url.port = String(proxy.port);
    const store = url.href;
    const job = uniqueTable("flap");
    const dir = await Deno.makeTempDir({ prefix: "triggerkit-flap-" });
    const items = uniqueTable("flap_items");
    const admin = postgres(pg, { onnotice: () => {} });
    await admin.unsafe(
      `CREATE TABLE ${items} AS SELECT generate_series(1, ${ROWS}) AS id`,
    );
    const slack = startFakeSlack();
    await Deno.writeTextFile(
      `${dir}/triggerkit.config.ts`,
      `
import { defineConfig } from ${JSON.stringify(MOD)};
export default defineConfig({
  store: Deno.env.get("TK_STORE"),
  serve: { leaseMs: 3000, graceMs: 3000 },
  views: [{ name: "items", database: Deno.env.get("TK_STORE"), sql: "SELECT id FROM ${items} ORDER BY id" }],
  jobs: [{
    name: ${
        JSON.stringify(job)
      }, view: "items", schedule: "every 1 second", dedupe: { key: ["id"] },
    actions: [{ action: "send_slack_message", config: {
      channel: "#flap", text: "row {{id}}", mode: "per_row", minIntervalMs: 20, retryBaseMs: 20,
      slackApiUrl: Deno.env.get("TK_SLACK"),
    } }],
  }],
});
`,
    );
    const server = spawnServe(dir, {
      TK_STORE: store,
      TK_SLACK: slack.apiUrl,
      SLACK_BOT_TOKEN: "xoxb-test-token",
    });
    const stderr = new Response(server.stderr).text();
    let stopMs = 0;
    try {
      await until(
        "every row posted",
        () => new Set(slack.delivered.map((m) => m.text)).size === ROWS,
        60_000,
      );
      await new Promise((r) => setTimeout(r, 2000));
    } finally {
      const stopping = Date.now();
      try {
        server.kill("SIGTERM");
      } catch { /* it ended on its own: the status below says how */ }
      const status = await server.status;
      stopMs = Date.now() - stopping;
      const log = await stderr;
      proxy.close();
      await slack.close();
      await Deno.remove(dir, { recursive: true });
      const sql = admin;
      await sql.unsafe(`DROP TABLE ${items}`);
      for (
        const table of [
          "triggerkit_runs",
          "triggerkit_claims",
          "triggerkit_dedupe",
          "triggerkit_deliveries",
        ]
      ) {
        await sql.unsafe(`DELETE FROM ${table} WHERE job_name = $1`, [job])
          .catch(() => {});
      }
      await sql.end();
      assert.equal(status.code, 0, log);
      assert.doesNotMatch(log, /Uncaught/);
    }
    assert.ok(proxy.cuts() > 5, `only ${proxy.cuts()} cuts`);
    assert.ok(stopMs < 3000 + 6000, `SIGTERM took ${stopMs} ms`);
    const counts = new Map<string, number>();
    for (const m of slack.delivered) {
      counts.set(m.text, (counts.get(m.text) ?? 0) + 1);
    }
    assert.deepEqual([...counts].filter(([, n]) => n > 1), [], "posted twice");
  },
);
