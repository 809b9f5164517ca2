/**
 * TriggerKit under Deno Deploy's limits: no Worker, no subprocess
 * (--allow-run), no --allow-write; Deno KV for the store, Deno.cron for
 * schedules.
 */
import assert from "node:assert/strict";
import { fixture, runScript } from "./_helpers.ts";

Deno.test("deploy: built-ins, function actions, jobs, KV history and Deno.cron work under Deploy's limits", async () => {
  const script = `
    delete globalThis.Worker;
    const { createRegistry } = await import(${
    JSON.stringify(new URL("../mod.ts", import.meta.url).href)
  });
    const out = {};
    const registry = createRegistry({ store: "kv::memory:" });
    registry.register("count", ({ data }) => ({ n: data.length }));
    try {
      registry.register("sandboxed", ${
    JSON.stringify(fixture("echo.ts").href)
  });
      out.refused = "registered";
    } catch (error) {
      out.refused = error.code + ": " + error.message;
    }
    const trusting = createRegistry({ store: "kv::memory:", sandbox: { trustedInProcess: true } });
    trusting.register("echo", ${JSON.stringify(fixture("echo.ts").href)});
    out.trusted = [trusting.getInfo("echo").kind, (await trusting.run("echo", [{ a: 1 }])).data];
    trusting.register("nodefault", ${
    JSON.stringify(fixture("no_default.ts").href)
  });
    try {
      await trusting.run("nodefault", []);
      out.noDefault = "ran";
    } catch (error) {
      out.noDefault = error.code;
    }
    registry.defineView({ name: "v", database: "sqlite::memory:", sql: "SELECT 1 AS id UNION SELECT 2" });
    registry.defineJob({
      name: "j",
      view: "v",
      schedule: "every 5 minutes",
      dedupe: { key: ["id"] },
      actions: ["count", { action: "http_request", dryRun: true, config: { url: "https://api.example.com/x" } }],
    });
    const first = await registry.runJob("j");
    const second = await registry.runJob("j");
    out.runs = [first.status, first.newRowCount, second.status, second.newRowCount];
    out.history = (await registry.history({ job: "j" })).map((run) => run.status);
    const controller = new AbortController();
    const serving = registry.serve({ driver: "deno-cron", signal: controller.signal });
    await new Promise((resolve) => setTimeout(resolve, 100));
    controller.abort();
    await serving;
    out.cron = "stopped";
    try {
      await createRegistry().history();
      out.defaultStore = "opened";
    } catch (error) {
      out.defaultStore = error.code + ": " + error.message;
    }
    await registry.close();
    await trusting.close();
    console.log(JSON.stringify(out));`;
  const output = await runScript(script, [
    "--no-prompt",
    "--allow-read",
    "--allow-env",
    "--allow-net=127.0.0.1",
  ]);
  assert.equal(output.code, 0, output.stderr);
  const out = JSON.parse(output.stdout);
  assert.match(
    out.refused,
    /^SANDBOX_UNAVAILABLE: .*no Worker \(as on Deno Deploy\)/,
  );
  assert.deepEqual(out.trusted, ["function", [{ a: 1 }]]);
  assert.equal(out.noDefault, "INVALID_ACTION");
  assert.deepEqual(out.runs, ["succeeded", 2, "skipped", 0]);
  assert.deepEqual(out.history, ["skipped", "succeeded"]);
  assert.equal(out.cron, "stopped");
  assert.match(
    out.defaultStore,
    /^INVALID_CONFIG: .*needs its folder \.triggerkit.*kv: on Deno Deploy/,
  );
});

Deno.test("deploy: without Deno KV or Deno.cron, kv: stores and the deno-cron driver say what is missing", async () => {
  const config = JSON.parse(
    await Deno.readTextFile(new URL("../deno.json", import.meta.url)),
  );
  const dir = await Deno.makeTempDir({ prefix: "triggerkit-no-unstable-" });
  try {
    await Deno.writeTextFile(
      `${dir}/deno.json`,
      JSON.stringify({ imports: config.imports, unstable: ["worker-options"] }),
    );
    const script = `
      const { createRegistry } = await import(${
      JSON.stringify(new URL("../mod.ts", import.meta.url).href)
    });
      const out = {};
      try {
        await createRegistry({ store: "kv:" }).history();
        out.kv = "opened";
      } catch (error) {
        out.kv = error.code + ": " + error.message;
      }
      const registry = createRegistry({ store: "sqlite::memory:" });
      registry.defineView({ name: "v", database: "sqlite::memory:", sql: "SELECT 1 AS id" });
      registry.register("noop", () => ({}));
      registry.defineJob({ name: "j", view: "v", actions: ["noop"], schedule: "hourly" });
      try {
        await registry.serve({ driver: "deno-cron" });
        out.cron = "served";
      } catch (error) {
        out.cron = error.code + ": " + error.message;
      }
      await registry.close();
      console.log(JSON.stringify(out));`;
    const output = await runScript(
      script,
      ["--no-prompt", "--no-lock", "--allow-read", "--allow-env"],
      `${dir}/deno.json`,
    );
    assert.equal(output.code, 0, output.stderr);
    const out = JSON.parse(output.stdout);
    assert.match(
      out.kv,
      /^INVALID_CONFIG: The store "kv:" needs Deno KV.*--unstable-kv/,
    );
    assert.match(
      out.cron,
      /^INVALID_CONFIG: .*needs Deno\.cron.*--unstable-cron/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
