const file = [...Deno.readDirSync("prof")][0]!.name;
const p = JSON.parse(Deno.readTextFileSync("prof/" + file));
const self = new Map<number, number>();
const byId = new Map(p.nodes.map((n: any) => [n.id, n]));
const dt = p.timeDeltas; 
for (let i = 0; i < p.samples.length; i++) self.set(p.samples[i], (self.get(p.samples[i]) ?? 0) + (dt[i] ?? 0));
const agg = new Map<string, number>();
for (const [id, t] of self) { const n: any = byId.get(id); const key = `${n.callFrame.functionName || "(anon)"} ${n.callFrame.url.split("/").slice(-1)[0]}:${n.callFrame.lineNumber}`; agg.set(key, (agg.get(key) ?? 0) + t); }
const total = [...agg.values()].reduce((a, b) => a + b, 0);
for (const [k, v] of [...agg].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log((v / 1000).toFixed(1).padStart(8), "ms", (100 * v / total).toFixed(1).padStart(5), "%", k);
