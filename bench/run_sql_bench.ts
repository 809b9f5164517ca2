/**
 * `run_sql` inserting 100,000 rows (mode "each") against the raw driver doing
 * the same inserts its fastest natural way, in the same run: SQLite, one
 * prepared statement in one transaction; PostgreSQL, multi-row INSERTs in
 * batches of 1,000 rows in one transaction.
 *
 * PostgreSQL runs when TRIGGERKIT_TEST_PG is set.
 */
import { DatabaseSync } from "node:sqlite";
import postgres from "postgres";
import { createRegistry } from "../mod.ts";

const ROWS = Array.from(
  { length: 100_000 },
  (_, i) => ({ id: i, name: `row ${i}`, v: i * 1.5 }),
);
const registry = createRegistry();
const dir = await Deno.makeTempDir({ prefix: "triggerkit-bench-sql-" });
let fileIndex = 0;

function freshSqlite(): string {
  const path = `${dir}/bench_${fileIndex++}.db`;
  const db = new DatabaseSync(path);
  db.exec(
    "PRAGMA journal_mode = WAL; CREATE TABLE t (id INTEGER, name TEXT, v REAL)",
  );
  db.close();
  return path;
}

Deno.bench("raw node:sqlite, prepared statement in a transaction (baseline)", {
  group: "sqlite 100k inserts",
  baseline: true,
  n: 10,
}, (b) => {
  const db = new DatabaseSync(freshSqlite());
  b.start();
  const insert = db.prepare("INSERT INTO t (id, name, v) VALUES (?, ?, ?)");
  db.exec("BEGIN");
  for (const row of ROWS) insert.run(row.id, row.name, row.v);
  db.exec("COMMIT");
  b.end();
  db.close();
});

Deno.bench(
  "run_sql mode each",
  { group: "sqlite 100k inserts", n: 10 },
  async (b) => {
    const path = freshSqlite();
    b.start();
    await registry.run("run_sql", ROWS, {
      config: {
        database: `sqlite:${path}`,
        sql: "INSERT INTO t (id, name, v) VALUES (:id, :name, :v)",
      },
    });
    b.end();
  },
);

const PG = Deno.env.get("TRIGGERKIT_TEST_PG");
if (PG) {
  const sql = postgres(PG, { onnotice: () => {} });
  await sql.unsafe("DROP TABLE IF EXISTS tk_bench_rows");
  await sql.unsafe(
    "CREATE TABLE tk_bench_rows (id int, name text, v float8)",
  );

  Deno.bench(
    "raw postgres.js, multi-row INSERTs of 1,000 in a transaction (baseline)",
    {
      group: "postgres 100k inserts",
      baseline: true,
      n: 5,
    },
    async (b) => {
      await sql.unsafe("TRUNCATE tk_bench_rows");
      b.start();
      await sql.begin(async (tx) => {
        for (let i = 0; i < ROWS.length; i += 1000) {
          await tx`INSERT INTO tk_bench_rows ${tx(ROWS.slice(i, i + 1000))}`;
        }
      });
      b.end();
    },
  );

  Deno.bench(
    "run_sql mode each",
    { group: "postgres 100k inserts", n: 5 },
    async (b) => {
      await sql.unsafe("TRUNCATE tk_bench_rows");
      b.start();
      await registry.run("run_sql", ROWS, {
        config: {
          database: PG,
          sql:
            "INSERT INTO tk_bench_rows (id, name, v) VALUES (:id, :name, :v)",
        },
      });
      b.end();
    },
  );

  globalThis.addEventListener("unload", () => {
    sql.unsafe("DROP TABLE IF EXISTS tk_bench_rows").then(() => sql.end());
  });
}

globalThis.addEventListener("unload", () => {
  registry.close();
  Deno.removeSync(dir, { recursive: true });
});
