import { bindRow } from "/work/wt/dblayer/src/database.ts";
const ROWS = Array.from({ length: 100_000 }, (_, i) => ({ id: i, name: `row ${i}`, v: i * 1.5 }));
const names = ["id", "name", "v"];
const binding = { kinds: ["int4", "text", "real"] as const, dialect: "postgres" as const };
function oldBind(values: unknown[]) { let k = 0; for (const row of ROWS) for (const n of names) { const v = (row as any)[n]; values[k++] = typeof v === "bigint" ? v.toString() : (v === undefined || v === null) ? null : typeof v === "object" ? JSON.stringify(v) : v; } }
function newBind(values: unknown[]) { for (let i = 0; i < ROWS.length; i++) bindRow(names, ROWS[i]!, i, binding as never, values, i * 3); }
for (let r = 0; r < 5; r++) {
  let values = new Array(300000); let t = performance.now(); oldBind(values); const a = performance.now() - t;
  values = new Array(300000); t = performance.now(); newBind(values); const b = performance.now() - t;
  console.log("old", a.toFixed(1), "new", b.toFixed(1));
}
