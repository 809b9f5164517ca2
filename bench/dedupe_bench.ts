/**
 * Dedupe at scale: a job over a 1,000,000-row view whose rows were all seen
 * by an earlier run (nothing new), against the bare view query through the
 * same driver, in the same run — on SQLite and on PostgreSQL (with
 * `TRIGGERKIT_TEST_PG`). Target: ≤ 2× the bare query.
 *
 * `TRIGGERKIT_BENCH_ROWS` changes the view's size (default 1,000,000). The
 * PostgreSQL table and job are named `triggerkit_bench_readings` and
 * dropped at the start of the next run.
 */
import { DatabaseSync } from "node:sqlite";
import postgres from "postgres";
import { createRegistry } from "../mod.ts";
import { parseNamedSql } from "../src/db/named_sql.ts";
import { Databases } from "../src/db/databases.ts";

const ROWS = Number(Deno.env.get("TRIGGERKIT_BENCH_ROWS") ?? 1_000_000);
const PG = Deno.env.get("TRIGGERKIT_TEST_PG");
const TABLE = "triggerkit_bench_readings";
const SQL = `SELECT id, sensor, celsius FROM ${TABLE}`;
const JOB = "triggerkit_bench_dedupe";

const dir = await Deno.makeTempDir({ prefix: "triggerkit-bench-dedupe-" });
const closing: Array<() => Promise<void>> = [];

/** Two benches in one group: the bare query, and a run that finds nothing new. */
async function benchDedupe(label: string, database: string, store: string) {
  const registry = createRegistry({ store });
  const databases = new Databases();
  closing.push(() => registry.close(), () => databases.close());
  registry.register("count", ({ data }) => ({ rows: data.length }));
  registry.defineView({ name: "readings", database, sql: SQL });
  registry.defineJob({
    name: JOB,
    view: "readings",
    actions: ["count"],
    dedupe: { key: ["id"] },
  });
  // Every row seen once: the runs measured find nothing new.
  const first = await registry.runJob(JOB);
  if (first.status !== "succeeded" || first.newRowCount !== ROWS) {
    throw new Error(`seeding failed: ${JSON.stringify(first).slice(0, 500)}`);
  }
  const query = parseNamedSql(SQL);
  const group = `${label}: ${ROWS.toLocaleString("en")} rows, nothing new`;
  const options = { group, n: 5, warmup: 1 };
  Deno.bench(
    "bare view query (baseline)",
    { ...options, baseline: true },
    async () => {
      const rows = await databases.get(database).query(query);
      if (rows.length !== ROWS) throw new Error(`${rows.length} rows`);
    },
  );
  Deno.bench("runJob() with dedupe: every key seen", options, async () => {
    const report = await registry.runJob(JOB);
    if (report.newRowCount !== 0 || report.rowCount !== ROWS) {
      throw new Error(JSON.stringify(report).slice(0, 500));
    }
  });
}

const file = `${dir}/view.db`;
const seed = new DatabaseSync(file);
seed.exec(
  `CREATE TABLE ${TABLE} (id INTEGER PRIMARY KEY, sensor TEXT, celsius REAL)`,
);
seed.exec("BEGIN");
const insert = seed.prepare(`INSERT INTO ${TABLE} VALUES (?, ?, ?)`);
for (let i = 1; i <= ROWS; i++) insert.run(i, `s${i % 50}`, i % 97);
seed.exec("COMMIT");
seed.close();
await benchDedupe("SQLite", `sqlite:${file}`, `sqlite:${dir}/state.db`);

if (PG) {
  const sql = postgres(PG, { onnotice: () => {} });
  await sql.unsafe(`DROP TABLE IF EXISTS ${TABLE}`);
  for (
    const table of [
      "triggerkit_runs",
      "triggerkit_dedupe",
      "triggerkit_claims",
      "triggerkit_deliveries",
    ]
  ) {
    await sql.unsafe(`DELETE FROM ${table} WHERE job_name = $1`, [JOB])
      .catch(() => {});
  }
  await sql.unsafe(
    `CREATE TABLE ${TABLE} (id bigint PRIMARY KEY, sensor text, celsius real)`,
  );
  await sql.unsafe(
    `INSERT INTO ${TABLE} SELECT g, 's' || (g % 50), g % 97 FROM generate_series(1, ${ROWS}) g`,
  );
  await sql.end();
  await benchDedupe("PostgreSQL", PG, PG);
}

globalThis.addEventListener("unload", () => {
  for (const close of closing) close().catch(() => {});
  Deno.removeSync(dir, { recursive: true });
});
