/**
 * Slots missed while no instance ran, or while the scheduler slept (SPEC
 * §4.1 "Nothing vanishes from the history"): the latest due slot runs and
 * stands for the others, which are recorded `skipped` with the reason — a
 * few one by one, then one record for the rest, so that a job every second
 * down for a day writes 11 records, not 86,400.
 */
import assert from "node:assert/strict";
import {
  createRegistry,
  openRunStore,
  parseSchedule,
  type Registry,
  type RunRecord,
  type RunReport,
  type RunStore,
  type ServeOptions,
} from "../mod.ts";
import { FakeClock, settle } from "./_fake_clock.ts";
import { flaky, MOD, spawnServe, until } from "./_faults.ts";
import { dueSlots, SkipQueue } from "../src/jobs/_missed.ts";

const START = Date.parse("2026-03-01T10:00:30Z");
const HOLDER = { instance: "gone", host: "h", pid: 1 };

const iso = (ms: number) => new Date(ms).toISOString();

/** A registry on a store file, with the job `job` (schedule given) that counts its calls. */
async function withJob(
  schedule: string,
  fn: (
    context: {
      registry: Registry;
      clock: FakeClock;
      store: RunStore;
      calls: () => number;
      serve: (options?: Partial<ServeOptions>) => {
        runs: RunReport[];
        stop: () => Promise<void>;
      };
      history: () => Promise<RunRecord[]>;
    },
  ) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "triggerkit-missed-" });
  const url = `sqlite:${dir}/state.db`;
  const clock = new FakeClock(START);
  const store = openRunStore(url, { clock });
  const registry = createRegistry({ store: url, clock });
  let calls = 0;
  const stops: Array<() => Promise<void>> = [];
  try {
    registry.defineView({
      name: "one",
      database: "sqlite::memory:",
      sql: "SELECT 1 AS id",
    });
    registry.register("count", () => ({ calls: ++calls }));
    registry.defineJob({
      name: "job",
      view: "one",
      actions: ["count"],
      schedule,
    });
    await fn({
      registry,
      clock,
      store,
      calls: () => calls,
      serve: (options = {}) => {
        const runs: RunReport[] = [];
        const controller = new AbortController();
        const serving = registry.serve({
          signal: controller.signal,
          handleSignals: false,
          onRun: (report) => runs.push(report),
          ...options,
        });
        const stop = async () => {
          controller.abort();
          await serving;
        };
        stops.push(stop);
        return { runs, stop };
      },
      history: async () =>
        (await store.history({ job: "job", limit: 1000 })).sort((a, b) =>
          a.slot! < b.slot! ? -1 : a.slot! > b.slot! ? 1 : 0
        ),
    });
  } finally {
    for (const stop of stops) await stop();
    await registry.close();
    await store.close?.();
    await Deno.remove(dir, { recursive: true });
  }
}

/** The job's last run was for `slot` (its claim made and released). */
async function ranBefore(store: RunStore, slot: number): Promise<void> {
  const claimed = await store.claim("job", {
    runId: `run-${slot}`,
    holder: HOLDER,
    leaseMs: 60_000,
    slot,
  });
  assert.ok(claimed.claimed);
  await store.release(claimed.claim);
}

Deno.test("serve() records every slot missed while no instance ran as skipped, naming the slot that stood for it", async () => {
  await withJob(
    "every 15 minutes",
    async ({ store, serve, history, calls }) => {
      await ranBefore(store, Date.parse("2026-03-01T08:45:00Z"));
      const { stop } = serve();
      await settle();
      await stop();
      const reason =
        "missed: no instance was running at its time; slot 2026-03-01T10:00:00.000Z, the latest due, stands for it";
      assert.deepEqual(
        (await history()).map((run) => [run.slot, run.status, run.reason]),
        [
          ["2026-03-01T09:00:00.000Z", "skipped", reason],
          ["2026-03-01T09:15:00.000Z", "skipped", reason],
          ["2026-03-01T09:30:00.000Z", "skipped", reason],
          ["2026-03-01T09:45:00.000Z", "skipped", reason],
          ["2026-03-01T10:00:00.000Z", "succeeded", undefined],
        ],
      );
      assert.equal(calls(), 1, "one catch-up run, not one per missed slot");
    },
  );
});

Deno.test("a job every second down for a day: 10 missed slots recorded one by one and one record for the other 86,389", async () => {
  await withJob(
    "every 1 second",
    async ({ store, clock, serve, history, calls }) => {
      const day = 86_400_000;
      await ranBefore(store, START - day); // 2026-02-28T10:00:30Z
      const { stop } = serve();
      await settle();
      const runs = await history();
      assert.equal(
        runs.length,
        12,
        "10 + 1 skipped records and the catch-up run",
      );
      assert.deepEqual(
        runs.slice(0, 10).map((run) => [run.slot, run.status]),
        Array.from({ length: 10 }, (_, i) => [
          iso(START - day + (i + 1) * 1000),
          "skipped",
        ]),
      );
      const rest = runs[10]!;
      assert.equal(rest.status, "skipped");
      assert.equal(rest.slot, "2026-02-28T10:00:41.000Z");
      assert.match(
        rest.reason!,
        /^missed: no instance was running at its time; slot 2026-03-01T10:00:30\.000Z, the latest due, stands for it \(this one record stands for 86389 slots, from 2026-02-28T10:00:41\.000Z to 2026-03-01T10:00:29\.000Z\)$/,
      );
      assert.deepEqual([runs[11]!.slot, runs[11]!.status], [
        "2026-03-01T10:00:30.000Z",
        "succeeded",
      ]);
      // 10 + 86,389 + 1 = every slot of the day, each accounted for once.
      assert.equal(10 + 86_389 + 1, day / 1000);
      // And it goes on, slot by slot.
      await clock.advance(2_000, 1_000);
      await stop();
      assert.deepEqual(
        (await history()).slice(12).map((run) => [run.slot, run.status]),
        [
          ["2026-03-01T10:00:31.000Z", "succeeded"],
          ["2026-03-01T10:00:32.000Z", "succeeded"],
        ],
      );
      assert.equal(calls(), 3);
    },
  );
});

Deno.test("a scheduler that wakes late (a paused process) runs the latest due slot and records the ones it slept through", async () => {
  await withJob("every minute", async ({ clock, serve, history, calls }) => {
    const { stop } = serve();
    await settle();
    clock.tick(5 * 60_000); // 10:05:30 in one jump: 10:01 to 10:05 came while it slept
    await settle();
    await stop();
    const reason =
      "missed: the scheduler did not wake in time for it (a paused process, a machine asleep or overloaded, a missed Deno.cron tick) and no other instance took it; slot 2026-03-01T10:05:00.000Z, the latest due, stands for it";
    assert.deepEqual(
      (await history()).map((run) => [run.slot, run.status, run.reason]),
      [
        ["2026-03-01T10:01:00.000Z", "skipped", reason],
        ["2026-03-01T10:02:00.000Z", "skipped", reason],
        ["2026-03-01T10:03:00.000Z", "skipped", reason],
        ["2026-03-01T10:04:00.000Z", "skipped", reason],
        ["2026-03-01T10:05:00.000Z", "succeeded", undefined],
      ],
    );
    assert.equal(calls(), 1);
  });
});

Deno.test("serve() starting while the job's run is unfinished (its instance died): the missed slots are recorded skipped naming the holder, and the run is taken over", async () => {
  await withJob(
    "every 15 minutes",
    async ({ store, clock, serve, history, calls }) => {
      // A dead instance claimed 08:45 and never finished: its lease ran out long ago.
      clock.tick(-(START - Date.parse("2026-03-01T08:45:10Z")));
      const claimed = await store.claim("job", {
        runId: "dead-run",
        holder: HOLDER,
        leaseMs: 60_000,
        slot: Date.parse("2026-03-01T08:45:00Z"),
      });
      assert.ok(claimed.claimed);
      clock.tick(START - clock.now());
      const { runs, stop } = serve();
      await settle();
      await stop();
      const skipped = (await history()).filter((run) =>
        run.status === "skipped"
      );
      assert.deepEqual(skipped.map((run) => run.slot), [
        "2026-03-01T09:00:00.000Z",
        "2026-03-01T09:15:00.000Z",
        "2026-03-01T09:30:00.000Z",
        "2026-03-01T09:45:00.000Z",
        "2026-03-01T10:00:00.000Z",
      ]);
      for (const run of skipped) {
        assert.match(
          run.reason!,
          /^missed: no instance was running at its time; a run of this job is already in progress: held by instance gone \(host h, pid 1\), its run for slot 2026-03-01T08:45:00\.000Z; that instance stopped renewing its lease/,
        );
      }
      const retried = runs.filter((run) => run.status === "succeeded");
      assert.deepEqual(
        retried.map((run) => [run.slot, run.attempt]),
        [["2026-03-01T08:45:00.000Z", 2]],
      );
      assert.equal(calls(), 1);
    },
  );
});

Deno.test("serve({ driver: 'deno-cron' }) records the slots between two ticks that came late", async () => {
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
  await withJob("every minute", async ({ clock, serve, history, calls }) => {
    const { stop } = serve({ driver: "deno-cron", cron });
    await settle();
    await clock.advance(60_000);
    await ticks[0]!(); // 10:01:30: 10:01 runs
    await settle();
    await clock.advance(4 * 60_000); // Deno.cron missed three ticks
    await ticks[0]!(); // 10:05:30
    await settle();
    await stop();
    assert.deepEqual(
      (await history()).map((run) => [run.slot, run.status]),
      [
        ["2026-03-01T10:01:00.000Z", "succeeded"],
        ["2026-03-01T10:02:00.000Z", "skipped"],
        ["2026-03-01T10:03:00.000Z", "skipped"],
        ["2026-03-01T10:04:00.000Z", "skipped"],
        ["2026-03-01T10:05:00.000Z", "succeeded"],
      ],
    );
    assert.equal(calls(), 2);
  });
});

Deno.test("slots that could not be claimed while the store was down are recorded, bounded: a job every second down 10 minutes writes 11 records", async () => {
  const dir = await Deno.makeTempDir({ prefix: "triggerkit-missed-" });
  const clock = new FakeClock(START);
  const real = openRunStore(`sqlite:${dir}/state.db`, { clock });
  const store = flaky(real);
  const registry = createRegistry({ store, clock });
  const controller = new AbortController();
  try {
    registry.defineView({
      name: "one",
      database: "sqlite::memory:",
      sql: "SELECT 1 AS id",
    });
    registry.register("count", () => ({}));
    registry.defineJob({
      name: "job",
      view: "one",
      actions: ["count"],
      schedule: "every 1 second",
    });
    const serving = registry.serve({
      signal: controller.signal,
      handleSignals: false,
    });
    await settle();
    await clock.advance(3_000, 1_000); // 10:00:31 to 10:00:33 run
    store.down = true;
    await clock.advance(600_000, 5_000); // ten minutes down, waking every 5 s
    store.down = false;
    await clock.advance(3_000, 1_000);
    controller.abort();
    await serving;
    const runs = await real.history({ job: "job", limit: 10_000 });
    // The outage's records: a few one by one, then one for the rest (a slot
    // that came while the late claim of the slot before it ran is skipped
    // as "in progress", as ever).
    const outage = runs.filter((run) =>
      /could not be reached|did not wake in time/.test(run.reason ?? "")
    );
    assert.ok(outage.length <= 11, `${outage.length} records of the outage`);
    assert.ok(
      runs.every((run) =>
        run.status === "succeeded" || outage.includes(run) ||
        /already in progress/.test(run.reason!)
      ),
    );
    // Every slot from the first to the last is accounted for exactly once.
    const covered = runs.map((run) => {
      const many = /stands for (\d+) slots, from (\S+) to (\S+)\)$/.exec(
        run.reason ?? "",
      );
      return many
        ? [Date.parse(many[2]!), Date.parse(many[3]!), Number(many[1])]
        : [Date.parse(run.slot!), Date.parse(run.slot!), 1];
    }).sort((a, b) => a[0]! - b[0]!);
    for (let i = 1; i < covered.length; i++) {
      assert.ok(covered[i]![0]! > covered[i - 1]![1]!, "records overlap");
    }
    const total = covered.reduce((sum, [, , count]) => sum + count!, 0);
    const span = (covered.at(-1)![1]! - covered[0]![0]!) / 1000 + 1;
    assert.equal(total, span);
    assert.ok(span > 600, `${span} slots`);
  } finally {
    controller.abort();
    await registry.close();
    await real.close?.();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("dueSlots() of a wall-clock schedule down longer than it counts: 'at least', the latest slot runs", () => {
  const schedule = parseSchedule("* * * * *");
  const first = Date.parse("2026-03-01T00:01:00Z");
  const now = Date.parse("2026-03-04T00:00:30Z"); // 3 days of minutes: 4,320 slots
  const due = dueSlots(schedule, first, now);
  assert.equal(iso(due.run), "2026-03-04T00:00:00.000Z");
  assert.equal(due.each.length, 10);
  assert.equal(due.rest!.exact, false);
  assert.ok(due.rest!.count >= 2_000 && due.rest!.count < 4_320 - 11);
  assert.equal(iso(due.rest!.from), "2026-03-01T00:11:00.000Z");
  assert.equal(iso(due.rest!.to), "2026-03-03T23:59:00.000Z");
  const queue = new SkipQueue();
  queue.addDue(due, "why");
  for (let i = 0; i < 10; i++) queue.shift();
  assert.match(
    queue.peek()!.reason,
    /^why \(this one record stands for at least \d+ slots, from 2026-03-01T00:11:00\.000Z to 2026-03-03T23:59:00\.000Z\)$/,
  );
});

Deno.test("dueSlots() of a sparse wall-clock schedule finds its latest slot far back", () => {
  const schedule = parseSchedule("0 9 1 * *"); // 09:00 on the 1st of each month
  const first = Date.parse("2024-01-01T09:00:00Z");
  const now = Date.parse("2026-03-20T00:00:00Z"); // 27 slots
  const due = dueSlots(schedule, first, now, 3);
  assert.equal(iso(due.run), "2026-03-01T09:00:00.000Z");
  assert.deepEqual(due.each.map(iso), [
    "2024-01-01T09:00:00.000Z",
    "2024-02-01T09:00:00.000Z",
    "2024-03-01T09:00:00.000Z",
  ]);
  assert.deepEqual(due.rest, {
    from: Date.parse("2024-04-01T09:00:00Z"),
    to: Date.parse("2026-02-01T09:00:00Z"),
    count: 23,
    exact: true,
  });
});

// --- A real serve process stopped, then started again 4 s later. ---

const CONFIG = `
import { defineConfig } from ${JSON.stringify(MOD)};
export default defineConfig({
  store: Deno.env.get("TK_STORE"),
  actions: { tick: () => ({}) },
  views: [{ name: "one", database: "sqlite::memory:", sql: "SELECT 1 AS id" }],
  jobs: [{ name: "tick", view: "one", schedule: "every 1 second", actions: ["tick"] }],
});
`;

Deno.test("a real serve process down for 4 s: after it starts again every slot of the gap is recorded, and one catch-up run stands for them", async () => {
  const dir = await Deno.makeTempDir({ prefix: "triggerkit-missed-serve-" });
  await Deno.writeTextFile(`${dir}/triggerkit.config.ts`, CONFIG);
  const url = `sqlite:${dir}/state.db`;
  const store = openRunStore(url);
  const succeeded = async () =>
    (await store.history({ job: "tick", limit: 1000 })).filter((run) =>
      run.status === "succeeded"
    ).length;
  const serveFor = async (ms: number, ready: () => Promise<boolean>) => {
    const server = spawnServe(dir, { TK_STORE: url });
    const log = new Response(server.stderr).text();
    try {
      await until("serve to run a slot", ready, 30_000);
      await new Promise((resolve) => setTimeout(resolve, ms));
    } finally {
      server.kill("SIGTERM");
      const { code } = await server.status;
      assert.equal(code, 0, await log);
    }
  };
  try {
    await serveFor(2_000, async () => await succeeded() >= 1);
    const before = await succeeded();
    await new Promise((resolve) => setTimeout(resolve, 4_000));
    await serveFor(2_000, async () => await succeeded() > before);
    const runs = (await store.history({ job: "tick", limit: 1000 }))
      .sort((a, b) => Date.parse(a.slot!) - Date.parse(b.slot!));
    const bySlot = new Map<number, RunRecord[]>();
    for (const run of runs) {
      const slot = Date.parse(run.slot!);
      bySlot.set(slot, [...(bySlot.get(slot) ?? []), run]);
    }
    const first = Date.parse(runs[0]!.slot!);
    const last = Date.parse(runs.at(-1)!.slot!);
    const problems: string[] = [];
    for (let slot = first; slot <= last; slot += 1000) {
      const records = bySlot.get(slot) ?? [];
      if (records.length !== 1) {
        problems.push(`${iso(slot)}: ${records.length} records`);
      }
    }
    assert.deepEqual(problems, [], "every slot has exactly one record");
    const missed = runs.filter((run) =>
      /^missed: no instance was running/.test(run.reason ?? "")
    );
    assert.ok(
      missed.length >= 2,
      JSON.stringify(runs.map((r) => [r.slot, r.status, r.reason])),
    );
    // The slot that stood for them ran.
    const standsFor = /slot (\S+), the latest due/.exec(missed[0]!.reason!)![1];
    assert.equal(bySlot.get(Date.parse(standsFor!))![0]!.status, "succeeded");
  } finally {
    await store.close?.();
    await Deno.remove(dir, { recursive: true });
  }
});
