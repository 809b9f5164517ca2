/**
 * The registry's overhead per call: `run()` of a trivial function action
 * against calling the same function directly, in the same run.
 */
import { createRegistry } from "../mod.ts";
import type { ActionInput } from "../mod.ts";

const registry = createRegistry();
const action = ({ data }: ActionInput) => ({ n: data.length });
registry.register("trivial", action);
const rows = [{ id: 1 }];
const input: ActionInput = {
  data: rows,
  context: {},
  config: {},
  runId: "bench",
  dryRun: false,
  signal: new AbortController().signal,
};

Deno.bench("direct call of the function (baseline)", {
  group: "registry",
  baseline: true,
}, async () => {
  await action(input);
});

Deno.bench(
  "registry.run() of a function action",
  { group: "registry" },
  async () => {
    await registry.run("trivial", rows, { runId: "bench" });
  },
);

Deno.bench(
  "registry.run() with a generated runId",
  { group: "registry" },
  async () => {
    await registry.run("trivial", rows);
  },
);

globalThis.addEventListener("unload", () => registry.close());
