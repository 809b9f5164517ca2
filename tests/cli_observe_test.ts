/** The command line that answers "why": jobs, history, show, serve's lines, log levels. */
import assert from "node:assert/strict";
import { getLogger, reset } from "@logtape/logtape";
import { configureCliLogging, main } from "../src/cli/main.ts";
import { capture } from "./_helpers.ts";
import { COMMANDS } from "../src/cli/_command_table.ts";
import {
  createRegistry,
  openRunStore,
  type Registry,
  type RunReport,
  type RunStore,
} from "../mod.ts";
import { FakeClock } from "./_fake_clock.ts";
import { bulkStore, insertRuns } from "./_bulk_runs.ts";

const START = Date.parse("2026-03-01T10:00:00Z");

/** A registry on a fake clock, with a job for each way a run can end. */
function jobsRegistry(clock = new FakeClock(START)) {
  const registry = createRegistry({ store: "sqlite::memory:", clock });
  const db = "sqlite::memory:";
  registry.defineView({ name: "one", database: db, sql: "SELECT 1 AS id" });
  registry.defineView({
    name: "none",
    database: db,
    sql: "SELECT 1 AS id WHERE 1 = 0",
  });
  registry.defineView({ name: "bad", database: db, sql: "SELECT * FROM nope" });
  registry.register("note", ({ data }) => ({ seen: data.length }));
  registry.register("leak", () => {
    throw new Error("cannot reach postgres://app:hunter2pw@db.internal/app");
  });
  registry.defineJob({
    name: "hourly",
    view: "one",
    actions: ["note"],
    schedule: "@hourly",
  });
  registry.defineJob({
    name: "quiet",
    view: "none",
    actions: ["note"],
    schedule: "every 15 minutes",
  });
  registry.defineJob({
    name: "broken",
    view: "bad",
    actions: ["note"],
    schedule: "daily at 06:00",
  });
  registry.defineJob({
    name: "off",
    view: "one",
    actions: ["note"],
    schedule: "daily at 06:00",
    enabled: false,
  });
  registry.defineJob({
    name: "manual",
    view: "one",
    actions: ["leak", "note"],
  });
  return { registry, clock };
}

async function withJobs(
  fn: (registry: Registry, clock: FakeClock) => Promise<void>,
): Promise<void> {
  const { registry, clock } = jobsRegistry();
  try {
    await fn(registry, clock);
  } finally {
    await registry.close();
  }
}

Deno.test("cli jobs: each job's schedule, next run, last run and last status", async () => {
  await withJobs(async (registry, clock) => {
    await registry.runJob("hourly");
    await registry.runJob("broken");
    clock.tick(5 * 60_000);
    const { io, out } = capture();
    assert.equal(await main(["jobs"], { io, registry, clock }), 0);
    const lines = out.join("\n").split("\n");
    assert.match(lines[0]!, /^NAME\s+SCHEDULE\s+NEXT RUN\s+LAST RUN\s+STATUS/);
    const row = (name: string) => lines.find((l) => l.startsWith(`${name} `));
    assert.match(
      row("hourly")!,
      /@hourly\s+2026-03-01 11:00:00Z \(in 55m00s\)\s+2026-03-01 10:00:00Z\s+succeeded/,
    );
    assert.match(
      row("broken")!,
      /daily at 06:00\s+2026-03-02 06:00:00Z \(in 19h55m\)\s+2026-03-01 10:00:00Z\s+failed/,
    );
    assert.match(
      row("quiet")!,
      /every 15 minutes\s+2026-03-01 10:15:00Z .*never\s+-/,
    );
    assert.match(row("off")!, /daily at 06:00\s+disabled\s+never/);
    assert.match(row("manual")!, /^manual\s+-\s+by hand\s+never/);
  });
});

Deno.test("cli jobs --json: nextRunAt, lastRun and lastStatus for each job", async () => {
  await withJobs(async (registry, clock) => {
    const report = await registry.runJob("hourly");
    const { io, out } = capture();
    assert.equal(await main(["jobs", "--json"], { io, registry, clock }), 0);
    const jobs = JSON.parse(out.join("\n"));
    const byName = Object.fromEntries(
      jobs.map((job: { name: string }) => [job.name, job]),
    );
    assert.equal(byName.hourly.nextRunAt, "2026-03-01T11:00:00.000Z");
    assert.equal(byName.hourly.lastRun.runId, report.runId);
    assert.equal(byName.hourly.lastStatus, "succeeded");
    assert.equal(byName.hourly.schedule, "@hourly");
    assert.equal(byName.off.nextRunAt, null);
    assert.equal(byName.manual.nextRunAt, null);
    assert.equal(byName.manual.lastRun, null);
    assert.equal(byName.manual.lastStatus, null);
    assert.ok(!("parsedSchedule" in byName.hourly));
  });
});

Deno.test("cli history: short run id, start, duration, status, rows/new and why, without --json", async () => {
  await withJobs(async (registry, clock) => {
    const ok = await registry.runJob("hourly", { dryRun: true });
    const quiet = await registry.runJob("quiet");
    const broken = await registry.runJob("broken");
    const manual = await registry.runJob("manual");
    clock.tick(1);
    const { io, out } = capture();
    assert.equal(await main(["history"], { io, registry, clock }), 0);
    const text = out.join("\n");
    const lines = text.split("\n");
    assert.match(
      lines[0]!,
      /^RUN\s+STARTED\s+JOB\s+STATUS\s+TOOK\s+ROWS\/NEW\s+WHY$/,
    );
    const row = (report: RunReport) =>
      lines.find((l) => l.startsWith(report.runId.slice(0, 8)))!;
    assert.match(
      row(ok),
      /^\w{8}\s+2026-03-01 10:00:00Z\s+hourly\s+succeeded \(dry run\)\s+0ms\s+1\/1$/,
    );
    assert.match(
      row(quiet),
      /quiet\s+skipped\s+0ms\s+0\/0\s+the view yielded no new rows$/,
    );
    assert.match(
      row(broken),
      /broken\s+failed\s+0ms\s+0\/0\s+view "bad" failed; DATABASE_ERROR: .*no such table: nope/,
    );
    assert.match(
      row(manual),
      /manual\s+failed\s+0ms\s+1\/1\s+leak: ACTION_FAILED: .*postgres:\/\/app:\*\*\*@db\.internal/,
    );
    assert.ok(!text.includes("hunter2pw"), "a password in an error is masked");
    assert.ok(!text.includes(ok.runId), "ids are shortened");
  });
});

Deno.test("cli history: a running run has no duration yet; a long reason is cut to one line", async () => {
  const clock = new FakeClock(START);
  const store = openRunStore("sqlite::memory:", { clock });
  const registry = createRegistry({ store, clock });
  try {
    await store.start({
      runId: "running-1",
      jobName: "j",
      dryRun: false,
      startedAt: new Date(START).toISOString(),
    });
    await store.start({
      runId: "skipped-1",
      jobName: "j",
      dryRun: false,
      startedAt: new Date(START - 1000).toISOString(),
    });
    await store.finish({
      ...report("skipped-1", "j", "skipped"),
      reason: `held by\n${"x".repeat(300)}`,
    });
    const { io, out } = capture();
    assert.equal(await main(["history"], { io, registry, clock }), 0);
    const [, running, skipped] = out.join("\n").split("\n");
    assert.match(
      running!,
      /^running-\s+2026-03-01 10:00:00Z\s+j\s+running\s+-\s+0\/0$/,
    );
    assert.match(skipped!, /skipped\s+2\.5s\s+3\/1\s+held by x+…$/);
    assert.ok(skipped!.length < 200);
  } finally {
    await registry.close();
  }
});

function report(
  runId: string,
  jobName: string,
  status: RunReport["status"],
): RunReport {
  return {
    runId,
    jobName,
    dryRun: false,
    status,
    startedAt: new Date(START - 1000).toISOString(),
    finishedAt: new Date(START + 1500).toISOString(),
    rowCount: 3,
    newRowCount: 1,
    actions: [],
  };
}

/** A registry whose store holds one run with every detail `show` prints. */
async function withRecordedRun(
  fn: (registry: Registry, store: RunStore) => Promise<void>,
): Promise<void> {
  const clock = new FakeClock(START);
  const store = openRunStore("sqlite::memory:", { clock });
  const registry = createRegistry({ store, clock });
  const runId = "5f3c2a10-0000-4000-8000-000000000001";
  await store.start({
    runId,
    jobName: "nightly",
    dryRun: false,
    startedAt: new Date(START - 1000).toISOString(),
    slot: "2026-03-01T09:59:00.000Z",
  });
  await store.finish({
    ...report(runId, "nightly", "failed"),
    slot: "2026-03-01T09:59:00.000Z",
    attempt: 2,
    actions: [
      {
        action: "run_sql",
        status: "succeeded",
        durationMs: 120,
        result: { rowsAffected: 3, statements: 1, durationMs: 12 },
      },
      {
        action: "send_slack_message",
        status: "failed",
        durationMs: 2100,
        attempts: 3,
        error: {
          code: "ACTION_FAILED",
          message: "Slack answered 503 (token xoxb-1234-abcdef)",
        },
      },
      { action: "archive", status: "skipped", durationMs: 0 },
    ],
  });
  try {
    await fn(registry, store);
  } finally {
    await registry.close();
  }
}

Deno.test("cli show: the whole run — every action's status, duration, attempts, result or error, slot and attempt", async () => {
  await withRecordedRun(async (registry) => {
    const { io, out } = capture();
    assert.equal(
      await main(["show", "5f3c2a10-0000-4000-8000-000000000001"], {
        io,
        registry,
      }),
      0,
    );
    const text = out.join("\n");
    assert.match(text, /^run\s+5f3c2a10-0000-4000-8000-000000000001$/m);
    assert.match(text, /^job\s+nightly$/m);
    assert.match(text, /^status\s+failed$/m);
    assert.match(text, /^started\s+2026-03-01 09:59:59Z$/m);
    assert.match(text, /^took\s+2\.5s$/m);
    assert.match(text, /^slot\s+2026-03-01 09:59:00Z$/m);
    assert.match(text, /^attempt\s+2$/m);
    assert.match(text, /^rows\s+3 from the view, 1 new$/m);
    assert.match(text, /^1\. run_sql\s+succeeded\s+120ms\s+1 attempt$/m);
    assert.match(text, /^\s+"rowsAffected": 3,$/m, "the result in full");
    assert.match(
      text,
      /^2\. send_slack_message\s+failed\s+2\.1s\s+3 attempts$/m,
    );
    assert.match(text, /^\s+error\[ACTION_FAILED\]: Slack answered 503/m);
    assert.ok(!text.includes("xoxb-1234-abcdef"), "a token is masked");
    assert.match(text, /^3\. archive\s+skipped$/m);
  });
});

Deno.test("cli show: a unique prefix of the id (as history prints it) finds the run", async () => {
  await withRecordedRun(async (registry) => {
    const { io, out } = capture();
    assert.equal(
      await main(["show", "5f3c2a10", "--json"], { io, registry }),
      0,
    );
    const run = JSON.parse(out.join("\n"));
    assert.equal(run.runId, "5f3c2a10-0000-4000-8000-000000000001");
    assert.equal(run.attempt, 2);
    assert.equal(run.actions[1].attempts, 3);
  });
});

Deno.test("cli show: a unique prefix finds a run older than the latest 10,000 (a store query, not a search of recent history)", async () => {
  const clock = new FakeClock(START);
  const { store, db } = bulkStore(clock);
  const registry = createRegistry({ store, clock });
  try {
    const runId = "7e57ab12-0000-4000-8000-000000000001";
    await store.record(
      report(runId, "nightly", "succeeded"),
    );
    // 10,050 newer runs: the one sought is not among the latest 10,000.
    await insertRuns(db, 10_050, new Date(START + 60_000).toISOString());
    assert.equal(
      (await registry.history({ limit: 10_000 })).some((run) =>
        run.runId === runId
      ),
      false,
    );
    const { io, out, err } = capture();
    assert.equal(
      await main(["show", "7e57ab12", "--json"], { io, registry }),
      0,
      err.join("\n"),
    );
    assert.equal(JSON.parse(out.join("\n")).runId, runId);
    const ambiguous = capture();
    assert.equal(
      await main(["show", "bulk-00"], { io: ambiguous.io, registry }),
      2,
    );
    assert.match(
      ambiguous.err.join("\n"),
      /"bulk-00" starts more than 5 run ids; give more of it:\n {2}bulk-000001 \(bulk/,
    );
  } finally {
    await registry.close();
    await db.close();
  }
});

Deno.test("cli show: an ambiguous, unknown or too short id exits 2 and says why", async () => {
  await withRecordedRun(async (registry, store) => {
    await store.start({
      runId: "5f3c2a10-0000-4000-8000-000000000002",
      jobName: "nightly",
      dryRun: false,
      startedAt: new Date(START).toISOString(),
    });
    const ambiguous = capture();
    assert.equal(
      await main(["show", "5f3c2a10"], { io: ambiguous.io, registry }),
      2,
    );
    assert.match(
      ambiguous.err.join("\n"),
      /"5f3c2a10" starts 2 run ids; give more of it:\n {2}5f3c2a10-0000-4000-8000-000000000002 \(nightly/,
    );
    const unknown = capture();
    assert.equal(
      await main(["show", "deadbeef"], { io: unknown.io, registry }),
      2,
    );
    assert.match(
      unknown.err.join("\n"),
      /No run has an id that is or starts with "deadbeef"/,
    );
    const short = capture();
    assert.equal(await main(["show", "5f3"], { io: short.io, registry }), 2);
    assert.match(short.err.join("\n"), /at least 4 characters/);
    const missing = capture();
    assert.equal(await main(["show"], { io: missing.io, registry }), 2);
    assert.match(missing.err.join("\n"), /Missing a run id/);
  });
});

Deno.test("cli show: a run that actually ran, found by the id its report gives", async () => {
  await withJobs(async (registry) => {
    const ran = await registry.runJob("manual");
    const { io, out } = capture();
    assert.equal(
      await main(["show", ran.runId.slice(0, 8)], { io, registry }),
      0,
    );
    const text = out.join("\n");
    assert.match(text, /^1\. leak\s+failed\s+\d+ms\s+1 attempt$/m);
    assert.match(text, /error\[ACTION_FAILED\]: .*postgres:\/\/app:\*\*\*@db/);
    assert.match(text, /^2\. note\s+skipped$/m);
  });
});

Deno.test("cli --log-level: every command takes it (and -v), and refuses a level it does not know", async () => {
  for (const command of Object.keys(COMMANDS)) {
    const bad = capture();
    assert.equal(
      await main([command, "--log-level", "chatty"], { io: bad.io }),
      2,
      command,
    );
    assert.match(
      bad.err.join("\n"),
      /--log-level must be one of debug, info, warning, error, received "chatty"/,
      command,
    );
    const both = capture();
    assert.equal(
      await main([command, "-v", "--log-level", "info"], { io: both.io }),
      2,
      command,
    );
    assert.match(both.err.join("\n"), /--log-level or -v, not both/, command);
  }
});

Deno.test("cli --log-level: the level decides which records reach stderr", async () => {
  const levels: Array<[string[], RegExp[], RegExp[]]> = [
    // By default `run` prints the run's outcome once, in its report: not again as warnings.
    [[], [], [/\[WRN\]/, /\[INF\]/]],
    [["--log-level", "warning"], [
      /\[WRN\] triggerkit·action: Action leak failed after [\d.]+ ms: ACTION_FAILED/,
      /\[WRN\] triggerkit·job: Job manual failed/,
    ], [/\[INF\]/]],
    [["--log-level", "error"], [], [/\[WRN\]/, /\[INF\]/]],
    [["-v"], [/\[INF\] triggerkit·job: Job manual fetched 1 rows \(1 new\)/], [
      /\[DBG\]/,
    ]],
    [["--log-level", "INFO"], [/\[INF\] triggerkit·job/], [/\[DBG\]/]],
    [["-vv"], [/\[DBG\] triggerkit·action: Action leak started on 1 rows/], []],
    [["--log-level", "debug"], [/\[DBG\] triggerkit·action/], []],
  ];
  for (const [flags, present, absent] of levels) {
    await withJobs(async (registry) => {
      const { io, err } = capture();
      assert.equal(
        await main(["run", "manual", ...flags], { io, registry }),
        1,
      );
      const text = err.join("\n");
      for (const pattern of present) {
        assert.match(text, pattern, flags.join(" "));
      }
      for (const pattern of absent) {
        assert.doesNotMatch(text, pattern, flags.join(" "));
      }
      assert.ok(!text.includes("hunter2pw"), "logs are redacted");
    });
  }
});

Deno.test("cli serve: one timestamped line per run, none a table; says it stopped and why", async () => {
  const { registry, clock } = jobsRegistry();
  const stop = new AbortController();
  const { io, out, err } = capture();
  try {
    const serving = main(["serve"], {
      io,
      registry,
      clock,
      signal: stop.signal,
    });
    // The scheduler is up once it waits for its first slot.
    while (clock.pending === 0) await new Promise((r) => setTimeout(r, 1));
    // Two hours: every quarter hour `quiet` runs (skipped: no rows), every hour `hourly`.
    await clock.advance(2 * 3_600_000, 5 * 60_000);
    for (let i = 0; i < 50 && out.length < 10; i++) await clock.advance(1);
    stop.abort();
    assert.equal(await serving, 0);
    const quiet = out.filter((line) => / quiet /.test(line));
    const hourly = out.filter((line) => / hourly /.test(line));
    assert.equal(quiet.length, 8, out.join("\n"));
    assert.equal(hourly.length, 2, out.join("\n"));
    assert.equal(out.length, 10, "one line per run, nothing else");
    assert.match(
      quiet[0]!,
      /^2026-03-01 10:15:00Z {2}quiet {2}skipped {2}rows 0\/0 {2}0ms {2}run [0-9a-f]{8} {2}— the view yielded no new rows$/,
    );
    assert.match(
      hourly[0]!,
      /^2026-03-01 11:00:00Z {2}hourly {2}succeeded {2}rows 1\/1 {2}0ms {2}run [0-9a-f]{8}$/,
    );
    const said = err.join("\n");
    assert.match(
      said,
      /^2026-03-01 10:00:00Z {2}Serving 3 scheduled jobs: broken, hourly, quiet$/m,
    );
    assert.match(said, /^2026-03-01 12:0\d:\d\dZ {2}Stopping \(aborted\)/m);
    assert.match(said, /Stopped: aborted$/m);
  } finally {
    stop.abort();
    await registry.close();
  }
});

Deno.test("cli serve: a serve that fails says it stopped and why, and exits 2 for bad options", async () => {
  const { registry, clock } = jobsRegistry();
  try {
    const { io, err } = capture();
    assert.equal(
      await main(["serve", "--http", "nonsense"], { io, registry, clock }),
      2,
    );
    const said = err.join("\n");
    assert.match(said, /Stopped: error\[INVALID_OPTIONS\]/);
    assert.match(said, /error\[INVALID_OPTIONS\]: Invalid option http/);
  } finally {
    await registry.close();
  }
});

Deno.test("cli serve: with no scheduled job and no --http it stops at once and says so", async () => {
  const registry = createRegistry({ store: "sqlite::memory:" });
  try {
    const { io, err } = capture();
    assert.equal(await main(["serve"], { io, registry }), 0);
    assert.match(err.join("\n"), /Serving 0 scheduled jobs: \(none\)/);
    assert.match(err.join("\n"), /Stopped: no enabled job has a schedule$/m);
  } finally {
    await registry.close();
  }
});

Deno.test("configureCliLogging(): the level, one redacted line per record, to the writer given", async () => {
  const lines: string[] = [];
  await configureCliLogging({ level: "info", write: (l) => lines.push(l) });
  try {
    const log = getLogger(["triggerkit", "scheduler"]);
    log.debug("not shown");
    log.info("Store {url} is slow", { url: "postgres://u:hunter2pw@h/db" });
    assert.equal(lines.length, 1);
    assert.match(
      lines[0]!,
      /\[INF\] triggerkit·scheduler: Store postgres:\/\/u:\*\*\*@h\/db is slow$/,
    );
  } finally {
    await reset();
  }
});

Deno.test("cli jobs: with the run store down, still lists the jobs, says the last runs are unknown and exits 1", async () => {
  const clock = new FakeClock(START);
  const store = openRunStore("sqlite::memory:", { clock });
  store.history = () =>
    Promise.reject(
      new Error("connect ECONNREFUSED postgres://tk:hunter2pw@10.0.0.9/state"),
    );
  const registry = createRegistry({ store, clock });
  registry.defineView({
    name: "one",
    database: "sqlite::memory:",
    sql: "SELECT 1 AS id",
  });
  registry.register("note", () => ({}));
  registry.defineJob({
    name: "hourly",
    view: "one",
    actions: ["note"],
    schedule: "@hourly",
  });
  try {
    const { io, out, err } = capture();
    assert.equal(await main(["jobs"], { io, registry, clock }), 1);
    assert.match(
      out.join("\n"),
      /^hourly\s+@hourly\s+2026-03-01 11:00:00Z \(in 1h00m\)\s+unknown\s+-/m,
    );
    assert.match(
      err.join("\n"),
      /Last runs unknown: the run store failed: connect ECONNREFUSED postgres:\/\/tk:\*\*\*@10\.0\.0\.9/,
    );
    assert.ok(!err.join("\n").includes("hunter2pw"));
  } finally {
    await registry.close();
  }
});

Deno.test("cli history --json and show --json mask passwords too", async () => {
  await withJobs(async (registry) => {
    const ran = await registry.runJob("manual");
    for (const args of [["history", "--json"], ["show", ran.runId, "--json"]]) {
      const { io, out } = capture();
      assert.equal(await main(args, { io, registry }), 0);
      const text = out.join("\n");
      assert.ok(!text.includes("hunter2pw"), args.join(" "));
      assert.match(text, /postgres:\/\/app:\*\*\*@db\.internal/);
      JSON.parse(text);
    }
  });
});
