import { DatabaseSync } from "node:sqlite";
import * as newMod from "/work/wt/dblayer/mod.ts";
const ROWS = Array.from({ length: 100_000 }, (_, i) => ({ id: i, name: `row ${i}`, v: i * 1.5 }));
const dir = Deno.makeTempDirSync();
let k = 0;
function fresh() { const p = `${dir}/b${k++}.db`; const db = new DatabaseSync(p); db.exec("PRAGMA journal_mode = WAL; CREATE TABLE t (id INTEGER, name TEXT, v REAL)"); db.close(); return p; }
const reg = newMod.createRegistry({store: "sqlite::memory:"});
for (let round = 0; round < 10; round++) {
  const p = fresh();
  await reg.run("run_sql", ROWS, { config: { database: `sqlite:${p}`, sql: "INSERT INTO t (id, name, v) VALUES (:id, :name, :v)" } });
}
await reg.close();
