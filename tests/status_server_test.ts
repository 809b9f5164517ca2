import assert from "node:assert/strict";
import { RunMetrics } from "../src/observe/run_metrics.ts";
import {
  createStatusHandler,
  parseListenAddress,
  startStatusServer,
  type StatusHandlerOptions,
} from "../src/observe/status_server.ts";
import { fakeRun, FakeSource } from "./_status_fixtures.ts";
import { sparkline } from "../src/observe/_page_parts.ts";
import { renderJobsPage } from "../src/observe/status_page.ts";
import { throwsWithCode } from "./_helpers.ts";

const HOSTILE = "<script>alert(1)</script>";
const QUOTED = `it's "quoted"\nover two lines & <b>bold</b>`;
const TOKEN = "s3cret-token-value-0123456789";
const DB = "postgres://triggerkit:hunter2pass@db.internal:5432/app";

function handlerWith(
  source: FakeSource,
  options: Partial<StatusHandlerOptions> = {},
) {
  return createStatusHandler({ source, metrics: new RunMetrics(), ...options });
}

function get(
  handler: ReturnType<typeof createStatusHandler>,
  path: string,
  init: RequestInit = {},
) {
  return handler.handle(new Request(`http://127.0.0.1${path}`, init));
}

function hostileSource(): FakeSource {
  const source = new FakeSource();
  source.addJob(HOSTILE, [
    fakeRun({
      status: "failed",
      reason: `view "v" failed on ${DB}`,
      error: { code: "DATABASE_ERROR", message: `connect ${DB} refused` },
    }),
  ]);
  source.addJob(QUOTED, [
    fakeRun({
      actions: [{
        action: HOSTILE,
        status: "failed",
        durationMs: 3,
        error: {
          code: "ACTION_FAILED",
          message: `<img src=x onerror=alert(2)> ${DB}`,
        },
      }, {
        action: "ok",
        status: "succeeded",
        durationMs: 1,
        result: { url: DB, note: "</pre><script>alert(3)</script>" },
      }],
    }),
  ]);
  return source;
}

Deno.test("the status page escapes every name and message as HTML", async () => {
  const handler = handlerWith(hostileSource());
  const response = await get(handler, "/");
  assert.equal(response.status, 200);
  assert.match(response.headers.get("content-type")!, /^text\/html/);
  const body = await response.text();
  assert.ok(!body.includes("<script>alert"), "no raw script tag");
  assert.ok(!body.includes("<img"), "no raw img tag");
  assert.ok(!body.includes("<b>bold"), "no raw b tag");
  assert.ok(body.includes("&lt;script&gt;alert(1)&lt;/script&gt;"));
  assert.ok(body.includes("it&#39;s &quot;quoted&quot;"));
  // The only script on the page is the module's own, from 'self'.
  assert.deepEqual([...body.matchAll(/<script\b[^>]*>/g)].map((m) => m[0]), [
    '<script src="/assets/status.js" defer>',
  ]);
  handler.close();
});

Deno.test("the run page escapes names, errors and results", async () => {
  const source = hostileSource();
  const handler = handlerWith(source);
  const run = source.jobsList[1]!.lastRun!;
  const body = await (await get(handler, `/runs/${run.runId}`)).text();
  assert.ok(!body.includes("<script>alert"));
  assert.ok(!body.includes("<img"));
  assert.ok(!body.includes("</pre><script>"));
  assert.ok(body.includes("&lt;/pre&gt;&lt;script&gt;alert(3)"));
  assert.ok(body.includes("it&#39;s &quot;quoted&quot;\nover two lines"));
  handler.close();
});

Deno.test("no page or API answer shows a database password or the token", async () => {
  const source = hostileSource();
  const handler = handlerWith(source, { token: TOKEN });
  const runs = source.runList.map((run) => `/runs/${run.runId}`);
  const apiRuns = source.runList.map((run) => `/api/runs/${run.runId}`);
  for (
    const path of [
      "/",
      ...runs,
      ...apiRuns,
      "/api/jobs",
      "/api/runs",
      "/metrics",
      "/healthz",
    ]
  ) {
    const body = await (await get(handler, path)).text();
    assert.ok(!body.includes("hunter2pass"), `${path} shows the password`);
    assert.ok(!body.includes(TOKEN), `${path} shows the token`);
  }
  const page = await (await get(handler, runs[0]!)).text();
  assert.ok(page.includes("postgres://triggerkit:***@db.internal:5432/app"));
  handler.close();
});

Deno.test("pages forbid inline scripts and framing", async () => {
  const handler = handlerWith(new FakeSource());
  const response = await get(handler, "/");
  const csp = response.headers.get("content-security-policy")!;
  assert.match(csp, /script-src 'self'/);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.equal(response.headers.get("x-content-type-options"), "nosniff");
  await response.body?.cancel();
  handler.close();
});

Deno.test("/api/jobs gives name, schedule, enabled, nextRunAt, lastRun, alertsFiring, names intact", async () => {
  const source = hostileSource();
  source.jobsList[0]!.alertsFiring = 2;
  const handler = handlerWith(source);
  const response = await get(handler, "/api/jobs");
  assert.match(response.headers.get("content-type")!, /^application\/json/);
  const jobs = await response.json();
  assert.deepEqual(jobs.map((job: { name: string }) => job.name), [
    HOSTILE,
    QUOTED,
  ]);
  assert.deepEqual(Object.keys(jobs[0]), [
    "name",
    "schedule",
    "enabled",
    "nextRunAt",
    "lastRun",
    "alertsFiring",
  ]);
  assert.equal(jobs[0].alertsFiring, 2);
  assert.equal(jobs[0].lastRun.runId, source.jobsList[0]!.lastRun!.runId);
  handler.close();
});

Deno.test("/api/runs passes job and limit to the history", async () => {
  const source = new FakeSource();
  source.addJob("a", [fakeRun(), fakeRun(), fakeRun()]);
  source.addJob("b", [fakeRun()]);
  const handler = handlerWith(source);
  const all = await (await get(handler, "/api/runs")).json();
  assert.equal(all.length, 4);
  const some = await (await get(handler, "/api/runs?job=a&limit=2")).json();
  assert.deepEqual(some.map((run: { jobName: string }) => run.jobName), [
    "a",
    "a",
  ]);
  handler.close();
});

Deno.test("/api/runs refuses a bad limit and an unknown parameter with INVALID_OPTIONS", async () => {
  const handler = handlerWith(new FakeSource());
  for (const query of ["limit=0", "limit=abc", "limit=1001", "limit=2.5"]) {
    const response = await get(handler, `/api/runs?${query}`);
    assert.equal(response.status, 400, query);
    assert.equal((await response.json()).error.code, "INVALID_OPTIONS");
  }
  const response = await get(handler, "/api/runs?jobs=a");
  assert.equal(response.status, 400);
  assert.match((await response.json()).error.message, /did you mean "job"/);
  handler.close();
});

Deno.test("an unknown run is a 404 page and a 404 in the API", async () => {
  const handler = handlerWith(new FakeSource());
  const page = await get(handler, "/runs/nope", {
    headers: { accept: "text/html" },
  });
  assert.equal(page.status, 404);
  assert.match(await page.text(), /Run not found/);
  const api = await get(handler, "/api/runs/nope");
  assert.equal(api.status, 404);
  assert.equal((await api.json()).error.code, "RUN_NOT_FOUND");
  const other = await get(handler, "/nothing/here");
  assert.equal(other.status, 404);
  await other.body?.cancel();
  handler.close();
});

Deno.test("read endpoints answer 405 to other methods, and HEAD without a body", async () => {
  const handler = handlerWith(new FakeSource());
  for (const path of ["/", "/api/jobs", "/metrics", "/healthz"]) {
    const response = await get(handler, path, { method: "POST" });
    assert.equal(response.status, 405, path);
    assert.equal(response.headers.get("allow"), "GET, HEAD");
    await response.body?.cancel();
  }
  const head = await get(handler, "/api/jobs", { method: "HEAD" });
  assert.equal(head.status, 200);
  assert.equal(await head.text(), "");
  handler.close();
});

Deno.test("POST /api/jobs/<name>/run is refused with 403 when no token is set", async () => {
  const source = new FakeSource();
  source.addJob("a");
  const handler = handlerWith(source);
  const response = await get(handler, "/api/jobs/a/run", {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  assert.equal(response.status, 403);
  assert.equal((await response.json()).error.code, "READ_ONLY");
  assert.deepEqual(source.started, []);
  handler.close();
});

Deno.test("POST /api/jobs/<name>/run needs the Bearer token: 401 without it or with a wrong one", async () => {
  const source = new FakeSource();
  source.addJob("a");
  const handler = handlerWith(source, { token: TOKEN });
  for (
    const authorization of [
      undefined,
      "",
      `Basic ${btoa(`u:${TOKEN}`)}`,
      `Bearer ${TOKEN}x`,
      `Bearer ${TOKEN.slice(0, -1)}`,
      "Bearer ",
      `Bearer ${TOKEN} extra`,
    ]
  ) {
    const response = await get(handler, "/api/jobs/a/run", {
      method: "POST",
      headers: authorization === undefined ? {} : { authorization },
    });
    assert.equal(response.status, 401, String(authorization));
    assert.match(response.headers.get("www-authenticate")!, /^Bearer/);
    await response.body?.cancel();
  }
  assert.deepEqual(source.started, []);
  handler.close();
});

Deno.test("POST /api/jobs/<name>/run with the token answers 202 with the run id", async () => {
  const source = new FakeSource();
  source.addJob(HOSTILE);
  const handler = handlerWith(source, { token: TOKEN });
  const response = await get(
    handler,
    `/api/jobs/${encodeURIComponent(HOSTILE)}/run`,
    { method: "POST", headers: { authorization: `bearer ${TOKEN}` } },
  );
  assert.equal(response.status, 202);
  assert.deepEqual(await response.json(), { runId: "run-1" });
  assert.equal(response.headers.get("location"), "/runs/run-1");
  assert.deepEqual(source.started, [HOSTILE]);
  handler.close();
});

Deno.test("POST /api/jobs/<name>/run: 404 for an unknown job, 405 for another method", async () => {
  const source = new FakeSource();
  source.addJob("a");
  const handler = handlerWith(source, { token: TOKEN });
  const unknown = await get(handler, "/api/jobs/b/run", {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  assert.equal(unknown.status, 404);
  assert.equal((await unknown.json()).error.code, "JOB_NOT_FOUND");
  for (const method of ["GET", "PUT", "DELETE"]) {
    const response = await get(handler, "/api/jobs/a/run", {
      method,
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    assert.equal(response.status, 405, method);
    assert.equal(response.headers.get("allow"), "POST");
    await response.body?.cancel();
  }
  const bad = await get(handler, "/api/jobs/%E0%A4%A/run", {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  assert.equal(bad.status, 400);
  await bad.body?.cancel();
  assert.deepEqual(source.started, []);
  handler.close();
});

Deno.test("/events sends each run change as one JSON event, whatever the name holds", async () => {
  const source = new FakeSource();
  const handler = handlerWith(source);
  const response = await get(handler, "/events");
  assert.match(response.headers.get("content-type")!, /^text\/event-stream/);
  const reader = response.body!.pipeThrough(new TextDecoderStream())
    .getReader();
  assert.equal((await reader.read()).value, "retry: 3000\n\n");
  for (const listener of source.listeners) {
    listener({
      type: "finished",
      runId: "r1",
      jobName: `${QUOTED}\r\ndata: forged`,
      status: "failed",
    });
  }
  const { value } = await reader.read();
  const lines = value!.split("\n");
  assert.equal(lines[0], "event: run");
  assert.ok(lines[1]!.startsWith("data: "));
  assert.deepEqual(lines.slice(2), ["", ""], "one data line, no forged field");
  assert.equal(
    JSON.parse(lines[1]!.slice(6)).jobName,
    `${QUOTED}\r\ndata: forged`,
  );
  handler.close();
  assert.equal((await reader.read()).done, true, "close() ends the stream");
});

Deno.test("the status page's assets are served from the module", async () => {
  const handler = handlerWith(new FakeSource());
  for (
    const [path, type] of [
      ["/assets/status.css", "text/css"],
      ["/assets/status.js", "text/javascript"],
      ["/assets/icon.svg", "image/svg+xml"],
    ]
  ) {
    const response = await get(handler, path!);
    assert.equal(response.status, 200);
    assert.ok(response.headers.get("content-type")!.startsWith(type!));
    assert.ok((await response.text()).length > 100);
  }
  handler.close();
});

Deno.test("parseListenAddress() binds 127.0.0.1 unless told otherwise", () => {
  assert.deepEqual(parseListenAddress("8787"), {
    hostname: "127.0.0.1",
    port: 8787,
  });
  assert.deepEqual(parseListenAddress(":0"), {
    hostname: "127.0.0.1",
    port: 0,
  });
  assert.deepEqual(parseListenAddress("0.0.0.0:9000"), {
    hostname: "0.0.0.0",
    port: 9000,
  });
  assert.deepEqual(parseListenAddress("[::1]:80"), {
    hostname: "::1",
    port: 80,
  });
  assert.deepEqual(parseListenAddress("localhost:1"), {
    hostname: "localhost",
    port: 1,
  });
});

Deno.test("parseListenAddress() refuses anything but HOST:PORT with INVALID_OPTIONS", () => {
  for (
    const bad of [
      "",
      "host",
      "host:",
      "1.2.3.4:70000",
      "a b:1",
      "::1:80",
      {},
      null,
    ]
  ) {
    throwsWithCode(
      () => parseListenAddress(bad),
      "INVALID_OPTIONS",
      /HOST:PORT/,
    );
  }
});

Deno.test("the status server listens on 127.0.0.1 port 0 and tells its address", async () => {
  let told: { hostname: string; port: number; url: string } | undefined;
  const server = startStatusServer({
    source: new FakeSource(),
    metrics: new RunMetrics(),
    address: parseListenAddress("0"),
    onListen: (address) => told = address,
  });
  try {
    assert.equal(told?.hostname, "127.0.0.1");
    assert.ok(told!.port > 0);
    assert.equal(told!.url, `http://127.0.0.1:${told!.port}/`);
    const response = await fetch(`${told!.url}healthz`);
    assert.equal(response.status, 200);
    await response.body?.cancel();
  } finally {
    await server.close();
  }
});

Deno.test("a status server on a taken port fails with INVALID_OPTIONS", async () => {
  const first = startStatusServer({
    source: new FakeSource(),
    metrics: new RunMetrics(),
    address: { hostname: "127.0.0.1", port: 0 },
  });
  try {
    throwsWithCode(
      () =>
        startStatusServer({
          source: new FakeSource(),
          metrics: new RunMetrics(),
          address: { hostname: "127.0.0.1", port: first.address.port },
        }),
      "INVALID_OPTIONS",
      /Cannot serve the status page on 127\.0\.0\.1:\d+/,
    );
  } finally {
    await first.close();
  }
});

Deno.test("the status server closes with an event stream open", async () => {
  const server = startStatusServer({
    source: new FakeSource(),
    metrics: new RunMetrics(),
    address: { hostname: "127.0.0.1", port: 0 },
  });
  const response = await fetch(`${server.address.url}events`);
  const reader = response.body!.getReader();
  await reader.read();
  await server.close();
  while (!(await reader.read()).done) { /* drain */ }
});

Deno.test("a job's sparkline draws its last 20 runs, oldest first: rows as height, failures as full red bars", () => {
  const runs = [
    fakeRun({ status: "failed", rowCount: 0 }),
    fakeRun({ rowCount: 100 }),
    fakeRun({ status: "skipped", rowCount: 0 }),
    ...Array.from({ length: 30 }, () => fakeRun({ rowCount: 25 })),
  ];
  const svg = sparkline(runs).value;
  const bars = [
    ...svg.matchAll(/<rect [^>]*height="(\d+)"[^>]*class="bar (\w+)"/g),
  ]
    .map((m) => [Number(m[1]), m[2]]);
  assert.equal(bars.length, 20);
  assert.deepEqual(
    bars.at(-1),
    [26, "failed"],
    "the newest run is on the right",
  );
  assert.deepEqual(
    bars.at(-2),
    [26, "succeeded"],
    "the most rows fill the height",
  );
  assert.deepEqual(bars.at(-3), [3, "skipped"]);
  assert.deepEqual(
    bars[0],
    [15, "succeeded"],
    "25 of 100 rows: half height (square root)",
  );
  assert.match(
    svg,
    /aria-label="Last 20 runs: 18 succeeded, 1 failed, 1 skipped or running; at most 100 rows"/,
  );
  assert.match(sparkline([]).value, /no runs yet/);
});

Deno.test("the jobs page lists at most 100 firing keys and says how many more there are", () => {
  const now = Date.parse("2026-03-01T10:00:00Z");
  const alerts = Array.from({ length: 150 }, (_, i) => ({
    jobName: "heat",
    key: [i],
    state: "firing" as const,
    since: new Date(now - 60_000).toISOString(),
    lastDeliveredAt: null,
    muted: false,
  }));
  const page = renderJobsPage({
    jobs: [],
    recentRuns: [],
    alerts,
    scheduler: { ok: true, detail: "ticking" },
    writable: false,
    now,
  });
  assert.match(page, /<code>\[99\]<\/code>/);
  assert.doesNotMatch(page, /<code>\[100\]<\/code>/);
  assert.match(
    page,
    /… and 50 more: <code>triggerkit alerts<\/code> lists them all/,
  );
  assert.match(page, />150</, "the tile counts every firing key");
});
