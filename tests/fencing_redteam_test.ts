/**
 * Red-team attacks on fencing with real processes: a `serve` paused
 * (SIGSTOP) while a built-in's write to another database is in flight, so
 * that another instance takes the slot over, then resumed.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import postgres from "postgres";
import { pgTest, uniqueTable } from "./_helpers.ts";
import { MOD, spawnServe, until } from "./_faults.ts";

const LEASE_MS = 1_500;

pgTest(
  "SIGSTOP a serve during run_sql's statement into PostgreSQL past its lease: on waking, its transaction does not commit (no row inserted twice)",
  async (pg) => {
    const job = uniqueTable("fenced_sql");
    const target = uniqueTable("fenced_target");
    const sql = postgres(pg, { onnotice: () => {} });
    const dir = await Deno.makeTempDir({ prefix: "triggerkit-sigstop-sql-" });
    await sql.unsafe(`CREATE TABLE ${target} (id int, pid int)`);
    const data = new DatabaseSync(`${dir}/data.db`);
    data.exec("CREATE TABLE items (id INTEGER PRIMARY KEY)");
    data.exec("INSERT INTO items VALUES (1)");
    data.close();
    await Deno.writeTextFile(
      `${dir}/triggerkit.config.ts`,
      `
import { defineConfig } from ${JSON.stringify(MOD)};
export default defineConfig({
  store: Deno.env.get("TK_STORE"),
  serve: { leaseMs: ${LEASE_MS}, graceMs: 3000 },
  views: [{ name: "items", database: "sqlite:" + Deno.env.get("TK_DATA"), sql: "SELECT id FROM items" }],
  jobs: [{
    name: ${
        JSON.stringify(job)
      }, view: "items", schedule: "every 2 seconds", dedupe: { key: ["id"] },
    actions: [{ action: "run_sql", config: {
      database: Deno.env.get("TK_STORE"),
      sql: "INSERT INTO ${target} (id, pid) SELECT :id, pg_backend_pid() FROM pg_sleep(2)",
    } }],
  }],
});
`,
    );
    const spawn = () =>
      spawnServe(dir, { TK_STORE: pg, TK_DATA: `${dir}/data.db` });
    const servers = [spawn(), spawn()];
    const stderr = servers.map((server) => new Response(server.stderr).text());
    let paused: Deno.ChildProcess | undefined;
    try {
      // The holder's statement is in flight (sleeping in PostgreSQL).
      let holder: number | undefined;
      await until("the holder's statement in flight", async () => {
        const [row] = await sql.unsafe(
          `SELECT c.holder FROM triggerkit_claims c WHERE c.job_name = $1 AND c.done = 0
             AND EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid <> pg_backend_pid() AND a.query LIKE '%INSERT INTO ${target}%' AND a.state = 'active')`,
          [job],
        ).catch(() => []);
        holder = row ? JSON.parse(String(row.holder)).pid : undefined;
        return holder !== undefined;
      }, 30_000);
      paused = servers.find((server) => server.pid === holder);
      assert.ok(paused, `the holder ${holder} is not one of the servers`);
      paused.kill("SIGSTOP");
      // Its statement finishes in PostgreSQL meanwhile; the other instance
      // takes the slot over and commits the row.
      await until("the takeover's row", async () => {
        const [row] = await sql.unsafe(
          `SELECT count(*)::int AS n FROM ${target}`,
        );
        return row!.n >= 1;
      }, 30_000);
      await new Promise((resolve) => setTimeout(resolve, 3 * LEASE_MS));
      paused.kill("SIGCONT");
      paused = undefined;
      await new Promise((resolve) => setTimeout(resolve, 4_000));
    } finally {
      paused?.kill("SIGCONT");
      for (const server of servers) server.kill("SIGTERM");
      const statuses = await Promise.all(servers.map((s) => s.status));
      const logs = (await Promise.all(stderr)).join("\n");
      await Deno.remove(dir, { recursive: true });
      const rows = await sql.unsafe(`SELECT id, pid FROM ${target}`);
      await sql.unsafe(`DROP TABLE ${target}`);
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
      assert.deepEqual(statuses.map((s) => s.code), [0, 0], logs);
      assert.ok(!logs.includes("Uncaught"), `an unhandled error: ${logs}`);
      assert.match(logs, /taking over slot/, "no instance took over");
      assert.equal(
        rows.length,
        1,
        `row 1 inserted ${rows.length} times\n${logs}`,
      );
    }
  },
);
