/**
 * `serve` stops within its grace period whatever hangs (SPEC §4.1), runs
 * started over HTTP (`POST /api/jobs/<name>/run`) included: a run whose
 * action never settles and ignores its abort signal neither holds the stop
 * past `graceMs` nor vanishes from the history.
 */
import assert from "node:assert/strict";
import { createRegistry, openRunStore, type Registry } from "../mod.ts";
import { spawnCli } from "./_cli.ts";
import { until } from "./_faults.ts";

const TOKEN = "drain-test-token-1234567890";
const GRACE_MS = 1_500;
/** Scheduling and teardown after the grace period, on a loaded 2-core machine. */
const MARGIN_MS = 400;

/** An action that never settles and never looks at its signal; counts its calls. */
function registerHang(registry: Registry): { calls: number } {
  const seen = { calls: 0 };
  registry.register("hang", () => {
    seen.calls++;
    return new Promise<Record<string, unknown>>(() => {});
  });
  return seen;
}

function defineJobs(registry: Registry, scheduled: boolean) {
  registry.defineView({
    name: "one",
    database: "sqlite::memory:",
    sql: "SELECT 1 AS id",
  });
  registry.defineJob({ name: "manual", view: "one", actions: ["hang"] });
  if (scheduled) {
    registry.defineJob({
      name: "ticking",
      view: "one",
      actions: ["hang"],
      schedule: "every 1 second",
    });
  }
}

/** Serves with http and a token; returns the URL and a timed stop. */
async function serveHttp(registry: Registry) {
  const abort = new AbortController();
  let url = "";
  let listened!: () => void;
  const listening = new Promise<void>((resolve) => listened = resolve);
  const serving = registry.serve({
    http: "127.0.0.1:0",
    httpToken: TOKEN,
    graceMs: GRACE_MS,
    signal: abort.signal,
    handleSignals: false,
    onListen: (address) => {
      url = address.url;
      listened();
    },
  });
  serving.catch(() => listened());
  await listening;
  return {
    url,
    /** Stops serve and returns how long it took, in ms. */
    async stop(): Promise<number> {
      const started = performance.now();
      abort.abort();
      await serving;
      return performance.now() - started;
    },
  };
}

async function startOverHttp(url: string, job: string): Promise<string> {
  const response = await fetch(`${url}api/jobs/${job}/run`, {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  assert.equal(response.status, 202);
  return (await response.json()).runId;
}

Deno.test("serve() stops within graceMs when a run started over HTTP never settles and ignores its abort, and records the run failed", async () => {
  const registry = createRegistry({ store: "sqlite::memory:" });
  const hang = registerHang(registry);
  defineJobs(registry, false);
  try {
    const server = await serveHttp(registry);
    const runId = await startOverHttp(server.url, "manual");
    await until("the hung action to be called", () => hang.calls === 1, 5_000);
    const took = await server.stop();
    assert.ok(
      took < GRACE_MS + MARGIN_MS,
      `serve() took ${Math.round(took)} ms to stop (grace ${GRACE_MS} ms)`,
    );
    const run = await registry.getRun(runId);
    assert.equal(run?.status, "failed");
    assert.equal(run?.actions[0]?.error?.code, "ACTION_TIMEOUT");
  } finally {
    await registry.close();
  }
});

Deno.test("serve() drains hung scheduled runs and hung runs started over HTTP in one grace period, not one after the other", async () => {
  const registry = createRegistry({ store: "sqlite::memory:" });
  const hang = registerHang(registry);
  defineJobs(registry, true);
  try {
    const server = await serveHttp(registry);
    const runId = await startOverHttp(server.url, "manual");
    // The HTTP run and a scheduled run both inside the action that hangs.
    await until("both runs to hang", () => hang.calls >= 2, 10_000);
    const took = await server.stop();
    assert.ok(
      took < GRACE_MS + MARGIN_MS,
      `serve() took ${Math.round(took)} ms to stop (grace ${GRACE_MS} ms)`,
    );
    assert.equal((await registry.getRun(runId))?.status, "failed");
    const [scheduled] = await registry.history({ job: "ticking" });
    assert.equal(scheduled?.status, "failed");
  } finally {
    await registry.close();
  }
});

Deno.test("while serve() drains, POST /api/jobs/<name>/run is refused with 503 STOPPING", async () => {
  const registry = createRegistry({ store: "sqlite::memory:" });
  const hang = registerHang(registry);
  defineJobs(registry, false);
  try {
    const server = await serveHttp(registry);
    await startOverHttp(server.url, "manual");
    await until("the hung action to be called", () => hang.calls === 1, 5_000);
    const stopping = server.stop();
    const response = await fetch(`${server.url}api/jobs/manual/run`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    assert.equal(response.status, 503);
    assert.equal((await response.json()).error.code, "STOPPING");
    await stopping;
    assert.equal(hang.calls, 1);
    assert.equal((await registry.history({ job: "manual" })).length, 1);
  } finally {
    await registry.close();
  }
});

const MOD = new URL("../mod.ts", import.meta.url).href;

Deno.test("cli: serve --http exits within its grace period of SIGTERM while a run started over HTTP hangs, and the run is not left running", async () => {
  const dir = await Deno.makeTempDir({ prefix: "triggerkit-drain-" });
  await Deno.writeTextFile(
    `${dir}/triggerkit.config.ts`,
    `import { defineConfig } from ${JSON.stringify(MOD)};
export default defineConfig({
  store: "sqlite:./state.db",
  serve: { graceMs: ${GRACE_MS} },
  actions: { hang: () => new Promise(() => {}) },
  views: { one: { database: "sqlite::memory:", sql: "SELECT 1 AS id" } },
  jobs: {
    manual: { view: "one", actions: ["hang"] },
    ticking: { view: "one", actions: ["hang"], schedule: "every 1 second" },
  },
});
`,
  );
  const child = spawnCli(
    ["serve", "--http", "127.0.0.1:0", "--http-token-env", "TK_HTTP_TOKEN"],
    { cwd: dir, env: { TK_HTTP_TOKEN: TOKEN }, stdout: "null" },
  );
  const stderr = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let said = "";
  try {
    let url: string | undefined;
    while (!url) {
      const { value, done } = await stderr.read();
      if (done) throw new Error(`serve exited: ${said}`);
      said += value;
      url = /Status page on (\S+)/.exec(said)?.[1];
    }
    const runId = await startOverHttp(url, "manual");
    const running = async (path: string) => {
      const response = await fetch(`${url}${path}`);
      const body = await response.json();
      return Array.isArray(body)
        ? body.some((run) => run.status === "running")
        : body.status === "running";
    };
    await until(
      "the HTTP run to be running",
      () => running(`api/runs/${runId}`),
      10_000,
    );
    await until(
      "a scheduled run to be running",
      () => running("api/runs?job=ticking"),
      10_000,
    );
    child.kill("SIGTERM");
    const stopped = performance.now();
    const exited = child.status;
    const rest = (async () => {
      for (
        let part = await stderr.read();
        !part.done;
        part = await stderr.read()
      ) {
        said += part.value;
      }
    })();
    const { code } = await exited;
    const took = performance.now() - stopped;
    await rest;
    assert.equal(code, 0, said);
    assert.ok(
      took < GRACE_MS + MARGIN_MS,
      `serve took ${Math.round(took)} ms to exit (grace ${GRACE_MS} ms)`,
    );
    const store = openRunStore(`sqlite:${dir}/state.db`);
    try {
      const run = await store.get(runId);
      assert.ok(
        run?.status === "failed" || run?.status === "interrupted",
        `the HTTP run is ${run?.status}`,
      );
    } finally {
      await store.close?.();
    }
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* exited */ }
    await child.status;
    await stderr.cancel().catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
});
