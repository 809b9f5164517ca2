/**
 * SPEC §1.1: an action reads, writes, connects to and imports only what was
 * granted — links or not — cannot reach Deno's internals, another action,
 * or the host's transport.
 */
import assert from "node:assert/strict";
import {
  descendants,
  fixture,
  rejectsWithCode,
  serveLocal,
  throwsWithCode,
  withRegistry,
} from "./_helpers.ts";
import {
  hostile,
  MOD,
  SECRET_JS,
  SECRET_JSON,
  startHost,
} from "./_sandbox_helpers.ts";

const ECHO_SOURCE = Deno.readTextFileSync(fixture("echo.ts")).replace(
  /import .*\n/,
  "const defineAction = (f) => f;\n",
);

/** A temporary action folder with `files`; removed after `fn`. */
async function withFolder(
  files: Record<string, string>,
  fn: (dir: string) => Promise<void> | void,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "triggerkit-action-" });
  try {
    for (const [name, text] of Object.entries(files)) {
      await Deno.mkdir(`${dir}/${name}`.replace(/\/[^/]*$/, ""), {
        recursive: true,
      });
      await Deno.writeTextFile(`${dir}/${name}`, text);
    }
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const url = (path: string) => new URL(`file://${path}`);

for (
  const [what, name, target] of [
    ["a link to /", "root", "/"],
    ["a link to a secret file", "secret.json", SECRET_JSON],
    ["a link inside a subfolder", "lib/etc", "/etc"],
    ["a dangling link", "later.json", "/tmp/triggerkit-not-there-yet.json"],
  ]
) {
  Deno.test(
    `sandbox files: a module folder holding ${what} is refused at register with INVALID_ACTION`,
    withRegistry((registry) =>
      withFolder({ "main.ts": ECHO_SOURCE, "lib/ok.ts": "" }, async (dir) => {
        await Deno.symlink(target!, `${dir}/${name}`);
        throwsWithCode(
          () => registry.register("linked", url(`${dir}/main.ts`)),
          "INVALID_ACTION",
          /holds a symbolic link/,
        );
      })
    ),
  );
}

Deno.test(
  "sandbox files: a module that is itself a link is refused at register",
  withRegistry((registry) =>
    withFolder({ "real.ts": ECHO_SOURCE }, async (dir) => {
      await Deno.symlink(`${dir}/real.ts`, `${dir}/main.ts`);
      throwsWithCode(
        () => registry.register("linked", url(`${dir}/main.ts`)),
        "INVALID_ACTION",
        /symbolic link/,
      );
    })
  ),
);

Deno.test(
  "sandbox files: a module folder holding a hard-linked file is refused at register",
  withRegistry((registry) =>
    withFolder({ "main.ts": ECHO_SOURCE }, async (dir) => {
      await Deno.writeTextFile(`${dir}/../triggerkit-outside.json`, "{}");
      try {
        await Deno.link(
          `${dir}/../triggerkit-outside.json`,
          `${dir}/data.json`,
        );
        throwsWithCode(
          () => registry.register("linked", url(`${dir}/main.ts`)),
          "INVALID_ACTION",
          /hard links are refused/,
        );
      } finally {
        await Deno.remove(`${dir}/../triggerkit-outside.json`);
      }
    })
  ),
);

Deno.test(
  "sandbox files: the action runs from its private copy: replacing its files by links after register changes nothing",
  withRegistry((registry) =>
    withFolder({
      "main.ts": 'import data from "./data.json" with { type: "json" };\n' +
        "export default () => ({ data });",
      "data.json": '{ "from": "the copy" }',
    }, async (dir) => {
      registry.register("copied", url(`${dir}/main.ts`));
      await Deno.remove(`${dir}/data.json`);
      await Deno.symlink(SECRET_JSON, `${dir}/data.json`);
      assert.deepEqual(await registry.run("copied", []), {
        data: { from: "the copy" },
      });
    })
  ),
);

Deno.test(
  "sandbox files: a write grant on a path that is a link is refused at register",
  withRegistry((registry) =>
    withFolder({ "main.ts": ECHO_SOURCE }, async (dir) => {
      const victim = await Deno.makeTempFile({ prefix: "triggerkit-victim-" });
      try {
        await Deno.symlink(victim, `${dir}/config.ts`);
        throwsWithCode(
          () =>
            registry.register("writer", fixture("probe.ts"), {
              permissions: { write: [`${dir}/config.ts`] },
            }),
          "INVALID_ACTION",
          /reached through a symbolic link/,
        );
      } finally {
        await Deno.remove(victim);
      }
    })
  ),
);

Deno.test(
  "sandbox files: a link inside a narrow read grant that leads outside it is refused at register",
  withRegistry((registry) =>
    withFolder({ "data/ok.txt": "ok" }, async (dir) => {
      await Deno.symlink(SECRET_JSON, `${dir}/data/secret.json`);
      throwsWithCode(
        () =>
          registry.register("reader", fixture("probe.ts"), {
            permissions: { read: [`${dir}/data`] },
          }),
        "INVALID_ACTION",
        /leads outside the grant/,
      );
    })
  ),
);

Deno.test(
  "sandbox files: a link inside a grant that stays inside it is allowed",
  withRegistry((registry) =>
    withFolder({ "data/ok.txt": "ok" }, async (dir) => {
      await Deno.symlink(`${dir}/data/ok.txt`, `${dir}/data/alias.txt`);
      registry.register("reader", fixture("probe.ts"), {
        permissions: { read: [`${dir}/data`] },
      });
      assert.deepEqual(
        await registry.run("reader", [], {
          config: { op: "read", arg: `${dir}/data/alias.txt` },
        }),
        { value: "ok" },
      );
    })
  ),
);

Deno.test(
  "sandbox files: an action granted read and write on a folder cannot make a link there (Deno or node:fs, symbolic or hard) to read outside its grants",
  withRegistry((registry) =>
    withFolder({ "inside.txt": "inside" }, async (dir) => {
      registry.register("maker", hostile("link_maker.ts"), {
        permissions: { read: [dir], write: [dir] },
      });
      const { outcomes, read } = await registry.run("maker", [], {
        config: { dir, secret: SECRET_JSON },
      }) as { outcomes: Record<string, string>; read: string[] };
      // Deno refuses every symbolic link (it requires unscoped read and
      // write), even one that stays inside; a hard link needs read and
      // write on both names, so none reaches the secret.
      for (const [how, outcome] of Object.entries(outcomes)) {
        assert.equal(outcome, "NotCapable", how);
      }
      assert.deepEqual(read, []);
      const left = [...Deno.readDirSync(dir)].map((entry) => entry.name);
      assert.deepEqual(left, ["inside.txt"]);
    })
  ),
);

Deno.test(
  "sandbox transport: a Worker's name, which carried its setup and lane token, is hidden from the action",
  withRegistry(async (registry) => {
    registry.register("reader", hostile("name_reader.ts"));
    assert.deepEqual(await registry.run("reader", []), {
      name: "triggerkit-action",
      selfName: "triggerkit-action",
    });
  }),
);

for (const kind of ["json", "js"]) {
  Deno.test(
    `sandbox files: a literal import() of a ${kind} file outside the grants is PERMISSION_DENIED`,
    withRegistry(async (registry) => {
      registry.register("literal", fixture("literal_import.ts"));
      await rejectsWithCode(
        registry.run("literal", [], { config: { kind } }),
        "PERMISSION_DENIED",
        /denied read access to .*triggerkit-test-secret/,
      );
    }),
  );
}

Deno.test(
  "sandbox files: a static import of a file outside the grants is PERMISSION_DENIED",
  withRegistry(async (registry) => {
    registry.register("static", fixture("static_outside.ts"));
    await rejectsWithCode(
      registry.run("static", []),
      "PERMISSION_DENIED",
      /read access/,
    );
  }),
);

Deno.test(
  "sandbox files: import() of a file is allowed when read is granted for it",
  withRegistry(async (registry) => {
    registry.register("literal", fixture("literal_import.ts"), {
      permissions: { read: [SECRET_JSON, SECRET_JS] },
    });
    assert.deepEqual(
      await registry.run("literal", [], { config: { kind: "json" } }),
      { value: '{"secret":"json-secret"}' },
    );
    assert.deepEqual(
      await registry.run("literal", [], { config: { kind: "js" } }),
      { value: "js-secret" },
    );
  }),
);

Deno.test(
  "sandbox files: the action's original folder is not readable, only its private copy",
  withRegistry(async (registry) => {
    registry.register("probe", fixture("probe.ts"));
    await rejectsWithCode(
      registry.run("probe", [], {
        config: { op: "read", arg: fixture("echo.ts").pathname },
      }),
      "PERMISSION_DENIED",
      /read access/,
    );
  }),
);

Deno.test(
  "sandbox escape: Deno's internals are out of the action's reach",
  withRegistry(async (registry) => {
    registry.register("closer", hostile("lane_closer.ts"));
    assert.deepEqual(await registry.run("closer", []), {
      internals: false,
      closed: 0,
    });
  }),
);

Deno.test(
  "sandbox escape: two actions never share a process, and BroadcastChannel does not cross between them",
  withRegistry(async (registry) => {
    const server = serveLocal(() => new Response("relayed"));
    let reached = false;
    const relay = serveLocal(() => {
      reached = true;
      return new Response("relayed");
    });
    try {
      registry.register("listener", hostile("broadcaster.ts"), {
        permissions: { net: [`127.0.0.1:${relay.port}`] },
      });
      registry.register("poster", hostile("broadcaster.ts"));
      const listening = registry.run("listener", [], {
        config: { role: "listen", relay: relay.url },
      });
      await registry.run("poster", [], {
        config: { role: "post", message: "secret" },
      });
      assert.deepEqual(await listening, { heard: 0 });
      assert.equal(reached, false);
      const pids = registry.sandboxProcesses().map((p) => p.pid);
      assert.equal(new Set(pids).size, pids.length);
      assert.equal(pids.length, 2);
    } finally {
      await Promise.all([server.close(), relay.close()]);
    }
  }),
);

Deno.test(
  "sandbox escape: a context key named __proto__ stays a key and does not change the run's context prototype",
  withRegistry(async (registry) => {
    registry.register("proto", hostile("proto_context.ts"));
    const context: Record<string, unknown> = {};
    await registry.run("proto", [], { context });
    assert.equal(Object.getPrototypeOf(context), Object.prototype);
    assert.equal(context.isAdmin, undefined);
    assert.ok(Object.hasOwn(context, "__proto__"));
  }),
);

/** The socket inodes of a process's open files. */
function socketInodes(pid: number): Set<string> {
  const output = new Deno.Command("sh", {
    args: ["-c", `ls -l /proc/${pid}/fd 2>/dev/null`],
    stdout: "piped",
  }).outputSync();
  const text = new TextDecoder().decode(output.stdout);
  return new Set([...text.matchAll(/socket:\[(\d+)\]/g)].map((m) => m[1]!));
}

/** The inodes of every listening TCP socket on the machine. */
function tcpListeners(): Set<string> {
  const output = new Deno.Command("sh", {
    args: ["-c", "cat /proc/net/tcp /proc/net/tcp6"],
    stdout: "piped",
  }).outputSync();
  const inodes = new Set<string>();
  for (const line of new TextDecoder().decode(output.stdout).split("\n")) {
    const fields = line.trim().split(/\s+/);
    if (fields[3] === "0A") inodes.add(fields[9]!);
  }
  return inodes;
}

Deno.test("sandbox escape: the host listens on no TCP port, and an action granted everything but run and ffi finds no way into its transport", async () => {
  // A temporary folder of this host's own: other tests' hosts, running at the
  // same time, keep their sockets in the shared one.
  const tmp = await Deno.makeTempDir({ prefix: "triggerkit-hunt-" });
  const host = startHost(
    `
    import { createRegistry } from ${JSON.stringify(MOD)};
    const registry = createRegistry();
    registry.register("echo", ${JSON.stringify(fixture("echo.ts").href)});
    registry.register("hunter", ${
      JSON.stringify(hostile("transport_hunter.ts").href)
    }, { permissions: { net: true, read: true, write: true, env: true, sys: true } });
    await registry.run("echo", []);
    await registry.run("hunter", [], { config: { tmp: ${
      JSON.stringify(tmp)
    } } });
    console.log(JSON.stringify({ up: true }));
    await new Promise((resolve) => setTimeout(resolve, 200));
    const hunted = await registry.run("hunter", [], { config: { tmp: ${
      JSON.stringify(tmp)
    } } });
    const echoed = await registry.run("echo", [{ a: 1 }]);
    console.log(JSON.stringify({ hunted, echoed: echoed.data }));
    await registry.close();`,
    { env: { TMPDIR: tmp } },
  );
  assert.deepEqual(await host.next(), { up: true });
  const listening = tcpListeners();
  for (const pid of [host.pid, ...descendants(host.pid)]) {
    const open = [...socketInodes(pid)].filter((inode) => listening.has(inode));
    assert.deepEqual(open, [], `process ${pid} listens on TCP`);
  }
  const { hunted, echoed } = await host.next();
  assert.deepEqual(echoed, [{ a: 1 }]);
  assert.equal((hunted as { connected: number }).connected, 0);
  assert.equal(await host.done(), 0);
  await Deno.remove(tmp, { recursive: true });
});
