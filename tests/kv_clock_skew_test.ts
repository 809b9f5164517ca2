/**
 * Deno KV has no clock, and instances' clocks disagree: a lease's expiry is
 * judged by each instance's own elapsed time since it saw the lease's
 * version, never by comparing a time another instance wrote with its own
 * clock. Two stores (and registries) on one KV file, with fake clocks ten
 * minutes apart either way.
 */
import assert from "node:assert/strict";
import { createRegistry, type Registry } from "../mod.ts";
import { type KvLike, KvRunStore } from "../src/store/kv.ts";
import type { Claim, Holder } from "../src/store/contract.ts";
import { FakeClock, settle } from "./_fake_clock.ts";

const LEASE_MS = 10_000;
const SKEW_MS = 10 * 60_000;
const T0 = Date.parse("2026-03-01T10:00:00Z");
const SLOT = Date.parse("2026-03-01T09:59:00Z");
const HOLDER_A: Holder = { instance: "a", host: "host-a", pid: 1 };
const HOLDER_B: Holder = { instance: "b", host: "host-b", pid: 2 };

interface Side {
  store: KvRunStore;
  clock: FakeClock;
}

/** Two stores on one KV file: `a` on a clock at T0, `b` on one `skew` ms off. */
async function withSkewedStores(
  skew: number,
  fn: (a: Side, b: Side) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "triggerkit-kv-skew-" });
  const openKv = (Deno as unknown as { openKv(path: string): Promise<KvLike> })
    .openKv;
  const open = (clock: FakeClock): Side => ({
    store: new KvRunStore(openKv(`${dir}/state.kv`), { clock }),
    clock,
  });
  const a = open(new FakeClock(T0));
  const b = open(new FakeClock(T0 + skew));
  try {
    await fn(a, b);
  } finally {
    await a.store.close();
    await b.store.close();
    await Deno.remove(dir, { recursive: true });
  }
}

async function claimSlot(side: Side, job: string): Promise<Claim> {
  const result = await side.store.claim(job, {
    runId: crypto.randomUUID(),
    holder: HOLDER_A,
    leaseMs: LEASE_MS,
    slot: SLOT,
  });
  assert.ok(result.claimed, "the claim was refused");
  await side.store.start({
    runId: result.claim.runId,
    jobName: job,
    dryRun: false,
    startedAt: new Date(side.clock.now()).toISOString(),
  }, result.claim);
  return result.claim;
}

function takeOver(side: Side, job: string): Promise<Claim | undefined> {
  return side.store.takeOver(job, {
    runId: crypto.randomUUID(),
    holder: HOLDER_B,
    leaseMs: LEASE_MS,
  });
}

Deno.test("Deno KV: an instance whose clock is 10 minutes ahead does not take over a lease being renewed", async () => {
  await withSkewedStores(SKEW_MS, async (a, b) => {
    const claim = await claimSlot(a, "j");
    for (let i = 0; i < 9; i++) {
      assert.equal(await takeOver(b, "j"), undefined, `takeover at step ${i}`);
      assert.equal((await b.store.lease("j"))?.expired, false);
      assert.equal((await b.store.get(claim.runId))?.status, "running");
      a.clock.tick(LEASE_MS / 3);
      b.clock.tick(LEASE_MS / 3);
      assert.ok(await a.store.renew(claim), `renewal at step ${i}`);
    }
    assert.equal((await b.store.lease("j"))?.holder.instance, "a");
  });
});

for (const [name, skew] of [["ahead", SKEW_MS], ["behind", -SKEW_MS]]) {
  Deno.test(`Deno KV: a dead lease is taken over after a whole lease seen unchanged, by an instance 10 minutes ${name}`, async () => {
    await withSkewedStores(skew as number, async (a, b) => {
      const claim = await claimSlot(a, "j");
      // The holder stops renewing; b sees the lease for the first time now.
      assert.equal(await takeOver(b, "j"), undefined);
      b.clock.tick(LEASE_MS);
      assert.equal(await takeOver(b, "j"), undefined);
      assert.equal((await b.store.lease("j"))?.expired, false);
      b.clock.tick(1);
      assert.equal((await b.store.lease("j"))?.expired, true);
      const taken = await takeOver(b, "j");
      assert.ok(taken, "the dead lease was not taken over");
      assert.equal(taken.epoch, claim.epoch + 1);
      assert.equal(taken.attempt, 2);
      assert.equal((await b.store.get(claim.runId))?.status, "interrupted");
      // The old holder's writes are refused (fenced by epoch).
      assert.equal(await a.store.renew(claim), false);
    });
  });

  Deno.test(`Deno KV: a running run is shown interrupted only once its claim's lease was seen unchanged for a whole lease, by an instance 10 minutes ${name}`, async () => {
    await withSkewedStores(skew as number, async (a, b) => {
      const claim = await claimSlot(a, "j");
      assert.equal((await b.store.get(claim.runId))?.status, "running");
      a.clock.tick(LEASE_MS / 2);
      b.clock.tick(LEASE_MS / 2);
      assert.ok(await a.store.renew(claim));
      // Renewed: seen anew; a minute on b's clock without renewals kills it.
      assert.equal((await b.store.get(claim.runId))?.status, "running");
      b.clock.tick(LEASE_MS);
      assert.equal((await b.store.get(claim.runId))?.status, "running");
      b.clock.tick(1);
      assert.equal((await b.store.get(claim.runId))?.status, "interrupted");
      assert.equal(
        (await b.store.history({ job: "j" }))[0]?.status,
        "interrupted",
      );
    });
  });
}

async function withSkewedRegistries(
  skew: number,
  fn: (a: Registry, b: Registry, clocks: FakeClock[]) => Promise<void>,
): Promise<void> {
  await withSkewedStores(skew, async (sa, sb) => {
    const registries = [sa, sb].map((side) => {
      const registry = createRegistry({
        store: side.store,
        clock: side.clock,
        serve: { leaseMs: LEASE_MS },
      });
      registry.defineView({
        name: "rows",
        database: "sqlite::memory:",
        sql: "SELECT 1 AS id",
      });
      return registry;
    });
    const [a, b] = registries as [Registry, Registry];
    try {
      await fn(a, b, [sa.clock, sb.clock]);
    } finally {
      await Promise.all(registries.map((registry) => registry.close()));
    }
  });
}

Deno.test("Deno KV: a run by hand on an instance 10 minutes ahead is refused, naming the holder, while the holder renews", async () => {
  await withSkewedRegistries(SKEW_MS, async (a, b, [clockA, clockB]) => {
    let release!: () => void;
    a.register("slow", () => new Promise((r) => release = () => r({})));
    b.register("slow", () => ({}));
    for (const registry of [a, b]) {
      registry.defineJob({ name: "m", view: "rows", actions: ["slow"] });
    }
    const running = a.runJob("m");
    await settle();
    for (let i = 0; i < 4; i++) {
      const refused = await b.runJob("m");
      assert.equal(refused.status, "skipped");
      assert.match(refused.reason!, /held by instance \S+ .*by hand/);
      assert.doesNotMatch(refused.reason!, /stopped renewing/);
      // a renews every third of its lease on its clock; b waits as long.
      await clockA!.advance(LEASE_MS / 2, 1_000);
      clockB!.tick(LEASE_MS / 2);
    }
    release();
    assert.equal((await running).status, "succeeded");
  });
});

Deno.test("Deno KV: a run by hand on an instance 10 minutes behind takes a dead holder's job after a whole lease seen unchanged, refused before", async () => {
  await withSkewedStores(-SKEW_MS, async (a, b) => {
    const claim = await a.store.claim("m", {
      runId: crypto.randomUUID(),
      holder: HOLDER_A,
      leaseMs: LEASE_MS,
    });
    assert.ok(claim.claimed);
    const byHand = () =>
      b.store.claim("m", {
        runId: crypto.randomUUID(),
        holder: HOLDER_B,
        leaseMs: LEASE_MS,
      });
    const first = await byHand();
    assert.equal(first.claimed, false);
    assert.equal(!first.claimed && first.lease.holder.instance, "a");
    b.clock.tick(LEASE_MS + 1);
    const second = await byHand();
    assert.ok(second.claimed, "the dead holder's job was not taken");
    assert.equal(second.claim.epoch, claim.claim.epoch + 1);
  });
});

Deno.test("Deno KV: serve() on an instance 10 minutes ahead of a dead holder records the slots it waits through skipped naming the holder, and takes the run over after a whole lease seen unchanged", async () => {
  await withSkewedStores(SKEW_MS, async (dead, b) => {
    const slot = Date.parse("2026-03-01T10:10:00Z");
    // The holder, whose clock is 10 minutes behind, claimed its slot and died.
    const held = await dead.store.claim("job", {
      runId: "dead-run",
      holder: HOLDER_A,
      leaseMs: 60_000,
      slot,
    });
    assert.ok(held.claimed);
    const registry = createRegistry({ store: b.store, clock: b.clock });
    const runs: string[] = [];
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
        schedule: "every 10 seconds",
      });
      const serving = registry.serve({
        signal: controller.signal,
        handleSignals: false,
        leaseMs: 60_000,
        onRun: (report) =>
          runs.push(`${report.status} ${report.slot} ${report.attempt ?? 1}`),
      });
      await settle();
      await b.clock.advance(50_000, 1_000);
      assert.ok(!runs.some((run) => run.startsWith("succeeded")), runs.join());
      // Rescues look every half lease: the one after a whole lease takes it.
      await b.clock.advance(50_000, 1_000);
      assert.ok(
        runs.includes(`succeeded ${new Date(slot).toISOString()} 2`),
        runs.join(),
      );
      controller.abort();
      await serving;
      const skipped = (await b.store.history({ job: "job", limit: 100 }))
        .filter((run) => run.status === "skipped");
      // Slots waited through name the dead holder; on a loaded machine a
      // slot may also come due while b's own takeover run of that slot
      // holds the job, and names b: never anyone else.
      const deadHolder =
        /held by instance a \(host host-a, pid 1\), its run for slot 2026-03-01T10:10:00\.000Z/;
      const namingDead = skipped.filter((run) => deadHolder.test(run.reason!));
      assert.ok(
        namingDead.length >= 4,
        `${namingDead.length} slots skipped naming the dead holder`,
      );
      for (const run of skipped) {
        assert.match(
          run.reason!,
          new RegExp(
            `${deadHolder.source}|held by instance \\S+ \\(host [^,]+, pid ${Deno.pid}\\), its run for slot 2026-03-01T10:10:00\\.000Z`,
          ),
        );
      }
    } finally {
      controller.abort();
      await registry.close();
    }
  });
});

Deno.test("Deno KV: two handles on one file writing at once wait out 'database is locked' instead of failing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "triggerkit-kv-locks-" });
  const openKv = (Deno as unknown as { openKv(path: string): Promise<KvLike> })
    .openKv;
  const stores = [0, 1, 2].map(() =>
    new KvRunStore(openKv(`${dir}/state.kv`), { clock: new FakeClock(T0) })
  );
  try {
    // 3 handles × 40 claims of their own jobs, all at once.
    await Promise.all(
      stores.flatMap((store, s) =>
        Array.from({ length: 40 }, async (_, i) => {
          const result = await store.claim(`job-${s}-${i}`, {
            runId: crypto.randomUUID(),
            holder: HOLDER_A,
            leaseMs: LEASE_MS,
            slot: SLOT,
          });
          assert.ok(result.claimed);
        })
      ),
    );
  } finally {
    await Promise.all(stores.map((store) => store.close()));
    await Deno.remove(dir, { recursive: true });
  }
});
