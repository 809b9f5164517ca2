/**
 * The cost of being observed: one `/metrics` scrape with 500 jobs (SPEC §6
 * asks ≤ 5 ms), and what the run observer (metrics, traces without an SDK,
 * the change feed) adds to a run, against no observer.
 */
import { fiveHundredJobs } from "../tests/_status_fixtures.ts";
import { Observability } from "../src/observe/observability.ts";
import { noObserver, type RunObserver } from "../src/observe/run_observer.ts";
import { tracingObserver } from "../src/observe/tracing.ts";
import type { ActionOutcome, RunReport } from "../src/store/contract.ts";

const { handler } = fiveHundredJobs();
const request = () => new Request("http://127.0.0.1/metrics");

Deno.bench("GET /metrics with 500 jobs (handler, body read)", {
  group: "scrape",
}, async () => {
  await (await handler.handle(request())).text();
});

const outcome: ActionOutcome = {
  action: "a",
  status: "succeeded",
  durationMs: 1,
};
const rows = [{ id: 1 }];

async function observedRun(observer: RunObserver) {
  const start = {
    runId: "bench",
    jobName: "job",
    dryRun: false,
    startedAt: "2030-01-01T10:00:00.000Z",
  };
  const observation = observer.runStarted(start);
  await observation.queryView("view", () => Promise.resolve(rows));
  await observation.runAction(
    { action: "a", index: 0, rows: 1 },
    () => Promise.resolve(outcome),
  );
  observation.finished({
    ...start,
    status: "succeeded",
    finishedAt: "2030-01-01T10:00:00.100Z",
    rowCount: 1,
    newRowCount: 1,
    actions: [outcome],
  } as RunReport);
}

const observability = new Observability();
const tracing = tracingObserver();

Deno.bench("a run with no observer (baseline)", {
  group: "observer",
  baseline: true,
}, async () => {
  await observedRun(noObserver);
});

Deno.bench("a run traced without an SDK", { group: "observer" }, async () => {
  await observedRun(tracing);
});

Deno.bench(
  "a run with the registry's observer (metrics, traces without an SDK, change feed)",
  { group: "observer" },
  async () => {
    await observedRun(observability.observer);
  },
);

globalThis.addEventListener("unload", () => handler.close());
