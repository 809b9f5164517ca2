/** Attacks on strict configs, validate, paths, redaction and names (SPEC §1, §4.3, §5), as a new user and as bad input. */
import assert from "node:assert/strict";
import {
  createRegistry,
  type JobDefinition,
  loadConfig,
  validateConfig,
} from "../mod.ts";
import { runCli, runMain, withFiles } from "./_cli.ts";
import { throwsWithCode } from "./_helpers.ts";
import { jobSteps } from "../src/jobs/definitions.ts";

const DB = "sqlite::memory:";

/** The start of a TOML config: an in-memory store and a view `v` of one row. */
const ONE_VIEW = `store = "sqlite::memory:"
[views.v]
database = "sqlite::memory:"
sql = "SELECT 1 AS id"
`;

Deno.test("strict: typos in alert, onFailure and onRecovery blocks and their steps are all reported at once, each with its path", () => {
  const registry = createRegistry({ store: DB });
  registry.register("notify", () => ({}));
  registry.defineView({ name: "v", database: DB, sql: "SELECT 1 AS id" });
  const error = throwsWithCode(
    () =>
      registry.defineJob({
        name: "j",
        view: "v",
        dedupe: { key: ["id"] },
        actions: ["notify"],
        alert: {
          repeatEvry: "1h",
          pendingFor: "soon",
          resolved: [{ action: "notify", continueOnErr: true }],
        },
        onFailure: {
          actions: [{ action: "notify", outptu: "rows" }],
          aftr: 2,
          after: 0,
        },
        onRecovery: { actons: [] },
      } as unknown as JobDefinition),
    "INVALID_JOB",
  );
  const paths = (error.issues as Array<{ path: string }>).map((p) => p.path);
  assert.deepEqual(paths.sort(), [
    "alert",
    "alert.pendingFor",
    "alert.resolved[0]",
    "onFailure",
    "onFailure.actions[0]",
    "onFailure.after",
    "onRecovery",
    "onRecovery.actions",
  ]);
  assert.match(
    error.message,
    /unknown key "repeatEvry" in alert; did you mean "repeatEvery"\?/,
  );
  assert.match(
    error.message,
    /unknown key "continueOnErr" in alert\.resolved\[0\]; did you mean "continueOnError"\?/,
  );
  assert.match(
    error.message,
    /unknown key "outptu" in onFailure\.actions\[0\]; did you mean "output"\?/,
  );
  assert.match(
    error.message,
    /unknown key "actons" in onRecovery; did you mean "actions"\?/,
  );
  assert.doesNotMatch(error.message, /Invalid job "j": Invalid job/);
  return registry.close();
});

Deno.test("validate: every problem of a TOML job's alert blocks, each with its place", async () => {
  await withFiles({
    "triggerkit.toml": `${ONE_VIEW}[jobs.j]
view = "v"
dedupe = { key = ["id"] }
actions = [{ action = "http_request", config = { url = "https://example.com" } }]
alert = { repeatEvry = "1h", resolved = [{ action = "send_slack_message", continueOnErr = true, config = { channel = "#a", text = "x", token = "abc" } }] }
onFailure = { actions = [{ action = "http_request", config = {} }], aftr = 2, stale = "2x" }
onRecovery = { actons = [] }
`,
  }, async (dir) => {
    const { problems } = await validateConfig(`${dir}/triggerkit.toml`);
    const seen = problems.map((p) => `${p.code} ${p.path}`);
    for (
      const expected of [
        "INVALID_CONFIG jobs.j.alert",
        "INVALID_CONFIG jobs.j.alert.resolved[0]",
        "INVALID_CONFIG jobs.j.onFailure",
        "INVALID_CONFIG jobs.j.onRecovery",
        "INVALID_CONFIG jobs.j.alert.resolved[0].config",
        "INVALID_CONFIG jobs.j.onFailure.actions[0].config",
        "INVALID_JOB jobs.j.onFailure.stale",
        "INVALID_JOB jobs.j.onRecovery.actions",
      ]
    ) assert.ok(seen.includes(expected), `${expected} in ${seen.join("\n")}`);
    const cli = await runMain([
      "validate",
      "--config",
      `${dir}/triggerkit.toml`,
    ]);
    assert.equal(cli.code, 2);
    assert.match(cli.stdout + cli.stderr, /did you mean "repeatEvery"/);
    assert.match(
      cli.stdout + cli.stderr,
      /unknown key "token" in send_slack_message config/,
    );
  });
});

Deno.test("validate: wrong types in sandbox, serve, databases and store are reported with every other problem", async () => {
  await withFiles({
    "triggerkit.toml": `store = "nope"
[databases]
shop = 7
other = "mysql://x"
[serve]
leaseMs = "1000"
graceMs = -5
storeRetryMs = 0
[sandbox]
maxProcesses = "two"
trustedInProcess = 1
[views.v]
database = "sqlite::memory:"
sql = 5
[jobs.j]
view = "v"
enabled = "no"
actions = ["nope"]
`,
  }, async (dir) => {
    const { problems } = await validateConfig(`${dir}/triggerkit.toml`);
    assert.deepEqual(problems.map((p) => `${p.code} ${p.path}`), [
      "INVALID_CONFIG sandbox.maxProcesses",
      "INVALID_CONFIG sandbox.trustedInProcess",
      "INVALID_CONFIG serve.leaseMs",
      "INVALID_CONFIG serve.graceMs",
      "INVALID_CONFIG serve.storeRetryMs",
      "INVALID_CONFIG databases.shop",
      "INVALID_CONFIG databases.other",
      "INVALID_CONFIG store",
      "INVALID_VIEW views.v.sql",
      "ACTION_NOT_FOUND jobs.j.actions[0].action",
      "INVALID_JOB jobs.j.enabled",
    ]);
  });
});

Deno.test("validate: out-of-range values in sandbox, serve and history are refused as the registry options they map to, naming the value", async () => {
  await withFiles({
    "triggerkit.toml": `store = "sqlite::memory:"
[serve]
leaseMs = 2147483648
graceMs = 1.5
[sandbox]
maxWorkersPerAction = 0
[history]
keepDays = -1
[actions.slow]
module = "./slow.ts"
timeoutMs = "5"
memoryMb = 8
`,
    "slow.ts": "export default () => ({});\n",
  }, async (dir) => {
    const { problems } = await validateConfig(`${dir}/triggerkit.toml`);
    assert.deepEqual(problems.map((p) => `${p.code} ${p.path}`), [
      "INVALID_CONFIG sandbox.maxWorkersPerAction",
      "INVALID_CONFIG serve.leaseMs",
      "INVALID_CONFIG serve.graceMs",
      "INVALID_CONFIG history.keepDays",
      "INVALID_OPTIONS actions.slow.timeoutMs",
      "INVALID_OPTIONS actions.slow.memoryMb",
    ], JSON.stringify(problems, null, 1));
    const message = (path: string) =>
      problems.find((p) => p.path === path)!.message;
    assert.match(
      message("serve.leaseMs"),
      /serve\.leaseMs must be a number \(whole milliseconds, 1 to 2147483647\), received 2147483648/,
    );
    assert.match(message("serve.graceMs"), /received 1\.5/);
    assert.match(
      message("history.keepDays"),
      /history\.keepDays must be a number of days above 0, received -1/,
    );
    assert.match(
      message("actions.slow.timeoutMs"),
      /"timeoutMs" of register\(\) must be a number .*received string "5"$/,
    );
    assert.match(message("actions.slow.memoryMb"), /received number 8$/);
    const cli = await runCli(["validate", "--json"], { cwd: dir });
    assert.equal(cli.code, 2, cli.stderr);
  });
});

Deno.test("no output shows a password that holds a quote, a slash, a space, < or @", async () => {
  const passwords = [
    "p'ss2word",
    'p"ss2word',
    "pa/ss2word",
    "pa ss2word",
    "pa<ss2word",
    "p@ss2word",
  ];
  for (const password of passwords) {
    const url = `postgres://postgres:${password}@127.0.0.1:9/nowhere`;
    await withFiles({
      "triggerkit.config.ts": `export default ${
        JSON.stringify({
          store: "sqlite::memory:",
          databases: { pg: url },
          views: [{ name: "v", database: "pg", sql: "SELECT 1 AS id" }],
          jobs: [{
            name: "j",
            view: "v",
            actions: [{
              action: "run_sql",
              config: { database: url, sql: "SELECT :id", mode: "once" },
            }],
          }],
        })
      };`,
    }, async (dir) => {
      const config = `${dir}/triggerkit.config.ts`;
      for (
        const command of [
          ["jobs", "--json"],
          ["jobs"],
          ["validate", "--json", "--timeout", "500"],
          ["validate", "--timeout", "500"],
          ["run", "j", "--json"],
          ["run", "j"],
        ]
      ) {
        const { stdout, stderr } = await runMain([
          ...command,
          "--config",
          config,
        ]);
        assert.ok(
          !(stdout + stderr).includes("ss2word"),
          `${command.join(" ")} with password ${password}:\n${stdout}${stderr}`,
        );
      }
    });
  }
});

Deno.test("a PostgreSQL URL that does not parse fails with INVALID_CONFIG, its password neither in the report nor in the history", async () => {
  for (const password of ["pa/ss2word", "pa#ss2word", "pa?ss2word"]) {
    const url = `postgres://postgres:${password}@127.0.0.1:9/nowhere`;
    const registry = createRegistry({ store: DB });
    try {
      registry.defineView({ name: "v", database: url, sql: "SELECT 1 AS id" });
      registry.register("noop", () => ({}));
      registry.defineJob({ name: "j", view: "v", actions: ["noop"] });
      const report = await registry.runJob("j");
      assert.equal(report.error?.code, "INVALID_CONFIG", report.error?.message);
      assert.match(report.error!.message, /percent-encoded/);
      const text = JSON.stringify([report, await registry.history()]);
      assert.ok(!text.includes("ss2word"), text);
    } finally {
      await registry.close();
    }
  }
});

Deno.test("${VAR}: $${ is a literal ${, ${{ stays text, and other shell forms, a missing } or a nested default are errors with their key", async () => {
  Deno.env.set("TK_RT2_SET", "v");
  Deno.env.set("TK_RT2_EMPTY", "");
  try {
    await withFiles({
      "triggerkit.toml": `store = "sqlite::memory:"
[views.v]
database = "sqlite::memory:"
sql = "SELECT '$\${TK_RT2_SET}' AS literal, '\${TK_RT2_SET}' AS value, '\${TK_RT2_NOT_SET:-a:b@c/d?e=1}' AS fallback"
[jobs.j]
view = "v"
actions = [{ action = "send_slack_message", config = { channel = "#a", text = "\${{count}} \${TK_RT2_SET-x}", webhookUrlEnv = "\${TK_RT2_SET:?oops}" }, dryRun = true }]
description = "\${TK_RT2_EMPTY} \${TK_RT2_NOT_SET:-\${TK_RT2_SET}} \${TK_RT2_SET"
`,
    }, async (dir) => {
      const { problems } = await validateConfig(`${dir}/triggerkit.toml`);
      const expected: Array<[string, RegExp]> = [
        [
          "jobs.j.actions[0].config.text",
          /^"\$\{TK_RT2_SET-x\}" is not a variable reference/,
        ],
        [
          "jobs.j.actions[0].config.webhookUrlEnv",
          /^"\$\{TK_RT2_SET:\?oops\}" is not a variable/,
        ],
        ["jobs.j.description", /^\$\{TK_RT2_EMPTY\} is set but empty/],
        ["jobs.j.description", /a default cannot hold another variable/],
        ["jobs.j.description", /^"\$\{TK_RT2_SET" is not a variable reference/],
      ];
      assert.equal(problems.length, expected.length, JSON.stringify(problems));
      expected.forEach(([path, message], i) => {
        assert.equal(problems[i]!.path, path);
        assert.match(problems[i]!.message, message);
      });
      const fixed = (await Deno.readTextFile(`${dir}/triggerkit.toml`))
        .replace(/text = .*, webhookUrlEnv = "[^"]*"/, 'text = "${{count}}"')
        .replace(/description = .*/, "");
      await Deno.writeTextFile(`${dir}/triggerkit.toml`, fixed);
      const { registry } = await loadConfig(`${dir}/triggerkit.toml`);
      try {
        const report = await registry.runJob("j", { dryRun: true });
        assert.equal(report.status, "succeeded", JSON.stringify(report));
        const slack = report.actions[0]!.result as {
          messages: { text: string }[];
        };
        assert.equal(
          slack.messages[0]!.text,
          "$1",
          "a dollar sign before a template",
        );
        assert.equal(
          registry.listViews()[0]!.sql.includes(
            "'${TK_RT2_SET}' AS literal, 'v' AS value, 'a:b@c/d?e=1' AS fallback",
          ),
          true,
        );
      } finally {
        await registry.close();
      }
    });
  } finally {
    Deno.env.delete("TK_RT2_SET");
    Deno.env.delete("TK_RT2_EMPTY");
  }
});

Deno.test("names: a lone surrogate is refused (no store could keep it: two jobs would share one name); 200 UTF-16 units pass, 201 do not", () => {
  const registry = createRegistry({ store: DB });
  registry.register("noop", () => ({}));
  throwsWithCode(
    () =>
      registry.defineView({ name: "a\ud800b", database: DB, sql: "SELECT 1" }),
    "INVALID_VIEW",
    /lone UTF-16 surrogate/,
  );
  throwsWithCode(
    () => registry.register("x\udc00", () => ({})),
    "INVALID_ACTION",
    /surrogate/,
  );
  registry.defineView({
    name: "😀".repeat(100),
    database: DB,
    sql: "SELECT 1 AS id",
  });
  throwsWithCode(
    () =>
      registry.defineView({
        name: "😀".repeat(100) + "x",
        database: DB,
        sql: "SELECT 1",
      }),
    "INVALID_VIEW",
    /at most 200/,
  );
  registry.defineJob({
    name: "My Job — été ☀",
    view: "😀".repeat(100),
    actions: ["noop"],
  });
  return registry.close();
});

Deno.test("paths: SQLite URLs in alert.resolved, alert.summary, onFailure and onRecovery steps are relative to the config file too", async () => {
  const step = (what: string) =>
    `{ action = "run_sql", config = { database = "sqlite:./shop.db", sql = "INSERT INTO log (what) VALUES ('${what}')", mode = "once" } }`;
  await withFiles({
    "triggerkit.toml": `${ONE_VIEW}[jobs.j]
view = "v"
dedupe = { key = ["id"] }
actions = [${step("fired")}]
alert = { resolved = [${step("resolved")}], summary = [${step("summary")}] }
onFailure = { actions = [${step("failed")}] }
onRecovery = { actions = [${step("recovered")}] }
`,
  }, async (dir) => {
    const { registry } = await loadConfig(`${dir}/triggerkit.toml`);
    try {
      const databases = jobSteps(registry.listJobs()[0]!).map(({ step }) =>
        step.config?.database
      );
      assert.deepEqual(databases, Array(5).fill(`sqlite:${dir}/shop.db`));
    } finally {
      await registry.close();
    }
  });
});

Deno.test("validate: the steps of alert.resolved, alert.summary, onFailure and onRecovery have their variables and databases checked too", async () => {
  const slack = (channel: string) =>
    `{ action = "send_slack_message", config = { channel = "${channel}", text = "x", tokenEnv = "TK_RT2_NEVER_SET_TOKEN" } }`;
  await withFiles({
    "triggerkit.toml": `${ONE_VIEW}[jobs.j]
view = "v"
dedupe = { key = ["id"] }
actions = [{ action = "http_request", config = { url = "https://example.com" } }]
alert = { resolved = [${
      slack("#r")
    }], summary = [{ action = "run_sql", config = { database = "sqlite:./missing.db", sql = "SELECT 1", mode = "once" } }] }
onFailure = { actions = [${slack("#f")}] }
onRecovery = { actions = [${slack("#ok")}] }
`,
  }, async (dir) => {
    const { problems } = await validateConfig(`${dir}/triggerkit.toml`);
    assert.deepEqual(problems.map((p) => `${p.code} ${p.path}`), [
      "DATABASE_ERROR jobs.j.alert.summary[0].config.database",
      "INVALID_CONFIG jobs.j.alert.resolved[0].config.tokenEnv",
      "INVALID_CONFIG jobs.j.onFailure.actions[0].config.tokenEnv",
      "INVALID_CONFIG jobs.j.onRecovery.actions[0].config.tokenEnv",
    ]);
    assert.match(
      problems[2]!.message,
      /TK_RT2_NEVER_SET_TOKEN \(tokenEnv of onFailure\.actions\[0\], send_slack_message\)/,
    );
  });
});

Deno.test("no output shows a credential written in a config: jobs --json and an http_request dry run mask credential headers", async () => {
  await withFiles({
    "triggerkit.toml": `${ONE_VIEW}[jobs.j]
view = "v"
actions = [{ action = "http_request", config = { url = "https://api.example.com/x?api_key=s3cr3t-in-url", headers = { "X-Api-Key" = "sk_live_s3cr3t", Authorization = "Token s3cr3t-token", Cookie = "session=s3cr3t-cookie", Accept = "application/json" } } }]
`,
  }, async (dir) => {
    const config = `${dir}/triggerkit.toml`;
    for (
      const args of [["jobs", "--json"], ["run", "j", "--dry-run", "--json"]]
    ) {
      const { stdout, stderr } = await runMain([...args, "--config", config]);
      assert.ok(
        !(stdout + stderr).includes("s3cr3t"),
        `${args.join(" ")}:\n${stdout}${stderr}`,
      );
      assert.match(stdout, /application\/json/, "other headers are shown");
    }
  });
  const registry = createRegistry({ store: DB });
  try {
    const result = await registry.run("http_request", [{ id: 1 }], {
      dryRun: true,
      config: {
        url: "https://example.com",
        headers: { "X-Api-Key": "k3y-s3cr3t", "X-Trace": "t1" },
      },
    }) as { planned: Array<{ headers: Record<string, string> }> };
    assert.equal(result.planned[0]!.headers["x-api-key"], "***");
    assert.equal(result.planned[0]!.headers["x-trace"], "t1");
  } finally {
    await registry.close();
  }
});
