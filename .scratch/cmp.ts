import { DatabaseSync } from "node:sqlite";
import process from "node:process";
import * as oldMod from "/work/main/mod.ts";
import * as newMod from "/work/wt/dblayer/mod.ts";
const ROWS = Array.from({ length: 100_000 }, (_, i) => ({ id: i, name: `row ${i}`, v: i * 1.5 }));
const dir = Deno.makeTempDirSync();
let k = 0;
function fresh() { const p = `${dir}/b${k++}.db`; const db = new DatabaseSync(p); db.exec("PRAGMA journal_mode = WAL; CREATE TABLE t (id INTEGER, name TEXT, v REAL)"); db.close(); return p; }
const regs = { old: oldMod.createRegistry({store: "sqlite::memory:"}), new: newMod.createRegistry({store: "sqlite::memory:"}) };
const times: Record<string, number[]> = { raw: [], old: [], new: [] };
for (let round = 0; round < 12; round++) {
  for (const which of ["raw", "old", "new"] as const) {
    const p = fresh();
    const t0 = process.cpuUsage();
    if (which === "raw") { const db = new DatabaseSync(p); const ins = db.prepare("INSERT INTO t (id, name, v) VALUES (?, ?, ?)"); db.exec("BEGIN"); for (const r of ROWS) ins.run(r.id, r.name, r.v); db.exec("COMMIT"); db.close(); }
    else await regs[which].run("run_sql", ROWS, { config: { database: `sqlite:${p}`, sql: "INSERT INTO t (id, name, v) VALUES (:id, :name, :v)" } });
    const c = process.cpuUsage(t0); times[which].push((c.user + c.system) / 1000);
  }
}
for (const [w, ts] of Object.entries(times)) { ts.sort((a,b)=>a-b); console.log(w, "min", ts[0].toFixed(1), "median", ts[6].toFixed(1)); }
await regs.old.close(); await regs.new.close();
