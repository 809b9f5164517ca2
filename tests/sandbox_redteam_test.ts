/**
 * SPEC §1.1, attacked by a hostile author who has read the sandbox's code:
 * each test is an attack that once worked, kept as a regression test (the
 * attacks that failed from the start live in the other sandbox tests).
 */
import assert from "node:assert/strict";
import {
  fixture,
  rejectsWithCode,
  throwsWithCode,
  withRegistry,
} from "./_helpers.ts";
import {
  cpuShare,
  hostile,
  MAX_STALL,
  MOD,
  startHost,
} from "./_sandbox_helpers.ts";
import { everyValue } from "./fixtures/actions/every_value.ts";

/** A folder without links, to grant. */
const GRANTED_DIR = fixture("").pathname.replace(/\/$/, "");

Deno.test(
  "sandbox red team: patching Deno's connection prototype does not hand an action its lane to the host",
  withRegistry(async (registry) => {
    registry.register("capturer", hostile("lane_capturer.ts"), {
      permissions: { net: ["127.0.0.1"] },
    });
    await registry.run("capturer", [], { config: { how: "patch" } });
    assert.deepEqual(
      await registry.run("capturer", [], { config: { how: "flood" } }),
      { captured: false },
    );
  }),
);

for (
  const [what, config] of [
    ["a message of an unknown kind", { t: "bogus" }],
    ["an answer to a call it was not given", { t: "reply", id: -7 }],
    ["a second hello", { t: "hello" }],
    ["a reply without its payload", { t: "reply", how: "throw" }],
  ] as const
) {
  Deno.test(
    `sandbox red team: ${what} on a Worker's lane ends the Worker at once: ACTION_FAILED, not a wait for ACTION_TIMEOUT`,
    withRegistry(async (registry) => {
      registry.register("forger", hostile("code_forger.ts"), {
        timeoutMs: 5_000,
      });
      const started = performance.now();
      await rejectsWithCode(
        registry.run("forger", [], {
          config: { how: "return", ...config, code: "ACTION_FAILED" },
        }),
        "ACTION_FAILED",
        /broke the protocol/,
      );
      assert.ok(performance.now() - started < 4_000);
    }),
  );
}

Deno.test(
  "sandbox red team: a link that stays inside a folder granted write cannot be moved to lead outside it: such a folder is refused at register",
  withRegistry(async (registry) => {
    const top = await Deno.makeTempDir({ prefix: "triggerkit-links-" });
    const granted = `${top}/granted`;
    try {
      await Deno.mkdir(`${granted}/a`, { recursive: true });
      await Deno.mkdir(`${granted}/b`);
      await Deno.mkdir(`${top}/b`);
      await Deno.writeTextFile(`${granted}/b/f.txt`, "inside");
      await Deno.writeTextFile(`${top}/b/f.txt`, "outside");
      // Inside as it stands: a/l → ../b is granted/b.
      await Deno.symlink("../b", `${granted}/a/l`);
      throwsWithCode(
        () =>
          registry.register("mover", hostile("link_mover.ts"), {
            permissions: { read: [granted], write: [granted] },
          }),
        "INVALID_ACTION",
        /write grant .*granted holds a symbolic link, .*granted\/a\/l → .*granted\/b; an action may move a link/,
      );
      // So is a link with ".." in an absolute target (once a link to the
      // folder is moved to x, x/.. is the folder's parent).
      await Deno.remove(`${granted}/a/l`);
      await Deno.mkdir(`${granted}/x`);
      await Deno.symlink(`${granted}/x/../b`, `${granted}/l2`);
      throwsWithCode(
        () =>
          registry.register("mover", hostile("link_mover.ts"), {
            permissions: { read: [granted], write: [granted] },
          }),
        "INVALID_ACTION",
        /holds a symbolic link/,
      );
      // Read only, the folder is fine: without write, nothing in it moves.
      await Deno.remove(`${granted}/l2`);
      await Deno.symlink("../b", `${granted}/a/l`);
      registry.register("mover", hostile("link_mover.ts"), {
        permissions: { read: [granted] },
      });
      await rejectsWithCode(
        registry.run("mover", [], { config: { dir: granted } }),
        "PERMISSION_DENIED",
        /denied write access/,
      );
      assert.equal(Deno.readLinkSync(`${granted}/a/l`), "../b");
      assert.deepEqual([...Deno.readDirSync(`${top}/b`)].length, 1);
    } finally {
      await Deno.remove(top, { recursive: true });
    }
  }),
);

Deno.test(
  "sandbox red team: a binary reply frame whose call id is forged ends the Worker at once: ACTION_FAILED",
  withRegistry(async (registry) => {
    registry.register("forger", hostile("frame_id_forger.ts"), {
      timeoutMs: 5_000,
    });
    const started = performance.now();
    await rejectsWithCode(
      registry.run("forger", []),
      "ACTION_FAILED",
      /broke the protocol \(it answered a call it was not given\)/,
    );
    assert.ok(performance.now() - started < 4_000);
  }),
);

const FORGED: Array<
  { what: string; config: Record<string, unknown>; grants?: object }
> = [
  {
    what: "OUT_OF_MEMORY",
    config: { t: "fail", code: "OUT_OF_MEMORY", how: "throw" },
  },
  {
    what: "ACTION_TIMEOUT",
    config: { t: "fail", code: "ACTION_TIMEOUT", how: "throw" },
  },
  {
    what: "SANDBOX_UNAVAILABLE",
    config: { t: "fail", code: "SANDBOX_UNAVAILABLE", how: "throw" },
  },
  {
    what: "INVALID_ACTION after the module loaded",
    config: { t: "fail", code: "INVALID_ACTION", how: "throw" },
  },
  {
    what: "a failed load, sent after the module loaded",
    config: { t: "loadFailed", code: "INVALID_ACTION", how: "return" },
  },
  {
    what: "PERMISSION_DENIED for a host it was granted",
    config: {
      t: "fail",
      code: "PERMISSION_DENIED",
      permission: "net",
      target: "127.0.0.1:4321",
      how: "throw",
    },
    grants: { net: ["127.0.0.1:4321"] },
  },
  {
    what: "PERMISSION_DENIED for a path inside its read grant",
    config: {
      t: "fail",
      code: "PERMISSION_DENIED",
      permission: "read",
      target: `${GRANTED_DIR}/echo.ts`,
      how: "throw",
    },
    grants: { read: [GRANTED_DIR] },
  },
  {
    what: "PERMISSION_DENIED for a permission Deno does not know",
    config: {
      t: "fail",
      code: "PERMISSION_DENIED",
      permission: "net: true } } and restart",
      how: "throw",
    },
  },
];

for (const { what, config, grants } of FORGED) {
  Deno.test(
    `sandbox red team: a frame forged through a polluted global cannot claim ${what}`,
    withRegistry(async (registry) => {
      registry.register("forger", hostile("code_forger.ts"), {
        permissions: grants ?? {},
      });
      await rejectsWithCode(
        registry.run("forger", [], { config }),
        "ACTION_FAILED",
      );
    }),
  );
}

Deno.test("sandbox red team: a 30 MB error, thrown or forged in a frame, reaches the host cut to a few KiB, without blocking its event loop 100 ms", async () => {
  const host = startHost(`
    import { createRegistry } from ${JSON.stringify(MOD)};
    ${MAX_STALL}
    const registry = createRegistry();
    registry.register("bomb", ${JSON.stringify(hostile("error_bomb.ts").href)});
    registry.register("forger", ${
    JSON.stringify(hostile("code_forger.ts").href)
  });
    await registry.run("bomb", [], { config: { how: "warm" } });
    await registry.run("forger", [], { config: { t: "reply", how: "return" } }).catch(() => {});
    const huge = "x".repeat(30e6);
    const runs = [
      () => registry.run("bomb", [], { config: { how: "huge", size: 30e6 } }),
      () => registry.run("forger", [], { config: { t: "fail", code: "ACTION_FAILED", message: huge, how: "throw" } }),
    ];
    for (const run of runs) {
      const outcome = await maxStall(() => run().then(() => "returned", (error) => ({
        code: error.code,
        length: error.message.length + (error.cause?.stack?.length ?? 0),
      })));
      console.log(JSON.stringify(outcome));
    }
    await registry.close();`);
  for (let i = 0; i < 2; i++) {
    const { value, stallMs } = await host.next();
    const { code, length } = value as { code: string; length: number };
    assert.equal(code, "ACTION_FAILED");
    assert.ok(length < 100_000, `the error kept ${length} characters`);
    assert.ok(
      (stallMs as number) < 100,
      `the event loop was blocked ${Number(stallMs).toFixed(0)} ms`,
    );
  }
  assert.equal(await host.done(), 0);
});

Deno.test(
  "sandbox red team: an error whose message throws when read fails ACTION_FAILED at once, not ACTION_TIMEOUT",
  withRegistry(async (registry) => {
    registry.register("bomb", hostile("error_bomb.ts"), { timeoutMs: 5_000 });
    const started = performance.now();
    await rejectsWithCode(
      registry.run("bomb", [], { config: { how: "getters" } }),
      "ACTION_FAILED",
    );
    assert.ok(performance.now() - started < 4_000);
  }),
);

Deno.test(
  "sandbox red team: every kind of value that can cross is read from its bytes and arrives whole",
  withRegistry(async (registry) => {
    registry.register("every", fixture("every_value.ts"));
    // Errors keep their stack, which says where they were made: compared apart.
    const summary = (errors: unknown) =>
      (errors as Error[]).map((error) => [
        error.name,
        error.message,
        (error.cause as Error | undefined)?.message,
      ]);
    const { value } = await registry.run("every", []);
    const { errors, ...rest } = value as Record<string, unknown>;
    const { errors: expectedErrors, ...expected } = everyValue();
    // A null-prototype object crosses as a plain one (structured clone).
    assert.deepStrictEqual(rest, { ...expected, nullProto: { x: 1 } });
    assert.deepStrictEqual(summary(errors), summary(expectedErrors));
  }),
);

Deno.test("sandbox red team: a result of half a million tiny objects, or 200,000 keys or Set members, is INVALID_RESULT without blocking the host 100 ms, and 70,000 rows of five columns still cross", async () => {
  const host = startHost(`
    import { createRegistry } from ${JSON.stringify(MOD)};
    ${MAX_STALL}
    const registry = createRegistry();
    registry.register("bomb", ${JSON.stringify(hostile("cost_bomb.ts").href)}, {
      timeoutMs: 20000,
      memoryMb: 512,
    });
    await registry.run("bomb", [], { config: { how: "warm", count: 0 } });
    const runs = [
      { how: "objects", count: 500_000 },
      { how: "keys", count: 200_000 },
      { how: "set", count: 200_000 },
      { how: "rows", count: 70_000 },
    ];
    for (const config of runs) {
      const outcome = await maxStall(() => registry.run("bomb", [], { config }).then(
        (result) => Object.values(result)[0].length,
        (error) => error.code,
      ));
      console.log(JSON.stringify(outcome));
    }
    await registry.close();`);
  for (
    const expected of ["INVALID_RESULT", "INVALID_RESULT", "INVALID_RESULT"]
  ) {
    const { value, stallMs } = await host.next();
    assert.equal(value, expected);
    assert.ok(
      (stallMs as number) < 100,
      `the event loop was blocked ${Number(stallMs).toFixed(0)} ms`,
    );
  }
  assert.deepEqual((await host.next()).value, 70_000);
  assert.equal(await host.done(), 0);
});

Deno.test("sandbox red team: an action's real-run and dry-run processes, each spinning just under the idle threshold, together stay under 20% of a core", async () => {
  const host = startHost(`
    import { createRegistry } from ${JSON.stringify(MOD)};
    const registry = createRegistry();
    registry.register("spinner", ${
    JSON.stringify(hostile("low_spinner.ts").href)
  });
    const config = { share: 0.1 };
    await registry.run("spinner", [], { config });
    await registry.run("spinner", [], { config, dryRun: true });
    console.log(JSON.stringify({ started: true }));
    await new Promise((resolve) => setTimeout(resolve, 3500));
    await registry.close();`);
  assert.deepEqual(await host.next(), { started: true });
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const share = await cpuShare(host.pid, 2000);
  assert.ok(
    share < 0.2,
    `the action's processes used ${(share * 100).toFixed(0)}% of a core`,
  );
  assert.equal(await host.done(), 0);
});

Deno.test(
  "sandbox red team: memory an action holds in its real-run process counts against its dry runs too",
  withRegistry(async (registry) => {
    registry.register("hoarder", hostile("hoarder.ts"), {
      memoryMb: 128,
      timeoutMs: 10_000,
    });
    const config = { kind: "buffers", mb: 112, holdMs: 400 };
    assert.deepEqual(await registry.run("hoarder", [], { config }), {
      held: 112,
    });
    await rejectsWithCode(
      registry.run("hoarder", [], { config, dryRun: true }),
      "OUT_OF_MEMORY",
      /its other sandbox process/,
    );
  }),
);

for (const kind of ["read", "write"]) {
  Deno.test(
    `sandbox red team: a ${kind} grant that holds the sandbox's private folder (other actions' code, the sockets) is refused at register`,
    withRegistry((registry) => {
      const tmp = Deno.realPathSync(Deno.env.get("TMPDIR") ?? "/tmp");
      throwsWithCode(
        () =>
          registry.register("wide", fixture("probe.ts"), {
            permissions: { [kind]: [tmp] },
          }),
        "INVALID_ACTION",
        /holds the sandbox's private folder/,
      );
    }),
  );
}

Deno.test("sandbox red team: a flood of empty lines neither blocks the host's event loop 100 ms nor keeps it busy", async () => {
  const host = startHost(`
    import { createRegistry } from ${JSON.stringify(MOD)};
    ${MAX_STALL}
    const registry = createRegistry();
    registry.register("flood", ${
    JSON.stringify(hostile("printer.ts").href)
  }, { timeoutMs: 20000 });
    await registry.run("flood", [], { config: { how: "warm" } });
    const before = process.cpuUsage();
    const started = performance.now();
    const outcome = await maxStall(() =>
      registry.run("flood", [], { config: { how: "newlines", ms: 3000 } })
    );
    const cpu = process.cpuUsage(before);
    const share = (cpu.user + cpu.system) / 1000 / (performance.now() - started);
    console.log(JSON.stringify({ ...outcome, share }));
    await registry.close();`);
  const { value, stallMs, share } = await host.next();
  assert.deepEqual(value, { printed: true });
  assert.ok(
    (stallMs as number) < 100,
    `the event loop was blocked ${Number(stallMs).toFixed(0)} ms`,
  );
  assert.ok(
    (share as number) < 0.25,
    `the host used ${((share as number) * 100).toFixed(0)}% of a core`,
  );
  assert.equal(await host.done(), 0);
});

Deno.test("sandbox red team: a call waiting for a free process when close() comes fails, starts nothing, and the host exits", async () => {
  const host = startHost(`
    import { createRegistry } from ${JSON.stringify(MOD)};
    const registry = createRegistry({ sandbox: { maxProcesses: 1 } });
    registry.register("first", ${JSON.stringify(fixture("slow.ts").href)});
    registry.register("second", ${JSON.stringify(fixture("slow.ts").href)});
    const code = (promise) => promise.then(() => "returned", (error) => error.code);
    const first = code(registry.run("first", [], { config: { ms: 2000 } }));
    await new Promise((resolve) => setTimeout(resolve, 300));
    const second = code(registry.run("second", [], { config: { ms: 1 } }));
    await new Promise((resolve) => setTimeout(resolve, 100));
    await registry.close();
    console.log(JSON.stringify({ first: await first, second: await second }));`);
  assert.deepEqual(await host.next(), {
    first: "ACTION_FAILED",
    second: "ACTION_FAILED",
  });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const exited = await Promise.race([
    host.done().then((code) => `exited ${code}`),
    new Promise((resolve) =>
      timer = setTimeout(resolve, 5_000, "still running")
    ),
  ]);
  clearTimeout(timer);
  if (exited === "still running") Deno.kill(host.pid, "SIGKILL");
  assert.equal(exited, "exited 0");
});
