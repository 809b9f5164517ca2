import assert from "node:assert/strict";
import postgres from "postgres";
import { startFakeSlack } from "./_fake_slack.ts";
import { pgTest, uniqueTable } from "./_helpers.ts";
import { spawnCli } from "./_cli.ts";

const CLI = new URL("../src/cli/main.ts", import.meta.url).pathname;
const DENO_JSON = new URL("../deno.json", import.meta.url).pathname;

async function cli(args: string[], env: Record<string, string>, cwd: string) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", `--config=${DENO_JSON}`, CLI, ...args],
    env: { ...env, NO_COLOR: "1" },
    cwd,
  }).output();
  return {
    code: output.code,
    stdout: new TextDecoder().decode(output.stdout),
    stderr: new TextDecoder().decode(output.stderr),
  };
}

const ACTION = `
import { defineAction } from "@triggerkit/triggerkit/action";

export default defineAction(({ data, context, config }) => {
  if (config.fail) throw new Error("the team action broke");
  context.total = data.reduce((sum, row) => sum + Number(row.amount), 0);
  console.log("summed", data.length, "payments");
  return { summed: data.length };
});
`;

function toml(table: string, alerts: string) {
  return `
store = "\${TK_PG}"

[databases]
main = "\${TK_PG}"

[actions.sum_payments]
module = "./actions/sum_payments.ts"
timeoutMs = 10000

[views.large_payments]
database = "main"
sql = "SELECT id, customer, amount FROM ${table} WHERE amount >= 1000 ORDER BY id"

[jobs.payment_alerts]
view = "large_payments"
schedule = "every 5 minutes"
dedupe = { key = ["id"] }
actions = [
  { action = "run_sql", config = { database = "main", sql = "INSERT INTO ${alerts} (payment_id, customer) VALUES (:id, :customer)" } },
  { action = "sum_payments", config = { fail = "\${TK_FAIL:-}" } },
  { action = "send_slack_message", config = { channel = "#payments", text = "{{count}} large payments: {{#rows}}{{customer}} {{/rows}}", tokenEnv = "TK_SLACK_TOKEN", slackApiUrl = "\${TK_SLACK_URL}", minIntervalMs = 0 } },
]
`;
}

pgTest(
  "cli e2e: run with a PostgreSQL view, run_sql, a sandboxed action and Slack",
  async (pg) => {
    const table = uniqueTable("tk_e2e_payments");
    const alerts = uniqueTable("tk_e2e_alerts");
    const sql = postgres(pg, { onnotice: () => {} });
    await sql.unsafe(
      `CREATE TABLE ${table} (id int PRIMARY KEY, customer text, amount numeric)`,
    );
    await sql.unsafe(
      `CREATE TABLE ${alerts} (payment_id int PRIMARY KEY, customer text)`,
    );
    await sql.unsafe(
      `INSERT INTO ${table} VALUES (1, 'Ada', 1500), (2, 'Grace', 20), (3, '<!here> Linus', 2500)`,
    );
    const slack = startFakeSlack({ token: "xoxb-e2e" });
    const dir = await Deno.makeTempDir({ prefix: "triggerkit-e2e-" });
    try {
      await Deno.mkdir(`${dir}/actions`);
      await Deno.writeTextFile(`${dir}/actions/sum_payments.ts`, ACTION);
      await Deno.writeTextFile(`${dir}/triggerkit.toml`, toml(table, alerts));
      const env = {
        TK_PG: pg,
        TK_SLACK_URL: slack.apiUrl,
        TK_SLACK_TOKEN: "xoxb-e2e",
        HOME: Deno.env.get("HOME") ?? "/root",
      };

      const validate = await cli(["validate"], env, dir);
      assert.equal(validate.code, 0, validate.stderr);
      assert.match(
        validate.stdout,
        /valid: .*triggerkit\.toml \(1 views, 1 jobs/,
      );

      const ok = await cli(["run", "payment_alerts", "--json"], env, dir);
      assert.equal(ok.code, 0, ok.stderr + ok.stdout);
      const report = JSON.parse(ok.stdout);
      assert.equal(report.status, "succeeded");
      assert.deepEqual(
        report.actions.map((a: { status: string }) => a.status),
        ["succeeded", "succeeded", "succeeded"],
      );
      assert.deepEqual(report.actions[1].result, { summed: 2 });
      assert.match(ok.stderr, /summed 2 payments/);
      const written = await sql.unsafe(
        `SELECT payment_id, customer FROM ${alerts} ORDER BY payment_id`,
      );
      assert.deepEqual(written.map((r) => ({ ...r })), [
        { payment_id: 1, customer: "Ada" },
        { payment_id: 3, customer: "<!here> Linus" },
      ]);
      assert.deepEqual(slack.delivered.map((m) => [m.channel, m.text]), [
        ["#payments", "2 large payments: Ada &lt;!here&gt; Linus "],
      ]);

      await sql.unsafe(`INSERT INTO ${table} VALUES (4, 'Barbara', 9000)`);
      const failed = await cli(["run", "payment_alerts"], {
        ...env,
        TK_FAIL: "yes",
      }, dir);
      assert.equal(failed.code, 1, failed.stderr + failed.stdout);
      assert.match(failed.stdout, /payment_alerts failed/);
      assert.match(
        failed.stdout,
        /ACTION_FAILED: Action "sum_payments" failed: the team action broke/,
      );

      const history = await cli(
        ["history", "--job", "payment_alerts", "--json"],
        env,
        dir,
      );
      assert.equal(history.code, 0, history.stderr);
      assert.deepEqual(
        JSON.parse(history.stdout).map((r: { status: string }) => r.status),
        ["failed", "succeeded"],
      );
      assert.equal(
        slack.delivered.length,
        1,
        "the failed run must not reach Slack",
      );

      const jobs = await cli(["jobs"], env, dir);
      assert.match(
        jobs.stdout,
        /payment_alerts\s+every 5 minutes\s+\d{4}-\d\d-\d\d \d\d:\d\d:00Z \(in [^)]+\)\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ\s+failed\s+run_sql → sum_payments → send_slack_message/,
      );
    } finally {
      await slack.close();
      await Deno.remove(dir, { recursive: true });
      await sql.unsafe(`DROP TABLE ${table}; DROP TABLE ${alerts}`).simple();
      await sql.unsafe(
        "DELETE FROM triggerkit_runs WHERE job_name = 'payment_alerts'",
      );
      for (
        const table of [
          "triggerkit_dedupe",
          "triggerkit_claims",
          "triggerkit_deliveries",
        ]
      ) {
        await sql.unsafe(
          `DELETE FROM ${table} WHERE job_name = 'payment_alerts'`,
        );
      }
      await sql.end();
    }
  },
);

Deno.test("cli: invalid configuration exits 2 naming the file and key", async () => {
  const dir = await Deno.makeTempDir({ prefix: "triggerkit-cli-" });
  try {
    await Deno.writeTextFile(
      `${dir}/triggerkit.toml`,
      `[views.v]\ndatabase = "sqlite::memory:"\nsql = "SELECT 1"\n\n[jobs.j]\nview = "v"\nactions = [{ action = "http_request", config = { url = "http://127.0.0.1/" } }]\nschedule = "at teatime"\n`,
    );
    const bad = await cli(["validate"], {}, dir);
    assert.equal(bad.code, 2);
    assert.match(
      bad.stderr,
      /invalid: .*triggerkit\.toml \(1 problem\)\n.*error\[INVALID_SCHEDULE\] jobs\.j\.schedule: Invalid schedule "at teatime"/,
    );
    await Deno.writeTextFile(
      `${dir}/triggerkit.toml`,
      `store = "\${TK_UNSET_VAR}"\n`,
    );
    const unset = await cli(["jobs"], {}, dir);
    assert.equal(unset.code, 2);
    assert.match(
      unset.stderr,
      /triggerkit\.toml: store: \$\{TK_UNSET_VAR\} is not set/,
    );
    const none = await cli(["run", "x"], {}, await Deno.makeTempDir());
    assert.equal(none.code, 2);
    assert.match(none.stderr, /No config file/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli: serve runs scheduled jobs, stops cleanly on SIGTERM and says why", async () => {
  const dir = await Deno.makeTempDir({ prefix: "triggerkit-serve-" });
  try {
    await Deno.writeTextFile(
      `${dir}/triggerkit.toml`,
      [
        `store = "sqlite:${dir}/state.db"`,
        `[views.tick]\ndatabase = "sqlite::memory:"\nsql = "SELECT 1 AS id"`,
        `[jobs.ticker]\nview = "tick"\nschedule = "every 1 second"`,
        `actions = [{ action = "http_request", dryRun = true, config = { url = "http://127.0.0.1/tick" } }]`,
      ].join("\n"),
    );
    const child = spawnCli(["serve", "--json"], { cwd: dir });
    const reader = child.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
    let seen = "";
    while (!seen.includes('"jobName":"ticker"')) {
      const { value, done } = await reader.read();
      if (done) break;
      seen += value;
    }
    child.kill("SIGTERM");
    const stopped = performance.now();
    const [status, stderr] = await Promise.all([
      child.status,
      new Response(child.stderr).text(),
    ]);
    reader.releaseLock();
    await child.stdout.cancel().catch(() => {});
    assert.equal(status.code, 0, stderr);
    assert.ok(performance.now() - stopped < 5000);
    assert.equal(JSON.parse(seen.split("\n")[0]!).status, "succeeded");
    assert.match(stderr, /Z {2}Serving 1 scheduled job: ticker\n/);
    assert.match(stderr, /Z {2}Stopping \(SIGTERM received\)/);
    assert.match(stderr, /Z {2}Stopped: SIGTERM received\n?$/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
