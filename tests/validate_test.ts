import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import postgres from "postgres";
import { validateConfig, type ValidationProblem } from "../mod.ts";
import { pgTest, uniqueTable } from "./_helpers.ts";
import { runCli, runMain, withFiles } from "./_cli.ts";

/** A TCP server that accepts connections and never answers. */
function silentServer(): { port: number; close: () => void } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  (async () => {
    try {
      for await (const conn of listener) held.push(conn);
    } catch {
      // Closed.
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    close: () => {
      for (const conn of held) {
        try {
          conn.close();
        } catch {
          // Already closed.
        }
      }
      listener.close();
    },
  };
}

function paths(problems: ValidationProblem[]): Array<[string, string]> {
  return problems.map(({ path, code }) => [path, code]);
}

const MANY_PROBLEMS = (pgPort: number) => `
[databases]
shop = "sqlite:./shop.db"
gone = "sqlite:./missing.db"
pg = "postgres://postgres:hunter2@127.0.0.1:${pgPort}/db"

[actions.no_default]
module = "./actions/no_default.ts"

[actions.broken]
module = "./actions/broken.ts"

[views.orders]
database = "shop"
sql = "SELECT id, total FROM orders"

[views.bad_sql]
database = "shop"
sql = "SELEKT id FROM orders"

[views.lost]
database = "gone"
sql = "SELECT 1 AS id"

[views.remote]
database = "pg"
sql = "SELECT 1 AS id"

[jobs.alerts]
view = "orders"
schedul = "every minute"
dedupe = { key = ["idd"] }
actions = [
  { action = "send_slack_message", config = { channel = "#x", text = "hi", tokenEnv = "TK_TEST_UNSET_TOKEN" } },
  { action = "http_request", config = { url = "https://example.com", headers = { Authorization = { fromEnv = "TK_TEST_UNSET_SECRET" } } } },
]

[jobs.typed]
view = "orders"
actions = [{ action = "run_sql", config = { database = "shop" } }]

[jobs.quiet]
view = "orders"
actions = [{ action = "send_slack_message", dryRun = true, config = { channel = "#x", text = "hi" } }]

[jobs.hooked]
view = "orders"
actions = [{ action = "send_slack_message", config = { channel = "#x", text = "hi", webhookUrlEnv = "TK_TEST_SET_HOOK" } }]
`;

const MODULES = {
  "actions/no_default.ts": "export const run = () => ({});\n",
  "actions/broken.ts": "export default ({ data } => ({ n: data.length });\n",
};

function seedShop(dir: string) {
  const db = new DatabaseSync(`${dir}/shop.db`);
  db.exec("CREATE TABLE orders (id INTEGER, total REAL)");
  db.close();
}

/** The config of many problems, its modules and its shop, beside a database that never answers. */
async function withManyProblems(fn: (dir: string) => Promise<void>) {
  const down = silentServer();
  try {
    await withFiles({
      "triggerkit.toml": MANY_PROBLEMS(down.port),
      ...MODULES,
    }, async (dir) => {
      seedShop(dir);
      await fn(dir);
    });
  } finally {
    down.close();
  }
}

Deno.test("validate reports every problem of a config at once, each with its place", async () => {
  Deno.env.set("TK_TEST_SET_HOOK", "https://hooks.example.com/x");
  try {
    await withManyProblems(async (dir) => {
      const started = performance.now();
      const { problems } = await validateConfig(`${dir}/triggerkit.toml`, {
        timeoutMs: 500,
      });
      assert.ok(
        performance.now() - started < 10_000,
        "a database that never answers is given up on at its deadline",
      );
      const found = paths(problems);
      for (
        const expected of [
          ["jobs.alerts", "INVALID_CONFIG"], // schedul
          ["jobs.typed.actions[0].config", "INVALID_CONFIG"], // run_sql without sql
          ["databases.gone", "DATABASE_ERROR"], // SQLite file missing
          ["databases.pg", "DATABASE_ERROR"], // never answers
          ["views.bad_sql.sql", "DATABASE_ERROR"], // does not prepare
          ["jobs.alerts.dedupe.key", "INVALID_JOB"], // not a column
          ["actions.no_default", "INVALID_ACTION"],
          ["actions.broken", "INVALID_ACTION"], // syntax error
          ["jobs.alerts.actions[0].config.tokenEnv", "INVALID_CONFIG"],
          [
            "jobs.alerts.actions[1].config.headers.Authorization.fromEnv",
            "INVALID_CONFIG",
          ],
        ] as const
      ) {
        assert.ok(
          found.some(([path, code]) =>
            path === expected[0] && code === expected[1]
          ),
          `${expected.join(" ")} not in ${JSON.stringify(found, null, 1)}`,
        );
      }
      assert.equal(problems.length, 10, JSON.stringify(problems, null, 1));
      const message = (path: string) =>
        problems.find((p) => p.path === path)!.message;
      assert.match(
        message("jobs.alerts.dedupe.key"),
        /dedupe key "idd" is not a column of view "orders" \(its columns: id, total\); did you mean "id"\?/,
      );
      assert.match(message("databases.gone"), /missing\.db does not exist/);
      assert.match(message("databases.pg"), /did not answer within 500 ms/);
      assert.match(message("views.bad_sql.sql"), /syntax error/);
      assert.match(message("actions.no_default"), /no default export/);
      assert.match(
        message("jobs.alerts.actions[0].config.tokenEnv"),
        /TK_TEST_UNSET_TOKEN .* is not set/,
      );
      for (const problem of problems) {
        assert.doesNotMatch(problem.message, /hunter2/);
      }
    });
  } finally {
    Deno.env.delete("TK_TEST_SET_HOOK");
  }
});

Deno.test("validate --json lists the problems and exits 2; a valid config exits 0", async () => {
  await withManyProblems(async (dir) => {
    const bad = await runCli(["validate", "--json", "--timeout", "300"], {
      cwd: dir,
    });
    assert.equal(bad.code, 2, bad.stderr);
    const output = JSON.parse(bad.stdout);
    assert.equal(output.valid, false);
    assert.ok(output.problems.length >= 5);
    for (const problem of output.problems) {
      assert.deepEqual(Object.keys(problem).sort(), [
        "code",
        "message",
        "path",
      ]);
    }
    assert.doesNotMatch(bad.stdout + bad.stderr, /hunter2/);
    const human = await runCli(["validate", "--timeout", "300"], {
      cwd: dir,
    });
    assert.equal(human.code, 2);
    assert.match(
      human.stderr,
      /invalid: .*triggerkit\.toml \(\d+ problems\)/,
    );
    assert.match(
      human.stderr,
      /error\[INVALID_CONFIG\] unknown key "schedul" in jobs\.alerts; did you mean "schedule"\?/,
    );
    assert.doesNotMatch(human.stderr, /hunter2/);
  });
  await withFiles({
    "triggerkit.toml": `
[views.v]
database = "sqlite:./shop.db"
sql = "SELECT id FROM orders"

[jobs.j]
view = "v"
dedupe = { key = ["id"] }
actions = ["http_request"]
`,
  }, async (dir) => {
    seedShop(dir);
    await Deno.writeTextFile(
      `${dir}/triggerkit.toml`,
      (await Deno.readTextFile(`${dir}/triggerkit.toml`)).replace(
        '["http_request"]',
        '[{ action = "http_request", config = { url = "https://example.com" } }]',
      ),
    );
    const ok = await runMain([
      "validate",
      "--config",
      `${dir}/triggerkit.toml`,
    ]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /valid: .*\(1 views, 1 jobs, 3 actions\)/);
  });
});

Deno.test("validate reports every unset ${VAR}, not only the first", async () => {
  await withFiles({
    "triggerkit.toml":
      `store = "\${TK_NOT_SET_A}"\n[databases]\nmain = "\${TK_NOT_SET_B}"\n`,
  }, async (dir) => {
    const { problems } = await validateConfig(`${dir}/triggerkit.toml`);
    assert.deepEqual(paths(problems).slice(0, 2), [
      ["store", "INVALID_CONFIG"],
      ["databases.main", "INVALID_CONFIG"],
    ]);
  });
});

pgTest(
  "validate prepares a PostgreSQL view without running it and checks its columns",
  async (url) => {
    const table = uniqueTable("tk_validate");
    const sql = postgres(url, { onnotice: () => {} });
    await sql.unsafe(`CREATE TABLE ${table} (id int, total numeric)`);
    try {
      const { problems } = await validateConfig({
        databases: { pg: url },
        views: [
          { name: "ok", database: "pg", sql: `SELECT id, total FROM ${table}` },
          { name: "typo", database: "pg", sql: `SELECT idd FROM ${table}` },
          {
            name: "gone",
            database: "pg",
            sql: "SELECT 1 FROM tk_no_such_table",
          },
        ],
        jobs: [{
          name: "j",
          view: "ok",
          dedupe: { key: ["ids"] },
          actions: [{
            action: "run_sql",
            config: {
              database: "pg",
              sql: `DELETE FROM ${table} WHERE id = :id`,
            },
          }],
        }],
      });
      assert.deepEqual(paths(problems), [
        ["views.gone.sql", "DATABASE_ERROR"],
        ["views.typo.sql", "DATABASE_ERROR"],
        ["jobs.j.dedupe.key", "INVALID_JOB"],
      ]);
      assert.match(problems[1]!.message, /column "idd" does not exist/);
      assert.match(problems[2]!.message, /did you mean "id"\?/);
      const [row] = await sql.unsafe(`SELECT count(*)::int AS n FROM ${table}`);
      assert.equal(row!.n, 0);
    } finally {
      await sql.unsafe(`DROP TABLE ${table}`);
      await sql.end();
    }
  },
);

pgTest(
  "validate names a PostgreSQL database that refuses the password, never showing it",
  async (url) => {
    const bad = new URL(url);
    bad.username = "tk_no_such_user";
    bad.password = "hunter2";
    const { problems } = await validateConfig({
      databases: { pg: bad.href },
      views: [{ name: "v", database: "pg", sql: "SELECT 1 AS id" }],
    });
    assert.deepEqual(paths(problems), [["databases.pg", "DATABASE_ERROR"]]);
    assert.match(problems[0]!.message, /postgres:\/\/tk_no_such_user:\*\*\*@/);
    assert.doesNotMatch(problems[0]!.message, /hunter2/);
  },
);

Deno.test("validate does not repeat a refused view or action as unknown in the jobs that use them", async () => {
  await withFiles({
    "triggerkit.toml": `
[actions.broken]
module = "./missing_module.ts"

[views.v]
database = "nowhere"
sql = "SELECT 1 AS id"

[views.ok]
database = "sqlite::memory:"
sql = "SELECT 1 AS id"

[jobs.j]
view = "v"
actions = ["http_request"]

[jobs.k]
view = "ok"
actions = ["broken", "notthere"]
`,
  }, async (dir) => {
    const { problems } = await validateConfig(`${dir}/triggerkit.toml`);
    assert.deepEqual(paths(problems), [
      ["actions.broken", "INVALID_ACTION"],
      ["views.v.database", "INVALID_VIEW"],
      ["jobs.j.actions[0].config", "INVALID_CONFIG"],
      ["jobs.k.actions[1].action", "ACTION_NOT_FOUND"],
    ]);
  });
});

const STATEMENTS = `
[databases]
shop = "sqlite:./shop.db"

[views.orders]
database = "shop"
sql = "SELECT id, total FROM orders"

[jobs.archive]
view = "orders"
actions = [
  { action = "run_sql", config = { database = "shop", sql = "INSERT INTO orders (id, total) VALUES (:id, :total)" } },
  { action = "run_sql", config = { database = "shop", sql = "INSERT INTO archive (id) VALUES (:id)" } },
  { action = "run_sql", config = { database = "shop", sql = "UPDATE orders SET totl = :total WHERE id = :id" } },
]

[jobs.cleanup]
view = "orders"
actions = [
  { action = "run_sql", config = { database = "shop", sql = "DELEET FROM orders", mode = "once" } },
]

[jobs.creates]
view = "orders"
actions = [
  { action = "run_sql", config = { database = "shop", sql = "CREATE TABLE IF NOT EXISTS audit (id INTEGER)", mode = "once" } },
  { action = "run_sql", config = { database = "shop", sql = "INSERT INTO audit (id) VALUES (:id)" } },
]
`;

Deno.test("validate prepares every run_sql statement on its SQLite database, never running it, and reports each with its job, step and action", async () => {
  await withFiles({ "triggerkit.toml": STATEMENTS }, async (dir) => {
    seedShop(dir);
    const { problems } = await validateConfig(`${dir}/triggerkit.toml`);
    assert.deepEqual(paths(problems), [
      ["jobs.archive.actions[1].config.sql", "DATABASE_ERROR"],
      ["jobs.archive.actions[2].config.sql", "DATABASE_ERROR"],
      ["jobs.cleanup.actions[0].config.sql", "DATABASE_ERROR"],
    ], JSON.stringify(problems, null, 1));
    assert.match(
      problems[0]!.message,
      /^the SQL of step 2 \(run_sql\) of job "archive" does not prepare: .*no such table: archive/,
    );
    assert.match(problems[1]!.message, /step 3 .*no such column: totl/);
    assert.match(problems[2]!.message, /step 1 .*"cleanup".*syntax error/);
    const db = new DatabaseSync(`${dir}/shop.db`, { readOnly: true });
    try {
      assert.deepEqual(
        db.prepare("SELECT name FROM sqlite_master ORDER BY name").all()
          .map((row) => row.name),
        ["orders"],
        "nothing was created",
      );
    } finally {
      db.close();
    }
    const cli = await runCli(["validate", "--json"], { cwd: dir });
    assert.equal(cli.code, 2, cli.stderr);
    assert.deepEqual(
      paths(JSON.parse(cli.stdout).problems),
      paths(problems),
    );
  });
});

pgTest(
  "validate describes every run_sql statement on PostgreSQL without executing it",
  async (url) => {
    const table = uniqueTable("tk_validate_sql");
    const sql = postgres(url, { onnotice: () => {} });
    await sql.unsafe(`CREATE TABLE ${table} (id int, total numeric)`);
    try {
      const step = (text: string) => ({
        action: "run_sql",
        config: { database: "pg", sql: text },
      });
      const { problems } = await validateConfig({
        databases: { pg: url },
        views: [{ name: "v", database: "pg", sql: `SELECT id FROM ${table}` }],
        jobs: [{
          name: "j",
          view: "v",
          actions: [
            step(`INSERT INTO ${table} (id, total) VALUES (:id, :total)`),
            step(`INSERT INTO ${table} (id, totl) VALUES (:id, :total)`),
            step(`DELETE FROM ${table}`),
            step("UPDATE tk_no_such_table SET x = :x"),
          ],
          onFailure: { actions: [step(`INSRT INTO ${table} VALUES (1)`)] },
        }],
      });
      assert.deepEqual(paths(problems), [
        ["jobs.j.actions[1].config.sql", "DATABASE_ERROR"],
        ["jobs.j.actions[3].config.sql", "DATABASE_ERROR"],
        ["jobs.j.onFailure.actions[0].config.sql", "DATABASE_ERROR"],
      ], JSON.stringify(problems, null, 1));
      assert.match(
        problems[0]!.message,
        /step 2 \(run_sql\) of job "j".*column "totl"/,
      );
      assert.match(problems[1]!.message, /step 4 .*tk_no_such_table/);
      assert.match(
        problems[2]!.message,
        /onFailure\.actions\[0\] .*syntax error/,
      );
      await sql.unsafe(`INSERT INTO ${table} VALUES (1, 2)`);
      const again = await validateConfig({
        databases: { pg: url },
        views: [{ name: "v", database: "pg", sql: `SELECT id FROM ${table}` }],
        jobs: [{
          name: "j",
          view: "v",
          actions: [step(`DELETE FROM ${table}`)],
        }],
      });
      assert.deepEqual(again.problems, []);
      const [row] = await sql.unsafe(`SELECT count(*)::int AS n FROM ${table}`);
      assert.equal(row!.n, 1, "the DELETE was described, not executed");
    } finally {
      await sql.unsafe(`DROP TABLE ${table}`);
      await sql.end();
    }
  },
);
