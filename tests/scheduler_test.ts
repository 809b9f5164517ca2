import assert from "node:assert/strict";
import {
  createRegistry,
  type Registry,
  type RunReport,
  type ServeOptions,
} from "../mod.ts";
import { FakeClock, settle } from "./_fake_clock.ts";

const START = Date.parse("2026-03-01T10:00:30Z");

async function withScheduler(
  fn: (
    registry: Registry,
    clock: FakeClock,
    runs: RunReport[],
    stop: () => Promise<void>,
  ) => Promise<void>,
  options: {
    setup?: (registry: Registry) => Promise<void> | void;
    graceMs?: number;
    serve?: Pick<ServeOptions, "driver" | "cron">;
  } = {},
) {
  const registry = createRegistry({ store: "sqlite::memory:" });
  const clock = new FakeClock(START);
  const runs: RunReport[] = [];
  const controller = new AbortController();
  try {
    registry.defineView({
      name: "one",
      database: "sqlite::memory:",
      sql: "SELECT 1 AS id",
    });
    await options.setup?.(registry);
    const serving = registry.serve({
      signal: controller.signal,
      clock,
      handleSignals: false,
      onRun: (report) => runs.push(report),
      ...(options.graceMs === undefined ? {} : { graceMs: options.graceMs }),
      ...options.serve,
    });
    await settle();
    await fn(registry, clock, runs, async () => {
      controller.abort();
      await serving;
    });
    controller.abort();
    await serving;
  } finally {
    await registry.close();
  }
}

Deno.test("serve() runs an enabled job once per slot, and not a disabled one", async () => {
  await withScheduler(async (_registry, clock, runs) => {
    await clock.advance(3 * 60_000);
    assert.deepEqual(
      runs.filter((r) => r.jobName === "every_minute").map((r) => r.slot),
      [
        "2026-03-01T10:01:00.000Z",
        "2026-03-01T10:02:00.000Z",
        "2026-03-01T10:03:00.000Z",
      ],
    );
    assert.equal(runs.filter((r) => r.jobName === "off").length, 0);
  }, {
    setup: (registry) => {
      registry.register("noop", () => ({}));
      registry.defineJob({
        name: "every_minute",
        view: "one",
        actions: ["noop"],
        schedule: "every minute",
      });
      registry.defineJob({
        name: "off",
        view: "one",
        actions: ["noop"],
        schedule: "every minute",
        enabled: false,
      });
    },
  });
});

Deno.test("serve() never runs two runs of a job at once", async () => {
  let release!: () => void;
  let started = 0;
  await withScheduler(async (_registry, clock, runs) => {
    await clock.advance(60_000); // first slot: starts, and hangs
    await clock.advance(2 * 60_000); // two more slots while it runs
    assert.equal(started, 1);
    release();
    await settle();
    // onRun is told of every slot: the two that came while it ran, skipped.
    assert.deepEqual(runs.map((run) => run.status).sort(), [
      "skipped",
      "skipped",
      "succeeded",
    ]);
    await clock.advance(60_000);
    assert.equal(started, 2);
    release();
  }, {
    setup: (registry) => {
      registry.register("slow", () => {
        started++;
        return new Promise((resolve) => release = () => resolve({}));
      });
      registry.defineJob({
        name: "slow_job",
        view: "one",
        actions: ["slow"],
        schedule: "every minute",
      });
    },
    graceMs: 0,
  });
});

Deno.test("serve() runs a missed slot once after downtime, not once per missed slot", async () => {
  let calls = 0;
  await withScheduler(async (_registry, _clock, runs) => {
    await settle();
    assert.equal(calls, 1);
    // The latest missed slot runs; the others are recorded skipped (tests/missed_slots_test.ts).
    assert.deepEqual(
      runs.filter((r) => r.status === "succeeded").map((r) => r.slot),
      ["2026-03-01T10:00:00.000Z"],
    );
  }, {
    setup: async (registry) => {
      registry.register("count", () => ({ calls: ++calls }));
      registry.defineJob({
        name: "quarterly",
        view: "one",
        actions: ["count"],
        schedule: "every 15 minutes",
      });
      // It last ran for 08:45; 09:00 through 10:00 passed while down.
      await registry.history(); // creates the store's tables
      await registry.run("run_sql", [{
        slot: Date.parse("2026-03-01T08:45:00Z"),
      }], {
        config: {
          database: "sqlite::memory:",
          sql:
            `INSERT INTO triggerkit_claims (job_name, epoch, run_id, holder, slot, last_slot, lease_until, done, attempt, generation)
             VALUES ('quarterly', 1, 'old', '{}', :slot, :slot, 0, 1, 1, '')`,
        },
      });
    },
  });
});

Deno.test("serve() stops taking runs on abort and lets running ones finish", async () => {
  let release!: () => void;
  let finished = false;
  await withScheduler(async (_registry, clock, runs, stop) => {
    await clock.advance(60_000);
    const stopping = stop();
    await settle();
    assert.equal(finished, false);
    release();
    await stopping;
    assert.equal(finished, true);
    assert.equal(runs.length, 1);
    assert.equal(runs[0]!.status, "succeeded");
  }, {
    setup: (registry) => {
      registry.register("slow", async () => {
        await new Promise<void>((resolve) => release = resolve);
        finished = true;
        return {};
      });
      registry.defineJob({
        name: "slow_job",
        view: "one",
        actions: ["slow"],
        schedule: "every minute",
      });
    },
  });
});

Deno.test("serve() aborts runs that outlast the grace period", async () => {
  await withScheduler(async (_registry, clock, runs, stop) => {
    await clock.advance(60_000);
    const stopping = stop();
    await settle();
    await clock.advance(5_000, 1_000);
    await stopping;
    assert.equal(runs.length, 1);
    assert.equal(runs[0]!.status, "failed");
    assert.equal(runs[0]!.actions[0]!.error?.code, "ACTION_TIMEOUT");
  }, {
    setup: (registry) => {
      registry.register("stuck", () => new Promise(() => {}));
      registry.defineJob({
        name: "stuck_job",
        view: "one",
        actions: ["stuck"],
        schedule: "every minute",
      });
    },
    graceMs: 3_000,
  });
});

/** Two registries (two "instances") sharing one store file and one fake clock. */
async function withInstances(
  fn: (clock: FakeClock, runs: RunReport[], store: string) => Promise<void>,
  leaseMs: number,
) {
  const dir = await Deno.makeTempDir({ prefix: "triggerkit-instances-" });
  const store = `sqlite:${dir}/state.db`;
  const clock = new FakeClock(START);
  const runs: RunReport[] = [];
  const controller = new AbortController();
  const registries = [
    createRegistry({ store, clock }),
    createRegistry({ store, clock }),
  ];
  try {
    const serving = registries.map((registry, i) => {
      registry.defineView({
        name: "one",
        database: "sqlite::memory:",
        sql: "SELECT 1 AS id",
      });
      registry.register("noop", () => ({ by: i }));
      registry.defineJob({
        name: "shared",
        view: "one",
        actions: ["noop"],
        schedule: "every minute",
      });
      return registry.serve({
        signal: controller.signal,
        clock,
        leaseMs,
        instance: `instance-${i}`,
        handleSignals: false,
        onRun: (report) => runs.push(report),
      });
    });
    await settle();
    await fn(clock, runs, store);
    controller.abort();
    await Promise.all(serving);
  } finally {
    await Promise.all(registries.map((registry) => registry.close()));
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("serve(): instances sharing a store run each slot once", async () => {
  await withInstances(async (clock, runs) => {
    await clock.advance(5 * 60_000);
    await settle();
    const slots = runs.map((r) => r.slot).sort();
    assert.deepEqual(slots, [
      "2026-03-01T10:01:00.000Z",
      "2026-03-01T10:02:00.000Z",
      "2026-03-01T10:03:00.000Z",
      "2026-03-01T10:04:00.000Z",
      "2026-03-01T10:05:00.000Z",
    ]);
  }, 30_000);
});

Deno.test("serve(): a run whose instance died is taken over after its lease, as a retry", async () => {
  const { SqlRunStore } = await import("../src/store/sql.ts");
  const { SqliteDatabase } = await import("../src/db/sqlite.ts");
  await withInstances(async (clock, runs, store) => {
    // An instance that died holding 10:01: its claim is never renewed or released.
    const db = new SqliteDatabase(store.slice("sqlite:".length), store);
    const dead = new SqlRunStore(db, { clock });
    const slot = Date.parse("2026-03-01T10:01:00Z");
    const claimed = await dead.claim("shared", {
      runId: "dead-run",
      holder: { instance: "dead-instance", host: "h", pid: 1 },
      leaseMs: 50_000, // from 10:00:30 to 10:01:20
      slot,
    });
    assert.equal(claimed.claimed, true);
    await db.close();
    await clock.advance(40_000, 10_000); // 10:01:10: 10:01 is held by the dead instance
    assert.equal(
      runs.filter((r) => r.slot === "2026-03-01T10:01:00.000Z").length,
      0,
    );
    await clock.advance(30_000, 10_000); // 10:01:40: its lease ran out at 10:01:20: taken over
    await settle();
    const retried = runs.filter((r) => r.slot === "2026-03-01T10:01:00.000Z");
    assert.equal(retried.length, 1);
    assert.equal(retried[0]!.attempt, 2);
    assert.equal(retried[0]!.status, "succeeded");
  }, 20_000);
});

Deno.test("serve({ driver: 'deno-cron' }) runs due slots on each Deno.cron tick", async () => {
  const ticks: Array<() => Promise<void>> = [];
  const cron = (
    _name: string,
    _schedule: string,
    options: { signal?: AbortSignal },
    handler: () => Promise<void>,
  ) => {
    ticks.push(handler);
    return new Promise<void>((resolve) =>
      options.signal?.addEventListener("abort", () => resolve())
    );
  };
  await withScheduler(async (_registry, clock, runs) => {
    assert.equal(ticks.length, 1);
    for (let minute = 0; minute < 11; minute++) {
      await clock.advance(60_000);
      await ticks[0]!();
      await settle();
    }
    assert.deepEqual(runs.map((r) => r.slot), [
      "2026-03-01T10:05:00.000Z",
      "2026-03-01T10:10:00.000Z",
    ]);
  }, {
    setup: (registry) => {
      registry.register("noop", () => ({}));
      registry.defineJob({
        name: "five",
        view: "one",
        actions: ["noop"],
        schedule: "*/5 * * * *",
      });
    },
    serve: { driver: "deno-cron", cron },
  });
});

Deno.test("serve({ driver: 'deno-cron' }) refuses schedules finer than a minute", async () => {
  const registry = createRegistry({ store: "sqlite::memory:" });
  try {
    registry.defineView({
      name: "one",
      database: "sqlite::memory:",
      sql: "SELECT 1 AS id",
    });
    registry.register("noop", () => ({}));
    registry.defineJob({
      name: "fast",
      view: "one",
      actions: ["noop"],
      schedule: "every 30 seconds",
    });
    await assert.rejects(
      registry.serve({ driver: "deno-cron", handleSignals: false }),
      (error: Error & { code?: string }) =>
        error.code === "INVALID_SCHEDULE" &&
        /at most once a minute/.test(error.message),
    );
  } finally {
    await registry.close();
  }
});
