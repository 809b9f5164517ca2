/**
 * Sandboxed calls against a raw Worker, in the same run:
 * warm round trip, 100,000 rows, cold start of a module, throughput.
 *
 * The raw Worker has no permissions, no process boundary and no limits: it is
 * the floor a sandbox cannot beat, measured here so that the ratio is honest.
 */
import { createRegistry } from "../mod.ts";

const COUNT_ROWS = new URL(
  "../tests/fixtures/actions/count_rows.ts",
  import.meta.url,
);
const RAW_WORKER_SOURCE = "self.onmessage = (event) => self.postMessage({ n: " +
  "Array.isArray(event.data) ? event.data.length : 1 });";
const RAW_WORKER_URL = `data:application/javascript,${
  encodeURIComponent(RAW_WORKER_SOURCE)
}`;

function rawWorker(): {
  call: (data: unknown) => Promise<unknown>;
  close: () => void;
} {
  const worker = new Worker(RAW_WORKER_URL, { type: "module" });
  return {
    call: (data) =>
      new Promise((resolve) => {
        worker.onmessage = (event) => resolve(event.data);
        worker.postMessage(data);
      }),
    close: () => worker.terminate(),
  };
}

const registry = createRegistry();
registry.register("count_rows", COUNT_ROWS);
// Its own Worker, so that the warm-call group's garbage is not its to collect.
registry.register("count_many_rows", COUNT_ROWS);
const raw = rawWorker();
await raw.call([]);
await registry.run("count_rows", []);
await registry.run("count_many_rows", []);

const oneRow = [{ id: 1, name: "one", v: 1.5 }];
const rows = Array.from(
  { length: 100_000 },
  (_, i) => ({ id: i, name: `row ${i}`, v: i * 1.5 }),
);

Deno.bench("raw Worker round trip, 1 row (baseline)", {
  group: "warm call",
  baseline: true,
}, async () => {
  await raw.call(oneRow);
});

Deno.bench("sandboxed run(), 1 row", { group: "warm call" }, async () => {
  await registry.run("count_rows", oneRow);
});

Deno.bench("raw Worker round trip, 100,000 rows (baseline)", {
  group: "100k rows",
  baseline: true,
  n: 20,
}, async () => {
  await raw.call(rows);
});

Deno.bench(
  "sandboxed run(), 100,000 rows",
  { group: "100k rows", n: 20 },
  async () => {
    await registry.run("count_many_rows", rows);
  },
);

// Cold starts: a fresh module each time (a copy under a new name in one
// folder, so that the process that hosts that folder is already up).
const coldDir = await Deno.makeTempDir({ prefix: "triggerkit-bench-" });
const source = await Deno.readTextFile(COUNT_ROWS);
let coldIndex = 0;
async function freshModule(): Promise<URL> {
  const path = `${coldDir}/action_${coldIndex++}.ts`;
  await Deno.writeTextFile(path, source);
  return new URL(`file://${path}`);
}
const coldRegistry = createRegistry();
coldRegistry.register("warmup", await freshModule());
await coldRegistry.run("warmup", []);

Deno.bench("raw Worker cold start + first call (baseline)", {
  group: "cold start",
  baseline: true,
  n: 30,
}, async () => {
  const worker = rawWorker();
  await worker.call(oneRow);
  worker.close();
});

Deno.bench("sandboxed first call of a new module, process up", {
  group: "cold start",
  n: 30,
}, async (b) => {
  const module = await freshModule();
  const name = `cold_${coldIndex}`;
  b.start();
  coldRegistry.register(name, module);
  await coldRegistry.run(name, oneRow);
  b.end();
  coldRegistry.unregister(name);
});

Deno.bench("sandboxed first call, no sandbox process yet", {
  group: "first call",
  n: 15,
}, async (b) => {
  const fresh = createRegistry();
  const module = await freshModule();
  b.start();
  fresh.register("first", module);
  await fresh.run("first", oneRow);
  b.end();
  await fresh.close();
});

Deno.bench("sandboxed throughput: 1,000 concurrent small calls", {
  group: "throughput",
  n: 10,
}, async () => {
  await Promise.all(
    Array.from(
      { length: 1000 },
      (_, i) => registry.run("count_rows", [{ id: i }]),
    ),
  );
});

globalThis.addEventListener("unload", () => {
  raw.close();
  registry.close();
  coldRegistry.close();
  Deno.removeSync(coldDir, { recursive: true });
});
