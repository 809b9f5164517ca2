import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { main } from "../src/cli/main.ts";
import { capture } from "./_helpers.ts";
import { createRegistry } from "../mod.ts";
import { runCli, runMain, withFiles } from "./_cli.ts";

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

Deno.test("cli: exec takes a database name from the config file, ${VAR} in --config and rows from standard input", async () => {
  await withFiles({
    "triggerkit.toml": `[databases]\nmain = "sqlite:./shop.db"\n`,
  }, async (dir) => {
    const db = new DatabaseSync(`${dir}/shop.db`);
    db.exec("CREATE TABLE notes (id INTEGER, text TEXT)");
    db.close();
    Deno.env.set("TK_EXEC_TEST_DB", "main");
    try {
      const result = await runMain([
        "exec",
        "run_sql",
        "--data",
        "-",
        "--config-file",
        `${dir}/triggerkit.toml`,
        "--config",
        '{"database":"${TK_EXEC_TEST_DB}","sql":"INSERT INTO notes (id, text) VALUES (:id, :text)"}',
      ], { stdin: '[{"id":1,"text":"a"},{"id":2,"text":"b"}]' });
      assert.equal(result.code, 0, result.stderr);
      assert.equal(JSON.parse(result.stdout).rowsAffected, 2);
    } finally {
      Deno.env.delete("TK_EXEC_TEST_DB");
    }
    const check = new DatabaseSync(`${dir}/shop.db`);
    assert.deepEqual(
      check.prepare("SELECT id, text FROM notes ORDER BY id").all().map((
        row,
      ) => ({ ...row })),
      [{ id: 1, text: "a" }, { id: 2, text: "b" }],
    );
    check.close();
    const piped = await runCli([
      "exec",
      "run_sql",
      "--data",
      "-",
      "--config",
      '{"database":"main","sql":"DELETE FROM notes WHERE id = :id"}',
    ], { cwd: dir, stdin: '{"id":1}' });
    assert.equal(piped.code, 0, piped.stderr);
    assert.equal(JSON.parse(piped.stdout).rowsAffected, 1);
  });
});

Deno.test("cli: exec refuses an unset ${VAR} in --config, naming it", async () => {
  const registry = createRegistry();
  registry.register("count", () => ({}));
  try {
    const result = await runMain([
      "exec",
      "count",
      "--data",
      "-",
      "--config",
      '{"token":"${TK_EXEC_NEVER_SET}"}',
    ], { registry, stdin: "[]" });
    assert.equal(result.code, 2);
    assert.match(
      result.stderr,
      /error\[INVALID_CONFIG\]: --config: token: \$\{TK_EXEC_NEVER_SET\} is not set/,
    );
  } finally {
    await registry.close();
  }
});

Deno.test("cli: exec with a missing --data file exits 2 saying so", async () => {
  const registry = createRegistry();
  registry.register("count", () => ({}));
  try {
    const result = await runMain(
      ["exec", "count", "--data", "/no/such/rows.json"],
      { registry },
    );
    assert.equal(result.code, 2);
    assert.match(
      result.stderr,
      /error\[INVALID_DATA\]: Cannot read --data \/no\/such\/rows\.json: no such file/,
    );
  } finally {
    await registry.close();
  }
});

Deno.test("cli: exec --help lists every option, --config-file included", async () => {
  const { stdout, code } = await runMain(["exec", "--help"]);
  assert.equal(code, 0);
  for (
    const option of [
      "--data FILE",
      '"-" reads standard input',
      "--config JSON",
      "${VAR}",
      "--config-file FILE",
      "--dry-run",
      "--json",
      "-h, --help",
    ]
  ) assert.ok(stdout.includes(option), `${option} missing from\n${stdout}`);
  const validate = await runMain(["validate", "--help"]);
  assert.match(validate.stdout, /--timeout MS/);
  assert.match(validate.stdout, /--config FILE/);
});

Deno.test("cli: validate checks a registry given to main() with its deep checks", async () => {
  const registry = createRegistry();
  registry.defineView({
    name: "v",
    database: "sqlite::memory:",
    sql: "SELECT 1 AS id",
  });
  registry.register("notify", () => ({}));
  registry.defineJob({
    name: "j",
    view: "v",
    actions: ["notify"],
    dedupe: { key: ["nope"] },
  });
  try {
    const result = await runMain(["validate", "--json"], { registry });
    assert.equal(result.code, 2);
    assert.deepEqual(
      JSON.parse(result.stdout).problems.map((p: { path: string }) => p.path),
      ["jobs.j.dedupe.key"],
    );
  } finally {
    await registry.close();
  }
});
