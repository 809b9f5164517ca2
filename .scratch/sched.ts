import { configure, getConsoleSink } from "@logtape/logtape";
import { createRegistry } from "../mod.ts";
import { FakeClock, settle } from "../tests/_fake_clock.ts";
await configure({
  sinks: { c: getConsoleSink() },
  loggers: [{ category: ["triggerkit"], sinks: ["c"], lowestLevel: "debug" }, {
    category: ["logtape", "meta"],
    sinks: ["c"],
    lowestLevel: "warning",
  }],
});
const registry = createRegistry({ store: "sqlite::memory:" });
const clock = new FakeClock(Date.parse("2026-03-01T10:00:30Z"));
registry.defineView({
  name: "one",
  database: "sqlite::memory:",
  sql: "SELECT 1 AS id",
});
registry.register("noop", () => ({}));
registry.defineJob({
  name: "every_minute",
  view: "one",
  actions: ["noop"],
  schedule: "every minute",
});
const c = new AbortController();
const runs: unknown[] = [];
const serving = registry.serve({
  signal: c.signal,
  clock,
  handleSignals: false,
  onRun: (r) => runs.push(r.slot),
});
await settle();
await clock.advance(3 * 60_000);
console.log(runs);
c.abort();
await serving;
await registry.close();
