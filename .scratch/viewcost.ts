import { SqliteDatabase } from "/work/wt/dblayer/src/sqlite.ts";
import { parseNamedSql } from "/work/wt/dblayer/src/named_sql.ts";
import { DatabaseSync } from "node:sqlite";
const path = "/tmp/viewcost.db"; try { Deno.removeSync(path) } catch {}
const raw = new DatabaseSync(path); raw.exec("PRAGMA journal_mode=WAL; CREATE TABLE orders (id INTEGER PRIMARY KEY, total REAL, note TEXT)");
const ins = raw.prepare("INSERT INTO orders VALUES (?,?,?)"); raw.exec("BEGIN"); for (let i = 0; i < 10000; i++) ins.run(i, i * 1.5, "note " + i); raw.exec("COMMIT");
const db = new SqliteDatabase(path, "x");
const q = parseNamedSql("SELECT id, total, note FROM orders");
const t: Record<string, number[]> = { here: [], worker: [], raw: [] };
const rq = raw.prepare("SELECT id, total, note FROM orders");
for (let r = 0; r < 30; r++) {
  let s = performance.now(); rq.all(); t.raw.push(performance.now() - s);
  s = performance.now(); await db.query(q); t.here.push(performance.now() - s);
  s = performance.now(); await db.query(q, {}, { timeoutMs: 60000 }); t.worker.push(performance.now() - s);
}
for (const [k, v] of Object.entries(t)) { v.sort((a, b) => a - b); console.log(k, "min", v[0].toFixed(2), "median", v[15].toFixed(2)); }
await db.close(); raw.close();
