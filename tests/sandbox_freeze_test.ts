/**
 * SPEC §1.1: an action runs only while one of its calls is in flight. Its
 * process is frozen (SIGSTOP) whenever none is, so quiet work it leaves
 * behind — an interval that prints and fetches with the action's grant —
 * does nothing between calls, and what it prints is never logged under a
 * run that was not in flight when it was printed.
 */
import assert from "node:assert/strict";
import type { LogRecord } from "@logtape/logtape";
import { rejectsWithCode, serveLocal, withRegistry } from "./_helpers.ts";
import {
  alive,
  captureSandboxLogs,
  hostile,
  MOD,
  startHost,
} from "./_sandbox_helpers.ts";
import { createRegistry, type Registry } from "../mod.ts";
import { type SandboxedAction, SandboxHost } from "../sandbox/host.ts";

const LINUX = Deno.build.os === "linux";

/**
 * The state letter of a process (`T` when stopped), from /proc, read by a
 * shell: Deno reads /proc only with --allow-all.
 */
function procState(pid: number): string {
  const output = new Deno.Command("sh", {
    args: ["-c", `cat /proc/${pid}/stat 2>/dev/null`],
    stdout: "piped",
    stderr: "null",
  }).outputSync();
  const stat = new TextDecoder().decode(output.stdout);
  if (!stat.includes(")")) return "gone";
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0]!;
}

/** The pid of the action's real-run process. */
function realPid(registry: Registry, action: string): number {
  const info = registry.sandboxProcesses().find((process) =>
    process.action === action && !process.dryRun
  );
  assert.ok(info, `no process for ${action}`);
  return info.pid;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until `check` holds, up to `ms`. */
async function until(check: () => boolean, ms: number): Promise<boolean> {
  const end = performance.now() + ms;
  while (!check() && performance.now() < end) await sleep(10);
  return check();
}

function beacons(records: LogRecord[]): Array<{ at: number; runId: unknown }> {
  return records.flatMap((record) => {
    const match = /^beacon at (\d+)$/.exec(String(record.properties.message));
    return match && record.category.at(-1) === "console"
      ? [{ at: Number(match[1]), runId: record.properties.runId }]
      : [];
  });
}

Deno.test({
  name:
    "sandbox freeze: an interval left behind neither fetches nor prints between calls, and its prints are logged only under a run in flight",
  ignore: !LINUX,
  fn: withRegistry(async (registry) => {
    const hits: number[] = [];
    const server = serveLocal(() => {
      hits.push(Date.now());
      return new Response("ok");
    });
    const logs = await captureSandboxLogs();
    try {
      registry.register("beacon", hostile("beacon.ts"), {
        permissions: { net: [`127.0.0.1:${server.port}`] },
        timeoutMs: 5_000,
      });
      // Each run's span, on the wall clock the action prints (ms since the epoch).
      const spans = new Map<string, { from: number; to: number }>();
      const run = async (runId: string, config: Record<string, unknown>) => {
        const from = Date.now();
        await registry.run("beacon", [], { config, runId });
        spans.set(runId, { from, to: Date.now() });
      };
      await run("run-1", { how: "leave", url: server.url });
      const pid = realPid(registry, "beacon");
      assert.ok(
        await until(() => procState(pid) === "T", 1_000),
        `state ${procState(pid)} 1 s after the call`,
      );
      const quietFrom = Date.now();
      await sleep(1_500);
      const quietTo = Date.now();
      assert.equal(procState(pid), "T");
      // A call in flight continues it: the interval runs again, meanwhile.
      await run("run-2", { how: "last", ms: 300 });
      assert.ok(await until(() => procState(pid) === "T", 1_000));
      await sleep(500);
      const between = hits.filter((at) => at > quietFrom && at < quietTo);
      assert.deepEqual(between, [], "the server was reached between calls");
      const during2 = hits.filter((at) =>
        at >= spans.get("run-2")!.from && at <= spans.get("run-2")!.to
      );
      assert.ok(during2.length > 0, "the interval ran during the second call");
      const lines = beacons(logs.records);
      assert.ok(lines.length > 0, "no beacon line was logged");
      for (const line of lines) {
        assert.equal(typeof line.runId, "string", `${JSON.stringify(line)}`);
        const span = spans.get(line.runId as string)!;
        // Printed while its run was in flight (the process froze at once after).
        assert.ok(
          line.at >= span.from - 5 && line.at <= span.to + 50,
          `${JSON.stringify(line)} outside ${JSON.stringify(span)}`,
        );
      }
    } finally {
      await logs.stop();
      await server.close();
    }
  }),
});

Deno.test({
  name:
    "sandbox freeze: the process runs after register until its module is loaded, then is frozen; the first call continues it",
  ignore: !LINUX,
  fn: withRegistry(async (registry) => {
    registry.register("beacon", hostile("beacon.ts"));
    const pid = realPid(registry, "beacon");
    assert.ok(await until(() => procState(pid) === "T", 10_000));
    assert.deepEqual(await registry.run("beacon", []), { quick: true });
    assert.ok(await until(() => procState(pid) === "T", 1_000));
    assert.equal(realPid(registry, "beacon"), pid, "the process was replaced");
  }),
});

Deno.test({
  name:
    "sandbox freeze: a long call is not frozen while another call of its process ends, and the pool freezes only when both are done",
  ignore: !LINUX,
  fn: async () => {
    const registry = createRegistry({
      sandbox: { maxWorkersPerAction: 2 },
    });
    try {
      registry.register("beacon", hostile("beacon.ts"));
      const long = registry.run("beacon", [], {
        config: { how: "last", ms: 800 },
      });
      await sleep(100);
      assert.deepEqual(await registry.run("beacon", []), { quick: true });
      const pid = realPid(registry, "beacon");
      await sleep(200);
      assert.notEqual(procState(pid), "T", "frozen with a call in flight");
      assert.deepEqual(await long, { lasted: 800 });
      assert.ok(await until(() => procState(pid) === "T", 1_000));
    } finally {
      await registry.close();
    }
  },
});

Deno.test({
  name:
    "sandbox freeze: a call past its time limit still kills the process, and close() ends a frozen one",
  ignore: !LINUX,
  fn: withRegistry(async (registry) => {
    registry.register("beacon", hostile("beacon.ts"), { timeoutMs: 300 });
    await registry.run("beacon", []);
    const first = realPid(registry, "beacon");
    assert.ok(await until(() => procState(first) === "T", 1_000));
    await rejectsWithCode(
      registry.run("beacon", [], { config: { how: "last", ms: 5_000 } }),
      "ACTION_TIMEOUT",
    );
    assert.ok(await until(() => !alive(first), 2_000), "not killed");
    await registry.run("beacon", []);
    const second = realPid(registry, "beacon");
    assert.notEqual(second, first);
    assert.ok(await until(() => procState(second) === "T", 1_000));
    await registry.close();
    assert.ok(!alive(second), "close() left a frozen process");
  }),
});

Deno.test(
  "sandbox freeze: a call to an action unregistered meanwhile fails ACTION_NOT_FOUND and starts no process",
  async () => {
    const host = new SandboxHost({ maxProcesses: 1 });
    const action = (name: string): SandboxedAction => ({
      name,
      module: hostile("beacon.ts"),
      permissions: {},
      timeoutMs: 5_000,
      memoryMb: 64,
      maxResultBytes: 1024 * 1024,
    });
    const input = (config: Record<string, unknown> = {}) => ({
      data: [],
      context: {},
      config,
      runId: "run-1",
      dryRun: false,
      signal: new AbortController().signal,
    });
    try {
      const busy = action("busy");
      const gone = action("gone");
      host.prepare(busy);
      const long = host.call(busy, input({ how: "last", ms: 1_000 }));
      // The only process is busy: this call waits for one.
      const waiting = host.call(gone, input());
      await sleep(100);
      host.release(gone);
      await rejectsWithCode(waiting, "ACTION_NOT_FOUND");
      await rejectsWithCode(host.call(gone, input()), "ACTION_NOT_FOUND");
      await rejectsWithCode(host.load(gone), "ACTION_NOT_FOUND");
      assert.deepEqual(await long, { lasted: 1_000 });
      await sleep(100);
      assert.deepEqual(
        host.processes().map((process) => process.action),
        ["busy"],
      );
    } finally {
      await host.close();
    }
  },
);

Deno.test({
  name:
    "sandbox freeze: when the host dies without close(), its frozen processes do not stay behind",
  ignore: !LINUX,
  fn: async () => {
    const host = startHost(`
      import { createRegistry } from ${JSON.stringify(MOD)};
      const registry = createRegistry();
      registry.register("beacon", ${JSON.stringify(hostile("beacon.ts").href)});
      await registry.run("beacon", []);
      const [{ pid }] = registry.sandboxProcesses();
      console.log(JSON.stringify({ pid }));
      await new Promise(() => {});`);
    const { pid } = await host.next() as { pid: number };
    assert.ok(await until(() => procState(pid) === "T", 2_000));
    Deno.kill(host.pid, "SIGKILL");
    await host.done();
    const gone = () => !alive(pid) || procState(pid) === "Z";
    assert.ok(await until(gone, 3_000), `state ${procState(pid)}`);
  },
});
