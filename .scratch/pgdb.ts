import process from "node:process";
import postgres from "postgres";
import { PostgresDatabase as Old } from "/work/main/src/postgres.ts";
import { PostgresDatabase as New } from "/work/wt/dblayer/src/postgres.ts";
import { parseNamedSql } from "/work/wt/dblayer/src/named_sql.ts";
const PG = "postgres://postgres@127.0.0.1:5432/test_dblayer";
const ROWS = Array.from({ length: 100_000 }, (_, i) => ({ id: i, name: `row ${i}`, v: i * 1.5 }));
const sql = postgres(PG, { onnotice: () => {} });
await sql.unsafe("DROP TABLE IF EXISTS tk_pgdb"); await sql.unsafe("CREATE TABLE tk_pgdb (id int, name text, v float8)");
const dbs: Record<string, any> = { old: new Old(PG, "x"), new: new New(PG, "x") };
const named = parseNamedSql("INSERT INTO tk_pgdb (id, name, v) VALUES (:id, :name, :v)");
const cpu: Record<string, number[]> = { old: [], new: [] };
for (let r = 0; r < 8; r++) for (const w of ["old", "new"]) {
  await sql.unsafe("TRUNCATE tk_pgdb");
  const c0 = process.cpuUsage();
  await dbs[w].execute(named, { params: ROWS, dryRun: false });
  const c = process.cpuUsage(c0); cpu[w].push((c.user + c.system) / 1000);
}
for (const [w, v] of Object.entries(cpu)) { v.sort((a, b) => a - b); console.log(w, v[0].toFixed(1), v[4].toFixed(1)); }
await dbs.old.close(); await dbs.new.close(); await sql.unsafe("DROP TABLE tk_pgdb"); await sql.end();
