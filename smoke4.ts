import { createRegistry } from "./mod.ts";
const r = createRegistry();
r.register("bomb", new URL("./tests/fixtures/actions/memory_bomb.ts", import.meta.url), { memoryMb: 64, timeoutMs: 20000 });
const t = performance.now();
try { await r.run("bomb", []); } catch (e) { console.log(e.code, e.message, performance.now() - t); }
await r.close();
