import { bindRow } from "/work/wt/dblayer/src/database.ts";
const ROWS = Array.from({ length: 100_000 }, (_, i) => ({ id: i, name: `row ${i}`, v: i * 1.5 }));
const names = ["id", "name", "v"];
const binding = { kinds: ["int4", "text", "real"] as const, dialect: "postgres" as const };
const values = new Array(300000);
for (let r = 0; r < 40; r++) for (let i = 0; i < ROWS.length; i++) bindRow(names, ROWS[i]!, i, binding as never, values, i * 3);
