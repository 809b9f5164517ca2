/** One contract, every run store: SQLite, Deno KV, PostgreSQL. */
import assert from "node:assert/strict";
import {
  createRegistry,
  openRunStore,
  type RunReport,
  type RunStore,
} from "../mod.ts";
import { FakeClock } from "./_fake_clock.ts";
import {
  type Claim,
  ClaimLostError,
  type ClaimRequest,
  type Holder,
} from "../src/store/contract.ts";
import { throwsWithCode, uniqueTable } from "./_helpers.ts";
import { STORE_SUBJECTS } from "./_faults.ts";

/** How long leases last in the tests: PostgreSQL judges them by its own clock, so they run out for real. */
const LEASE_MS = { sqlite: 10_000, kv: 10_000, postgres: 400 } as const;

const HOLDER_A: Holder = { instance: "a", host: "host-a", pid: 1 };
const HOLDER_B: Holder = { instance: "b", host: "host-b", pid: 2 };

function report(
  runId: string,
  jobName: string,
  status: RunReport["status"],
  startedAt: string,
): RunReport {
  return {
    runId,
    jobName,
    dryRun: false,
    status,
    startedAt,
    finishedAt: startedAt,
    rowCount: 1,
    newRowCount: 1,
    actions: [{
      action: "a",
      status: "succeeded",
      durationMs: 1,
      result: { big: 1n } as never,
    }],
  };
}

interface Ctx {
  store: RunStore;
  clock: FakeClock;
  job: string;
  leaseMs: number;
  /** Lets leases of `leaseMs` run out by the store's clock. */
  expire(): Promise<void>;
  /** Claims the job; asserts it was granted. */
  claim(request?: Partial<ClaimRequest>): Promise<Claim>;
  /** Records a claimed run's start. */
  started(claim: Claim): Promise<void>;
}

for (const subject of STORE_SUBJECTS) {
  const test = (name: string, fn: (ctx: Ctx) => Promise<void>) =>
    Deno.test({
      name: `store [${subject.name}]: ${name}`,
      ignore: subject.ignore,
      fn: async () => {
        const clock = new FakeClock(Date.parse("2026-03-01T10:00:00Z"));
        const { store, close } = await subject.open(clock);
        const job = uniqueTable("job");
        const leaseMs = LEASE_MS[subject.name];
        const ctx: Ctx = {
          store,
          clock,
          job,
          leaseMs,
          expire: async () => {
            clock.tick(leaseMs + 1);
            if (subject.name === "postgres") {
              await new Promise((resolve) => setTimeout(resolve, leaseMs + 50));
            }
          },
          claim: async (request = {}) => {
            const result = await store.claim(job, {
              runId: crypto.randomUUID(),
              holder: HOLDER_A,
              leaseMs,
              ...request,
            });
            assert.ok(result.claimed, "the claim was refused");
            return result.claim;
          },
          started: (claim) =>
            store.start({
              runId: claim.runId,
              jobName: job,
              dryRun: false,
              startedAt: new Date(clock.now()).toISOString(),
            }, claim),
        };
        try {
          await fn(ctx);
        } finally {
          await close();
        }
      },
    });

  test("findByIdPrefix finds the runs whose id starts with a prefix, in code point order, case and wildcards literal", async ({ store, job }) => {
    const suffixes = [
      "ab",
      "ab-1",
      "ab\u{10FFFF}",
      "abc",
      "ac",
      "aa",
      "aB",
      "a_b",
      "a%b",
      "é1",
      "é2",
    ];
    for (const [i, suffix] of suffixes.entries()) {
      const startedAt = new Date(Date.UTC(2026, 0, 1, 0, i)).toISOString();
      await store.record(
        report(`${job}-${suffix}`, job, "succeeded", startedAt),
      );
    }
    const find = async (prefix: string, limit = 20) =>
      (await store.findByIdPrefix!(`${job}-${prefix}`, limit)).map((run) =>
        run.runId.slice(job.length + 1)
      );
    assert.deepEqual(await find("ab"), ["ab", "ab-1", "abc", "ab\u{10FFFF}"]);
    assert.deepEqual(await find("ab-1"), ["ab-1"]);
    assert.deepEqual(await find("aB"), ["aB"]);
    assert.deepEqual(await find("a_"), ["a_b"]);
    assert.deepEqual(await find("a%"), ["a%b"]);
    assert.deepEqual(await find("é"), ["é1", "é2"]);
    assert.deepEqual(await find("a", 3), ["a%b", "aB", "a_b"]);
    assert.deepEqual(await find("zz"), []);
    const [run] = await store.findByIdPrefix!(`${job}-ac`, 1);
    assert.equal(run?.jobName, job);
    assert.equal(run?.status, "succeeded");
  });

  test("history lists runs newest first, by job, with a limit", async ({ store, job }) => {
    for (const [i, id] of ["r1", "r2", "r3"].entries()) {
      const startedAt = new Date(Date.UTC(2026, 0, 1, 0, i)).toISOString();
      await store.start({
        runId: `${job}-${id}`,
        jobName: job,
        dryRun: false,
        startedAt,
      });
      await store.finish(
        report(
          `${job}-${id}`,
          job,
          i === 1 ? "failed" : "succeeded",
          startedAt,
        ),
      );
    }
    await store.start({
      runId: `${job}-other`,
      jobName: `${job}_other`,
      dryRun: true,
      startedAt: "2026-01-02T00:00:00.000Z",
    });
    const mine = await store.history({ job, limit: 2 });
    assert.deepEqual(mine.map((r) => [r.runId, r.status]), [
      [`${job}-r3`, "succeeded"],
      [`${job}-r2`, "failed"],
    ]);
    assert.equal(mine[0]!.actions[0]!.result!.big, "1");
    const other = await store.history({ job: `${job}_other` });
    assert.deepEqual(other.map((r) => [r.status, r.dryRun]), [[
      "running",
      true,
    ]]);
  });

  test("a running run whose heartbeat is a minute old is interrupted", async ({ store, clock, job }) => {
    const run = report(
      `${job}-x`,
      job,
      "succeeded",
      "2026-01-01T00:00:00.000Z",
    );
    await store.start({ ...run, dryRun: false });
    clock.tick(30_000);
    await store.progress(run);
    clock.tick(59_000);
    assert.equal((await store.history({ job }))[0]!.status, "running");
    clock.tick(2_000);
    assert.equal((await store.history({ job }))[0]!.status, "interrupted");
  });

  test("get returns one run by its id as history shows it", async ({ store, clock, job }) => {
    const startedAt = "2026-01-01T00:00:00.000Z";
    await store.start({
      runId: `${job}-a`,
      jobName: job,
      dryRun: false,
      startedAt,
    });
    await store.finish(report(`${job}-a`, job, "failed", startedAt));
    await store.start({
      runId: `${job}-b`,
      jobName: job,
      dryRun: true,
      startedAt,
    });
    const finished = await store.get(`${job}-a`);
    assert.deepEqual(
      finished,
      (await store.history({ job })).find((run) => run.runId === `${job}-a`),
    );
    assert.equal(finished!.status, "failed");
    assert.equal(finished!.actions[0]!.result!.big, "1");
    assert.equal((await store.get(`${job}-b`))!.status, "running");
    clock.tick(61_000);
    assert.equal((await store.get(`${job}-b`))!.status, "interrupted");
    assert.equal(await store.get(`${job}-`), undefined, "no prefix match");
    assert.equal(await store.get(`${job}-missing`), undefined);
  });

  test("get and history find nothing for an id or job no run can have: a NUL, a key too long for the store", async ({ store, job }) => {
    const startedAt = "2026-01-01T00:00:00.000Z";
    await store.start({
      runId: `${job}-a`,
      jobName: job,
      dryRun: false,
      startedAt,
    });
    for (const id of [`${job}-a\u0000`, "\u0000", "a".repeat(3000)]) {
      assert.equal(await store.get(id), undefined, id.slice(0, 20));
      assert.deepEqual(await store.history({ job: id }), [], id.slice(0, 20));
    }
    assert.equal((await store.get(`${job}-a`))!.runId, `${job}-a`);
  });

  test("progress keeps what an unfinished run did", async (ctx) => {
    const claim = await ctx.claim();
    await ctx.started(claim);
    const run = report(
      claim.runId,
      ctx.job,
      "succeeded",
      "2026-01-01T00:00:00.000Z",
    );
    run.rowCount = 7;
    await ctx.store.progress(run, claim);
    const [record] = await ctx.store.history({ job: ctx.job });
    assert.deepEqual(
      [record!.status, record!.rowCount, record!.actions.length],
      [
        "running",
        7,
        1,
      ],
    );
  });

  test("claims: one per slot, none while a run is unfinished, each with a new epoch", async (ctx) => {
    const { store, job } = ctx;
    const first = await ctx.claim({ slot: 60_000 });
    await ctx.started(first);
    const again = await store.claim(job, {
      runId: "x",
      holder: HOLDER_B,
      leaseMs: ctx.leaseMs,
      slot: 60_000,
    });
    assert.equal(again.claimed, false, "a slot is claimed once");
    const later = await store.claim(job, {
      runId: "y",
      holder: HOLDER_B,
      leaseMs: ctx.leaseMs,
      slot: 120_000,
    });
    assert.ok(!later.claimed, "no claim while a run is unfinished");
    assert.deepEqual(later.lease.holder, HOLDER_A);
    assert.equal(later.lease.slot, 60_000);
    assert.equal(later.lease.lastSlot, 60_000);
    const manual = await store.claim(job, {
      runId: "z",
      holder: HOLDER_B,
      leaseMs: ctx.leaseMs,
    });
    assert.ok(!manual.claimed, "a run started by hand claims the same lease");
    assert.equal(await store.renew(first), true);
    await store.finish(
      report(first.runId, job, "succeeded", "2026-01-01T00:00:00.000Z"),
      first,
    );
    assert.equal(
      (await store.claim(job, {
        runId: "w",
        holder: HOLDER_B,
        leaseMs: ctx.leaseMs,
        slot: 60_000,
      })).claimed,
      false,
      "a finished slot does not run again",
    );
    const second = await ctx.claim({ slot: 120_000, holder: HOLDER_B });
    assert.ok(second.epoch > first.epoch, "every claim has a new epoch");
    assert.equal(second.generation, first.runId);
  });

  test("a takeover needs the lease to run out by the store's clock, and fences the old claim", async (ctx) => {
    const { store, job } = ctx;
    const old = await ctx.claim({ slot: 60_000 });
    await ctx.started(old);
    const takeOver = { runId: "taker", holder: HOLDER_B, leaseMs: ctx.leaseMs };
    assert.equal(await store.takeOver(job, takeOver), undefined, "alive");
    await ctx.expire();
    const taken = await store.takeOver(job, takeOver);
    assert.ok(taken);
    assert.deepEqual(
      [taken.slot, taken.attempt, taken.holder, taken.epoch > old.epoch],
      [60_000, 2, HOLDER_B, true],
    );
    assert.equal(taken.generation, old.generation);
    assert.equal(await store.renew(old), false, "the old claim is lost");
    const run = report(old.runId, job, "succeeded", "2026-01-01T00:00:00.000Z");
    await assert.rejects(store.progress(run, old), ClaimLostError);
    await assert.rejects(
      store.finish(run, old, { keys: ["[1]"], expiresAt: 1e15, now: 0 }),
      ClaimLostError,
    );
    await assert.rejects(
      store.recordDeliveries(
        old,
        new Map([["u", { state: "delivered", at: 1 }]]),
      ),
      ClaimLostError,
    );
    await assert.rejects(
      store.start(
        { runId: "late", jobName: job, dryRun: false, startedAt: "" },
        old,
      ),
      ClaimLostError,
    );
    assert.equal((await store.unseen(job, ["[1]"], 1)).keys.length, 1);
    assert.equal((await store.deliveries(job, ["u"])).size, 0);
    await store.release(old);
    assert.equal(
      (await store.lease(job))!.done,
      false,
      "the old claim cannot release",
    );
    const [record] = await store.history({ job });
    assert.equal(
      record!.status,
      "interrupted",
      "the taken-over run is interrupted",
    );
    assert.equal(await store.renew(taken), true);
  });

  test("alert state and notice writes are fenced by the run's claim, as its other writes", async (ctx) => {
    const { store, job } = ctx;
    const alerts = store.alerts!;
    const key = (id: number) => ({
      key: `[${id}]`,
      state: "firing" as const,
      since: 1,
      firingSince: 1,
      incident: 1,
      delivered: 1,
      lastDeliveredAt: 1,
      fingerprint: `f${id}`,
    });
    const commit = (id: number) => ({
      upserts: [{ state: key(id), row: { id } }],
      resolved: [],
      summary: {
        digest: `d${id}`,
        settings: "0/-",
        nextDueAt: null,
        owed: 0,
        firing: 1,
        pending: 0,
      },
      now: ctx.clock.now(),
    });
    const notice = {
      consecutiveFailures: 1,
      lastSuccessAt: null,
      watchedSince: 0,
      incidents: 0,
      open: null,
    };
    const old = await ctx.claim({ slot: 60_000 });
    await ctx.started(old);
    await alerts.commit(job, commit(1), old);
    assert.equal(await alerts.putNotice(job, notice, null, old), true);
    await ctx.expire();
    const taken = await store.takeOver(job, {
      runId: "taker",
      holder: HOLDER_B,
      leaseMs: ctx.leaseMs,
    });
    assert.ok(taken);
    await assert.rejects(alerts.commit(job, commit(2), old), ClaimLostError);
    const version = (await alerts.notice(job))!.version;
    await assert.rejects(
      alerts.putNotice(
        job,
        { ...notice, consecutiveFailures: 2 },
        version,
        old,
      ),
      ClaimLostError,
    );
    assert.deepEqual((await alerts.keys(job)).map((state) => state.key), [
      "[1]",
    ]);
    assert.equal((await alerts.summary(job))!.digest, "d1");
    assert.equal((await alerts.notice(job))!.state.consecutiveFailures, 1);
    // The claim that holds the job writes.
    await alerts.commit(job, commit(2), taken);
    assert.equal((await alerts.summary(job))!.digest, "d2");
    assert.equal(
      await alerts.putNotice(job, { ...notice, incidents: 1 }, version, taken),
      true,
    );
    // A stale version is still told apart from a lost claim: false, not thrown.
    assert.equal(await alerts.putNotice(job, notice, version, taken), false);
  });

  test("a lease that ran out refuses the claim's writes, even before a takeover", async (ctx) => {
    const claim = await ctx.claim({ slot: 60_000 });
    await ctx.started(claim);
    await ctx.expire();
    await assert.rejects(
      ctx.store.recordDeliveries(
        claim,
        new Map([["u", { state: "sending", at: 1 }]]),
      ),
      ClaimLostError,
    );
    assert.equal(await ctx.store.renew(claim), false);
  });

  test("a run started by hand is not taken over: its lease is freed", async (ctx) => {
    const claim = await ctx.claim();
    await ctx.started(claim);
    await ctx.expire();
    assert.equal(
      await ctx.store.takeOver(ctx.job, {
        runId: "t",
        holder: HOLDER_B,
        leaseMs: ctx.leaseMs,
      }),
      undefined,
    );
    assert.equal((await ctx.store.lease(ctx.job))!.done, true);
    await ctx.claim({ holder: HOLDER_B });
  });

  test("by hand, a job whose holder stopped renewing is claimed at once; its run is interrupted", async (ctx) => {
    const dead = await ctx.claim({ slot: 60_000 });
    await ctx.started(dead);
    const refused = await ctx.store.claim(ctx.job, {
      runId: "early",
      holder: HOLDER_B,
      leaseMs: ctx.leaseMs,
    });
    assert.ok(!refused.claimed, "alive: refused");
    await ctx.expire();
    const manual = await ctx.claim({ holder: HOLDER_B });
    assert.ok(manual.epoch > dead.epoch);
    assert.equal(manual.slot, undefined);
    assert.equal(
      (await ctx.store.history({ job: ctx.job }))[0]!.status,
      "interrupted",
    );
    assert.equal(await ctx.store.renew(dead), false);
  });

  test("a skipped slot is marked once and never claimed", async (ctx) => {
    const { store, job } = ctx;
    assert.equal(await store.skipSlot(job, 60_000), true);
    assert.equal(await store.skipSlot(job, 60_000), false);
    assert.equal(
      (await store.claim(job, {
        runId: "r",
        holder: HOLDER_A,
        leaseMs: ctx.leaseMs,
        slot: 60_000,
      })).claimed,
      false,
    );
    const claim = await ctx.claim({ slot: 120_000 });
    await ctx.started(claim);
    assert.equal(await store.skipSlot(job, 180_000), true, "held: skipped");
    assert.equal((await store.lease(job))!.slot, 120_000);
  });

  test("dedupe keys: compared in the store, recorded with a success, until they expire", async (ctx) => {
    const { store, job } = ctx;
    const claim = await ctx.claim();
    await ctx.started(claim);
    const keys = Array.from({ length: 25 }, (_, i) => `[${i}]`);
    await store.finish(
      report(claim.runId, job, "succeeded", "2026-01-01T00:00:00.000Z"),
      claim,
      {
        keys: keys.slice(0, 20),
        expiresAt: 5_000,
        now: 1_000,
        viewDigest: { digest: "d1", validUntil: 5_000 },
      },
    );
    const unseen = await store.unseen(job, [...keys, "[0]"], 2_000);
    assert.deepEqual(unseen.keys, keys.slice(20));
    assert.equal(unseen.seenUntil, 5_000);
    assert.equal((await store.unseen(job, keys, 6_000)).keys.length, 25);
    assert.equal(
      (await store.unseen(`${job}_other`, keys, 2_000)).keys.length,
      25,
    );
    assert.equal(await store.sameKeySet(job, "d1", 4_000), true);
    assert.equal(await store.sameKeySet(job, "d1", 5_000), false, "expired");
    assert.equal(await store.sameKeySet(job, "d2", 4_000), false);
  });

  test("deliveries: recorded under the claim, read back, forgotten after a success", async (ctx) => {
    const { store, job } = ctx;
    const claim = await ctx.claim();
    await ctx.started(claim);
    await store.recordDeliveries(
      claim,
      new Map([
        ["u1", { state: "delivered", at: 5, detail: { ts: "1.2" } }],
        ["u2", { state: "sending", at: 6 }],
      ]),
    );
    await store.recordDeliveries(
      claim,
      new Map([["u2", { state: "failed", at: 7 }]]),
    );
    assert.deepEqual(
      await store.deliveries(job, ["u1", "u2", "u3"]),
      new Map([
        ["u1", { state: "delivered", at: 5, detail: { ts: "1.2" } }],
        ["u2", { state: "failed", at: 7 }],
      ]),
    );
    await store.finish(
      report(claim.runId, job, "failed", "2026-01-01T00:00:00.000Z"),
      claim,
    );
    assert.equal(
      (await store.deliveries(job, ["u1"])).size,
      1,
      "kept after a failure",
    );
    const next = await ctx.claim();
    await ctx.started(next);
    assert.equal(
      next.generation,
      claim.generation,
      "same generation after a failure",
    );
    await store.finish(
      report(next.runId, job, "succeeded", "2026-01-01T00:01:00.000Z"),
      next,
    );
    assert.equal(
      (await store.deliveries(job, ["u1"])).size,
      0,
      "forgotten after a success",
    );
  });

  test("prune deletes old finished runs, keeping each job's last success and a run still claimed", async (ctx) => {
    const { store, job } = ctx;
    const day = 86_400_000;
    const at = (days: number) =>
      new Date(Date.UTC(2026, 0, 1) + days * day).toISOString();
    for (
      const [i, status]
        of (["succeeded", "failed", "succeeded", "failed"] as const)
          .entries()
    ) {
      const claim = await ctx.claim();
      await store.start({
        runId: claim.runId,
        jobName: job,
        dryRun: false,
        startedAt: at(i),
      }, claim);
      await store.finish(report(claim.runId, job, status, at(i)), claim);
    }
    const unfinished = await ctx.claim();
    await store.start({
      runId: unfinished.runId,
      jobName: job,
      dryRun: false,
      startedAt: at(4),
    }, unfinished);
    const pruned = await store.prune({
      before: Date.UTC(2026, 0, 1) + 10 * day,
      now: Date.UTC(2026, 0, 1) + 10 * day,
    });
    const left = await store.history({ job });
    assert.deepEqual(left.map((r) => [r.startedAt, r.status]), [
      [at(4), "running"],
      [at(2), "succeeded"],
    ]);
    assert.ok(pruned.runs >= 3);
  });
}

Deno.test("openRunStore() opens a SQLite file store, creating its folder", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const store = openRunStore(`sqlite:${dir}/nested/state.db`);
    await store.start({
      runId: "r1",
      jobName: "j",
      dryRun: false,
      startedAt: "2026-03-01T10:00:00.000Z",
    });
    assert.deepEqual((await store.history()).map((r) => r.runId), ["r1"]);
    await store.close?.();
    assert.ok((await Deno.stat(`${dir}/nested/state.db`)).isFile);
    // What it recorded, a registry on the same URL reads.
    const registry = createRegistry({ store: `sqlite:${dir}/nested/state.db` });
    assert.deepEqual((await registry.history()).map((r) => r.runId), ["r1"]);
    await registry.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("openRunStore() opens Deno KV from a kv: URL", async () => {
  const store = openRunStore("kv::memory:");
  try {
    assert.deepEqual(await store.history(), []);
  } finally {
    await store.close?.();
  }
});

Deno.test("openRunStore() refuses an unknown URL with INVALID_CONFIG", () => {
  throwsWithCode(
    () => openRunStore("mysql://user:secret@db/x"),
    "INVALID_CONFIG",
    /Unknown database "mysql:\/\/user:\*\*\*@db\/x"/,
  );
});

Deno.test("a run cut short by a crash shows as interrupted once its heartbeat is a minute old (store clock)", async () => {
  const dir = await Deno.makeTempDir();
  const clock = new FakeClock(1_000_000);
  const url = `sqlite:${dir}/state.db`;
  try {
    const crashed = openRunStore(url, { clock });
    await crashed.start({
      runId: "r1",
      jobName: "j",
      dryRun: false,
      startedAt: new Date(clock.now()).toISOString(),
    });
    assert.equal((await crashed.history())[0]!.status, "running");
    await crashed.close?.();
    clock.tick(61_000);
    const restarted = openRunStore(url, { clock });
    assert.equal((await restarted.history())[0]!.status, "interrupted");
    await restarted.close?.();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
