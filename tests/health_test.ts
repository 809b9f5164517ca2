import assert from "node:assert/strict";
import { createRegistry, type RunStore } from "../mod.ts";
import { SqlRunStore } from "../src/store/sql.ts";
import { Databases } from "../src/db/databases.ts";
import { checkHealth, HEALTH_TIMEOUT_MS } from "../src/observe/health.ts";
import { RunMetrics } from "../src/observe/run_metrics.ts";
import { createStatusHandler } from "../src/observe/status_server.ts";
import { FakeSource } from "./_status_fixtures.ts";
import { FakeClock } from "./_fake_clock.ts";

const NOW = Date.parse("2030-01-01T10:00:10Z");

async function settle() {
  for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 1));
}

Deno.test("/healthz is 200 while the loop ticked recently and the store answers", async () => {
  const clock = new FakeClock(NOW);
  const handler = createStatusHandler({
    source: new FakeSource(),
    metrics: new RunMetrics(),
    clock,
  });
  const response = await handler.handle(new Request("http://x/healthz"));
  assert.equal(response.status, 200);
  const body = await response.json();
  assert.equal(body.status, "ok");
  assert.deepEqual(body.reasons, []);
  assert.equal(body.checks.store.ok, true);
  assert.match(body.checks.scheduler.detail, /ticked 10 s ago/);
  handler.close();
});

Deno.test("/healthz is 503 when the store hangs, after its 2 s timeout", async () => {
  const clock = new FakeClock(NOW);
  const source = new FakeSource();
  source.storeAnswer = () => new Promise(() => {});
  const handler = createStatusHandler({
    source,
    metrics: new RunMetrics(),
    clock,
  });
  let answered = false;
  const pending = handler.handle(new Request("http://x/healthz")).finally(() =>
    answered = true
  );
  await settle();
  assert.equal(answered, false);
  clock.tick(HEALTH_TIMEOUT_MS - 1);
  await settle();
  assert.equal(answered, false, "not before 2 s");
  clock.tick(1);
  const response = await pending;
  assert.equal(response.status, 503);
  const body = await response.json();
  assert.deepEqual(body.reasons, ["the run store did not answer within 2 s"]);
  assert.equal(body.checks.scheduler.ok, true);
  assert.equal(clock.pending, 0, "no timer left behind");
  handler.close();
});

Deno.test("/healthz is 503 with the store's error, its password masked", async () => {
  const source = new FakeSource();
  source.storeAnswer = () =>
    Promise.reject(
      new Error("connect postgres://u:pw1234@db:5432/x ECONNREFUSED"),
    );
  const handler = createStatusHandler({
    source,
    metrics: new RunMetrics(),
    clock: new FakeClock(NOW),
  });
  const response = await handler.handle(new Request("http://x/healthz"));
  assert.equal(response.status, 503);
  const text = await response.text();
  assert.ok(!text.includes("pw1234"));
  assert.match(text, /the run store failed: connect postgres:\/\/u:\*\*\*@db/);
  handler.close();
});

Deno.test("/healthz is 503 when the scheduler loop has not ticked for two of its periods", async () => {
  const clock = new FakeClock(NOW);
  const source = new FakeSource();
  source.schedulerState = {
    tickedAt: NOW,
    tickEveryMs: 30_000,
    stopping: false,
  };
  const status = () => checkHealth(source, { clock }).then((report) => report);
  assert.equal((await status()).status, "ok");
  clock.tick(65_000);
  assert.equal((await status()).status, "ok", "65 s is within 2 × 30 s + 5 s");
  clock.tick(1000);
  const stale = await status();
  assert.equal(stale.status, "unavailable");
  assert.deepEqual(stale.reasons, [
    "the scheduler loop ticked 66 s ago (it should every 30 s)",
  ]);
});

Deno.test("/healthz is 503 before the loop starts, when it stops, and without a scheduler", async () => {
  const clock = new FakeClock(NOW);
  const source = new FakeSource();
  const reasons = async () => (await checkHealth(source, { clock })).reasons;
  source.schedulerState = {
    tickedAt: undefined,
    tickEveryMs: 30_000,
    stopping: false,
  };
  assert.deepEqual(await reasons(), [
    "the scheduler has not started its loop yet",
  ]);
  source.schedulerState = {
    tickedAt: NOW,
    tickEveryMs: 30_000,
    stopping: true,
  };
  assert.deepEqual(await reasons(), ["the scheduler is stopping"]);
  source.schedulerState = undefined;
  assert.deepEqual(await reasons(), ["the scheduler is not running"]);
});

/** A SQL run store whose history can be made to hang. */
class HangingStore extends SqlRunStore implements RunStore {
  hang = false;

  override history(
    ...args: Parameters<SqlRunStore["history"]>
  ): ReturnType<SqlRunStore["history"]> {
    return this.hang ? new Promise(() => {}) : super.history(...args);
  }
}

Deno.test("serve({ http }): /healthz turns 503 when the store hangs and 200 when it answers again", async () => {
  const databases = new Databases();
  const store = new HangingStore(databases.get("sqlite::memory:"));
  const registry = createRegistry({ store });
  const clock = new FakeClock(NOW);
  const stop = new AbortController();
  let url = "";
  const serving = registry.serve({
    http: "127.0.0.1:0",
    clock,
    signal: stop.signal,
    handleSignals: false,
    onListen: (address) => url = address.url,
  });
  try {
    while (!url) await settle();
    await settle();
    assert.equal((await fetch(`${url}healthz`)).status, 200);
    store.hang = true;
    const sleepers = clock.pending;
    const pending = fetch(`${url}healthz`);
    while (clock.pending === sleepers) await settle();
    clock.tick(HEALTH_TIMEOUT_MS);
    const response = await pending;
    assert.equal(response.status, 503);
    assert.match(
      (await response.json()).reasons.join(),
      /did not answer within 2 s/,
    );
    store.hang = false;
    const again = await fetch(`${url}healthz`);
    assert.equal(again.status, 200, await again.text());
  } finally {
    stop.abort();
    await serving;
    await registry.close();
    await databases.close();
  }
});
