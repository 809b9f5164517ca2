import assert from "node:assert/strict";
import { main } from "../src/cli/main.ts";
import { capture } from "./_helpers.ts";
import { createRegistry } from "../mod.ts";

Deno.test("cli: no command prints help and exits 2", async () => {
  const { io, out } = capture();
  assert.equal(await main([], { io }), 2);
  assert.match(out.join("\n"), /Commands:/);
});

Deno.test("cli: an unknown command exits 2 and names it", async () => {
  const { io, err } = capture();
  assert.equal(await main(["frobnicate"], { io }), 2);
  assert.match(err.join("\n"), /Unknown command "frobnicate"/);
});

Deno.test("cli: every command has --help", async () => {
  for (const command of ["actions", "info", "exec"]) {
    const { io, out } = capture();
    assert.equal(await main([command, "--help"], { io }), 0);
    assert.match(out.join("\n"), new RegExp(`Usage: triggerkit ${command}`));
  }
});

Deno.test("cli: an unknown option exits 2", async () => {
  const { io, err } = capture();
  assert.equal(await main(["actions", "--frob"], { io }), 2);
  assert.match(err.join("\n"), /frob/);
});

Deno.test("cli: actions --json lists actions sorted by name", async () => {
  const registry = createRegistry();
  registry.register("zeta", () => ({}));
  registry.register("alpha", () => ({}), { description: "First" });
  const { io, out } = capture();
  assert.equal(await main(["actions", "--json"], { io, registry }), 0);
  const names = JSON.parse(out.join("\n")).map((info: { name: string }) =>
    info.name
  );
  assert.ok(names.indexOf("alpha") < names.indexOf("zeta"));
  await registry.close();
});

Deno.test("cli: info of an unknown action exits 2 with ACTION_NOT_FOUND", async () => {
  const { io, err } = capture();
  assert.equal(await main(["info", "nope", "--json"], { io }), 2);
  assert.equal(JSON.parse(err.join("\n")).error.code, "ACTION_NOT_FOUND");
});

Deno.test("cli: exec runs an action on rows from a file", async () => {
  const registry = createRegistry();
  registry.register(
    "count",
    ({ data, config, dryRun }) => ({ n: data.length, config, dryRun }),
  );
  const file = await Deno.makeTempFile({ suffix: ".json" });
  try {
    await Deno.writeTextFile(file, JSON.stringify([{ a: 1 }, { a: 2 }]));
    const { io, out } = capture();
    const code = await main(
      [
        "exec",
        "count",
        "--data",
        file,
        "--config",
        '{"k":1}',
        "--dry-run",
        "--json",
      ],
      { io, registry },
    );
    assert.equal(code, 0);
    assert.deepEqual(JSON.parse(out.join("\n")), {
      n: 2,
      config: { k: 1 },
      dryRun: true,
    });
  } finally {
    await Deno.remove(file);
    await registry.close();
  }
});

Deno.test("cli: exec with bad --config JSON exits 2 with INVALID_DATA", async () => {
  const registry = createRegistry();
  registry.register("count", () => ({}));
  const file = await Deno.makeTempFile({ suffix: ".json" });
  try {
    await Deno.writeTextFile(file, "[]");
    const { io, err } = capture();
    const code = await main([
      "exec",
      "count",
      "--data",
      file,
      "--config",
      "{",
      "--json",
    ], { io, registry });
    assert.equal(code, 2);
    assert.equal(JSON.parse(err.join("\n")).error.code, "INVALID_DATA");
  } finally {
    await Deno.remove(file);
    await registry.close();
  }
});

Deno.test("cli: exec without --data exits 2", async () => {
  const { io, err } = capture();
  assert.equal(await main(["exec", "count"], { io }), 2);
  assert.match(err.join("\n"), /Missing --data FILE/);
});

Deno.test("cli: a failing action exits 1", async () => {
  const registry = createRegistry();
  registry.register("boom", () => {
    throw new Error("nope");
  });
  const file = await Deno.makeTempFile({ suffix: ".json" });
  try {
    await Deno.writeTextFile(file, "[]");
    const { io, err } = capture();
    assert.equal(
      await main(["exec", "boom", "--data", file], { io, registry }),
      1,
    );
    assert.match(err.join("\n"), /ACTION_FAILED/);
    // exec prints no run: the log's warning stays, at the default level.
    assert.match(
      err.join("\n"),
      /\[WRN\] triggerkit·action: Action boom failed/,
    );
  } finally {
    await Deno.remove(file);
    await registry.close();
  }
});
