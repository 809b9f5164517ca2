/**
 * `serve({ http })` and `serve --http`: the status server beside the
 * scheduler of a real registry.
 */
import assert from "node:assert/strict";
import {
  createRegistry,
  type DenoCron,
  openRunStore,
  type Registry,
  type RunStore,
  type ServeOptions,
} from "../mod.ts";
import { main } from "../src/cli/main.ts";
import { SqlRunStore } from "../src/store/sql.ts";
import { Databases } from "../src/db/databases.ts";
import { rejectsWithCode } from "./_helpers.ts";
import { alertRegistry } from "./_alert_registry.ts";
import { alertStoreOf } from "../src/alerts/store.ts";
import { bulkStore, insertRuns } from "./_bulk_runs.ts";
import { spawnCli } from "./_cli.ts";
import { FakeClock, settle } from "./_fake_clock.ts";
import {
  parseExposition,
  registerGate,
  sampleValue,
} from "./_status_fixtures.ts";

const TOKEN = "serve-test-token-1234567890";

/** Serves `registry` with http on port 0; `fn` gets the base URL. */
async function withServer(
  registry: Registry,
  fn: (url: string, stop: () => Promise<void>) => Promise<void>,
  options: ServeOptions = {},
) {
  const abort = new AbortController();
  let url = "";
  let listened!: () => void;
  const listening = new Promise<void>((resolve) => listened = resolve);
  const serving = registry.serve({
    http: "127.0.0.1:0",
    signal: abort.signal,
    handleSignals: false,
    onListen: (address) => {
      url = address.url;
      listened();
    },
    ...options,
  });
  serving.catch(() => listened());
  await listening;
  const stop = async () => {
    abort.abort();
    await serving;
  };
  try {
    await fn(url, stop);
  } finally {
    await stop();
  }
}

function oneRowJob(registry: Registry, actions: string[] = ["count"]) {
  registry.defineView({
    name: "one",
    database: "sqlite::memory:",
    sql: "SELECT 1 AS id",
  });
  if (!registry.listAvailable().some((info) => info.name === "count")) {
    registry.register("count", ({ data }) => ({ n: data.length }));
  }
  registry.defineJob({ name: "manual", view: "one", actions });
}

Deno.test("serve({ http }) with no scheduled job keeps running, on 127.0.0.1, until aborted", async () => {
  const registry = createRegistry({ store: "sqlite::memory:" });
  try {
    let ended = false;
    await withServer(registry, async (url, stop) => {
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
      await new Promise((resolve) => setTimeout(resolve, 50));
      const health = await fetch(`${url}healthz`);
      assert.equal(health.status, 200, await health.text());
      assert.deepEqual(await (await fetch(`${url}api/jobs`)).json(), []);
      await stop();
      ended = true;
      await assert.rejects(fetch(`${url}healthz`));
    });
    assert.ok(ended);
  } finally {
    await registry.close();
  }
});

Deno.test("serve({ http }) refuses a bad address, an empty token, or a token without http, with INVALID_OPTIONS", async () => {
  const registry = createRegistry({ store: "sqlite::memory:" });
  try {
    await rejectsWithCode(
      registry.serve({ http: "localhost", handleSignals: false }),
      "INVALID_OPTIONS",
      /HOST:PORT/,
    );
    await rejectsWithCode(
      registry.serve({
        http: "127.0.0.1:0",
        httpToken: "",
        handleSignals: false,
      }),
      "INVALID_OPTIONS",
      /httpToken/,
    );
    await rejectsWithCode(
      registry.serve({ httpToken: "x", handleSignals: false }),
      "INVALID_OPTIONS",
      /httpToken: it needs http/,
    );
  } finally {
    await registry.close();
  }
});

Deno.test("a run started over HTTP is recorded, announced to the page and counted", async () => {
  const registry = createRegistry({ store: "sqlite::memory:" });
  oneRowJob(registry);
  try {
    await withServer(registry, async (url) => {
      const events = await fetch(`${url}events`);
      const reader = events.body!.pipeThrough(new TextDecoderStream())
        .getReader();
      await reader.read();
      const response = await fetch(`${url}api/jobs/manual/run`, {
        method: "POST",
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      assert.equal(response.status, 202);
      const { runId } = await response.json();
      let seen = "";
      while (!seen.includes('"type":"finished"')) {
        seen += (await reader.read()).value;
      }
      assert.match(seen, new RegExp(`"runId":"${runId}"`));
      await reader.cancel();
      const run = await (await fetch(`${url}api/runs/${runId}`)).json();
      assert.equal(run.status, "succeeded");
      assert.equal(run.jobName, "manual");
      const page = await (await fetch(`${url}runs/${runId}`)).text();
      assert.match(page, /<h1>manual<\/h1>/);
      const jobs = await (await fetch(`${url}api/jobs`)).json();
      assert.equal(jobs[0].lastRun.runId, runId);
      assert.equal(jobs[0].nextRunAt, null);
      const metrics = await (await fetch(`${url}metrics`)).text();
      assert.match(
        metrics,
        /^triggerkit_runs_total\{job="manual",status="succeeded"\} 1$/m,
      );
    }, { httpToken: TOKEN });
  } finally {
    await registry.close();
  }
});

Deno.test("stopping serve aborts a run started over HTTP once the grace period is over", async () => {
  const registry = createRegistry({ store: "sqlite::memory:" });
  let started!: () => void;
  const running = new Promise<void>((resolve) => started = resolve);
  registry.register("hang", ({ signal }) => {
    started();
    return new Promise((_, reject) =>
      signal.addEventListener("abort", () => reject(signal.reason))
    );
  });
  oneRowJob(registry, ["hang"]);
  try {
    let runId = "";
    await withServer(registry, async (url, stop) => {
      const response = await fetch(`${url}api/jobs/manual/run`, {
        method: "POST",
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      runId = (await response.json()).runId;
      await running;
      await stop();
    }, { httpToken: TOKEN, graceMs: 20 });
    const [run] = await registry.history({ job: "manual" });
    assert.equal(run?.runId, runId);
    assert.equal(run?.status, "failed");
  } finally {
    await registry.close();
  }
});

Deno.test("serve({ http, driver: 'deno-cron' }) beats a heartbeat cron for /healthz", async () => {
  const registry = createRegistry({ store: "sqlite::memory:" });
  const crons: string[] = [];
  const cron: DenoCron = (name, _schedule, options) => {
    crons.push(name);
    return new Promise((resolve) =>
      options.signal?.addEventListener("abort", () => resolve())
    );
  };
  try {
    await withServer(registry, async (url) => {
      const health = await fetch(`${url}healthz`);
      assert.equal(health.status, 200, await health.text());
      assert.deepEqual(crons, ["triggerkit heartbeat"]);
    }, { driver: "deno-cron", cron });
  } finally {
    await registry.close();
  }
});

/** A run store whose `start` fails. */
/** A store that grants the claim, then goes down: the run's start cannot be recorded, nor its lease renewed. */
class FailingStore extends SqlRunStore implements RunStore {
  override start(): Promise<void> {
    return Promise.reject(new Error("the store is down"));
  }
  override renew(): Promise<boolean> {
    return Promise.reject(new Error("the store is down"));
  }
}

Deno.test("a run whose store fails is still counted, as failed", async () => {
  const databases = new Databases();
  const clock = new FakeClock(Date.parse("2026-03-01T10:00:00Z"));
  const registry = createRegistry({
    store: new FailingStore(databases.get("sqlite::memory:"), { clock }),
    clock,
  });
  oneRowJob(registry);
  try {
    const report = await clock.runUntil(registry.runJob("manual"));
    assert.equal(report.status, "failed");
    assert.match(report.reason!, /lost its claim/);
    await withServer(registry, async (url) => {
      const metrics = await (await fetch(`${url}metrics`)).text();
      assert.match(
        metrics,
        /^triggerkit_runs_total\{job="manual",status="failed"\} 1$/m,
      );
    }, { clock });
  } finally {
    await registry.close();
    await databases.close();
  }
});

const MOD = new URL("../mod.ts", import.meta.url).href;

Deno.test("cli: serve --http --http-token-env serves the page and starts runs with the token", async () => {
  const dir = await Deno.makeTempDir({ prefix: "triggerkit-serve-http-" });
  await Deno.writeTextFile(
    `${dir}/triggerkit.config.ts`,
    `import { defineConfig } from "${MOD}";
export default defineConfig({
  store: "sqlite:./state.db",
  views: { one: { database: "sqlite::memory:", sql: "SELECT 1 AS id" } },
  jobs: { manual: { view: "one", actions: [{ action: "run_sql", config: { database: "sqlite::memory:", sql: "SELECT :id" } }] } },
});
`,
  );
  const child = spawnCli(
    ["serve", "--http", "127.0.0.1:0", "--http-token-env", "TK_HTTP_TOKEN"],
    { cwd: dir, env: { TK_HTTP_TOKEN: TOKEN } },
  );
  const stdout = child.stdout.pipeThrough(new TextDecoderStream());
  const stderr = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  try {
    let said = "";
    let url: string | undefined;
    while (!url) {
      const { value, done } = await stderr.read();
      if (done) throw new Error(`serve exited: ${said}`);
      said += value;
      url = /Status page on (\S+)/.exec(said)?.[1];
    }
    assert.match(said, /runs can be started with the token/);
    assert.ok(!said.includes(TOKEN));
    const unauthorized = await fetch(`${url}api/jobs/manual/run`, {
      method: "POST",
    });
    assert.equal(unauthorized.status, 401);
    await unauthorized.body?.cancel();
    const started = await fetch(`${url}api/jobs/manual/run`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    assert.equal(started.status, 202);
    const { runId } = await started.json();
    let status = "";
    while (status !== "succeeded") {
      const run = await fetch(`${url}api/runs/${runId}`);
      status = run.ok
        ? (await run.json()).status
        : (await run.body?.cancel(), "");
      if (status === "failed") throw new Error("the run failed");
    }
    child.kill("SIGTERM");
    assert.equal((await child.status).code, 0);
  } finally {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
    await stdout.pipeTo(new WritableStream());
    await stderr.cancel();
    await child.status;
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli: serve --http-token-env needs --http and a set variable (exit 2)", async () => {
  const lines: string[] = [];
  const io = {
    out: (l: string) => lines.push(l),
    err: (l: string) => lines.push(l),
  };
  const registry = createRegistry({ store: "sqlite::memory:" });
  try {
    assert.equal(
      await main(["serve", "--http-token-env", "X"], { io, registry }),
      2,
    );
    assert.match(lines.join("\n"), /--http-token-env needs --http/);
    lines.length = 0;
    assert.equal(
      await main(
        [
          "serve",
          "--http",
          "127.0.0.1:0",
          "--http-token-env",
          "TK_SURELY_UNSET_VAR",
        ],
        { io, registry },
      ),
      2,
    );
    assert.match(lines.join("\n"), /TK_SURELY_UNSET_VAR, which is not set/);
    lines.length = 0;
    assert.equal(
      await main(["serve", "--http", "nonsense"], { io, registry }),
      2,
    );
    assert.match(lines.join("\n"), /INVALID_OPTIONS/);
  } finally {
    await registry.close();
  }
});

Deno.test("the page, /api/jobs and /metrics show the firing alerts, counted from the store's summaries or, without one, from the keys", async () => {
  const { registry, sql } = await alertRegistry({
    setup: [
      "CREATE TABLE hot (id INTEGER)",
      "INSERT INTO hot VALUES (1), (2), (3)",
    ],
  });
  registry.defineView({
    name: "hot",
    database: "db",
    sql: "SELECT id FROM hot",
  });
  registry.register("notify", () => ({}));
  let failResolved = false;
  registry.register("resolved", () => {
    if (failResolved) throw new Error("the resolved notice failed");
    return {};
  });
  registry.defineJob({
    name: "heat",
    view: "hot",
    actions: ["notify"],
    dedupe: { key: ["id"] },
    alert: { resolved: ["resolved"] },
  });
  const shown = async (url: string) => {
    const metrics = await (await fetch(`${url}metrics`)).text();
    const jobs = await (await fetch(`${url}api/jobs`)).json();
    const page = await (await fetch(url)).text();
    const firing = (await registry.alerts()).filter((a) =>
      a.state === "firing"
    );
    return {
      metric: Number(
        /triggerkit_alerts_firing\{job="heat"\} (\d+)/.exec(metrics)?.[1],
      ),
      api: jobs[0].alertsFiring,
      listed: firing.length,
      page: firing.every((alert) => page.includes(`[${alert.key[0]}]`)),
    };
  };
  try {
    await withServer(registry, async (url) => {
      await registry.runJob("heat");
      assert.deepEqual(await shown(url), {
        metric: 3,
        api: 3,
        listed: 3,
        page: true,
      });
      await sql("DELETE FROM hot WHERE id = 1");
      await registry.runJob("heat");
      assert.deepEqual(await shown(url), {
        metric: 2,
        api: 2,
        listed: 2,
        page: true,
      });
      // A resolution that did not go through leaves no summary: the keys are counted.
      failResolved = true;
      await sql("DELETE FROM hot WHERE id = 2");
      assert.equal((await registry.runJob("heat")).status, "failed");
      assert.deepEqual(await shown(url), {
        metric: 2,
        api: 2,
        listed: 2,
        page: true,
      });
    });
  } finally {
    await registry.close();
  }
});

Deno.test("the page reads at most 100 firing keys from the store, never every key, and shows how many fire in all", async () => {
  const store = openRunStore("sqlite::memory:");
  const alerts = alertStoreOf(store);
  const reads = { keys: 0, firing: [] as number[] };
  const keys = alerts.keys.bind(alerts);
  const firing = alerts.firing!.bind(alerts);
  alerts.keys = (job) => (reads.keys++, keys(job));
  alerts.firing = (
    job,
    limit,
  ) => (reads.firing.push(limit), firing(job, limit));
  const { registry } = await alertRegistry({ store });
  const numbers = (n: number) =>
    `WITH RECURSIVE n(id) AS (SELECT 1 UNION ALL SELECT id + 1 FROM n WHERE id < ${n}) SELECT id FROM n`;
  registry.register("notify", () => ({}));
  for (const [name, count] of [["heat", 250], ["smoke", 3]] as const) {
    registry.defineView({ name, database: "db", sql: numbers(count) });
    registry.defineJob({
      name,
      view: name,
      actions: ["notify"],
      dedupe: { key: ["id"] },
      alert: {},
    });
  }
  try {
    await withServer(registry, async (url) => {
      assert.equal((await registry.runJob("heat")).status, "succeeded");
      assert.equal((await registry.runJob("smoke")).status, "succeeded");
      reads.keys = 0;
      reads.firing = [];
      const page = await (await fetch(url)).text();
      assert.equal(reads.keys, 0, "the page read every key of a job");
      assert.deepEqual(reads.firing, [100, 100]);
      const listed = page.match(/<td><code>\[\d+\]<\/code><\/td>/g) ?? [];
      assert.equal(listed.length, 100);
      assert.match(page, />253</, "the tile counts every firing key");
      assert.match(
        page,
        /… and 153 more: <code>triggerkit alerts<\/code> lists them all/,
      );
    });
  } finally {
    await registry.close();
    await store.close?.();
  }
});

Deno.test("/runs/<short id> opens the one run whose id starts with it, older than the latest 10,000; an ambiguous one is 404", async () => {
  const { store, db } = bulkStore();
  const registry = createRegistry({ store });
  oneRowJob(registry);
  try {
    const { runId } = await registry.runJob("manual", {
      runId: "c0ffee42-0000-4000-8000-000000000001",
    });
    await insertRuns(db, 10_050, new Date(Date.now() + 60_000).toISOString());
    await withServer(registry, async (url) => {
      const short = await fetch(`${url}runs/c0ffee42`, { redirect: "manual" });
      await short.body?.cancel();
      assert.equal(short.status, 302);
      assert.equal(short.headers.get("location"), `/runs/${runId}`);
      const page = await fetch(`${url}runs/c0ffee42`);
      assert.equal(page.status, 200);
      assert.match(await page.text(), new RegExp(runId));
      const ambiguous = await fetch(`${url}runs/bulk-0000`);
      assert.equal(ambiguous.status, 404);
      assert.match(await ambiguous.text(), /More than one run id starts with/);
      const tooShort = await fetch(`${url}runs/c0f`);
      assert.equal(tooShort.status, 404);
      await tooShort.body?.cancel();
    });
  } finally {
    await registry.close();
    await db.close();
  }
});

Deno.test("slots skipped while a run lasts are counted by /metrics and told to onRun, as every run", async () => {
  const clock = new FakeClock(Date.parse("2026-03-01T10:00:30Z"));
  const registry = createRegistry({ store: "sqlite::memory:", clock });
  registry.defineView({
    name: "one",
    database: "sqlite::memory:",
    sql: "SELECT 1 AS id",
  });
  const release = registerGate(registry, "slow");
  registry.defineJob({
    name: "s",
    view: "one",
    actions: ["slow"],
    schedule: "every minute",
  });
  const told: string[] = [];
  try {
    await withServer(registry, async (url) => {
      await settle();
      await clock.advance(3 * 60_000, 10_000); // 10:01 runs and hangs; 10:02, 10:03 come
      release();
      await settle();
      const samples = parseExposition(
        await (await fetch(`${url}metrics`)).text(),
      );
      const runs = (status: string) =>
        sampleValue(samples, "triggerkit_runs_total", { job: "s", status });
      assert.deepEqual([runs("skipped"), runs("succeeded")], [2, 1]);
    }, { clock, onRun: (report) => told.push(report.status) });
    assert.deepEqual(told.sort(), ["skipped", "skipped", "succeeded"]);
  } finally {
    await registry.close();
  }
});
