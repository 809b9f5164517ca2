/**
 * Fencing (SPEC §4.1): every run claims its job with an epoch; a run that
 * loses its claim is aborted at once, starts nothing more, and the store
 * refuses its writes. In process on a fake clock, then with real `serve`
 * processes: the holder is paused (SIGSTOP) past its lease, another takes
 * over, the holder resumes — no row is acted on twice, one run per slot
 * succeeds.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import postgres from "postgres";
import {
  createRegistry,
  openRunStore,
  type Registry,
  type RunRecord,
  type RunStore,
} from "../mod.ts";
import { main } from "../src/cli/main.ts";
import { FakeClock, settle } from "./_fake_clock.ts";
import { startFakeSlack } from "./_fake_slack.ts";
import { pgTest, uniqueTable } from "./_helpers.ts";
import { cutOff, MOD, spawnServe, until } from "./_faults.ts";

const LEASE_MS = 10_000;

async function withTwoInstances(
  fn: (
    a: Registry,
    b: Registry,
    clock: FakeClock,
    calls: { after: number; acted: number[] },
  ) => Promise<void>,
) {
  const dir = await Deno.makeTempDir({ prefix: "triggerkit-fencing-" });
  const url = `sqlite:${dir}/state.db`;
  const clock = new FakeClock();
  const stores: RunStore[] = [];
  const open = (cut: boolean) => {
    const store = openRunStore(url, { clock });
    stores.push(store);
    return createRegistry({
      store: cut ? cutOff(store) : store,
      clock,
      serve: { leaseMs: LEASE_MS },
    });
  };
  const a = open(true);
  const b = open(false);
  const calls = { after: 0, acted: [] as number[] };
  try {
    for (const registry of [a, b]) {
      registry.defineView({
        name: "rows",
        database: "sqlite::memory:",
        sql: "SELECT 1 AS id UNION ALL SELECT 2",
      });
      registry.register("after", () => ({ after: ++calls.after }));
    }
    await fn(a, b, clock, calls);
  } finally {
    await Promise.all([a.close(), b.close()]);
    await Promise.all(stores.map((store) => store.close?.()));
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("a run whose claim is lost is aborted at once: its signal fires, no further step starts", async () => {
  await withTwoInstances(async (a, b, clock, calls) => {
    let reason: unknown;
    a.register(
      "waits",
      ({ signal }) =>
        new Promise((_, reject) =>
          signal.addEventListener("abort", () => {
            reason = signal.reason;
            reject(signal.reason);
          })
        ),
    );
    b.register("waits", () => ({}));
    for (const registry of [a, b]) {
      registry.defineJob({
        name: "j",
        view: "rows",
        actions: ["waits", "after"],
      });
    }
    const running = a.runJob("j");
    await settle();
    await clock.advance(LEASE_MS + 1, 1_000);
    const report = await running;
    assert.match(String((reason as Error)?.message), /lost its claim/);
    assert.equal(report.status, "failed");
    assert.match(report.reason!, /lost its claim on job "j".*not renewed/);
    assert.deepEqual(
      report.actions.map((x) => [x.action, x.status, x.error?.code]),
      [
        ["waits", "failed", "ACTION_TIMEOUT"],
        ["after", "skipped", undefined],
      ],
    );
    assert.equal(calls.after, 0);
    // The job is free for another instance, and the cut-off run never recorded an outcome.
    const next = await b.runJob("j");
    assert.equal(next.status, "succeeded");
    const history = await b.history({ job: "j" });
    assert.deepEqual(history.map((run) => run.status), [
      "succeeded",
      "interrupted",
    ]);
  });
});

Deno.test("the store refuses a lost claim's writes: its outcome and dedupe keys", async () => {
  await withTwoInstances(async (a, b, clock) => {
    let finishA!: () => void;
    // A's action ignores its signal and ends after B took over.
    a.register(
      "slow",
      () => new Promise((resolve) => finishA = () => resolve({ slow: true })),
    );
    b.register("slow", () => ({ fast: true }));
    for (const registry of [a, b]) {
      registry.defineJob({
        name: "d",
        view: "rows",
        actions: ["slow"],
        dedupe: { key: ["id"] },
      });
    }
    const running = a.runJob("d");
    await settle();
    await clock.advance(LEASE_MS + 1, 1_000);
    const taken = await b.runJob("d");
    assert.deepEqual([taken.status, taken.newRowCount], ["succeeded", 2]);
    finishA();
    const late = await running;
    assert.equal(late.status, "failed");
    assert.match(late.reason!, /lost its claim/);
    const history = await b.history({ job: "d" });
    assert.deepEqual(
      history.map((run) => [run.runId === late.runId, run.status]),
      [[false, "succeeded"], [true, "interrupted"]],
    );
    // Only B's keys count: nothing new for the next run.
    assert.equal((await b.runJob("d")).newRowCount, 0);
  });
});

Deno.test("a run started by hand claims the same lease: refused while the job is held, naming the holder; the CLI exits 1", async () => {
  await withTwoInstances(async (a, b) => {
    let release!: () => void;
    a.register(
      "slow",
      () => new Promise((resolve) => release = () => resolve({})),
    );
    b.register("slow", () => ({}));
    for (const registry of [a, b]) {
      registry.defineJob({ name: "m", view: "rows", actions: ["slow"] });
    }
    const running = a.runJob("m");
    await settle();
    const refused = await b.runJob("m");
    assert.equal(refused.status, "skipped");
    assert.equal(refused.heldBy?.pid, Deno.pid);
    assert.match(
      refused.reason!,
      /already in progress: held by instance \S+ \(host .+, pid \d+\), a run started by hand/,
    );
    const out: string[] = [];
    const code = await main(["run", "m"], {
      registry: b,
      io: { out: (line) => out.push(line), err: () => {} },
      colour: false,
    });
    assert.equal(code, 1);
    assert.match(out.join("\n"), /held by instance/);
    release();
    assert.equal((await running).status, "succeeded");
    const skipped = (await a.history({ job: "m" })).filter((run) =>
      run.status === "skipped"
    );
    assert.equal(skipped.length, 2);
    assert.ok(skipped.every((run) => run.reason === refused.reason));
  });
});

// --- Real processes: SIGSTOP the holder past its lease. ---

const ROWS = 8;
const PROCESS_LEASE_MS = 1_500;

function config(job: string): string {
  return `
import { defineConfig } from ${JSON.stringify(MOD)};
export default defineConfig({
  store: Deno.env.get("TK_STORE"),
  serve: { leaseMs: ${PROCESS_LEASE_MS}, graceMs: 3000 },
  views: [{ name: "items", database: "sqlite:" + Deno.env.get("TK_DATA"), sql: "SELECT id FROM items ORDER BY id" }],
  jobs: [{
    name: ${
    JSON.stringify(job)
  }, view: "items", schedule: "every 2 seconds", dedupe: { key: ["id"] },
    actions: [{ action: "send_slack_message", config: {
      channel: "#fencing", text: "row {{id}}", mode: "per_row", minIntervalMs: 250, retryBaseMs: 50,
      slackApiUrl: Deno.env.get("TK_SLACK"),
    } }],
  }],
});
`;
}

/**
 * Two `serve` processes on one store; the one holding the job mid-run is
 * paused past its lease, the other takes over, the first resumes.
 */
async function pauseTheHolder(
  store: string,
  job: string,
  holderPid: () => Promise<number | undefined>,
): Promise<RunRecord[]> {
  const dir = await Deno.makeTempDir({ prefix: "triggerkit-sigstop-" });
  const data = new DatabaseSync(`${dir}/data.db`);
  data.exec("CREATE TABLE items (id INTEGER PRIMARY KEY)");
  for (let id = 1; id <= ROWS; id++) {
    data.exec(`INSERT INTO items VALUES (${id})`);
  }
  data.close();
  const slack = startFakeSlack();
  await Deno.writeTextFile(`${dir}/triggerkit.config.ts`, config(job));
  const spawn = () =>
    spawnServe(dir, {
      TK_STORE: store,
      TK_DATA: `${dir}/data.db`,
      TK_SLACK: slack.apiUrl,
      SLACK_BOT_TOKEN: "xoxb-test-token",
    });
  const servers = [spawn(), spawn()];
  const stderr = servers.map((server) => new Response(server.stderr).text());
  let paused: Deno.ChildProcess | undefined;
  try {
    await until("3 messages", () => slack.delivered.length >= 3, 30_000);
    const pid = await holderPid();
    paused = servers.find((server) => server.pid === pid);
    assert.ok(paused, `the holder ${pid} is not one of the servers`);
    paused.kill("SIGSTOP");
    const pausedAt = Date.now();
    await until(
      "every row delivered",
      () => new Set(slack.delivered.map((m) => m.text)).size === ROWS,
      30_000,
    );
    // Well past its lease, then it wakes up and finds it lost its claim.
    await new Promise((resolve) =>
      setTimeout(
        resolve,
        Math.max(0, pausedAt + 3 * PROCESS_LEASE_MS - Date.now()),
      )
    );
    paused.kill("SIGCONT");
    paused = undefined;
    await new Promise((resolve) => setTimeout(resolve, 3_000));
  } finally {
    paused?.kill("SIGCONT");
    for (const server of servers) server.kill("SIGTERM");
    const statuses = await Promise.all(servers.map((server) => server.status));
    const logs = await Promise.all(stderr);
    await slack.close();
    await Deno.remove(dir, { recursive: true });
    assert.deepEqual(statuses.map((s) => s.code), [0, 0], logs.join("\n"));
    const all = logs.join("\n");
    assert.ok(!all.includes("Uncaught"), `an unhandled error: ${all}`);
    assert.match(all, /taking over slot/, "no instance took over");
    assert.match(all, /lost its claim/, "the paused instance did not notice");
  }
  const perRow = new Map<string, number>();
  for (const message of slack.delivered) {
    perRow.set(message.text, (perRow.get(message.text) ?? 0) + 1);
  }
  assert.deepEqual(
    [...perRow].filter(([, count]) => count !== 1),
    [],
    "a row was posted twice",
  );
  assert.equal(perRow.size, ROWS);
  const history = openRunStore(store);
  try {
    return await history.history({ job, limit: 1000 });
  } finally {
    await history.close?.();
  }
}

function assertOneSuccessPerSlot(runs: RunRecord[]): void {
  const succeeded = runs.filter((run) => run.status === "succeeded");
  const bySlot = new Map<string, number>();
  for (const run of succeeded) {
    bySlot.set(run.slot!, (bySlot.get(run.slot!) ?? 0) + 1);
  }
  assert.deepEqual(
    [...bySlot].filter(([, n]) => n > 1),
    [],
    "a slot succeeded twice",
  );
  const takeover = succeeded.find((run) => run.attempt === 2);
  assert.ok(takeover, "no run was taken over");
  assert.equal(takeover.newRowCount, ROWS);
  const paused = runs.filter((run) =>
    run.slot === takeover.slot && run.runId !== takeover.runId
  );
  assert.deepEqual(paused.map((run) => run.status), ["interrupted"]);
  assert.ok(
    runs.some((run) =>
      run.status === "skipped" && /held by instance/.test(run.reason ?? "")
    ),
    "the slots that came while the job was held are recorded skipped",
  );
}

Deno.test("SIGSTOP the holder past its lease on a SQLite store file: no row posted twice, one success per slot", async () => {
  const dir = await Deno.makeTempDir({ prefix: "triggerkit-sigstop-store-" });
  const file = `${dir}/state.db`;
  const job = uniqueTable("fenced");
  try {
    const runs = await pauseTheHolder(`sqlite:${file}`, job, () => {
      try {
        const db = new DatabaseSync(file, { readOnly: true });
        const row = db.prepare(
          "SELECT holder FROM triggerkit_claims WHERE job_name = ? AND done = 0",
        ).get(job) as { holder: string } | undefined;
        db.close();
        return Promise.resolve(row ? JSON.parse(row.holder).pid : undefined);
      } catch {
        return Promise.resolve(undefined);
      }
    });
    assertOneSuccessPerSlot(runs);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

pgTest(
  "SIGSTOP the holder past its lease on a PostgreSQL store: no row posted twice, one success per slot",
  async (pg) => {
    const job = uniqueTable("fenced");
    const sql = postgres(pg, { onnotice: () => {} });
    try {
      const runs = await pauseTheHolder(pg, job, async () => {
        const [row] = await sql.unsafe(
          "SELECT holder FROM triggerkit_claims WHERE job_name = $1 AND done = 0",
          [job],
        );
        return row ? JSON.parse(String(row.holder)).pid : undefined;
      });
      assertOneSuccessPerSlot(runs);
    } finally {
      for (
        const table of [
          "triggerkit_runs",
          "triggerkit_claims",
          "triggerkit_dedupe",
          "triggerkit_deliveries",
        ]
      ) {
        await sql.unsafe(`DELETE FROM ${table} WHERE job_name = $1`, [job]);
      }
      await sql.end();
    }
  },
);
