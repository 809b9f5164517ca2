/**
 * `STORE_ERROR` (SPEC §2: "the run store could not be reached after its
 * retries"): every path that throws it, each provoked by a real failing
 * store where the fault is the store's — a SQLite file locked by another
 * process, a closed SQLite database, a closed Deno KV, a PostgreSQL host
 * that accepts and never answers, a claim taken over in each store, real
 * concurrent writers — and the code asserted.
 */
import assert from "node:assert/strict";
import {
  createRegistry,
  openRunStore,
  type Registry,
  type RunReport,
  type RunStore,
} from "../mod.ts";
import { FakeClock } from "./_fake_clock.ts";
import { assertCode, rejectsWithCode, uniqueTable } from "./_helpers.ts";
import { STORE_SUBJECTS } from "./_faults.ts";
import { startHungServer } from "./_hung_server.ts";
import { SqlRunStore } from "../src/store/sql.ts";
import { type KvLike, KvRunStore } from "../src/store/kv.ts";
import type { KvKey } from "../src/store/_kv_records.ts";
import { SqliteDatabase } from "../src/db/sqlite.ts";
import { failedWith, unrecorded } from "../src/jobs/_run_record.ts";
import { checkStale } from "../src/alerts/notices.ts";
import { alertStoreOf } from "../src/alerts/store.ts";

const HOLDER = { instance: "i", host: "h", pid: 1 };

/** A registry on `store` with the job `job` (view `one`, action `effect`). */
function registryOn(
  store: RunStore | string,
  options: { clock?: FakeClock; leaseMs?: number } = {},
): Registry {
  const registry = createRegistry({
    store,
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.leaseMs ? { serve: { leaseMs: options.leaseMs } } : {}),
  });
  registry.defineView({
    name: "one",
    database: "sqlite::memory:",
    sql: "SELECT 1 AS id",
  });
  return registry;
}

/**
 * Another process that holds the SQLite file `path` locked (`BEGIN
 * EXCLUSIVE`) until it is killed.
 */
async function lockInAnotherProcess(
  path: string,
): Promise<{ release: () => Promise<void> }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `import { DatabaseSync } from "node:sqlite";
       const db = new DatabaseSync(${JSON.stringify(path)});
       db.exec("BEGIN EXCLUSIVE");
       console.log("locked");
       setTimeout(() => {}, 600_000);`,
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("locked")) {
    const { value, done } = await reader.read();
    if (done) throw new Error("the locking process ended");
    text += value;
  }
  return {
    release: async () => {
      child.kill("SIGKILL");
      await child.status;
      await reader.cancel().catch(() => {});
    },
  };
}

/** A SQLite store file whose lock waits last `busyTimeoutMs`. */
async function sqliteFile(busyTimeoutMs: number) {
  const dir = await Deno.makeTempDir({ prefix: "triggerkit-store-error-" });
  const path = `${dir}/state.db`;
  const db = new SqliteDatabase(path, `sqlite:${path}`, { busyTimeoutMs });
  const store = new SqlRunStore(db);
  await store.history(); // the tables exist before the lock
  return {
    path,
    store,
    close: async () => {
      await db.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test("runJob() rejects with STORE_ERROR when its SQLite store file is locked by another process (the claim gives up)", async () => {
  const file = await sqliteFile(200);
  const lock = await lockInAnotherProcess(file.path);
  const registry = registryOn(file.store);
  try {
    registry.register("effect", () => ({}));
    registry.defineJob({ name: "locked", view: "one", actions: ["effect"] });
    await rejectsWithCode(
      registry.runJob("locked", { signal: AbortSignal.timeout(1_000) }),
      "STORE_ERROR",
      /could not be reached after \d+ tries \(claiming the job\): .*database is locked/,
    );
  } finally {
    await lock.release();
    await registry.close();
    await file.close();
  }
});

Deno.test("a run whose SQLite store file another process locks mid-run loses its claim: its signal fires with STORE_ERROR", async () => {
  const file = await sqliteFile(200);
  const registry = registryOn(file.store, { leaseMs: 1_500 });
  let lock: { release: () => Promise<void> } | undefined;
  try {
    let reason: unknown;
    registry.register("effect", async ({ signal }) => {
      lock = await lockInAnotherProcess(file.path);
      await new Promise((resolve) =>
        signal.addEventListener("abort", resolve, { once: true })
      );
      reason = signal.reason;
      return {};
    });
    registry.defineJob({ name: "cut", view: "one", actions: ["effect"] });
    const report = await registry.runJob("cut");
    assertCode(reason, "STORE_ERROR", /lost its claim on job "cut"/);
    assert.equal(report.status, "failed");
    assert.match(report.reason!, /lost its claim/);
  } finally {
    await lock?.release();
    await registry.close();
    await file.close();
  }
});

Deno.test("runJob() rejects with STORE_ERROR when its SQLite store's database is closed", async () => {
  const clock = new FakeClock();
  const db = new SqliteDatabase(":memory:", "sqlite::memory:");
  const store = new SqlRunStore(db, { clock });
  const registry = registryOn(store, { clock });
  try {
    registry.register("effect", () => ({}));
    registry.defineJob({ name: "closed", view: "one", actions: ["effect"] });
    await db.close();
    await rejectsWithCode(
      clock.runUntil(registry.runJob("closed")),
      "STORE_ERROR",
      /could not be reached after \d+ tries \(claiming the job\)/,
    );
  } finally {
    await registry.close();
  }
});

Deno.test("runJob() rejects with STORE_ERROR when its Deno KV store is closed", async () => {
  const clock = new FakeClock();
  const kv =
    await (Deno as unknown as { openKv(path: string): Promise<KvLike> })
      .openKv(":memory:");
  const store = new KvRunStore(Promise.resolve(kv), { clock });
  const registry = registryOn(store, { clock });
  try {
    registry.register("effect", () => ({}));
    registry.defineJob({ name: "closed", view: "one", actions: ["effect"] });
    kv.close();
    await rejectsWithCode(
      clock.runUntil(registry.runJob("closed")),
      "STORE_ERROR",
      /could not be reached after \d+ tries \(claiming the job\)/,
    );
  } finally {
    await registry.close();
  }
});

Deno.test("runJob() rejects with STORE_ERROR when its PostgreSQL store accepts and never answers (each try's deadline)", async () => {
  const hung = startHungServer();
  const clock = new FakeClock();
  const registry = registryOn(hung.postgresUrl, { clock });
  try {
    registry.register("effect", () => ({}));
    registry.defineJob({ name: "hung", view: "one", actions: ["effect"] });
    const error = await rejectsWithCode(
      clock.runUntil(registry.runJob("hung")),
      "STORE_ERROR",
      /The run store did not answer within \d+ ms \(claiming the job\)/,
    );
    assert.doesNotMatch(error.message, /secret|password/);
  } finally {
    await registry.close();
    await hung.close();
  }
});

Deno.test("the status page's API answers 503 STORE_ERROR when the store does not answer within its timeout", async () => {
  const hung = startHungServer();
  const registry = registryOn(hung.postgresUrl);
  const stop = new AbortController();
  try {
    let url = "";
    const serving = registry.serve({
      http: "127.0.0.1:0",
      signal: stop.signal,
      handleSignals: false,
      onListen: (address) => url = address.url,
    });
    while (!url) await new Promise((resolve) => setTimeout(resolve, 5));
    const response = await fetch(`${url}api/runs`);
    const body = await response.json();
    stop.abort();
    await serving;
    assert.equal(response.status, 503);
    assert.equal(body.error.code, "STORE_ERROR");
    assert.match(body.error.message, /did not answer within 2000 ms/);
  } finally {
    stop.abort();
    await registry.close();
    await hung.close();
  }
});

for (const subject of STORE_SUBJECTS) {
  Deno.test({
    name:
      `the ${subject.name} store refuses the writes of a claim that was taken over with STORE_ERROR (ClaimLostError)`,
    ignore: subject.ignore,
    fn: async () => {
      const clock = new FakeClock();
      const { store, close } = await subject.open(clock);
      const job = uniqueTable("fenced");
      try {
        const first = await store.claim(job, {
          runId: `${job}-1`,
          holder: HOLDER,
          leaseMs: 60_000,
        });
        assert.ok(first.claimed);
        const old = first.claim;
        await store.start(
          {
            runId: old.runId,
            jobName: job,
            dryRun: false,
            startedAt: new Date(clock.now()).toISOString(),
          },
          old,
        );
        await store.release(old); // as if its lease had run out
        const next = await store.claim(job, {
          runId: `${job}-2`,
          holder: HOLDER,
          leaseMs: 60_000,
        });
        assert.ok(next.claimed);
        const report: RunReport = {
          runId: old.runId,
          jobName: job,
          dryRun: false,
          status: "succeeded",
          startedAt: new Date(clock.now()).toISOString(),
          finishedAt: new Date(clock.now()).toISOString(),
          rowCount: 0,
          newRowCount: 0,
          actions: [],
        };
        await rejectsWithCode(
          store.finish(report, old),
          "STORE_ERROR",
          /lost its claim .*recording the run's outcome refused/,
        );
        await rejectsWithCode(
          store.recordDeliveries(
            old,
            new Map([["unit", { state: "delivered", at: 1 }]]),
          ),
          "STORE_ERROR",
          /recording deliveries refused/,
        );
        await rejectsWithCode(
          store.progress(report, old),
          "STORE_ERROR",
          /recording the run's progress refused/,
        );
        await rejectsWithCode(
          alertStoreOf(store).putNotice(
            job,
            {
              consecutiveFailures: 0,
              lastSuccessAt: null,
              watchedSince: 0,
              incidents: 0,
              open: null,
            },
            null,
            { jobName: job, epoch: old.epoch },
          ),
          "STORE_ERROR",
          /recording the notice state refused/,
        );
        await store.release(next.claim);
      } finally {
        await close();
      }
    },
  });
}

Deno.test("Deno KV: a claim whose key another writer keeps changing gives up with STORE_ERROR (too many concurrent changes)", async () => {
  const kv =
    await (Deno as unknown as { openKv(path: string): Promise<KvLike> })
      .openKv(":memory:");
  const clock = new FakeClock();
  try {
    const plain = new KvRunStore(Promise.resolve(kv), { clock });
    const first = await plain.claim("busy", {
      runId: "r1",
      holder: HOLDER,
      leaseMs: 60_000,
    });
    assert.ok(first.claimed);
    await plain.release(first.claim);
    // Every read of a claim is followed by another instance's write of it.
    const contended = new Proxy(kv, {
      get(target, key) {
        if (key === "get") {
          return async <T>(claimKey: KvKey) => {
            const entry = await target.get<T>(claimKey);
            if (claimKey[1] === "claims" && entry.value) {
              await target.set(claimKey, entry.value);
            }
            return entry;
          };
        }
        const value = Reflect.get(target, key);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const store = new KvRunStore(Promise.resolve(contended), { clock });
    await rejectsWithCode(
      store.claim("busy", { runId: "r2", holder: HOLDER, leaseMs: 60_000 }),
      "STORE_ERROR",
      /too many concurrent changes to job "busy"'s claim/,
    );
  } finally {
    kv.close();
  }
});

Deno.test("a notice state that another instance keeps changing gives up after 8 conditional writes with STORE_ERROR", async () => {
  const clock = new FakeClock();
  const real = openRunStore("sqlite::memory:", { clock });
  const alerts = alertStoreOf(real);
  // Every read of the notice state is followed by another instance's write.
  const busy = new Proxy(alerts, {
    get(target, key) {
      if (key === "notice") {
        return async (jobName: string) => {
          const current = await target.notice(jobName);
          if (current) {
            await target.putNotice(
              jobName,
              {
                ...current.state,
                watchedSince: current.state.watchedSince + 1,
              },
              current.version,
            );
          }
          return current;
        };
      }
      const value = Reflect.get(target, key);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  const registry = registryOn(real, { clock });
  try {
    registry.register("page", () => ({}));
    const job = registry.defineJob({
      name: "watched",
      view: "one",
      actions: ["page"],
      onFailure: { actions: ["page"], stale: "1h" },
    });
    const host = {
      run: () => Promise.resolve({}),
      clock,
      store: () => ({ alerts: busy }),
    };
    await checkStale(host, [job]); // the first check writes the state
    clock.tick(2 * 3_600_000);
    await rejectsWithCode(
      checkStale(host, [job]),
      "STORE_ERROR",
      /notice state of job "watched" kept changing under 8 conditional writes/,
    );
  } finally {
    await registry.close();
    await real.close?.();
  }
});

Deno.test("a run that failed on a store error with no code of its own is recorded with STORE_ERROR", () => {
  const report: RunReport = {
    runId: "r",
    jobName: "j",
    dryRun: false,
    status: "succeeded",
    startedAt: "2026-03-01T10:00:00.000Z",
    finishedAt: "",
    rowCount: 1,
    newRowCount: 1,
    actions: [],
  };
  const coded = failedWith(
    structuredClone(report),
    new Error("socket hang up"),
    0,
  );
  assert.equal(coded.code, "STORE_ERROR");
  const recorded = unrecorded(report, new Error("socket hang up"), 0);
  assert.equal(recorded.status, "failed");
  assert.equal(recorded.error?.code, "STORE_ERROR");
  assert.match(recorded.reason!, /socket hang up/);
});
