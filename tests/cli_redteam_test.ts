/**
 * The command line attacked through what it prints: a run's error or result
 * (often a remote server's answer) holding terminal control sequences.
 */
import assert from "node:assert/strict";
import { createRegistry } from "../mod.ts";
import { main } from "../src/cli/main.ts";
import { printable } from "../src/cli/_format.ts";

const ESC = String.fromCharCode(27);
// A title change, a screen clear, a carriage return that overwrites the
// line, a C1 CSI, a right-to-left override.
const HOSTILE =
  `denied ${ESC}]0;pwned\u0007${ESC}[2J\rOK done \u009b31m \u202eevil`;

// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e]/;

async function hostileRegistry(dir: string) {
  const registry = createRegistry({ store: `sqlite:${dir}/state.db` });
  registry.defineView({
    name: "v",
    database: `sqlite:${dir}/shop.db`,
    sql: "SELECT 1 AS id",
  });
  registry.register("echo", () => ({ said: HOSTILE }));
  registry.register("remote", () => {
    throw new Error(HOSTILE);
  });
  registry.defineJob({ name: "sync", view: "v", actions: ["echo", "remote"] });
  const { runId } = await registry.runJob("sync");
  return { registry, runId };
}

async function cli(
  args: string[],
  options: { registry: ReturnType<typeof createRegistry>; colour: boolean },
) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, {
    io: { out: (line) => out.push(line), err: (line) => err.push(line) },
    ...options,
  });
  return { code, stdout: out.join("\n"), stderr: err.join("\n") };
}

Deno.test("history, show, run and their logs print no control character of a run's error or result", async () => {
  const dir = await Deno.makeTempDir();
  const { registry, runId } = await hostileRegistry(dir);
  try {
    for (const colour of [false, true]) {
      for (
        const args of [
          ["history"],
          ["show", runId],
          ["run", "sync"],
          ["run", "sync", "--log-level", "info"],
        ]
      ) {
        const { stdout, stderr } = await cli(args, { registry, colour });
        const printed = `${stdout}\n${stderr}`;
        const withoutColours = printed.replace(
          new RegExp(`${ESC}\\[(?:[0-2]|3[1-3])m`, "g"),
          "",
        );
        assert.ok(
          !CONTROL.test(colour ? withoutColours : printed),
          `${args.join(" ")} (colour ${colour}) printed ${
            JSON.stringify(printed)
          }`,
        );
        assert.match(printed, /denied \\u001b\]0;pwned\\u0007/, args.join(" "));
      }
    }
  } finally {
    await registry.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--json output stays valid JSON and exact whatever a run's error holds", async () => {
  const dir = await Deno.makeTempDir();
  const { registry, runId } = await hostileRegistry(dir);
  try {
    for (const args of [["history", "--json"], ["show", runId, "--json"]]) {
      const { stdout } = await cli(args, { registry, colour: false });
      assert.ok(!CONTROL.test(stdout), stdout);
      const parsed = JSON.parse(stdout);
      const run = Array.isArray(parsed) ? parsed[0] : parsed;
      assert.equal(
        run.actions[1].error.message,
        `Action "remote" failed: ${HOSTILE}`,
      );
      assert.equal(run.actions[0].result.said, HOSTILE);
    }
  } finally {
    await registry.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("printable() escapes control characters, keeps tabs, line feeds and, when asked, paint's colours", () => {
  assert.equal(printable(`a${ESC}[2Jb\r\nc\td`), "a\\u001b[2Jb\nc\td");
  assert.equal(printable("x\ry\u009bz\u202e"), "x\\u000dy\\u009bz\\u202e");
  assert.equal(
    printable(`${ESC}[31mred${ESC}[0m`, true),
    `${ESC}[31mred${ESC}[0m`,
  );
  assert.equal(printable(`${ESC}[8mhidden`, true), "\\u001b[8mhidden");
  assert.equal(printable(`${ESC}[31mred`), "\\u001b[31mred");
});
