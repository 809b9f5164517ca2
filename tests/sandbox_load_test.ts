/**
 * Load: a flood of calls that never settle ends in ACTION_TIMEOUT for every
 * one of them, and does not hurt another action's runs meanwhile.
 */
import assert from "node:assert/strict";
import { createRegistry } from "../mod.ts";
import { descendants, fixture } from "./_helpers.ts";
import { hostile } from "./_sandbox_helpers.ts";

Deno.test("sandbox load: 5,000 concurrent calls of a never-settling action all end ACTION_TIMEOUT, and another action's runs succeed meanwhile", async () => {
  const registry = createRegistry();
  const pids: number[] = [];
  try {
    registry.register("stuck", hostile("never_settles.ts"), {
      timeoutMs: 3000,
    });
    registry.register("counter", fixture("counter.ts"));
    await registry.run("counter", [{ n: 1 }]);
    const stuck = Array.from(
      { length: 5000 },
      (_, i) =>
        registry.run("stuck", [{ i }]).then(
          () => "settled",
          (error) => error.code,
        ),
    );
    const started = performance.now();
    const sums: number[] = [];
    while (performance.now() - started < 4000) {
      const { sum } = await registry.run("counter", [{ n: 2 }, { n: 3 }], {
        config: { delayMs: 20 },
      });
      sums.push(sum as number);
    }
    const codes = await Promise.all(stuck);
    const counts = codes.reduce<Record<string, number>>((all, code) => {
      all[code] = (all[code] ?? 0) + 1;
      return all;
    }, {});
    assert.deepEqual(counts, { ACTION_TIMEOUT: 5000 });
    assert.ok(sums.length > 20, `only ${sums.length} runs of another action`);
    assert.ok(sums.every((sum) => sum === 5));
    pids.push(...registry.sandboxProcesses().map((process) => process.pid));
  } finally {
    await registry.close();
  }
  const left = descendants().filter((pid) => pids.includes(pid));
  assert.deepEqual(left, [], "processes left after close()");
});
