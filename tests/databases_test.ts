import assert from "node:assert/strict";
import { createRegistry } from "../mod.ts";
import { main } from "../src/cli/main.ts";
import { rejectsWithCode, throwsWithCode } from "./_helpers.ts";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("databases: run() accepts a configured database name in run_sql's config", async () => {
  await withDir(async (dir) => {
    const url = `sqlite:${dir}/app.db`;
    const registry = createRegistry({
      store: "sqlite::memory:",
      databases: { main: url },
    });
    try {
      await registry.run("run_sql", [], {
        config: {
          database: "main",
          sql: "CREATE TABLE t (id INTEGER)",
          mode: "once",
        },
      });
      const result = await registry.run("run_sql", [{ id: 1 }, { id: 2 }], {
        config: { database: "main", sql: "INSERT INTO t (id) VALUES (:id)" },
      });
      assert.equal(result.rowsAffected, 2);
      // The same file, reached by its URL.
      registry.defineView({
        name: "t",
        database: url,
        sql: "SELECT id FROM t",
      });
      registry.register("count", ({ data }) => ({ n: data.length }));
      registry.defineJob({ name: "j", view: "t", actions: ["count"] });
      assert.deepEqual((await registry.runJob("j")).actions[0]!.result, {
        n: 2,
      });
    } finally {
      await registry.close();
    }
  });
});

Deno.test("databases: an unknown database name is INVALID_CONFIG naming the configured ones", async () => {
  const registry = createRegistry({
    store: "sqlite::memory:",
    databases: { main: "sqlite::memory:" },
  });
  try {
    await rejectsWithCode(
      registry.run("run_sql", [{}], {
        config: { database: "mian", sql: "SELECT 1" },
      }),
      "INVALID_CONFIG",
      /database: Expected a database URL .* or a configured database name/,
    );
    throwsWithCode(
      () =>
        registry.defineView({ name: "v", database: "mian", sql: "SELECT 1" }),
      "INVALID_VIEW",
      /neither a database URL nor a configured database name/,
    );
  } finally {
    await registry.close();
  }
});

Deno.test("databases: a job step keeps the name it was given; the name is resolved when it runs", async () => {
  const registry = createRegistry({
    store: "sqlite::memory:",
    databases: { main: "sqlite::memory:" },
  });
  try {
    registry.defineView({
      name: "one",
      database: "main",
      sql: "SELECT 1 AS id",
    });
    const job = registry.defineJob({
      name: "j",
      view: "one",
      actions: [{
        action: "run_sql",
        config: { database: "main", sql: "SELECT :id", mode: "each" },
      }],
    });
    assert.equal(job.steps[0]!.config!.database, "main");
    const report = await registry.runJob("j");
    assert.equal(report.status, "succeeded", JSON.stringify(report));
  } finally {
    await registry.close();
  }
});

Deno.test("databases: the store may be a configured database name", async () => {
  await withDir(async (dir) => {
    const registry = createRegistry({
      store: "history",
      databases: { history: `sqlite:${dir}/state/history.db` },
    });
    try {
      registry.defineView({
        name: "one",
        database: "sqlite::memory:",
        sql: "SELECT 1 AS id",
      });
      registry.register("noop", () => ({}));
      registry.defineJob({ name: "j", view: "one", actions: ["noop"] });
      await registry.runJob("j");
      assert.equal((await registry.history()).length, 1);
      assert.ok((await Deno.stat(`${dir}/state/history.db`)).isFile);
    } finally {
      await registry.close();
    }
  });
});

Deno.test("cli: exec accepts a database name from the config file", async () => {
  await withDir(async (dir) => {
    const config = `${dir}/triggerkit.toml`;
    await Deno.writeTextFile(
      config,
      `store = "sqlite::memory:"\n\n[databases]\nmain = "sqlite:${dir}/app.db"\n`,
    );
    const data = `${dir}/rows.json`;
    await Deno.writeTextFile(data, JSON.stringify([{ id: 7 }]));
    const out: string[] = [];
    const err: string[] = [];
    const io = {
      out: (l: string) => out.push(l),
      err: (l: string) => err.push(l),
    };
    const exec = (sql: string, mode: string) =>
      main([
        "exec",
        "run_sql",
        "--data",
        data,
        "--config",
        JSON.stringify({ database: "main", sql, mode }),
        "--config-file",
        config,
        "--json",
      ], { io });
    assert.equal(
      await exec("CREATE TABLE t (id INTEGER)", "once"),
      0,
      err.join("\n"),
    );
    assert.equal(
      await exec("INSERT INTO t (id) VALUES (:id)", "each"),
      0,
      err.join("\n"),
    );
    assert.equal(JSON.parse(out.at(-1)!).rowsAffected, 1);
  });
});
