import { DatabaseSync } from "node:sqlite";
const path = "/tmp/viewcost.db";
const raw = new DatabaseSync(path);
const MIN = BigInt(Number.MIN_SAFE_INTEGER), MAX = BigInt(Number.MAX_SAFE_INTEGER);
const pv = (v: unknown) => typeof v === "bigint" && v >= MIN && v <= MAX ? Number(v) : v;
const a = raw.prepare("SELECT id, total, note FROM orders"); 
const b = raw.prepare("SELECT id, total, note FROM orders"); b.setReadBigInts(true);
const c = raw.prepare("SELECT id, total, note FROM orders") as any; c.setReadBigInts(true); c.setReturnArrays(true);
const names = c.columns().map((x: any) => x.name);
const t: Record<string, number[]> = { rawObj: [], bigObjCopy: [], bigArrBuild: [], oldSpread: [] };
for (let r = 0; r < 40; r++) {
  let s = performance.now(); a.all(); t.rawObj.push(performance.now() - s);
  s = performance.now(); a.all().map((row) => ({ ...row })); t.oldSpread.push(performance.now() - s);
  s = performance.now(); b.all().map((row: any) => { const o: any = {}; for (const k in row) o[k] = pv(row[k]); return o; }); t.bigObjCopy.push(performance.now() - s);
  s = performance.now(); (c.all() as unknown[][]).map((vals) => { const o: any = {}; for (let i = 0; i < names.length; i++) o[names[i]] = pv(vals[i]); return o; }); t.bigArrBuild.push(performance.now() - s);
}
for (const [k, v] of Object.entries(t)) { v.sort((a, b) => a - b); console.log(k.padEnd(12), "min", v[0].toFixed(2), "median", v[20].toFixed(2)); }
