import * as newMod from "/work/main/mod.ts";
import postgres from "postgres";
const PG = "postgres://postgres@127.0.0.1:5432/test_dblayer";
const ROWS = Array.from({ length: 100_000 }, (_, i) => ({ id: i, name: `row ${i}`, v: i * 1.5 }));
const sql = postgres(PG, { onnotice: () => {} });
await sql.unsafe("DROP TABLE IF EXISTS tk_prof_rows"); await sql.unsafe("CREATE TABLE tk_prof_rows (id int, name text, v float8)");
const reg = newMod.createRegistry({store: "sqlite::memory:"});
for (let r = 0; r < 6; r++) { await sql.unsafe("TRUNCATE tk_prof_rows"); await reg.run("run_sql", ROWS, { config: { database: PG, sql: "INSERT INTO tk_prof_rows (id, name, v) VALUES (:id, :name, :v)" } }); }
await reg.close(); await sql.unsafe("DROP TABLE tk_prof_rows"); await sql.end();
