import assert from "node:assert/strict";
import { createRegistry } from "../mod.ts";
import { isName } from "../src/_names.ts";
import { cronName } from "../src/jobs/_drivers.ts";
import { throwsWithCode, withRegistry } from "./_helpers.ts";
import { runMain } from "./_cli.ts";

Deno.test("names: any non-empty string of at most 200 characters without control characters or edge whitespace", () => {
  for (
    const name of [
      "My Action",
      "x",
      "émoji 🚀 ok",
      "a.b:c-d_e",
      "x".repeat(200),
      "inner  spaces",
    ]
  ) assert.ok(isName(name), name);
  for (
    const name of [
      "",
      " leading",
      "trailing ",
      "tab\there",
      "new\nline",
      "nul\0",
      "del\x7f",
      "c1\u0085",
      "x".repeat(201),
      42,
      undefined,
    ]
  ) assert.ok(!isName(name), JSON.stringify(name));
});

Deno.test(
  'names: "My Action" registers, runs and names views and jobs in the library',
  withRegistry(async (registry) => {
    const info = registry.register("My Action", ({ data }) => ({
      seen: data.length,
    }));
    assert.equal(info.name, "My Action");
    assert.deepEqual(await registry.run("My Action", [{ a: 1 }]), { seen: 1 });
    registry.defineView({
      name: "My View",
      database: "sqlite::memory:",
      sql: "SELECT 1 AS id",
    });
    registry.defineJob({
      name: "My Job",
      view: "My View",
      actions: ["My Action"],
    });
    assert.deepEqual(registry.listJobs().map((job) => job.name), ["My Job"]);
  }),
);

Deno.test(
  "names: a name of 201 characters or with a control character is refused, naming why",
  withRegistry((registry) => {
    throwsWithCode(
      () => registry.register("x".repeat(201), () => ({})),
      "INVALID_ACTION",
      /at most 200 characters, received 201/,
    );
    throwsWithCode(
      () =>
        registry.defineView({
          name: "bad\nname",
          database: "sqlite::memory:",
          sql: "SELECT 1",
        }),
      "INVALID_VIEW",
      /control characters/,
    );
  }),
);

Deno.test('names: info and exec take "My Action" on the command line', async () => {
  const registry = createRegistry();
  registry.register("My Action", ({ data }) => ({ seen: data.length }), {
    description: "Spaces are fine",
  });
  const file = await Deno.makeTempFile({ suffix: ".json" });
  try {
    await Deno.writeTextFile(file, '[{"a":1},{"a":2}]');
    const info = await runMain(["info", "My Action", "--json"], { registry });
    assert.equal(info.code, 0);
    assert.equal(JSON.parse(info.stdout).description, "Spaces are fine");
    const exec = await runMain(["exec", "My Action", "--data", file], {
      registry,
    });
    assert.equal(exec.code, 0, exec.stderr);
    assert.deepEqual(JSON.parse(exec.stdout), { seen: 2 });
  } finally {
    await Deno.remove(file);
    await registry.close();
  }
});

Deno.test('names: a config\'s "My Action" reaches info on the command line', async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/triggerkit.config.ts`,
      `export default {
        actions: { "My Action": () => ({ ok: true }) },
        views: { "My View": { database: "sqlite::memory:", sql: "SELECT 1 AS id" } },
        jobs: { "My Job": { view: "My View", actions: ["My Action"] } },
      };`,
    );
    const { code, stdout, stderr } = await runMain([
      "info",
      "My Action",
      "--json",
      "--config",
      `${dir}/triggerkit.config.ts`,
    ]);
    assert.equal(code, 0, stderr);
    assert.equal(JSON.parse(stdout).name, "My Action");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("names: any job name gives a Deno.cron name Deno accepts, distinct per job", () => {
  const names = [
    "My Job",
    "Überweisung: täglich",
    "a.b:c",
    "x".repeat(200),
    "x".repeat(199) + "y",
  ];
  const crons = names.map(cronName);
  assert.equal(new Set(crons).size, names.length);
  assert.equal(cronName("My Job"), "triggerkit My Job");
  for (const name of crons) {
    const stop = new AbortController();
    Deno.cron(name, "* * * * *", { signal: stop.signal }, () => {});
    stop.abort();
  }
});
