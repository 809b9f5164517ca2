import { DatabaseSync } from "node:sqlite";
const path = "/tmp/wbench.db";
try { Deno.removeSync(path) } catch {}
const db = new DatabaseSync(path);
db.exec("PRAGMA journal_mode=WAL; CREATE TABLE t (id INTEGER, name TEXT, v REAL, note TEXT)");
const ins = db.prepare("INSERT INTO t VALUES (?,?,?,?)"); db.exec("BEGIN"); for (let i = 0; i < 100000; i++) ins.run(i, "row " + i, i * 1.5, i % 3 ? null : "x"); db.exec("COMMIT");
const MIN = BigInt(Number.MIN_SAFE_INTEGER), MAX = BigInt(Number.MAX_SAFE_INTEGER);
function plain(row: any) { const out: any = {}; for (const k in row) { const v = row[k]; out[k] = typeof v === "bigint" && v >= MIN && v <= MAX ? Number(v) : v; } return out; }
const w = new Worker(new URL("./worker.ts", import.meta.url), { type: "module" });
const ask = (msg: any) => new Promise<any>((res) => { w.onmessage = (e) => res(e.data); w.postMessage(msg); });
for (const n of [10000, 100000]) {
  const sql = `SELECT * FROM t LIMIT ${n}`;
  const st = db.prepare(sql); st.setReadBigInts(true);
  for (let r = 0; r < 5; r++) {
    let t = performance.now(); const a = st.all().map(plain); const inThread = performance.now() - t;
    t = performance.now(); const m = await ask({ path, sql }); const b1 = performance.now(); const rows = m.rows.map(plain); const objs = performance.now() - t; const objsMain = performance.now() - b1;
    t = performance.now(); const c = await ask({ path, sql, columnar: true }); const t2 = performance.now(); const names = c.names; const out = c.rows.map((arr: unknown[]) => { const o: any = {}; for (let i = 0; i < names.length; i++) { const v = arr[i]; o[names[i]] = typeof v === "bigint" && v >= MIN && v <= MAX ? Number(v) : v; } return o; }); const col = performance.now() - t; const colMain = performance.now() - t2;
    console.log(n, "inThread", inThread.toFixed(1), "worker objects total", objs.toFixed(1), "(rebuild", objsMain.toFixed(1) + ")", "worker arrays total", col.toFixed(1), "(rebuild", colMain.toFixed(1) + ")", a.length === out.length);
  }
}
w.terminate();
