/**
 * The registry's overhead per call: `run()` of a trivial function action
 * against calling the same function directly, in the same run (the summary
 * prints each ratio to the baseline). Target: under 1 µs a call over the
 * direct call, with no OpenTelemetry SDK registered and no log sink — the
 * state of a process that configured neither.
 *
 * Every guarantee stays on the measured path: options checked key by key
 * (unknown keys refused), rows checked, the lazy idempotency key, logs asked
 * for their level.
 */
import { trace } from "@opentelemetry/api";
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
const options = {
  runId: "bench",
  jobName: "bench",
  context: {},
  config: {},
  dryRun: false,
};

// What "no SDK" means here: the API hands out non-recording spans.
if (trace.getTracer("bench").startSpan("probe").isRecording()) {
  throw new Error("an OpenTelemetry SDK is registered: this bench needs none");
}

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
  "registry.run() with no options (a generated runId)",
  { group: "registry" },
  async () => {
    await registry.run("trivial", rows);
  },
);

Deno.bench(
  "registry.run() with five options (runId, jobName, context, config, dryRun)",
  { group: "registry" },
  async () => {
    await registry.run("trivial", rows, options);
  },
);

globalThis.addEventListener("unload", () => registry.close());
