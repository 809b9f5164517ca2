import assert from "node:assert/strict";
import { redact, redactUrl } from "../src/redact.ts";
import { runCli, withFiles } from "./_cli.ts";

Deno.test("redact() masks passwords in URLs, secret parameters and tokens, wherever they are in the text", () => {
  assert.equal(
    redact('connect "postgres://postgres:hunter2@db:5432/shop" failed'),
    'connect "postgres://postgres:***@db:5432/shop" failed',
  );
  assert.equal(
    redact('{"url":"postgresql://u:p%40ss@h/db","x":"a@b"}'),
    '{"url":"postgresql://u:***@h/db","x":"a@b"}',
  );
  assert.equal(
    redact("https://api.example.com/x?api_key=abc123&page=2"),
    "https://api.example.com/x?api_key=***&page=2",
  );
  assert.equal(
    redact("Authorization: Bearer abcdef123456"),
    "Authorization: Bearer ***",
  );
  assert.equal(redact("token xoxb-1234-5678-abcdef"), "token xoxb-***");
  assert.equal(
    redact("https://hooks.slack.com/services/T000/B000/XXXXSECRET"),
    "https://hooks.slack.com/services/***",
  );
  assert.equal(
    redact("the value s3cr3t-value leaked", ["s3cr3t-value"]),
    "the value *** leaked",
  );
  assert.equal(
    redact("sqlite:./shop.db and postgres://u@h/db"),
    "sqlite:./shop.db and postgres://u@h/db",
  );
});

Deno.test("redact() takes time in proportion to the text: a long run of letters, a base64 blob or crafted URL-like text costs milliseconds", () => {
  const size = 128 * 1024;
  for (
    const [label, text] of [
      ["letters", "x".repeat(size)],
      ["base64", "aGVsbG8gd29ybGQ".repeat(size / 15)],
      ["URL-like", "a://b:".repeat(size / 6)],
      ["a quoted field name", `"${"token".repeat(size / 5)}`],
      ["Slack-like", "tokenaxoxb-".repeat(size / 11)],
    ]
  ) {
    const started = performance.now();
    redact(text!);
    const ms = performance.now() - started;
    // Linear: about 1 ms; the quadratic patterns took 10 to 20 s here.
    assert.ok(ms < 1000, `${label}: ${Math.round(ms)} ms`);
  }
});

Deno.test("redact() still masks a URL's password after a digit, holding / or @, and each of two URLs in a row", () => {
  assert.equal(redact("1postgres://u:pw1@h/db"), "1postgres://u:***@h/db");
  assert.equal(
    redact("url=postgres://u:p/@ss@h/db"),
    "url=postgres://u:***@h/db",
  );
  assert.equal(
    redact("postgres://u:p1@h/x?next=https://a:p2@c/"),
    "postgres://u:***@h/x?next=https://a:***@c/",
  );
  assert.equal(
    redact('{"X-Api-Key": "k-123456", "apiKeyEnv": "SHOP_KEY"}'),
    '{"X-Api-Key": "***", "apiKeyEnv": "SHOP_KEY"}',
  );
});

Deno.test("redactUrl() masks a password holding @ whole", () => {
  assert.equal(
    redactUrl("postgres://user:pa@ss@db.example.com:5432/app"),
    "postgres://user:***@db.example.com:5432/app",
  );
});

const SECRET_CONFIG = `
[databases]
pg = "postgres://postgres:hunter2@127.0.0.1:9/db"

[views.v]
database = "pg"
sql = "SELECT 1 AS id"

[views.direct]
database = "postgres://postgres:hunter2@127.0.0.1:9/other"
sql = "SELECT 1 AS id"

[jobs.j]
view = "v"
actions = [{ action = "run_sql", config = { database = "postgres://postgres:hunter2@127.0.0.1:9/db", sql = "SELECT 1" } }]

[jobs.k]
view = "direct"
actions = [{ action = "run_sql", config = { database = "pg", sql = "SELECT 1" } }]
`;

Deno.test("no command prints a password: jobs --json, validate --json, run, exec", async () => {
  await withFiles({ "triggerkit.toml": SECRET_CONFIG }, async (dir) => {
    const outputs: string[] = [];
    const jobs = await runCli(["jobs", "--json"], { cwd: dir });
    assert.equal(jobs.code, 0, jobs.stderr);
    assert.match(
      jobs.stdout,
      /postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:9\/db/,
    );
    outputs.push(jobs.stdout, jobs.stderr);
    const validate = await runCli(["validate", "--json", "--timeout", "2000"], {
      cwd: dir,
    });
    assert.equal(validate.code, 2, validate.stdout);
    assert.ok(JSON.parse(validate.stdout).problems.length >= 2);
    outputs.push(validate.stdout, validate.stderr);
    for (const args of [["run", "j"], ["run", "k", "--json"]]) {
      const run = await runCli([...args, "--config", "triggerkit.toml"], {
        cwd: dir,
      });
      assert.equal(run.code, 1, run.stdout + run.stderr);
      assert.match(run.stdout + run.stderr, /DATABASE_ERROR/);
      outputs.push(run.stdout, run.stderr);
    }
    const exec = await runCli([
      "exec",
      "run_sql",
      "--data",
      "-",
      "--config",
      '{"database":"postgres://postgres:hunter2@127.0.0.1:9/x","sql":"SELECT 1","mode":"once"}',
    ], { cwd: dir, stdin: "[]" });
    assert.notEqual(exec.code, 0);
    outputs.push(exec.stdout, exec.stderr);
    for (const output of outputs) assert.doesNotMatch(output, /hunter2/);
  });
});

Deno.test("no command prints the value of a secret variable, whether its name says so or a step reads it", async () => {
  await withFiles({
    "triggerkit.toml": `
[views.v]
database = "sqlite::memory:"
sql = "SELECT 1 AS id"

[jobs.j]
view = "v"
actions = [
  { action = "http_request", config = { url = "https://hooks.example.com/\${TK_HOOK_SECRET}" } },
  { action = "http_request", config = { url = "https://api.example.com/\${TK_PLAIN_NAME}", headers = { Authorization = { fromEnv = "TK_PLAIN_NAME" } } } },
]
`,
  }, async (dir) => {
    const jobs = await runCli(["jobs", "--json"], {
      cwd: dir,
      env: {
        TK_HOOK_SECRET: "s3cretHookValue42",
        TK_PLAIN_NAME: "plainButSecret99",
      },
    });
    assert.equal(jobs.code, 0, jobs.stderr);
    assert.match(jobs.stdout, /hooks\.example\.com\/\*\*\*/);
    assert.doesNotMatch(jobs.stdout, /s3cretHookValue42|plainButSecret99/);
  });
});

Deno.test("the command line's logs are redacted too", async () => {
  const script = `
    import { configureCliLogging } from "${
    new URL("../src/cli/main.ts", import.meta.url).href
  }";
    import { getLogger } from "@logtape/logtape";
    await configureCliLogging();
    getLogger(["triggerkit", "test"]).error("cannot reach {url} with {token}", {
      url: "postgres://postgres:hunter2@127.0.0.1/db",
      token: Deno.env.get("TK_LOG_TOKEN"),
    });
  `;
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      `--config=${new URL("../deno.json", import.meta.url).pathname}`,
      `data:application/typescript,${encodeURIComponent(script)}`,
    ],
    env: { TK_LOG_TOKEN: "tokenValue12345", NO_COLOR: "1" },
  }).output();
  const stderr = new TextDecoder().decode(output.stderr);
  assert.match(
    stderr,
    /cannot reach postgres:\/\/postgres:\*\*\*@127\.0\.0\.1\/db with \*\*\*/,
  );
  assert.doesNotMatch(stderr, /hunter2|tokenValue12345/);
});
