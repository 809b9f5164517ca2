import assert from "node:assert/strict";
import { createRegistry, type Row } from "../mod.ts";
import {
  descendants,
  fixture,
  rejectsWithCode,
  runScript,
  serveLocal,
  throwsWithCode,
  withRegistry,
} from "./_helpers.ts";
import { MOD, SECRET_JSON, startHost } from "./_sandbox_helpers.ts";

Deno.test(
  "sandbox: a module action runs in a Worker and returns its result",
  withRegistry(async (registry) => {
    const info = registry.register("echo", fixture("echo.ts"));
    assert.equal(info.kind, "sandboxed");
    assert.equal(info.module, fixture("echo.ts").href);
    assert.deepEqual(info.permissions, {});
    assert.equal(info.timeoutMs, 30000);
    assert.equal(info.memoryMb, 128);
    const result = await registry.run("echo", [{ id: 1 }], {
      config: { k: "v" },
      runId: "run-1",
      jobName: "job",
    });
    assert.deepEqual(result, {
      data: [{ id: 1 }],
      config: { k: "v" },
      context: {},
      runId: "run-1",
      dryRun: false,
      jobName: "job",
    });
  }),
);

Deno.test(
  "sandbox: relative imports inside the action's own folder work",
  withRegistry(async (registry) => {
    registry.register("helper", fixture("with_helper/main.ts"));
    assert.deepEqual(await registry.run("helper", []), {
      greeting: "hello from a helper",
      answer: 42,
    });
  }),
);

Deno.test(
  "sandbox: a module without a default export function fails with INVALID_ACTION",
  withRegistry(async (registry) => {
    registry.register("nodefault", fixture("no_default.ts"));
    await rejectsWithCode(
      registry.run("nodefault", []),
      "INVALID_ACTION",
      /no default export/,
    );
  }),
);

Deno.test(
  "sandbox: a missing module fails with INVALID_ACTION at register time",
  withRegistry((registry) => {
    throwsWithCode(
      () => registry.register("missing", fixture("does_not_exist.ts")),
      "INVALID_ACTION",
      /does_not_exist\.ts/,
    );
    return Promise.resolve();
  }),
);

Deno.test(
  "sandbox: each permission, granted alone, allows exactly its call",
  withRegistry(async (registry) => {
    const target = await Deno.makeTempFile();
    Deno.env.set("TRIGGERKIT_TEST_VISIBLE", "visible");
    const cases = [
      { op: "read", arg: SECRET_JSON, permissions: { read: [SECRET_JSON] } },
      { op: "write", arg: target, permissions: { write: [target] } },
      {
        op: "env",
        arg: "TRIGGERKIT_TEST_VISIBLE",
        permissions: { env: ["TRIGGERKIT_TEST_VISIBLE"] },
      },
      { op: "sys", arg: "", permissions: { sys: ["hostname"] } },
    ];
    try {
      for (const [i, { op, arg, permissions }] of cases.entries()) {
        registry.register(`probe_${i}`, fixture("probe.ts"), { permissions });
        const result = await registry.run(`probe_${i}`, [], {
          config: { op, arg },
        });
        assert.ok(result.value !== undefined, `${op} returned nothing`);
      }
      assert.equal(await Deno.readTextFile(target), "written");
      // Granting env for one variable does not reveal another.
      await rejectsWithCode(
        registry.run("probe_2", [], { config: { op: "env", arg: "HOME" } }),
        "PERMISSION_DENIED",
        /env access to "HOME"/,
      );
    } finally {
      Deno.env.delete("TRIGGERKIT_TEST_VISIBLE");
      await Deno.remove(target);
    }
  }),
);

Deno.test(
  "sandbox: net granted for one host:port reaches that server and no other",
  withRegistry(async (registry) => {
    const allowed = serveLocal(() => new Response("allowed"));
    const other = serveLocal(() => new Response("other"));
    try {
      registry.register("probe", fixture("probe.ts"));
      await rejectsWithCode(
        registry.run("probe", [], {
          config: { op: "fetch", arg: allowed.url },
        }),
        "PERMISSION_DENIED",
        /denied net access/,
      );
      registry.register("netted", fixture("probe.ts"), {
        permissions: { net: [`127.0.0.1:${allowed.port}`] },
      });
      assert.deepEqual(
        await registry.run("netted", [], {
          config: { op: "fetch", arg: allowed.url },
        }),
        { value: "allowed" },
      );
      await rejectsWithCode(
        registry.run("netted", [], { config: { op: "fetch", arg: other.url } }),
        "PERMISSION_DENIED",
        new RegExp(`net access to "127.0.0.1:${other.port}"`),
      );
    } finally {
      await Promise.all([allowed.close(), other.close()]);
    }
  }),
);

Deno.test(
  "sandbox: a remote import is denied by default and allowed for a granted host",
  withRegistry(async (registry) => {
    const server = serveLocal(() =>
      new Response('export default "remote-module";', {
        headers: { "content-type": "application/javascript" },
      })
    );
    try {
      const url = `${server.url}/remote.js`;
      registry.register("probe", fixture("probe.ts"));
      await rejectsWithCode(
        registry.run("probe", [], { config: { op: "import", arg: url } }),
        "PERMISSION_DENIED",
        /denied import access/,
      );
      registry.register("importer", fixture("probe.ts"), {
        permissions: { import: [`127.0.0.1:${server.port}`] },
      });
      assert.deepEqual(
        await registry.run("importer", [], {
          config: { op: "import", arg: url },
        }),
        { value: '"remote-module"' },
      );
    } finally {
      await server.close();
    }
  }),
);

Deno.test(
  "sandbox: an aborted signal stops the action with ACTION_TIMEOUT",
  withRegistry(async (registry) => {
    registry.register("slow", fixture("slow.ts"));
    const controller = new AbortController();
    const pending = registry.run("slow", [], {
      config: { ms: 10_000 },
      signal: controller.signal,
    });
    setTimeout(() => controller.abort(), 100);
    const started = performance.now();
    await rejectsWithCode(pending, "ACTION_TIMEOUT", /aborted/);
    assert.ok(performance.now() - started < 1000);
    assert.deepEqual(await registry.run("slow", [], { config: { ms: 10 } }), {
      slept: 10,
    });
  }),
);

Deno.test(
  "sandbox: forged messages and raw stdout bytes cannot confuse the host or other calls",
  withRegistry(async (registry) => {
    registry.register("forger", fixture("forger.ts"));
    registry.register("counter", fixture("counter.ts"));
    const calls = Array.from(
      { length: 20 },
      (_, i) =>
        i % 2 === 0
          ? registry.run("forger", [{ id: i }])
          : registry.run("counter", [{ n: i }], { config: { delayMs: 5 } }),
    );
    const results = await Promise.all(calls);
    results.forEach((result, i) => {
      if (i % 2 === 0) assert.deepEqual(result, { id: i });
      else assert.equal(result.sum, i);
    });
  }),
);

Deno.test(
  "sandbox: actions from different modules never share a realm",
  withRegistry(async (registry) => {
    registry.register("setter", fixture("global_setter.ts"));
    registry.register("reader", fixture("global_reader.ts"));
    await registry.run("setter", [], { config: { value: "s3cret" } });
    assert.deepEqual(await registry.run("reader", []), { seen: null });
  }),
);

Deno.test(
  "sandbox: context changes come back, rows do not leak, rich types survive",
  withRegistry(async (registry) => {
    registry.register("mutator", fixture("mutator.ts"));
    const rows: Row[] = [{
      id: 1,
      at: new Date(0),
      big: 10n,
      tags: new Map([["a", 1]]),
    }];
    const context: Record<string, unknown> = { keep: 1, removeMe: true };
    const result = await registry.run("mutator", rows, { context });
    assert.deepEqual(result, { received: 1, types: [5, 1] });
    assert.deepEqual(rows, [{
      id: 1,
      at: new Date(0),
      big: 10n,
      tags: new Map([["a", 1]]),
    }]);
    assert.equal(context.step, "mutator");
    assert.equal(context.keep, 1);
    assert.ok(!("removeMe" in context));
    assert.deepEqual(context.when, new Date(Date.UTC(2026, 0, 2)));
    assert.equal(context.big, 2n ** 70n);
    assert.deepEqual(context.map, new Map([["k", 1]]));
    assert.deepEqual(context.bytes, new Uint8Array([1, 2, 3]));
  }),
);

Deno.test(
  "sandbox: rows that cannot be cloned are INVALID_DATA",
  withRegistry(async (registry) => {
    registry.register("echo", fixture("echo.ts"));
    await rejectsWithCode(
      registry.run("echo", [{ f: () => 1 }]),
      "INVALID_DATA",
      /Cannot send data to sandboxed action "echo"/,
    );
  }),
);

Deno.test(
  "sandbox: 200 concurrent calls across 4 modules complete correctly with a capped pool",
  async () => {
    const registry = createRegistry({
      sandbox: { maxWorkersPerAction: 2, maxProcesses: 2 },
    });
    const pids: number[] = [];
    try {
      const modules = [
        "counter.ts",
        "count_rows.ts",
        "echo.ts",
        "with_helper/main.ts",
      ];
      modules.forEach((module, i) =>
        registry.register(`m${i}`, fixture(module))
      );
      const results = await Promise.all(
        Array.from({ length: 200 }, (_, i) => {
          const which = i % 4;
          const rows = Array.from({ length: i % 7 }, (_, n) => ({ n }));
          return registry.run(`m${which}`, rows, { runId: `r${i}` }).then((
            result,
          ) => ({
            i,
            which,
            rows,
            result,
          }));
        }),
      );
      for (const { i, which, rows, result } of results) {
        if (which === 0) {
          assert.equal(
            result.sum,
            rows.reduce((t, r) => t + r.n, 0),
          );
        }
        if (which === 1) assert.equal(result.n, rows.length);
        if (which === 2) assert.equal(result.runId, `r${i}`);
        if (which === 3) assert.equal(result.answer, 42);
      }
      const processes = registry.sandboxProcesses();
      assert.ok(processes.length <= 2, `${processes.length} sandbox processes`);
      pids.push(...processes.map((process) => process.pid));
    } finally {
      await registry.close();
    }
    const alive = descendants().filter((pid) => pids.includes(pid));
    assert.deepEqual(alive, [], "processes left after close()");
  },
);

Deno.test("sandbox: register without --allow-run fails with SANDBOX_UNAVAILABLE", async () => {
  const script = `
    import { createRegistry } from ${
    JSON.stringify(new URL("../mod.ts", import.meta.url).href)
  };
    try {
      createRegistry().register("x", ${
    JSON.stringify(fixture("echo.ts").href)
  });
      console.log("registered");
    } catch (error) {
      console.log(error.code + ": " + error.message);
    }`;
  const restricted = await runScript(script, ["--no-prompt", "--allow-read"]);
  const text = restricted.stdout + restricted.stderr;
  assert.match(
    text,
    /SANDBOX_UNAVAILABLE: .*needs --allow-run=\S+/,
  );
});

Deno.test(
  "sandbox: unregister() and overwrite stop the action's process",
  withRegistry(async (registry) => {
    const modules = ["count_rows.ts", "echo.ts", "counter.ts"];
    modules.forEach((module, i) => registry.register(`a${i}`, fixture(module)));
    for (const i of modules.keys()) await registry.run(`a${i}`, []);
    const processes = registry.sandboxProcesses();
    assert.deepEqual(
      processes.map((process) => process.action).sort(),
      ["a0", "a1", "a2"],
    );
    registry.register("a0", fixture("echo.ts"), { overwrite: true });
    registry.unregister("a1");
    const gone = processes.filter((p) => p.action !== "a2").map((p) => p.pid);
    for (let tries = 0; tries < 100; tries++) {
      if (!descendants().some((pid) => gone.includes(pid))) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.deepEqual(descendants().filter((pid) => gone.includes(pid)), []);
    assert.deepEqual(await registry.run("a0", [], { runId: "r" }), {
      data: [],
      config: {},
      context: {},
      runId: "r",
      dryRun: false,
      jobName: null,
    });
  }),
);

Deno.test("sandbox: close() removes the private folder (copies, sockets, Deno dirs), even when not awaited", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "triggerkit-close-" });
  try {
    const host = startHost(`
      Deno.env.set("TMPDIR", ${JSON.stringify(tmp)});
      const { createRegistry } = await import(${JSON.stringify(MOD)});
      const registry = createRegistry();
      registry.register("echo", ${JSON.stringify(fixture("echo.ts").href)});
      await registry.run("echo", []);
      await registry.run("echo", [], { dryRun: true });
      const before = [...Deno.readDirSync(${JSON.stringify(tmp)})].length;
      registry.close();
      const after = [...Deno.readDirSync(${JSON.stringify(tmp)})].length;
      console.log(JSON.stringify({ before, after }));`);
    assert.deepEqual(await host.next(), { before: 1, after: 0 });
    assert.equal(await host.done(), 0);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test(
  "sandbox: rows holding typed arrays, dates and maps reach the action intact",
  withRegistry(async (registry) => {
    registry.register("echo", fixture("echo.ts"));
    const row = {
      bytes: new Uint8Array([1, 2, 3]),
      at: new Date(0),
      map: new Map([[1, "one"]]),
    };
    const result = await registry.run("echo", [row]);
    assert.deepEqual(result.data, [row]);
  }),
);

Deno.test("sandbox: a process's own Deno dir refuses CacheStorage and keeps Deno's analysis caches in memory", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "triggerkit-denodir-" });
  try {
    const host = startHost(`
      Deno.env.set("TMPDIR", ${JSON.stringify(tmp)});
      const { createRegistry } = await import(${JSON.stringify(MOD)});
      const registry = createRegistry();
      registry.register("echo", ${JSON.stringify(fixture("echo.ts").href)});
      await registry.run("echo", []);
      const [runtime] = [...Deno.readDirSync(${JSON.stringify(tmp)})];
      const dir = ${JSON.stringify(tmp)} + "/" + runtime.name + "/1/real-deno";
      const kinds = Object.fromEntries([...Deno.readDirSync(dir)].map((entry) =>
        [entry.name, entry.isDirectory ? "folder" : "file"]));
      await registry.close();
      console.log(JSON.stringify(kinds));`);
    const kinds = await host.next();
    assert.equal(kinds.location_data, "file");
    assert.equal(kinds.dep_analysis_cache_v2, "folder");
    assert.equal(kinds.node_analysis_cache_v2, "folder");
    // No SQLite file was made: no write-ahead log, no code cache.
    assert.deepEqual(
      Object.keys(kinds).filter((name) =>
        name.endsWith("-wal") || name.includes("code_cache")
      ),
      [],
    );
    assert.equal(await host.done(), 0);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
