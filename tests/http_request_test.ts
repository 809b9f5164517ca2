import assert from "node:assert/strict";
import { createRegistry, type Registry } from "../mod.ts";
import { backoffMs, retryAfterMs } from "../actions/_http_retry.ts";
import { httpRequest, httpRequestConfig } from "../actions/http_request.ts";
import {
  type DeliveryJournal,
  deliveryToken,
  MemoryJournal,
  unitKeysOf,
} from "../src/delivery/journal.ts";
import type { Row } from "../src/types.ts";
import { FakeClock } from "./_fake_clock.ts";
import { rejectsWithCode, serveLocal } from "./_helpers.ts";

interface Seen {
  method: string;
  path: string;
  headers: Headers;
  body: string;
}

/** A local API: records requests, answers with injected statuses first. */
function startApi() {
  const seen: Seen[] = [];
  const statuses: number[] = [];
  const script: Array<
    { status: number; headers?: Record<string, string>; delayMs?: number }
  > = [];
  const server = serveLocal(async (request) => {
    const url = new URL(request.url);
    const body = await request.text();
    seen.push({
      method: request.method,
      path: url.pathname + url.search,
      headers: request.headers,
      body,
    });
    const next = script.shift();
    if (next?.delayMs) {
      await new Promise((resolve) => setTimeout(resolve, next.delayMs));
    }
    const status = next?.status ?? 200;
    statuses.push(status);
    if (status !== 200) {
      return new Response(`status ${status}`, {
        status,
        headers: next?.headers ?? {},
      });
    }
    return Response.json({ ok: true, echo: body ? JSON.parse(body) : null });
  });
  return {
    url: server.url,
    host: `127.0.0.1:${server.port}`,
    seen,
    statuses,
    script: (...steps: typeof script) => script.push(...steps),
    close: server.close,
  };
}

/**
 * The action itself on a fake clock, with a journal and step as a job step
 * would have them.
 */
function directHttp() {
  const api = startApi();
  const clock = new FakeClock(Date.UTC(2024, 0, 1), { auto: true });
  const action = httpRequest({ clock });
  const journal = new MemoryJournal();
  const run = (
    rows: Row[],
    config: Record<string, unknown>,
    extra: { journal?: DeliveryJournal; context?: Record<string, unknown> } =
      {},
  ) =>
    action({
      data: rows,
      config: httpRequestConfig.parse(config),
      context: extra.context ?? {},
      runId: crypto.randomUUID(),
      jobName: "sync",
      dryRun: false,
      signal: new AbortController().signal,
      delivery: {
        journal: extra.journal ?? journal,
        stepKey: "sync@0/0:http_request",
      },
    });
  return { api, clock, journal, run, close: api.close };
}

async function withApi(
  fn: (api: ReturnType<typeof startApi>, registry: Registry) => Promise<void>,
) {
  const api = startApi();
  const registry = createRegistry();
  try {
    await fn(api, registry);
  } finally {
    await registry.close();
    await api.close();
  }
}

const ROWS = [{ id: 1, name: "a/b?c&d" }, { id: 2, name: 'say "hi"' }];

Deno.test("http_request: once posts the rows as JSON and returns the response", async () => {
  await withApi(async (api, registry) => {
    const result = await registry.run("http_request", ROWS, {
      config: { url: `${api.url}/ingest` },
    });
    assert.equal(api.seen.length, 1);
    assert.equal(api.seen[0]!.method, "POST");
    assert.equal(api.seen[0]!.headers.get("content-type"), "application/json");
    assert.deepEqual(JSON.parse(api.seen[0]!.body), ROWS);
    assert.deepEqual(result, {
      requests: 1,
      responses: [{ status: 200, body: { ok: true, echo: ROWS } }],
    });
  });
});

Deno.test("http_request: each sends one request per row, URL values encoded, body values JSON-escaped", async () => {
  await withApi(async (api, registry) => {
    await registry.run("http_request", ROWS, {
      config: {
        url: `${api.url}/items/{{id}}?name={{name}}&run={{runId}}`,
        method: "PUT",
        mode: "each",
        body: '{"label": "{{name}}", "job": "{{jobName}}"}',
      },
      runId: "r 1",
      jobName: "sync",
    });
    assert.deepEqual(api.seen.map((s) => s.path), [
      "/items/1?name=a%2Fb%3Fc%26d&run=r%201",
      "/items/2?name=say%20%22hi%22&run=r%201",
    ]);
    assert.deepEqual(api.seen.map((s) => JSON.parse(s.body)), [
      { label: "a/b?c&d", job: "sync" },
      { label: 'say "hi"', job: "sync" },
    ]);
  });
});

Deno.test("http_request: body row sends each row as a JSON object; GET sends no body", async () => {
  await withApi(async (api, registry) => {
    await registry.run("http_request", ROWS, {
      config: { url: `${api.url}/r`, mode: "each", body: "row" },
    });
    assert.deepEqual(api.seen.map((s) => JSON.parse(s.body)), ROWS);
    await registry.run("http_request", ROWS, {
      config: { url: `${api.url}/g`, method: "GET" },
    });
    assert.equal(api.seen[2]!.method, "GET");
    assert.equal(api.seen[2]!.body, "");
  });
});

Deno.test("http_request: header values come from the environment by name", async () => {
  await withApi(async (api, registry) => {
    Deno.env.set("TK_TEST_API_TOKEN", "secret-123");
    try {
      await registry.run("http_request", [{}], {
        config: {
          url: api.url,
          headers: {
            Authorization: { fromEnv: "TK_TEST_API_TOKEN" },
            "X-Plain": "p",
          },
        },
      });
      assert.equal(api.seen[0]!.headers.get("authorization"), "secret-123");
      assert.equal(api.seen[0]!.headers.get("x-plain"), "p");
    } finally {
      Deno.env.delete("TK_TEST_API_TOKEN");
    }
  });
});

Deno.test("http_request: a missing header variable is INVALID_CONFIG naming it", async () => {
  await withApi(async (api, registry) => {
    await rejectsWithCode(
      registry.run("http_request", [{}], {
        config: {
          url: api.url,
          headers: { A: { fromEnv: "TK_TEST_NOT_SET" } },
        },
      }),
      "INVALID_CONFIG",
      /headers\.A reads the variable TK_TEST_NOT_SET/,
    );
  });
});

Deno.test("http_request: a dry run returns the requests with secrets masked and sends nothing", async () => {
  await withApi(async (api, registry) => {
    Deno.env.set("TK_TEST_API_TOKEN", "secret-123");
    try {
      const result = await registry.run("http_request", ROWS.slice(0, 1), {
        config: {
          url: `${api.url}/x`,
          headers: { Authorization: { fromEnv: "TK_TEST_API_TOKEN" } },
        },
        dryRun: true,
        runId: "r",
      });
      const [key] = unitKeysOf(
        { journal: new MemoryJournal(), stepKey: "run:r/http_request" },
        ROWS.slice(0, 1),
        false,
      );
      assert.deepEqual(result, {
        requests: 1,
        dryRun: true,
        planned: [{
          method: "POST",
          url: `${api.url}/x`,
          headers: {
            "content-type": "application/json",
            authorization: "***",
            "idempotency-key": `"${deliveryToken(key!)}"`,
          },
          body: JSON.stringify(ROWS.slice(0, 1)),
        }],
      });
      assert.equal(api.seen.length, 0);
    } finally {
      Deno.env.delete("TK_TEST_API_TOKEN");
    }
  });
});

Deno.test("http_request: 429 honours Retry-After, 5xx are retried, then it succeeds", async () => {
  const { api, clock, run, close } = directHttp();
  try {
    api.script({ status: 429, headers: { "retry-after": "7" } }, {
      status: 502,
    }, { status: 503 });
    const result = await run([{}], { url: api.url, retryBaseMs: 10 });
    assert.equal(clock.sleeps[0], 7000, "Retry-After was not honoured");
    assert.equal(clock.sleeps.length, 3);
    assert.deepEqual(api.statuses, [429, 502, 503, 200]);
    assert.equal((result.responses as unknown[]).length, 1);
  } finally {
    await close();
  }
});

Deno.test("http_request: a 4xx other than 429 fails at once with ACTION_FAILED and the status", async () => {
  await withApi(async (api, registry) => {
    api.script({ status: 404 });
    await rejectsWithCode(
      registry.run("http_request", [{}], {
        config: { url: api.url, retryBaseMs: 10 },
      }),
      "ACTION_FAILED",
      /request 1 of 1 .*HTTP 404: status 404/,
    );
    assert.deepEqual(api.statuses, [404]);
  });
});

Deno.test("http_request: running out of retries on 5xx is ACTION_FAILED with the status and attempts", async () => {
  await withApi(async (api, registry) => {
    api.script({ status: 500 }, { status: 500 }, { status: 500 });
    await rejectsWithCode(
      registry.run("http_request", [{}], {
        config: { url: api.url, retries: 2, retryBaseMs: 5 },
      }),
      "ACTION_FAILED",
      /HTTP 500 after 3 attempts/,
    );
  });
});

Deno.test("http_request: network errors and timeouts are retried, then fail with ACTION_FAILED", async () => {
  await withApi(async (api, registry) => {
    api.script({ status: 200, delayMs: 300 });
    const result = await registry.run("http_request", [{}], {
      config: { url: api.url, timeoutMs: 100, retryBaseMs: 5 },
    });
    assert.equal(api.seen.length, 2, "the timed-out attempt was not retried");
    assert.equal(
      (result.responses as Array<{ status: number }>)[0]!.status,
      200,
    );
    const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (closed.addr as Deno.NetAddr).port;
    closed.close();
    await rejectsWithCode(
      registry.run("http_request", [{}], {
        config: {
          url: `http://127.0.0.1:${port}/`,
          retries: 1,
          retryBaseMs: 5,
        },
      }),
      "ACTION_FAILED",
      /after 2 attempts/,
    );
  });
});

Deno.test("http_request: allowedHosts refuses other hosts with INVALID_CONFIG", async () => {
  await withApi(async (api, registry) => {
    await registry.run("http_request", [{}], {
      config: { url: api.url, allowedHosts: [api.host] },
    });
    await rejectsWithCode(
      registry.run("http_request", [{ host: "evil.example" }], {
        config: {
          url: "http://{{host}}/steal",
          mode: "each",
          allowedHosts: [api.host],
        },
      }),
      "INVALID_CONFIG",
      /goes to evil\.example, which allowedHosts does not list/,
    );
    assert.equal(api.seen.length, 1);
  });
});

Deno.test("http_request: bad config is INVALID_CONFIG naming the keys", async () => {
  await withApi(async (_api, registry) => {
    await rejectsWithCode(
      registry.run("http_request", [{}], {
        config: { url: "ftp://x/", method: "BREW" },
      }),
      "INVALID_CONFIG",
      /method/,
    );
    await rejectsWithCode(
      registry.run("http_request", [{}], {
        config: { url: "http://x/", body: "row" },
      }),
      "INVALID_CONFIG",
      /body: body "row" needs mode "each"/,
    );
    await rejectsWithCode(
      registry.run("http_request", [{}], { config: { url: "ftp://x/" } }),
      "INVALID_CONFIG",
      /only http: and https:/,
    );
  });
});

Deno.test("http_request: response bodies are capped", async () => {
  await withApi(async (api, registry) => {
    const result = await registry.run("http_request", [{
      pad: "z".repeat(5000),
    }], {
      config: { url: api.url, maxBodyBytes: 100 },
    });
    const body = (result.responses as Array<{ body: string }>)[0]!.body;
    assert.equal(typeof body, "string");
    assert.ok(body.length <= 101 && body.endsWith("…"));
  });
});

Deno.test("retryAfterMs() reads seconds and HTTP dates; backoffMs() doubles with jitter", () => {
  assert.equal(retryAfterMs("2"), 2000);
  assert.equal(retryAfterMs(new Date(10_000).toUTCString(), 4_000), 6000);
  assert.equal(retryAfterMs("soon"), undefined);
  assert.equal(retryAfterMs(null), undefined);
  assert.equal(backoffMs(0, 100, () => 0), 50);
  assert.equal(backoffMs(3, 100, () => 1), 800);
});

/**
 * An API that deduplicates by Idempotency-Key, as the draft asks: a key seen
 * before gets the first answer back and is not acted on again.
 * `failAfterActing(n)`: the next n answers are lost (a 500 instead), not
 * their effect.
 */
function startDedupingApi() {
  const acted: string[] = [];
  const keys: Array<string | null> = [];
  const answers = new Map<string, unknown>();
  let failAfter = 0;
  const server = serveLocal(async (request) => {
    const key = request.headers.get("idempotency-key");
    keys.push(key);
    const body = await request.text();
    let answer = key ? answers.get(key) : undefined;
    if (answer === undefined) {
      acted.push(body);
      answer = { id: acted.length };
      if (key) answers.set(key, answer);
    }
    if (failAfter > 0) {
      failAfter--;
      return new Response("lost", { status: 500 });
    }
    return Response.json(answer);
  });
  return {
    url: server.url,
    acted,
    keys,
    failAfterActing: (n: number) => {
      failAfter = n;
    },
    close: server.close,
  };
}

Deno.test("http_request: a 5xx after the API acted is retried with the same Idempotency-Key: acted on once", async () => {
  const api = startDedupingApi();
  const clock = new FakeClock(Date.UTC(2024, 0, 1), { auto: true });
  try {
    api.failAfterActing(2);
    const result = await httpRequest({ clock })({
      data: [{ id: 1 }],
      config: httpRequestConfig.parse({ url: api.url, retries: 3 }),
      context: {},
      runId: "r",
      dryRun: false,
      signal: new AbortController().signal,
    });
    assert.equal(api.acted.length, 1);
    assert.equal(api.keys.length, 3);
    assert.equal(new Set(api.keys).size, 1, "the key changed between retries");
    assert.match(api.keys[0]!, /^"[A-Za-z0-9_-]{43}"$/);
    assert.deepEqual(result.responses, [{ status: 200, body: { id: 1 } }]);
  } finally {
    await api.close();
  }
});

Deno.test("http_request: each row has its own key, the same in a later run", async () => {
  const { api, run, close } = directHttp();
  try {
    const rows = [{ id: 1 }, { id: 2 }];
    await run(rows, { url: api.url, mode: "each", body: "row" });
    await run(rows, { url: api.url, mode: "each", body: "row" }, {
      journal: new MemoryJournal(),
    });
    const keys = api.seen.map((s) => s.headers.get("idempotency-key"));
    assert.equal(new Set(keys.slice(0, 2)).size, 2);
    assert.deepEqual(keys.slice(2), keys.slice(0, 2));
  } finally {
    await close();
  }
});

Deno.test("http_request: a run after a failed run skips the requests already delivered", async () => {
  const { api, run, close } = directHttp();
  try {
    const rows = Array.from({ length: 5 }, (_, i) => ({ id: i }));
    const config = { url: api.url, mode: "each", body: "row", retries: 0 };
    api.script({ status: 200 }, { status: 200 }, { status: 404 });
    await rejectsWithCode(
      run(rows, config),
      "ACTION_FAILED",
      /request 3 of 5 .*HTTP 404/,
    );
    const again = await run(rows, config);
    assert.deepEqual(
      api.seen.map((s) => JSON.parse(s.body).id),
      [0, 1, 2, 2, 3, 4],
    );
    assert.deepEqual([again.requests, again.skipped], [3, 2]);
  } finally {
    await close();
  }
});

Deno.test("http_request: an Idempotency-Key header in the config is kept", async () => {
  const { api, run, close } = directHttp();
  try {
    await run([{}], { url: api.url, headers: { "Idempotency-Key": "mine" } });
    assert.equal(api.seen[0]!.headers.get("idempotency-key"), "mine");
  } finally {
    await close();
  }
});

Deno.test("http_request: a journal that refuses a write (claim lost) stops before the next request", async () => {
  const { api, run, close } = directHttp();
  try {
    const fenced: DeliveryJournal = {
      get: () => Promise.resolve(new Map()),
      record: () => Promise.reject(new Error("the run lost its claim")),
    };
    await assert.rejects(
      run([{ id: 1 }, { id: 2 }], { url: api.url, mode: "each" }, {
        journal: fenced,
      }),
      /the run lost its claim/,
    );
    assert.equal(api.seen.length, 1);
  } finally {
    await close();
  }
});

Deno.test("http_request: templates see context, jobName and runId", async () => {
  const { api, run, close } = directHttp();
  try {
    await run([{ id: 7 }], {
      url: `${api.url}/vip/{{context.vipCount}}/{{id}}`,
      mode: "each",
      body: '{"vips": {{context.vipCount}}, "job": "{{jobName}}"}',
    }, { context: { vipCount: 12 } });
    assert.equal(api.seen[0]!.path, "/vip/12/7");
    assert.deepEqual(JSON.parse(api.seen[0]!.body), { vips: 12, job: "sync" });
  } finally {
    await close();
  }
});

Deno.test("http_request: an unknown config key is INVALID_CONFIG naming the closest key", async () => {
  await withApi(async (api, registry) => {
    await rejectsWithCode(
      registry.run("http_request", [{}], {
        config: { url: api.url, allowed_hosts: ["example.com"] },
      }),
      "INVALID_CONFIG",
      /unknown key "allowed_hosts" in http_request config; did you mean "allowedHosts"\?/,
    );
    await rejectsWithCode(
      registry.run("http_request", [{}], {
        config: { url: api.url, headers: { A: { fromenv: "X" } } },
      }),
      "INVALID_CONFIG",
      /unknown key "headers\.A\.fromenv" in http_request config; did you mean "fromEnv"\?/,
    );
    assert.equal(api.seen.length, 0);
  });
});
