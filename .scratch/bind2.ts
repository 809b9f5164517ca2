const ROWS = Array.from({ length: 100_000 }, (_, i) => ({ id: i, name: `row ${i}`, v: i * 1.5 }));
const strs = ROWS.map(r => r.name);
function time(label: string, fn: () => number) { let best = 1e9; let x = 0; for (let r = 0; r < 7; r++) { const t = performance.now(); x += fn(); best = Math.min(best, performance.now() - t); } console.log(label, best.toFixed(2), x > 0 ? "" : " "); }
time("includes NUL", () => { let c = 0; for (const s of strs) if (s.includes("\0")) c++; return c + 1; });
time("indexOf NUL", () => { let c = 0; for (const s of strs) if (s.indexOf("\0") >= 0) c++; return c + 1; });
time("isWellFormed", () => { let c = 0; for (const s of strs) if (!s.isWellFormed()) c++; return c + 1; });
time("regex", () => { let c = 0; const re = /[\0\ud800-\udfff]/; for (const s of strs) if (re.test(s)) c++; return c + 1; });
time("toWellFormed eq", () => { let c = 0; for (const s of strs) if (s.toWellFormed() !== s) c++; return c + 1; });
