/**
 * Sandboxed calls against a raw Worker, in the same run: warm round trip
 * (calls back to back: the process stays running), a call that finds its
 * process frozen, 100,000 rows, first call after `register`, throughput.
 *
 * The raw Worker has no permissions, no process boundary and no limits: it is
 * the floor a sandbox cannot beat, measured here so that the ratio is honest.
 * Each group prints the ratio to its baseline (`deno bench` "x slower").
 */
import { createRegistry } from "../mod.ts";
import { FREEZE_DELAY_MS } from "../sandbox/host/freezer.ts";

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
// Its own process, so that the warm-call group's garbage is not its to collect.
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

// A call that finds the process frozen (its last call ended more than
// FREEZE_DELAY_MS ago): SIGCONT before it, SIGSTOP after. The raw Worker
// waits as long between calls, so that both start from an idle thread.
const IDLE_MS = FREEZE_DELAY_MS * 2 + 5;

Deno.bench("raw Worker round trip after idle, 1 row (baseline)", {
  group: "call after idle",
  baseline: true,
  n: 200,
}, async (b) => {
  await new Promise((resolve) => setTimeout(resolve, IDLE_MS));
  b.start();
  await raw.call(oneRow);
  b.end();
});

Deno.bench("sandboxed run() of a frozen process, 1 row", {
  group: "call after idle",
  n: 200,
}, async (b) => {
  await new Promise((resolve) => setTimeout(resolve, IDLE_MS));
  b.start();
  await registry.run("count_rows", oneRow);
  b.end();
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

// First calls: a fresh module folder each time, so that nothing is warm.
const coldDir = await Deno.makeTempDir({ prefix: "triggerkit-bench-" });
const source = await Deno.readTextFile(COUNT_ROWS);
let coldIndex = 0;
async function freshModule(): Promise<URL> {
  const dir = `${coldDir}/action_${coldIndex++}`;
  await Deno.mkdir(dir);
  await Deno.writeTextFile(`${dir}/main.ts`, source);
  return new URL(`file://${dir}/main.ts`);
}
const coldRegistry = createRegistry();
coldRegistry.register("warmup", await freshModule());
await coldRegistry.run("warmup", []);

Deno.bench("raw Worker cold start + first call (baseline)", {
  group: "first call",
  baseline: true,
  n: 20,
}, async () => {
  const worker = rawWorker();
  await worker.call(oneRow);
  worker.close();
});

Deno.bench("sandboxed register() then run() at once", {
  group: "first call",
  n: 20,
}, async (b) => {
  const module = await freshModule();
  const name = `cold_${coldIndex}`;
  b.start();
  coldRegistry.register(name, module);
  await coldRegistry.run(name, oneRow);
  b.end();
  coldRegistry.unregister(name);
});

Deno.bench("sandboxed first run() 50 ms after register()", {
  group: "first call",
  n: 20,
}, async (b) => {
  const module = await freshModule();
  const name = `cold_${coldIndex}`;
  coldRegistry.register(name, module);
  await new Promise((resolve) => setTimeout(resolve, 50));
  b.start();
  await coldRegistry.run(name, oneRow);
  b.end();
  coldRegistry.unregister(name);
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
