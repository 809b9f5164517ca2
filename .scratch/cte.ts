import { DatabaseSync } from "node:sqlite";
const db = new DatabaseSync(":memory:");
for (const n of [1e6, 3e6]) { const t = performance.now(); db.prepare(`WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < ${n}) SELECT count(*) AS n FROM c`).all(); console.log(n, performance.now() - t); }
