import { DatabaseSync } from "node:sqlite";
const db = new DatabaseSync("/tmp/wbench.db", { readOnly: true } as any);
console.log(db.prepare("select count(*) c from t").get());
try { db.exec("insert into t values (1,'a',1,null)"); } catch (e) { console.log("write:", e.message); }
const w = new Worker(new URL("./worker.ts", import.meta.url), { type: "module" });
w.postMessage({ path: "/tmp/wbench.db", sql: "select 1 as x", columnar: true });
w.onmessage = (e) => console.log("got", e.data);
