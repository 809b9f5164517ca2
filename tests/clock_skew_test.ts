/**
 * Instances whose clocks differ (or a clock stepped back by NTP) share one
 * store: a job's generation — what makes the same rows deliverable again
 * after a successful run — must still change after every successful run.
 */
import assert from "node:assert/strict";
import { createRegistry, openRunStore } from "../mod.ts";
import { FakeClock } from "./_fake_clock.ts";
import { pgTest, uniqueTable } from "./_helpers.ts";

const HOUR = 3_600_000;

async function skewed(url: string, job: string): Promise<number> {
  const behind = new FakeClock();
  const ahead = new FakeClock(behind.now() + HOUR);
  const stores = [
    openRunStore(url, { clock: ahead }),
    openRunStore(url, { clock: behind }),
  ];
  let calls = 0;
  const registries = [
    createRegistry({ store: stores[0]!, clock: ahead }),
    createRegistry({ store: stores[1]!, clock: behind }),
  ];
  try {
    for (const registry of registries) {
      registry.defineView({
        name: "open_incidents",
        database: "sqlite::memory:",
        sql: "SELECT 1 AS id, 'disk full' AS what",
      });
      registry.register("notify", () => {
        calls++;
        return { notified: true };
      });
      // No dedupe: every run reports the same rows again (a summary).
      registry.defineJob({
        name: job,
        view: "open_incidents",
        actions: ["notify"],
      });
    }
    const [a, b] = registries as [
      ReturnType<typeof createRegistry>,
      ReturnType<typeof createRegistry>,
    ];
    assert.equal((await a.runJob(job)).status, "succeeded");
    assert.equal((await b.runJob(job)).status, "succeeded");
    assert.equal((await b.runJob(job)).status, "succeeded");
    assert.equal((await b.runJob(job)).status, "succeeded");
    return calls;
  } finally {
    await Promise.all(registries.map((registry) => registry.close()));
    await Promise.all(stores.map((store) => store.close?.()));
  }
}

for (const kind of ["sqlite", "kv"] as const) {
  Deno.test(`${kind}: with one instance's clock an hour ahead, every successful run starts a new generation: the same rows are acted on by each run`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "triggerkit-skew-" });
    try {
      const url = kind === "sqlite"
        ? `sqlite:${dir}/state.db`
        : `kv:${dir}/state.kv`;
      assert.equal(await skewed(url, "summary"), 4);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

pgTest(
  "postgres: with one instance's clock an hour ahead, every successful run starts a new generation: the same rows are acted on by each run",
  async (pg) => {
    assert.equal(await skewed(pg, uniqueTable("skew")), 4);
  },
);
