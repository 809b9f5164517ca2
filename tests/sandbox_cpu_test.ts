/**
 * SPEC §1.1: an action runs only while one of its calls is in flight. At
 * most 1 s after a call ends (returned, failed, timed out), nothing it
 * started uses CPU; liveness is judged from facts it cannot forge.
 *
 * Each test runs its host in a process of its own, so that the CPU of that
 * host and its sandbox processes is measured alone.
 */
import assert from "node:assert/strict";
import { fixture } from "./_helpers.ts";
import { cpuShare, hostile, MOD, startHost } from "./_sandbox_helpers.ts";

/** The most of one core the host's tree may use from 1 s after a call ended. */
const QUIET_SHARE = 0.2;

interface Scenario {
  name: string;
  module: URL;
  options?: Record<string, unknown>;
  /** The calls made at once; the last to end starts the clock. */
  calls: Array<Record<string, unknown>>;
  /** What each call ends with: a result key, or an error code. */
  expect: string[];
}

function script({ module, options, calls }: Scenario): string {
  return `
    import { createRegistry } from ${JSON.stringify(MOD)};
    const registry = createRegistry();
    registry.register("hostile", ${JSON.stringify(module.href)}, ${
    JSON.stringify({ timeoutMs: 5000, ...options })
  });
    registry.register("echo", ${JSON.stringify(fixture("echo.ts").href)});
    await registry.run("echo", []);
    const outcomes = await Promise.all(${JSON.stringify(calls)}.map((config) =>
      registry.run("hostile", [], { config }).then(
        (result) => Object.keys(result)[0],
        (error) => error.code,
      )
    ));
    console.log(JSON.stringify({ outcomes }));
    await new Promise((resolve) => setTimeout(resolve, 2600));
    const again = await registry.run("echo", [{ a: 1 }]);
    console.log(JSON.stringify({ again: again.data }));
    await registry.close();`;
}

const SCENARIOS: Scenario[] = [
  {
    name:
      "a loop that ignores its signal and yields every 50 ms, past its time limit",
    module: hostile("yield_loop.ts"),
    options: { timeoutMs: 500 },
    calls: [{}],
    expect: ["ACTION_TIMEOUT"],
  },
  {
    name: "a busy loop started by setTimeout after the call returned",
    module: hostile("leaves_spinner.ts"),
    calls: [{ how: "return" }],
    expect: ["returned"],
  },
  {
    name: "a busy loop started by setTimeout after the call threw",
    module: hostile("leaves_spinner.ts"),
    calls: [{ how: "throw" }],
    expect: ["ACTION_FAILED"],
  },
  {
    name: "1,000 setIntervals left behind",
    module: hostile("leaves_spinner.ts"),
    calls: [{ how: "intervals" }],
    expect: ["intervals"],
  },
  {
    name: "nested Workers that spin forever",
    module: hostile("nested_spinners.ts"),
    calls: [{ count: 2 }],
    expect: ["started"],
  },
  {
    name:
      "a Worker that closes its own lane through Deno's internals, then spins",
    module: hostile("lane_closer.ts"),
    calls: [{}],
    expect: ["internals"],
  },
  {
    name:
      "a spinning Worker next to a Worker of the same action forging pong frames",
    module: hostile("pong_forger.ts"),
    calls: [{ role: "spin" }, { role: "forge" }],
    expect: ["role", "role"],
  },
];

for (const scenario of SCENARIOS) {
  Deno.test(
    `sandbox CPU: ≤ 1 s after the call ends, nothing runs on: ${scenario.name}`,
    async () => {
      const host = startHost(script(scenario));
      const { outcomes } = await host.next();
      assert.deepEqual(outcomes, scenario.expect);
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const share = await cpuShare(host.pid, 1500);
      assert.ok(
        share < QUIET_SHARE,
        `the host and its sandbox processes used ${
          (share * 100).toFixed(0)
        }% of a core from 1 s after the call ended`,
      );
      assert.deepEqual(await host.next(), { again: [{ a: 1 }] });
      assert.equal(await host.done(), 0);
    },
  );
}

Deno.test("sandbox CPU: a call past its time limit fails within 250 ms of it, and the action's process is killed without being asked", async () => {
  const host = startHost(`
    import { createRegistry } from ${JSON.stringify(MOD)};
    const registry = createRegistry();
    registry.register("spin", ${
    JSON.stringify(fixture("busy_loop.ts").href)
  }, { timeoutMs: 300 });
    await registry.run("spin", []).catch(() => {}); // the process is up
    const [before] = registry.sandboxProcesses();
    const started = performance.now();
    const code = await registry.run("spin", []).catch((error) => error.code);
    const ms = performance.now() - started;
    await new Promise((resolve) => setTimeout(resolve, 50));
    const after = registry.sandboxProcesses().map((p) => p.pid);
    console.log(JSON.stringify({ code, ms, killed: !after.includes(before?.pid) }));
    await registry.close();`);
  const { code, ms, killed } = await host.next();
  assert.equal(code, "ACTION_TIMEOUT");
  assert.ok((ms as number) < 550, `failed after ${ms} ms`);
  assert.equal(killed, true);
  assert.equal(await host.done(), 0);
});
