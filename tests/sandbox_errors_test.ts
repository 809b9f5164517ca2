/**
 * SPEC §1.1: error codes come from facts the action cannot forge —
 * PERMISSION_DENIED from Deno's own denial, OUT_OF_MEMORY from the limit
 * being passed, never from text the action wrote — and advice in a message
 * is always something a user can do.
 */
import assert from "node:assert/strict";
import { fixture, rejectsWithCode, withRegistry } from "./_helpers.ts";
import { hostile, SECRET_JS, SECRET_JSON } from "./_sandbox_helpers.ts";

const DENIED: Array<
  { op: string; arg: string; permission: string; advice: RegExp }
> = [
  {
    op: "read",
    arg: SECRET_JSON,
    permission: "read",
    advice: /permissions: \{ read: \[\.\.\.\] \}/,
  },
  {
    op: "write",
    arg: "/tmp/triggerkit-test-write.txt",
    permission: "write",
    advice: /permissions: \{ write:/,
  },
  { op: "env", arg: "HOME", permission: "env", advice: /permissions: \{ env:/ },
  { op: "sys", arg: "", permission: "sys", advice: /permissions: \{ sys:/ },
  {
    op: "fetch",
    arg: "http://127.0.0.1:59999/",
    permission: "net",
    advice: /permissions: \{ net:/,
  },
  {
    op: "import",
    arg: `file://${SECRET_JS}`,
    permission: "read",
    advice: /permissions: \{ read:/,
  },
  {
    op: "import",
    arg: "http://127.0.0.1:59999/remote.js",
    permission: "import",
    advice: /permissions: \{ import:/,
  },
  {
    op: "command",
    arg: "/bin/true",
    permission: "run",
    advice: /run can never be granted to a sandboxed action/,
  },
  {
    op: "ffi",
    arg: "/usr/lib/x86_64-linux-gnu/libc.so.6",
    permission: "ffi",
    advice: /ffi can never be granted to a sandboxed action/,
  },
];

for (const { op, arg, permission, advice } of DENIED) {
  Deno.test(
    `sandbox errors: ${op} ${
      arg || ""
    } is PERMISSION_DENIED naming ${permission}, with advice a user can follow`,
    withRegistry(async (registry) => {
      registry.register("probe", fixture("probe.ts"));
      const error = await rejectsWithCode(
        registry.run("probe", [], { config: { op, arg } }),
        "PERMISSION_DENIED",
        new RegExp(`denied ${permission} access`),
      );
      assert.match(error.message, advice);
      assert.doesNotMatch(error.message, /permissions: \{ (run|ffi|all):/);
      assert.doesNotMatch(error.message, /run again with/);
    }),
  );
}

Deno.test(
  "sandbox errors: node:child_process is PERMISSION_DENIED, not ACTION_FAILED",
  withRegistry(async (registry) => {
    registry.register("liar", hostile("liar.ts"));
    await rejectsWithCode(
      registry.run("liar", [], { config: { how: "child process" } }),
      "PERMISSION_DENIED",
      /denied (env|run) access/,
    );
  }),
);

Deno.test(
  "sandbox errors: what only a fully privileged process may read is PERMISSION_DENIED with no grant advised",
  withRegistry(async (registry) => {
    registry.register("liar", hostile("liar.ts"), {
      permissions: { read: true },
    });
    const error = await rejectsWithCode(
      registry.run("liar", [], { config: { how: "proc" } }),
      "PERMISSION_DENIED",
      /denied all access .*never is/,
    );
    assert.doesNotMatch(error.message, /permissions: \{/);
  }),
);

Deno.test(
  "sandbox errors: a TypeError worded like a denial is ACTION_FAILED",
  withRegistry(async (registry) => {
    registry.register("liar", hostile("liar.ts"));
    await rejectsWithCode(
      registry.run("liar", [], { config: { how: "type error naming run" } }),
      "ACTION_FAILED",
      /Requires run access/,
    );
  }),
);

Deno.test(
  "sandbox errors: a NotCapable the action made up for what it holds is ACTION_FAILED",
  withRegistry(async (registry) => {
    registry.register("liar", hostile("liar.ts"), {
      permissions: { read: [SECRET_JSON] },
    });
    await rejectsWithCode(
      registry.run("liar", [], {
        config: { how: "not capable for a granted path", path: SECRET_JSON },
      }),
      "ACTION_FAILED",
    );
  }),
);

Deno.test(
  "sandbox errors: out-of-memory text on stderr before a timeout is ACTION_TIMEOUT, not OUT_OF_MEMORY",
  withRegistry(async (registry) => {
    registry.register("liar", hostile("liar.ts"), { timeoutMs: 400 });
    await rejectsWithCode(
      registry.run("liar", [], { config: { how: "oom text, then a loop" } }),
      "ACTION_TIMEOUT",
    );
  }),
);

Deno.test(
  "sandbox errors: a module that does not compile is INVALID_ACTION",
  withRegistry(async (registry) => {
    const dir = await Deno.makeTempDir();
    try {
      await Deno.writeTextFile(
        `${dir}/broken.ts`,
        "export default () => ({ unclosed: [ });",
      );
      registry.register("broken", new URL(`file://${dir}/broken.ts`));
      await rejectsWithCode(
        registry.run("broken", []),
        "INVALID_ACTION",
        /failed to load: .*SyntaxError/,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }),
);

Deno.test(
  "sandbox errors: a module that throws as it loads is INVALID_ACTION",
  withRegistry(async (registry) => {
    registry.register("thrower", hostile("top_level_throw.ts"));
    await rejectsWithCode(
      registry.run("thrower", []),
      "INVALID_ACTION",
      /fails as it loads/,
    );
  }),
);

Deno.test(
  "sandbox errors: a throw becomes ACTION_FAILED with the action's message and stack",
  withRegistry(async (registry) => {
    registry.register("throws", fixture("throws.ts"));
    const error = await rejectsWithCode(
      registry.run("throws", []),
      "ACTION_FAILED",
      /"throws" failed: bad things happened/,
    );
    const cause = error.cause as Error;
    assert.equal(cause.name, "RangeError");
    assert.equal(cause.message, "bad things happened");
    assert.match(cause.stack ?? "", /throws\.ts/);
  }),
);

for (const how of ["exit", "close", "process-exit"]) {
  Deno.test(
    `sandbox errors: ${how} inside the action fails promptly and the host lives on`,
    withRegistry(async (registry) => {
      registry.register("exits", fixture("exits.ts"), { timeoutMs: 5000 });
      const started = performance.now();
      await rejectsWithCode(
        registry.run("exits", [], { config: { how } }),
        "ACTION_FAILED",
        /not allowed in a sandboxed action/,
      );
      assert.ok(performance.now() - started < 2000);
      assert.deepEqual(
        await registry.run("exits", [], { config: { how: "none" } }),
        { survived: true },
      );
    }),
  );
}

Deno.test(
  "a path built from import.meta.url runs into the private copy: files of the action's folder read, a granted sibling folder is denied naming its real path",
  withRegistry(async (registry) => {
    const dir = await Deno.realPath(
      await Deno.makeTempDir({ prefix: "triggerkit-copy-" }),
    );
    try {
      await Deno.mkdir(`${dir}/action`);
      await Deno.mkdir(`${dir}/data`);
      await Deno.writeTextFile(`${dir}/action/own.txt`, "own");
      await Deno.writeTextFile(`${dir}/data/note.txt`, "note");
      await Deno.writeTextFile(
        `${dir}/action/mod.ts`,
        `export default async ({ config }) => ({
          text: await Deno.readTextFile(new URL(config.file, import.meta.url)),
        });`,
      );
      registry.register("reader", `${dir}/action/mod.ts`, {
        permissions: { read: [`${dir}/data`] },
      });
      assert.deepEqual(
        await registry.run("reader", [], { config: { file: "./own.txt" } }),
        { text: "own" },
      );
      await rejectsWithCode(
        registry.run("reader", [], { config: { file: "../data/note.txt" } }),
        "PERMISSION_DENIED",
        new RegExp(
          `private copy.*import\\.meta\\.url.*use the real path "${dir}/data/note\\.txt"`,
        ),
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }),
);
