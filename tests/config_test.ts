import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { createRegistry, loadConfig, TriggerKitError } from "../mod.ts";
import { rejectsWithCode, throwsWithCode, withRegistry } from "./_helpers.ts";
import { runCli, runMain, withFiles } from "./_cli.ts";

const ACTION = `export default ({ data }) => ({ seen: data.length });\n`;

const TYPOS_TOML = `
stor = "sqlite::memory:"

[sandbox]
maxProcess = 2

[serve]
leasMs = 1000

[databases]
main = "sqlite::memory:"

[actions.score]
module = "./score.ts"
permisions = { net = true }

[actions.score2]
module = "./score.ts"
permissions = { nett = true }

[views.v]
database = "main"
sql = "SELECT 1 AS id"
sqll = "SELECT 2"

[jobs.alerts]
view = "v"
schedul = "every minute"
enabeld = false
dedupe = { kye = ["id"] }
actions = [{ action = "score", continueOnErr = true }]
`;

const EXPECTED_TYPOS = [
  'unknown key "stor"; did you mean "store"?',
  'unknown key "maxProcess" in sandbox; did you mean "maxProcesses"?',
  'unknown key "leasMs" in serve; did you mean "leaseMs"?',
  'unknown key "permisions" in actions.score; did you mean "permissions"?',
  'unknown key "nett" in actions.score2.permissions; did you mean "net"?',
  'unknown key "sqll" in views.v; did you mean "sql"?',
  'unknown key "schedul" in jobs.alerts; did you mean "schedule"?',
  'unknown key "enabeld" in jobs.alerts; did you mean "enabled"?',
  'unknown key "kye" in jobs.alerts.dedupe; did you mean "key"?',
  'unknown key "continueOnErr" in jobs.alerts.actions[0]; did you mean "continueOnError"?',
];

Deno.test("config: a TOML file with a typo at every level is INVALID_CONFIG naming each key, its path and the closest key", async () => {
  await withFiles(
    { "triggerkit.toml": TYPOS_TOML, "score.ts": ACTION },
    async (dir) => {
      const error = await rejectsWithCode(
        loadConfig(`${dir}/triggerkit.toml`),
        "INVALID_CONFIG",
      );
      for (const expected of EXPECTED_TYPOS) {
        assert.ok(
          error.message.includes(expected),
          `${expected}\nnot in\n${error.message}`,
        );
      }
      assert.equal(error.issues?.length, EXPECTED_TYPOS.length);
    },
  );
});

Deno.test("config: a TS config module is as strict as TOML", async () => {
  await withFiles({
    "triggerkit.config.ts": `export default {
      stor: "sqlite::memory:",
      actions: { score: { module: "./score.ts", permisions: { net: true } } },
      views: [{ name: "v", database: "sqlite::memory:", sql: "SELECT 1 AS id" }],
      jobs: [{
        name: "alerts", view: "v", schedul: "every minute", enabeld: false,
        actions: [{ action: "score", continueOnErr: true }],
      }],
    };`,
    "score.ts": ACTION,
  }, async (dir) => {
    const error = await rejectsWithCode(
      loadConfig(`${dir}/triggerkit.config.ts`),
      "INVALID_CONFIG",
    );
    for (
      const expected of [
        'unknown key "stor"; did you mean "store"?',
        'unknown key "permisions" in actions.score; did you mean "permissions"?',
        'unknown key "schedul" in jobs[0]; did you mean "schedule"?',
        'unknown key "enabeld" in jobs[0]; did you mean "enabled"?',
        'unknown key "continueOnErr" in jobs[0].actions[0]; did you mean "continueOnError"?',
      ]
    ) assert.ok(error.message.includes(expected), error.message);
  });
});

Deno.test("config: an unknown key exits 2 on the command line, for run and for validate", async () => {
  await withFiles(
    { "triggerkit.toml": TYPOS_TOML, "score.ts": ACTION },
    async (dir) => {
      const run = await runMain([
        "run",
        "alerts",
        "--config",
        `${dir}/triggerkit.toml`,
      ]);
      assert.equal(run.code, 2);
      assert.match(
        run.stderr,
        /error\[INVALID_CONFIG\]: .*unknown key "schedul" in jobs\.alerts; did you mean "schedule"\?/,
      );
      const validate = await runMain([
        "validate",
        "--json",
        "--config",
        `${dir}/triggerkit.toml`,
      ]);
      assert.equal(validate.code, 2);
      const { valid, problems } = JSON.parse(validate.stdout);
      assert.equal(valid, false);
      for (const expected of EXPECTED_TYPOS) {
        assert.ok(
          problems.some((p: { message: string; code: string }) =>
            p.message === expected && p.code === "INVALID_CONFIG"
          ),
          expected,
        );
      }
    },
  );
});

Deno.test(
  "defineJob() and defineView() refuse unknown keys with INVALID_JOB / INVALID_VIEW and the closest key",
  withRegistry((registry) => {
    registry.register("notify", () => ({}));
    throwsWithCode(
      () =>
        registry.defineView({
          name: "v",
          database: "sqlite::memory:",
          sql: "SELECT 1 AS id",
          sqll: "x",
        } as never),
      "INVALID_VIEW",
      /Invalid view "v": unknown key "sqll"; did you mean "sql"\?/,
    );
    registry.defineView({
      name: "v",
      database: "sqlite::memory:",
      sql: "SELECT 1 AS id",
    });
    const error = throwsWithCode(
      () =>
        registry.defineJob({
          name: "alerts",
          view: "v",
          schedul: "every minute",
          dedupe: { key: ["id"], tll: "1d" },
          actions: [{ action: "notify", continueOnErr: true }],
        } as never),
      "INVALID_JOB",
      /unknown key "schedul"; did you mean "schedule"\?/,
    );
    assert.match(
      error.message,
      /unknown key "continueOnErr" in actions\[0\]; did you mean "continueOnError"\?/,
    );
    assert.match(
      error.message,
      /unknown key "tll" in dedupe; did you mean "ttl"\?/,
    );
    assert.deepEqual(
      (error.issues as Array<{ path: string }>).map((issue) => issue.path),
      ["", "dedupe", "actions[0]"],
    );
  }),
);

Deno.test(
  "defineJob() reports every problem of a definition at once",
  withRegistry((registry) => {
    const error = throwsWithCode(
      () =>
        registry.defineJob({
          name: "j",
          view: "nope",
          actions: ["missing", { action: "run_sql", output: "row" }],
          schedule: "sometimes",
          when: "never",
        } as never),
      "VIEW_NOT_FOUND",
    );
    assert.deepEqual(
      (error.issues as Array<{ path: string; code: string }>).map((
        { path, code },
      ) => [path, code]),
      [
        ["view", "VIEW_NOT_FOUND"],
        ["actions[0].action", "ACTION_NOT_FOUND"],
        ["actions[1].config", "INVALID_CONFIG"],
        ["actions[1].output", "INVALID_JOB"],
        ["when", "INVALID_JOB"],
        ["schedule", "INVALID_SCHEDULE"],
      ],
    );
  }),
);

Deno.test(
  "defineJob() and defineView() refuse a name already defined unless overwrite is true",
  withRegistry((registry) => {
    registry.register("notify", () => ({}));
    const view = { name: "v", database: "sqlite::memory:", sql: "SELECT 1" };
    registry.defineView(view);
    throwsWithCode(
      () => registry.defineView(view),
      "INVALID_VIEW",
      /already defined \(pass \{ overwrite: true \} to replace it\)/,
    );
    registry.defineView({ ...view, sql: "SELECT 2" }, { overwrite: true });
    assert.equal(registry.listViews()[0]!.sql, "SELECT 2");
    registry.defineJob({ name: "j", view: "v", actions: ["notify"] });
    throwsWithCode(
      () => registry.defineJob({ name: "j", view: "v", actions: ["notify"] }),
      "INVALID_JOB",
      /a job of that name is already defined/,
    );
    const job = registry.defineJob(
      { name: "j", view: "v", actions: ["notify"], enabled: false },
      { overwrite: true },
    );
    assert.equal(job.enabled, false);
    throwsWithCode(
      () =>
        registry.defineJob({ name: "k", view: "v", actions: ["notify"] }, {
          overwite: true,
        } as never),
      "INVALID_OPTIONS",
      /did you mean "overwrite"\?/,
    );
  }),
);

Deno.test("config: duplicate view and job names in a config are refused", async () => {
  await withFiles({
    "triggerkit.toml": `
[[views]]
name = "v"
database = "sqlite::memory:"
sql = "SELECT 1 AS id"

[[views]]
name = "v"
database = "sqlite::memory:"
sql = "SELECT 2 AS id"

[[jobs]]
name = "j"
view = "v"
actions = ["http_request"]

[[jobs]]
name = "j"
view = "v"
actions = ["run_sql"]
`,
  }, async (dir) => {
    const error = await rejectsWithCode(
      loadConfig(`${dir}/triggerkit.toml`),
      "INVALID_CONFIG",
    );
    assert.match(
      error.message,
      /duplicate view name "v" \(also at views\[0\]\)/,
    );
    assert.match(error.message, /duplicate job name "j" \(also at jobs\[0\]\)/);
  });
});

Deno.test("config: an action named like a built-in needs overwrite = true", async () => {
  await withFiles({
    "triggerkit.toml": `[actions.run_sql]\nmodule = "./mine.ts"\n`,
    "mine.ts": ACTION,
  }, async (dir) => {
    const error = await rejectsWithCode(
      loadConfig(`${dir}/triggerkit.toml`),
      "ACTION_EXISTS",
    );
    assert.match(
      error.message,
      /triggerkit\.toml: actions\.run_sql: "run_sql" is the name of a built-in action; .*overwrite = true/,
    );
    const cli = await runMain([
      "actions",
      "--config",
      `${dir}/triggerkit.toml`,
    ]);
    assert.equal(cli.code, 2);
    await Deno.writeTextFile(
      `${dir}/triggerkit.toml`,
      `[actions.run_sql]\nmodule = "./mine.ts"\noverwrite = true\n`,
    );
    const { registry } = await loadConfig(`${dir}/triggerkit.toml`);
    try {
      assert.equal(registry.getInfo("run_sql").kind, "sandboxed");
    } finally {
      await registry.close();
    }
  });
  await withFiles({
    "triggerkit.config.ts":
      `export default { actions: { http_request: () => ({}) } };`,
  }, async (dir) => {
    await rejectsWithCode(
      loadConfig(`${dir}/triggerkit.config.ts`),
      "ACTION_EXISTS",
      /actions\.http_request/,
    );
  });
});

Deno.test("config: relative paths are relative to the config file's folder, whatever the working directory", async () => {
  await withFiles({
    "triggerkit.toml": `
[databases]
shop = "sqlite:./shop.db"

[actions.read_note]
module = "./actions/read_note.ts"
permissions = { read = ["./data"] }

[views.orders]
database = "shop"
sql = "SELECT id FROM orders ORDER BY id"

[jobs.copy]
view = "orders"
dedupe = { key = ["id"] }
actions = [
  { action = "run_sql", config = { database = "sqlite:./shop.db", sql = "INSERT INTO copied (id) VALUES (:id)" } },
  { action = "read_note", config = { path = "\${NOTE_FILE}" } },
]
`,
    // The grant is relative to the config's folder; the action reads the
    // real path it covers (import.meta.url points into its private copy).
    "actions/read_note.ts": `export default async ({ config }) => ({
      note: await Deno.readTextFile(config.path),
    });`,
    "data/note.txt": "from the config's folder",
  }, async (dir) => {
    const db = new DatabaseSync(`${dir}/shop.db`);
    db.exec(
      "CREATE TABLE orders (id INTEGER); CREATE TABLE copied (id INTEGER); INSERT INTO orders VALUES (1), (2)",
    );
    db.close();
    const elsewhere = await Deno.makeTempDir({ prefix: "triggerkit-cwd-" });
    const env = { NOTE_FILE: `${dir}/data/note.txt` };
    try {
      const config = `${dir}/triggerkit.toml`;
      const validate = await runCli(["validate", "--config", config], {
        cwd: elsewhere,
        env,
      });
      assert.equal(validate.code, 0, validate.stderr);
      const first = await runCli(
        ["run", "copy", "--json", "--config", config],
        { cwd: elsewhere, env },
      );
      assert.equal(first.code, 0, first.stderr + first.stdout);
      const report = JSON.parse(first.stdout);
      assert.equal(report.status, "succeeded");
      assert.deepEqual(report.actions[1].result, {
        note: "from the config's folder",
      });
      const second = await runCli(
        ["run", "copy", "--json", "--config", config],
        { cwd: elsewhere, env },
      );
      assert.equal(JSON.parse(second.stdout).newRowCount, 0, second.stdout);
      const check = new DatabaseSync(`${dir}/shop.db`);
      assert.equal(
        (check.prepare("SELECT COUNT(*) AS n FROM copied").get() as {
          n: number;
        })
          .n,
        2,
      );
      check.close();
      assert.ok((await Deno.stat(`${dir}/.triggerkit/state.db`)).isFile);
      const created = [];
      for await (const entry of Deno.readDir(elsewhere)) {
        created.push(entry.name);
      }
      assert.deepEqual(
        created,
        [],
        "nothing is created in the working directory",
      );
    } finally {
      await Deno.remove(elsewhere, { recursive: true });
    }
  });
});

Deno.test("config: an unset ${VAR} without a default is an error naming each variable and key", async () => {
  await withFiles({
    "triggerkit.toml":
      `store = "\${TK_NOT_SET_STORE}"\n[databases]\nmain = "\${TK_NOT_SET_DB}"\nother = "\${TK_NOT_SET_OTHER:-sqlite::memory:}"\n`,
  }, async (dir) => {
    const error = await rejectsWithCode(
      loadConfig(`${dir}/triggerkit.toml`),
      "INVALID_CONFIG",
    );
    assert.match(error.message, /store: \$\{TK_NOT_SET_STORE\} is not set/);
    assert.match(
      error.message,
      /databases\.main: \$\{TK_NOT_SET_DB\} is not set and has no default/,
    );
    assert.doesNotMatch(error.message, /TK_NOT_SET_OTHER/);
  });
});

Deno.test("createRegistry() refuses unknown options with INVALID_OPTIONS naming the closest key", () => {
  throwsWithCode(
    () => createRegistry({ stor: "sqlite::memory:" } as never),
    "INVALID_OPTIONS",
    /Unknown option "stor" of createRegistry\(\); did you mean "store"\?/,
  );
  throwsWithCode(
    () => createRegistry({ sandbox: { maxProcess: 2 } } as never),
    "INVALID_OPTIONS",
    /"sandbox\.maxProcess" .*did you mean "maxProcesses"\?/,
  );
  const error = throwsWithCode(
    () => createRegistry({ databases: "sqlite::memory:" } as never),
    "INVALID_OPTIONS",
  );
  assert.ok(error instanceof TriggerKitError);
});
