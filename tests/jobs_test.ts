import assert from "node:assert/strict";
import postgres from "postgres";
import {
  createRegistry,
  type Registry,
  type Row,
  TriggerKitError,
} from "../mod.ts";
import { FakeClock } from "./_fake_clock.ts";
import {
  fixture,
  pgTest,
  rejectsWithCode,
  throwsWithCode,
  uniqueTable,
} from "./_helpers.ts";

const DB = "sqlite::memory:";

/** A registry whose store and view database are one in-memory SQLite. */
async function withJobs(
  fn: (registry: Registry) => Promise<void>,
  setup = "",
  options: { clock?: FakeClock } = {},
) {
  const registry = createRegistry({ store: DB, ...options });
  try {
    await registry.run("run_sql", [{}], {
      config: {
        database: DB,
        sql:
          "CREATE TABLE orders (id INTEGER PRIMARY KEY, total REAL, note TEXT)",
      },
    });
    await registry.run("run_sql", [
      { id: 1, total: 250 },
      { id: 2, total: 40 },
      { id: 3, total: 990 },
    ], {
      config: {
        database: DB,
        sql: "INSERT INTO orders (id, total) VALUES (:id, :total)",
      },
    });
    if (setup) {
      await registry.run("run_sql", [{}], {
        config: { database: DB, sql: setup },
      });
    }
    registry.defineView({
      name: "big_orders",
      database: DB,
      sql: "SELECT id, total FROM orders WHERE total > 100 ORDER BY id",
    });
    await fn(registry);
  } finally {
    await registry.close();
  }
}

function recorder(registry: Registry, name: string) {
  const calls: Array<
    {
      data: Row[];
      context: Record<string, unknown>;
      runId: string;
      jobName?: string;
      dryRun: boolean;
    }
  > = [];
  registry.register(name, ({ data, context, runId, jobName, dryRun }) => {
    calls.push({
      data: [...data],
      context: { ...context },
      runId,
      dryRun,
      ...(jobName ? { jobName } : {}),
    });
    context[name] = data.length;
    return { seen: data.length };
  });
  return calls;
}

Deno.test("defineView() rejects bad definitions with INVALID_VIEW", async () => {
  await withJobs((registry) => {
    throwsWithCode(
      () => registry.defineView({ name: "v", database: DB, sql: "" }),
      "INVALID_VIEW",
      /"v": sql must be/,
    );
    throwsWithCode(
      () =>
        registry.defineView({
          name: "v",
          database: "mysql://x",
          sql: "SELECT 1",
        }),
      "INVALID_VIEW",
      /database "mysql:\/\/x"/,
    );
    throwsWithCode(
      () =>
        registry.defineView({
          name: " bad name",
          database: DB,
          sql: "SELECT 1",
        }),
      "INVALID_VIEW",
      /name: a name must not start or end with whitespace/,
    );
    return Promise.resolve();
  });
});

Deno.test("defineJob() checks its view, actions, schedule, configs and dedupe", async () => {
  await withJobs((registry) => {
    recorder(registry, "notify");
    throwsWithCode(
      () =>
        registry.defineJob({
          name: "j",
          view: "big_ordrs",
          actions: ["notify"],
        }),
      "VIEW_NOT_FOUND",
      /did you mean "big_orders"/,
    );
    throwsWithCode(
      () =>
        registry.defineJob({
          name: "j",
          view: "big_orders",
          actions: ["notfy"],
        }),
      "ACTION_NOT_FOUND",
      /actions\[0\].*did you mean "notify"/,
    );
    throwsWithCode(
      () => registry.defineJob({ name: "j", view: "big_orders", actions: [] }),
      "INVALID_JOB",
      /at least one action/,
    );
    throwsWithCode(
      () =>
        registry.defineJob({
          name: "j",
          view: "big_orders",
          actions: ["notify"],
          schedule: "sometimes",
        }),
      "INVALID_SCHEDULE",
      /Invalid job "j": Invalid schedule "sometimes"/,
    );
    throwsWithCode(
      () =>
        registry.defineJob({
          name: "j",
          view: "big_orders",
          actions: ["notify"],
          schedule: "hourly",
          timezone: "Nowhere/City",
        }),
      "INVALID_SCHEDULE",
      /unknown time zone/,
    );
    throwsWithCode(
      () =>
        registry.defineJob({
          name: "j",
          view: "big_orders",
          actions: [{ action: "run_sql", config: { database: DB } }],
        }),
      "INVALID_CONFIG",
      /Invalid job "j": actions\[0\]: .*sql/,
    );
    throwsWithCode(
      () =>
        registry.defineJob({
          name: "j",
          view: "big_orders",
          actions: ["notify"],
          dedupe: { key: [] },
        }),
      "INVALID_JOB",
      /dedupe\.key/,
    );
    throwsWithCode(
      () =>
        registry.defineJob({
          name: "j",
          view: "big_orders",
          actions: ["notify"],
          dedupe: { key: ["id"], ttl: "forever" },
        }),
      "INVALID_JOB",
      /dedupe\.ttl/,
    );
    throwsWithCode(
      () =>
        registry.defineJob({
          name: "j",
          view: "big_orders",
          actions: ["notify"],
          when: "sometimes" as "rows",
        }),
      "INVALID_JOB",
      /when must be/,
    );
    return Promise.resolve();
  });
});

Deno.test("runJob() of an unknown job is JOB_NOT_FOUND", async () => {
  await withJobs(async (registry) => {
    await rejectsWithCode(
      registry.runJob("nope"),
      "JOB_NOT_FOUND",
      /Unknown job "nope"/,
    );
  });
});

Deno.test("runJob() queries the view once and shares runId and context across actions", async () => {
  await withJobs(async (registry) => {
    const first = recorder(registry, "first");
    const second = recorder(registry, "second");
    registry.defineJob({
      name: "alerts",
      view: "big_orders",
      actions: ["first", "second"],
    });
    const report = await registry.runJob("alerts");
    assert.equal(report.status, "succeeded");
    assert.deepEqual([report.rowCount, report.newRowCount], [2, 2]);
    assert.deepEqual(first[0]!.data, [{ id: 1, total: 250 }, {
      id: 3,
      total: 990,
    }]);
    assert.equal(first[0]!.runId, report.runId);
    assert.equal(second[0]!.runId, report.runId);
    assert.equal(first[0]!.jobName, "alerts");
    assert.deepEqual(second[0]!.context, { first: 2 });
    assert.deepEqual(
      report.actions.map((a) => [a.action, a.status, a.result]),
      [
        ["first", "succeeded", { seen: 2 }],
        ["second", "succeeded", { seen: 2 }],
      ],
    );
    assert.ok(
      !Number.isNaN(Date.parse(report.startedAt)) &&
        !Number.isNaN(Date.parse(report.finishedAt)),
    );
    const [recorded] = await registry.history({ job: "alerts" });
    assert.deepEqual(recorded, report);
  });
});

Deno.test("runJob() with no rows skips the actions unless when is always", async () => {
  await withJobs(async (registry) => {
    const calls = recorder(registry, "notify");
    registry.defineView({
      name: "none",
      database: DB,
      sql: "SELECT id FROM orders WHERE total < 0",
    });
    registry.defineJob({ name: "quiet", view: "none", actions: ["notify"] });
    registry.defineJob({
      name: "loud",
      view: "none",
      actions: ["notify"],
      when: "always",
    });
    const quiet = await registry.runJob("quiet");
    assert.equal(quiet.status, "skipped");
    assert.deepEqual(quiet.actions.map((a) => a.status), ["skipped"]);
    assert.equal(calls.length, 0);
    assert.equal((await registry.runJob("loud")).status, "succeeded");
    assert.equal(calls.length, 1);
  });
});

Deno.test("runJob(): a failing action stops the run unless its step continues on error", async () => {
  await withJobs(async (registry) => {
    const after = recorder(registry, "after");
    registry.register("boom", () => {
      throw new Error("kaput");
    });
    registry.defineJob({
      name: "stops",
      view: "big_orders",
      actions: ["boom", "after"],
    });
    registry.defineJob({
      name: "goes_on",
      view: "big_orders",
      actions: [{ action: "boom", continueOnError: true }, "after"],
    });
    const stopped = await registry.runJob("stops");
    assert.equal(stopped.status, "failed");
    assert.deepEqual(stopped.actions.map((a) => a.status), [
      "failed",
      "skipped",
    ]);
    assert.deepEqual(stopped.actions[0]!.error, {
      code: "ACTION_FAILED",
      message: 'Action "boom" failed: kaput',
    });
    assert.equal(after.length, 0);
    const continued = await registry.runJob("goes_on");
    assert.equal(continued.status, "succeeded");
    assert.deepEqual(continued.actions.map((a) => a.status), [
      "failed",
      "succeeded",
    ]);
    assert.equal(
      (await registry.history({ job: "stops" }))[0]!.status,
      "failed",
    );
  });
});

Deno.test("runJob() retries transient failures of a step, not invalid ones", async () => {
  const clock = new FakeClock();
  await withJobs(
    async (registry) => {
      let calls = 0;
      registry.register("flaky", () => {
        if (++calls < 3) throw new Error("try again");
        return { ok: true };
      });
      registry.defineJob({
        name: "retrying",
        view: "big_orders",
        actions: [{ action: "flaky", retries: 3, retryDelayMs: 250 }],
      });
      const started = clock.now();
      const report = await clock.runUntil(registry.runJob("retrying"));
      assert.equal(report.status, "succeeded");
      assert.equal(report.actions[0]!.attempts, 3);
      // Backoff on the registry's clock: 250 ms, then doubled. (Longer
      // sleeps are the lease's renewals and progress writes.)
      assert.deepEqual(clock.sleeps.filter((ms) => ms < 1_000), [250, 500]);
      assert.ok(clock.now() - started >= 750);
      let invalidCalls = 0;
      registry.register("refuses", () => {
        invalidCalls++;
        throw new TriggerKitError("INVALID_DATA", "these rows are wrong");
      });
      registry.defineJob({
        name: "no_retry",
        view: "big_orders",
        actions: [{ action: "refuses", retries: 3, retryDelayMs: 1 }],
      });
      const refused = await registry.runJob("no_retry");
      assert.deepEqual([
        refused.status,
        refused.actions[0]!.error?.code,
        invalidCalls,
      ], ["failed", "INVALID_DATA", 1]);
    },
    "",
    { clock },
  );
});

Deno.test("runJob(): run times and dedupe expiry follow the registry's clock", async () => {
  const clock = new FakeClock(Date.parse("2026-03-01T10:00:00Z"));
  await withJobs(
    async (registry) => {
      registry.register("notify", ({ data }) => ({ n: data.length }));
      registry.defineJob({
        name: "expiring",
        view: "big_orders",
        actions: ["notify"],
        dedupe: { key: ["id"], ttl: "1h" },
      });
      const first = await registry.runJob("expiring");
      assert.equal(first.startedAt, "2026-03-01T10:00:00.000Z");
      assert.equal(first.finishedAt, "2026-03-01T10:00:00.000Z");
      assert.equal(first.newRowCount, 2);
      clock.tick(30 * 60_000);
      assert.equal((await registry.runJob("expiring")).newRowCount, 0);
      clock.tick(31 * 60_000); // past the hour: the keys have expired
      const third = await registry.runJob("expiring");
      assert.equal(third.startedAt, "2026-03-01T11:01:00.000Z");
      assert.equal(third.newRowCount, 2);
    },
    "",
    { clock },
  );
});

Deno.test("runJob(): actions cannot change the rows later actions receive", async () => {
  await withJobs(async (registry) => {
    registry.register("mutate", ({ data }) => {
      (data[0] as Row).total = 0;
      return {};
    });
    const seen = recorder(registry, "seen");
    registry.defineJob({
      name: "m",
      view: "big_orders",
      actions: [{ action: "mutate", continueOnError: true }, "seen"],
    });
    const report = await registry.runJob("m");
    assert.equal(report.actions[0]!.error?.code, "ACTION_FAILED");
    assert.equal(seen[0]!.data[0]!.total, 250);
  });
});

Deno.test("runJob(): dedupe acts on new rows only, saved only after success", async () => {
  await withJobs(async (registry) => {
    let fail = true;
    registry.register("maybe", ({ data }) => {
      if (fail) throw new Error("down");
      return { n: data.length };
    });
    registry.defineJob({
      name: "d",
      view: "big_orders",
      actions: ["maybe"],
      dedupe: { key: ["id"] },
    });
    const failed = await registry.runJob("d");
    assert.equal(failed.status, "failed");
    fail = false;
    const first = await registry.runJob("d");
    assert.deepEqual(
      [first.status, first.newRowCount],
      ["succeeded", 2],
      "a failed run's rows come again",
    );
    const second = await registry.runJob("d");
    assert.deepEqual([second.status, second.rowCount, second.newRowCount], [
      "skipped",
      2,
      0,
    ]);
    await registry.run("run_sql", [{}], {
      config: {
        database: DB,
        sql: "INSERT INTO orders (id, total) VALUES (4, 500)",
      },
    });
    const third = await registry.runJob("d");
    assert.deepEqual([third.newRowCount, third.actions[0]!.result], [1, {
      n: 1,
    }]);
  });
});

Deno.test("runJob(): dedupe keys expire after the ttl", async () => {
  await withJobs(async (registry) => {
    recorder(registry, "notify");
    registry.defineJob({
      name: "t",
      view: "big_orders",
      actions: ["notify"],
      dedupe: { key: ["id"], ttl: "40ms" },
    });
    assert.equal((await registry.runJob("t")).newRowCount, 2);
    assert.equal((await registry.runJob("t")).newRowCount, 0);
    await new Promise((resolve) => setTimeout(resolve, 60));
    assert.equal((await registry.runJob("t")).newRowCount, 2);
  });
});

Deno.test("runJob(): a dry run is recorded as such and saves no dedupe state", async () => {
  await withJobs(async (registry) => {
    const calls = recorder(registry, "notify");
    registry.defineJob({
      name: "dry",
      view: "big_orders",
      actions: ["notify"],
      dedupe: { key: ["id"] },
    });
    const dry = await registry.runJob("dry", { dryRun: true });
    assert.equal(calls[0]!.dryRun, true);
    assert.equal((await registry.history({ job: "dry" }))[0]!.dryRun, true);
    assert.equal(
      (await registry.runJob("dry")).newRowCount,
      2,
      "the dry run saved dedupe keys",
    );
    assert.equal(dry.status, "succeeded");
  });
});

Deno.test("runJob(): a job never overlaps itself", async () => {
  await withJobs(async (registry) => {
    let release!: () => void;
    registry.register(
      "slow",
      () => new Promise((resolve) => release = () => resolve({})),
    );
    registry.defineJob({ name: "o", view: "big_orders", actions: ["slow"] });
    const first = registry.runJob("o");
    await new Promise((resolve) => setTimeout(resolve, 20));
    const second = await registry.runJob("o");
    assert.equal(second.status, "skipped");
    assert.match(
      second.reason!,
      /^a run of this job is already in progress: held by instance \S+ \(host .+, pid \d+\), a run started by hand$/,
    );
    release();
    assert.equal((await first).status, "succeeded");
    const recorded = await registry.history({ job: "o" });
    assert.deepEqual(recorded.map((run) => run.status).sort(), [
      "skipped",
      "succeeded",
    ]);
    assert.equal(
      recorded.find((run) => run.status === "skipped")!.reason,
      second.reason,
    );
  });
});

Deno.test("runJob(): a failing view fails the run with DATABASE_ERROR, recorded", async () => {
  await withJobs(async (registry) => {
    recorder(registry, "notify");
    registry.defineView({
      name: "broken",
      database: DB,
      sql: "SELECT * FROM no_such_table",
    });
    registry.defineJob({ name: "b", view: "broken", actions: ["notify"] });
    const report = await registry.runJob("b");
    assert.equal(report.status, "failed");
    assert.equal(report.error?.code, "DATABASE_ERROR");
    assert.match(report.error!.message, /no such table/);
    assert.equal((await registry.history({ job: "b" }))[0]!.status, "failed");
  });
});

Deno.test("runJob(): a sandboxed step's context changes reach the next step", async () => {
  await withJobs(async (registry) => {
    registry.register("mutator", fixture("mutator.ts"));
    const after = recorder(registry, "after");
    registry.defineJob({
      name: "s",
      view: "big_orders",
      actions: ["mutator", "after"],
    });
    const report = await registry.runJob("s");
    assert.equal(report.status, "succeeded", JSON.stringify(report.actions));
    assert.equal(after[0]!.context.step, "mutator");
    assert.deepEqual(after[0]!.data, [{ id: 1, total: 250 }, {
      id: 3,
      total: 990,
    }]);
  });
});

Deno.test("views read integers past 2^53 as bigint, and the others as numbers", async () => {
  await withJobs(async (registry) => {
    const calls = recorder(registry, "notify");
    registry.defineView({
      name: "huge",
      database: DB,
      sql: "SELECT 9007199254740993 AS n, 1 AS small",
    });
    registry.defineJob({ name: "h", view: "huge", actions: ["notify"] });
    await registry.runJob("h");
    assert.deepEqual(calls[0]!.data, [{ n: 9007199254740993n, small: 1 }]);
  });
});

pgTest("jobs: a PostgreSQL view and a PostgreSQL run store", async (url) => {
  const table = uniqueTable("tk_view");
  const sql = postgres(url, { onnotice: () => {} });
  await sql.unsafe(`CREATE TABLE ${table} (id int, total numeric)`);
  await sql.unsafe(`INSERT INTO ${table} VALUES (1, 250), (2, 40)`);
  const registry = createRegistry({ store: url, databases: { main: url } });
  try {
    const calls = recorder(registry, "notify");
    registry.defineView({
      name: "pg_big",
      database: "main",
      sql: `SELECT id, total FROM ${table} WHERE total > 100`,
    });
    registry.defineJob({
      name: `pg_job_${table}`,
      view: "pg_big",
      actions: ["notify"],
      dedupe: { key: ["id"] },
    });
    const report = await registry.runJob(`pg_job_${table}`);
    assert.equal(report.status, "succeeded");
    assert.deepEqual(calls[0]!.data, [{ id: 1, total: "250" }]);
    assert.equal((await registry.runJob(`pg_job_${table}`)).newRowCount, 0);
    const recorded = await registry.history({ job: `pg_job_${table}` });
    assert.deepEqual(recorded.map((r) => r.status), ["skipped", "succeeded"]);
  } finally {
    await registry.close();
    await sql.unsafe(`DROP TABLE ${table}`);
    await sql.unsafe("DELETE FROM triggerkit_runs WHERE job_name = $1", [
      `pg_job_${table}`,
    ]);
    await sql.unsafe("DELETE FROM triggerkit_dedupe WHERE job_name = $1", [
      `pg_job_${table}`,
    ]);
    await sql.end();
  }
});
