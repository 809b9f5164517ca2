/**
 * The status server attacked: clients that never read their event stream,
 * HEAD on the stream, secrets that only the environment knows, ids no store
 * can hold, tokens that cannot be presented. Real servers on 127.0.0.1 port 0
 * where the fault is the socket's.
 */
import assert from "node:assert/strict";
import { RunMetrics } from "../src/observe/run_metrics.ts";
import {
  createStatusHandler,
  startStatusServer,
} from "../src/observe/status_server.ts";
import {
  MAX_BACKLOG_BYTES,
  MAX_EVENT_STREAMS,
} from "../src/observe/_event_hub.ts";
import { FakeSource } from "./_status_fixtures.ts";
import { createRegistry, TriggerKitError } from "../mod.ts";
import { rejectsWithCode, serveStatus, TEST_PG } from "./_helpers.ts";

function handlerWith(source: FakeSource) {
  return createStatusHandler({ source, metrics: new RunMetrics() });
}

/** Tells every page listening to `source` that a run of `jobName` finished. */
function announce(source: FakeSource, jobName: string, n = 1) {
  for (let i = 0; i < n; i++) {
    for (const listener of source.listeners) {
      listener({ type: "finished", runId: `r${i}`, jobName, status: "failed" });
    }
  }
}

const LONG_NAME = "n".repeat(200);

Deno.test("HEAD /events answers the stream's headers and leaves no stream open", async () => {
  const source = new FakeSource();
  const handler = handlerWith(source);
  for (let i = 0; i < 50; i++) {
    const head = await handler.handle(
      new Request("http://127.0.0.1/events", { method: "HEAD" }),
    );
    assert.equal(head.status, 200);
    assert.match(head.headers.get("content-type")!, /^text\/event-stream/);
    assert.equal(await head.text(), "");
  }
  assert.equal(handler.eventStreams, 0);
  handler.close();
});

Deno.test("a client that stops reading /events is dropped once its backlog passes the cap; a reading one is not", async () => {
  const source = new FakeSource();
  const handler = handlerWith(source);
  const get = () => handler.handle(new Request("http://127.0.0.1/events"));
  const stalled = (await get()).body!.getReader();
  const reading = (await get()).body!.getReader();
  await stalled.read();
  await reading.read();
  assert.equal(handler.eventStreams, 2);
  // Well past the cap: what waits for the stalled client stays bounded.
  const events = Math.ceil((4 * MAX_BACKLOG_BYTES) / LONG_NAME.length);
  for (let i = 0; i < events; i++) {
    announce(source, LONG_NAME);
    assert.equal((await reading.read()).done, false);
  }
  assert.equal(handler.eventStreams, 1, "the stalled client is dropped");
  let backlog = 0;
  for (
    let chunk = await stalled.read();
    !chunk.done;
    chunk = await stalled.read()
  ) {
    backlog += chunk.value.byteLength;
  }
  assert.ok(
    backlog <= MAX_BACKLOG_BYTES + 400,
    `${backlog} bytes were kept for it`,
  );
  announce(source, "still here");
  const { value } = await reading.read();
  assert.match(new TextDecoder().decode(value), /still here/);
  handler.close();
  assert.equal((await reading.read()).done, true);
});

Deno.test("a real socket that never reads /events is let go once its backlog passes the cap; one that hangs up is forgotten", async () => {
  const source = new FakeSource();
  const server = startStatusServer({
    source,
    metrics: new RunMetrics(),
    address: { hostname: "127.0.0.1", port: 0 },
  });
  const { port } = server.address;
  const request = new TextEncoder().encode(
    "GET /events HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n",
  );
  const open = async (): Promise<Deno.TcpConn> => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(request);
    return conn;
  };
  const silent = await open();
  const leaving = await open();
  try {
    while (server.eventStreams < 2) await tick();
    leaving.close();
    // The socket's buffers fill first (a few MB on loopback), then the
    // backlog: the server drops the client instead of holding more.
    let sent = 0;
    while (server.eventStreams > 0) {
      announce(source, LONG_NAME, 100);
      sent += 100;
      assert.ok(sent < 400_000, "the silent client is still held");
      await tick();
    }
  } finally {
    silent.close();
    await server.close();
  }
});

function tick(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 1));
}

Deno.test("the status page and its API mask the environment's secrets, as the command line does", async () => {
  const dir = await Deno.makeTempDir();
  const secret = "sk_live_r13_0123456789abcdef";
  Deno.env.set("R13_SHOP_API_KEY", secret);
  const registry = createRegistry({ store: `sqlite:${dir}/state.db` });
  registry.defineView({
    name: "v",
    database: `sqlite:${dir}/shop.db`,
    sql: "SELECT 1 AS id",
  });
  registry.register("echo", () => ({ sent: { key: secret } }));
  registry.register("refused", () => {
    throw new Error(`the shop refused the key ${secret}`);
  });
  registry.defineJob({ name: "sync", view: "v", actions: ["echo", "refused"] });
  const { url, stop } = await serveStatus(registry);
  try {
    const { runId } = await registry.runJob("sync");
    for (
      const path of [
        "",
        `runs/${runId}`,
        "api/runs",
        `api/runs/${runId}`,
        "api/jobs",
      ]
    ) {
      const response = await fetch(`${url}${path}`);
      const body = await response.text();
      assert.equal(response.status, 200, path);
      assert.ok(!body.includes(secret), `/${path} shows the secret`);
      assert.match(body, /\*\*\*/, `/${path} shows the masked value`);
    }
  } finally {
    Deno.env.delete("R13_SHOP_API_KEY");
    await stop();
    await registry.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the token and the given secrets are masked in /healthz and in error answers", async () => {
  const token = "r13-token-0123456789";
  const secret = "r13-db-password-value";
  const source = new FakeSource();
  source.storeAnswer = () =>
    Promise.reject(
      new TriggerKitError(
        "STORE_ERROR",
        `login with ${secret} (token ${token}) refused`,
      ),
    );
  const handler = createStatusHandler({
    source,
    metrics: new RunMetrics(),
    token,
    secrets: [secret],
  });
  for (
    const [path, accept] of [
      ["/healthz", "application/json"] as const,
      ["/api/runs", "application/json"],
      ["/runs/x", "text/html"],
      ["/", "text/html"],
    ]
  ) {
    const response = await handler.handle(
      new Request(`http://127.0.0.1${path}`, { headers: { accept } }),
    );
    const body = await response.text();
    assert.equal(response.status, 503, path);
    assert.ok(!body.includes(secret), `${path} shows the secret: ${body}`);
    assert.ok(!body.includes(token), `${path} shows the token`);
    assert.match(body, /login with \*\*\* \(token \*\*\*\) refused/, path);
  }
  handler.close();
});

Deno.test("a run id or job no store can hold is a 404 or no runs, never a 500 or 503", async () => {
  const dir = await Deno.makeTempDir();
  const stores = [
    `sqlite:${dir}/state.db`,
    `kv:${dir}/state.kv`,
    ...(TEST_PG ? [TEST_PG] : []),
  ];
  const long = "a".repeat(3000);
  try {
    for (const store of stores) {
      const registry = createRegistry({ store });
      const { url, stop } = await serveStatus(registry);
      try {
        for (const id of [long, "a%00b", "%00"]) {
          for (const path of [`api/runs/${id}`, `runs/${id}`]) {
            const response = await fetch(`${url}${path}`, {
              headers: { accept: "text/html" },
            });
            await response.body?.cancel();
            assert.equal(
              response.status,
              404,
              `${store} /${path.slice(0, 30)}`,
            );
          }
        }
        for (const job of [long, "a%00b"]) {
          const response = await fetch(`${url}api/runs?job=${job}`);
          assert.equal(response.status, 200, `${store} job=${job.slice(0, 9)}`);
          assert.deepEqual(await response.json(), []);
        }
      } finally {
        await stop();
        await registry.close();
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("serve({ httpToken }) refuses a token no client can send (a space, a line break, a non-ASCII letter) with INVALID_OPTIONS", async () => {
  const registry = createRegistry({ store: "sqlite::memory:" });
  try {
    for (
      const [token, shown] of [
        ["s3cret-token\n", "a line break at index 12"],
        ["two words", "a space at index 3"],
        ["tøken-0123456789", "a non-ASCII character at index 1"],
      ]
    ) {
      const error = await rejectsWithCode(
        registry.serve({
          http: "127.0.0.1:0",
          httpToken: token!,
          // Were the token taken, serve would stop at once: no hang.
          signal: AbortSignal.abort(),
          handleSignals: false,
        }),
        "INVALID_OPTIONS",
      );
      assert.ok(error.message.endsWith(shown!), error.message);
      assert.ok(!error.message.includes(token!), "the token is not shown");
    }
  } finally {
    await registry.close();
  }
});

Deno.test("/events opens at most MAX_EVENT_STREAMS streams at once; the next one is a 503 until one closes", async () => {
  const handler = handlerWith(new FakeSource());
  const get = () => handler.handle(new Request("http://127.0.0.1/events"));
  const open = [];
  for (let i = 0; i < MAX_EVENT_STREAMS; i++) {
    const response = await get();
    assert.equal(response.status, 200);
    open.push(response.body!);
  }
  const refused = await get();
  assert.equal(refused.status, 503);
  assert.equal(refused.headers.get("retry-after"), "30");
  assert.equal((await refused.json()).error.code, "TOO_MANY_STREAMS");
  await open.pop()!.cancel();
  const again = await get();
  assert.equal(again.status, 200);
  assert.equal(handler.eventStreams, MAX_EVENT_STREAMS);
  handler.close();
});

Deno.test("a run whose result is a 128 kB base64 blob is served at once: the redaction does not stall the server", async () => {
  const dir = await Deno.makeTempDir();
  const registry = createRegistry({ store: `sqlite:${dir}/state.db` });
  registry.defineView({
    name: "v",
    database: `sqlite:${dir}/shop.db`,
    sql: "SELECT 1 AS id",
  });
  const blob = "aGVsbG8gd29ybGQ".repeat(128 * 1024 / 15);
  registry.register("fetch_image", () => ({ image: blob }));
  registry.defineJob({ name: "images", view: "v", actions: ["fetch_image"] });
  const { url, stop } = await serveStatus(registry);
  try {
    const { runId } = await registry.runJob("images");
    for (
      const path of [
        "",
        `runs/${runId}`,
        "api/runs",
        `api/runs/${runId}`,
        "api/jobs",
      ]
    ) {
      const started = performance.now();
      const response = await fetch(`${url}${path}`);
      await response.body?.cancel();
      const ms = performance.now() - started;
      assert.equal(response.status, 200, path);
      // Milliseconds when the redaction is linear; 15 s and more when it was not.
      assert.ok(ms < 2000, `/${path} took ${Math.round(ms)} ms`);
    }
  } finally {
    await stop();
    await registry.close();
    await Deno.remove(dir, { recursive: true });
  }
});
