import { DatabaseSync } from "node:sqlite";
const db = new DatabaseSync(":memory:");
db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, x)");
db.exec("INSERT INTO t VALUES (9007199254740999, 1)");
const ins = db.prepare("INSERT INTO t (x) VALUES (?)");
try { console.log(ins.run(2)); } catch (e) { console.log("throws", e.message); }
console.log(db.prepare("select count(*) c from t").get());
