import { DatabaseSync } from "node:sqlite";
const ROWS = Array.from({ length: 100_000 }, (_, i) => ({ id: i, name: `row ${i}`, v: i * 1.5 }));
const dir = Deno.makeTempDirSync();
let k = 0;
const t: Record<string, number[]> = { off: [], on: [] };
for (let r = 0; r < 12; r++) for (const mode of ["off", "on"]) {
  const db = new DatabaseSync(`${dir}/x${k++}.db`); db.exec("PRAGMA journal_mode=WAL; CREATE TABLE t (id INTEGER, name TEXT, v REAL)");
  const ins = db.prepare("INSERT INTO t (id, name, v) VALUES (?1, ?2, ?3)"); ins.setReadBigInts(mode === "on");
  const s = performance.now(); db.exec("BEGIN"); let c = 0; for (const row of ROWS) { const vals = [row.id, row.name, row.v]; c += Number(ins.run(...vals).changes); } db.exec("COMMIT"); t[mode].push(performance.now() - s); db.close();
}
for (const [m, v] of Object.entries(t)) { v.sort((a, b) => a - b); console.log(m, v[0].toFixed(1), v[6].toFixed(1)); }
