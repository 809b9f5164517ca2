import postgres from "postgres";
import process from "node:process";
import * as oldMod from "/work/main/mod.ts";
import * as newMod from "/work/wt/dblayer/mod.ts";
const PG = "postgres://postgres@127.0.0.1:5432/test_dblayer";
const ROWS = Array.from({ length: 100_000 }, (_, i) => ({ id: i, name: `row ${i}`, v: i * 1.5 }));
const sql = postgres(PG, { onnotice: () => {} });
await sql.unsafe("DROP TABLE IF EXISTS tk_cmp_rows");
await sql.unsafe("CREATE TABLE tk_cmp_rows (id int, name text, v float8)");
const regs = { old: oldMod.createRegistry({store: "sqlite::memory:"}), new: newMod.createRegistry({store: "sqlite::memory:"}) };
const times: Record<string, number[]> = { raw: [], old: [], new: [] };
const cpu: Record<string, number[]> = {};
for (let round = 0; round < 7; round++) {
  for (const which of (round % 2 ? ["raw", "new", "old"] : ["raw", "old", "new"]) as ("raw" | "old" | "new")[]) {
    await sql.unsafe("TRUNCATE tk_cmp_rows");
    const t = performance.now(); const c0 = process.cpuUsage();
    if (which === "raw") await sql.begin(async (tx) => { for (let i = 0; i < ROWS.length; i += 1000) await tx`INSERT INTO tk_cmp_rows ${tx(ROWS.slice(i, i + 1000))}`; });
    else await regs[which].run("run_sql", ROWS, { config: { database: PG, sql: "INSERT INTO tk_cmp_rows (id, name, v) VALUES (:id, :name, :v)" } });
    times[which].push(performance.now() - t); const c = process.cpuUsage(c0); (cpu[which] ??= []).push((c.user + c.system) / 1000);
  }
}
for (const [w, ts] of Object.entries(times)) { ts.sort((a,b)=>a-b); const cs = cpu[w].sort((a,b)=>a-b); console.log(w, "wall min", ts[0].toFixed(1), "median", ts[3].toFixed(1), "cpu min", cs[0].toFixed(1), "median", cs[3].toFixed(1)); }
await regs.old.close(); await regs.new.close(); await sql.unsafe("DROP TABLE tk_cmp_rows"); await sql.end();
