/**
 * SPEC §1.1: a dry run has no effect outside the sandbox through any
 * channel — network, files, caches, remote or package imports and
 * downloads, other Workers — and cannot reach a real run of its action.
 */
import assert from "node:assert/strict";
import {
  fixture,
  rejectsWithCode,
  serveLocal,
  withRegistry,
} from "./_helpers.ts";
import { hostile, MOD, startHost } from "./_sandbox_helpers.ts";

/** A server that counts what reaches it. */
function countingServer(body: string) {
  let hits = 0;
  const server = serveLocal(() => {
    hits++;
    return new Response(body, {
      headers: { "content-type": "application/javascript" },
    });
  });
  return { ...server, hits: () => hits };
}

Deno.test(
  "sandbox dry run: net, write, sys and import are denied even when granted, and nothing is reached or written",
  withRegistry(async (registry) => {
    const server = countingServer('export default "remote";');
    const target = await Deno.makeTempFile();
    try {
      registry.register("probe", fixture("probe.ts"), {
        permissions: {
          net: [`127.0.0.1:${server.port}`],
          write: [target],
          sys: true,
          import: [`127.0.0.1:${server.port}`],
        },
      });
      const cases = [
        { op: "fetch", arg: server.url, permission: "net" },
        { op: "write", arg: target, permission: "write" },
        { op: "sys", arg: "", permission: "sys" },
        {
          op: "import",
          arg: `${server.url}/rows.js?id=1`,
          permission: "import",
        },
      ];
      for (const { op, arg, permission } of cases) {
        await rejectsWithCode(
          registry.run("probe", [], { config: { op, arg }, dryRun: true }),
          "PERMISSION_DENIED",
          new RegExp(`denied ${permission} access.*a dry run denies`),
        );
      }
      assert.equal(server.hits(), 0, "the server was reached by a dry run");
      assert.equal(await Deno.readTextFile(target), "");
      // The same calls work in a real run.
      for (const { op, arg } of cases) {
        await registry.run("probe", [], { config: { op, arg } });
      }
      assert.equal(server.hits(), 2);
      assert.equal(await Deno.readTextFile(target), "written");
    } finally {
      await server.close();
      await Deno.remove(target);
    }
  }),
);

Deno.test(
  "sandbox dry run: it runs in a process of its own, apart from the real runs of its action",
  withRegistry(async (registry) => {
    registry.register("echo", fixture("echo.ts"));
    await registry.run("echo", []);
    await registry.run("echo", [], { dryRun: true });
    const processes = registry.sandboxProcesses();
    assert.deepEqual(
      processes.map(({ action, dryRun }) => ({ action, dryRun })),
      [{ action: "echo", dryRun: false }, { action: "echo", dryRun: true }],
    );
    assert.notEqual(processes[0]!.pid, processes[1]!.pid);
  }),
);

Deno.test(
  "sandbox dry run: BroadcastChannel does not reach a real run of the same action",
  withRegistry(async (registry) => {
    const relay = countingServer("relayed");
    try {
      registry.register("relay", hostile("broadcaster.ts"), {
        permissions: { net: [`127.0.0.1:${relay.port}`] },
      });
      const listening = registry.run("relay", [], {
        config: { role: "listen", relay: relay.url },
      });
      await registry.run("relay", [], {
        config: { role: "post", message: "rows of the dry run" },
        dryRun: true,
      });
      assert.deepEqual(await listening, { heard: 0 });
      assert.equal(relay.hits(), 0);
    } finally {
      await relay.close();
    }
  }),
);

Deno.test(
  "sandbox dry run: CacheStorage is not available to actions, dry or real",
  withRegistry(async (registry) => {
    registry.register("probe", fixture("probe.ts"));
    for (const dryRun of [true, false]) {
      await rejectsWithCode(
        registry.run("probe", [], {
          config: { op: "caches", arg: "x".repeat(1024) },
          dryRun,
        }),
        "ACTION_FAILED",
        /caches/,
      );
    }
  }),
);

Deno.test(
  "sandbox dry run: CacheStorage fails in Workers the action starts too",
  withRegistry(async (registry) => {
    registry.register("cacher", hostile("nested_cacher.ts"));
    for (const dryRun of [true, false]) {
      const { outcome } = await registry.run("cacher", [], { dryRun });
      assert.match(String(outcome), /^refused: /);
    }
  }),
);

Deno.test("sandbox dry run: a package import downloads nothing without an import grant, and nothing in a dry run even with one", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "triggerkit-npm-" });
  try {
    const host = startHost(`
      Deno.env.set("TMPDIR", ${JSON.stringify(tmp)});
      import(${JSON.stringify(MOD)}).then(async ({ createRegistry }) => {
        const registry = createRegistry();
        const probe = ${JSON.stringify(fixture("probe.ts").href)};
        registry.register("plain", probe);
        registry.register("granted", probe, { permissions: { import: ["registry.npmjs.org"] } });
        const codes = [];
        for (const [name, dryRun] of [["plain", false], ["plain", true], ["granted", true]]) {
          codes.push(await registry.run(name, [], { config: { op: "npm", arg: "is-number@7.0.0" }, dryRun })
            .then(() => "ok", (error) => error.code + ": " + error.message));
        }
        const found = [];
        for await (const entry of Deno.readDir(${
      JSON.stringify(tmp)
    })) found.push(entry.name);
        const npm = [];
        const walk = async (dir, depth) => {
          for await (const entry of Deno.readDir(dir)) {
            if (entry.name.includes("is-number")) npm.push(dir + "/" + entry.name);
            else if (entry.isDirectory && depth < 8) await walk(dir + "/" + entry.name, depth + 1);
          }
        };
        await walk(${JSON.stringify(tmp)}, 0);
        console.log(JSON.stringify({ codes, npm, found: found.length }));
        await registry.close();
      });`);
    const { codes, npm, found } = await host.next();
    for (const code of codes as string[]) {
      assert.match(code, /^PERMISSION_DENIED: .*denied import access/);
    }
    assert.deepEqual(npm, []);
    assert.equal(found, 1, "the sandbox's private folder is under TMPDIR");
    assert.equal(await host.done(), 0);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
