/**
 * The status server against DNS rebinding: bound to loopback, it answers only
 * requests addressed to a loopback name, its own address or an allowed host.
 * Requests go over raw TCP, with the `Host` header a browser would send after
 * a rebinding page pointed its domain at 127.0.0.1.
 */
import assert from "node:assert/strict";
import { createRegistry, type Registry } from "../mod.ts";
import { allowedHostsFor, isLoopback } from "../src/observe/_allowed_hosts.ts";
import { runMain } from "./_cli.ts";
import { rejectsWithCode, serveStatus } from "./_helpers.ts";

/** A GET over a raw socket with the given `Host` header: the status and body. */
async function getWithHost(
  port: number,
  host: string | undefined,
  path = "/api/jobs",
): Promise<{ status: number; body: string }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const head = host === undefined
      ? `GET ${path} HTTP/1.0\r\n\r\n`
      : `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`;
    await conn.write(new TextEncoder().encode(head));
    const chunks: Uint8Array[] = [];
    const buffer = new Uint8Array(16_384);
    for (;;) {
      const n = await conn.read(buffer);
      if (n === null) break;
      chunks.push(buffer.slice(0, n));
    }
    const text = new TextDecoder().decode(
      new Uint8Array(chunks.flatMap((chunk) => [...chunk])),
    );
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1]);
    return { status, body: text.slice(text.indexOf("\r\n\r\n") + 4) };
  } finally {
    try {
      conn.close();
    } catch { /* closed by the server */ }
  }
}

async function withServer(
  http: string,
  options: { httpAllowedHosts?: string[] },
  fn: (port: number) => Promise<void>,
): Promise<void> {
  const registry: Registry = createRegistry({ store: "sqlite::memory:" });
  const served = await serveStatus(registry, { http, ...options });
  try {
    await fn(served.port);
  } finally {
    await served.stop();
    await registry.close();
  }
}

Deno.test("status server on loopback: a rebound domain in Host is refused with 403 HOST_NOT_ALLOWED; loopback names answer", async () => {
  await withServer("127.0.0.1:0", {}, async (port) => {
    for (
      const host of [`attacker.example:${port}`, "attacker.example", "10.0.0.5"]
    ) {
      const { status, body } = await getWithHost(port, host);
      assert.equal(status, 403, host);
      const error = JSON.parse(body).error;
      assert.equal(error.code, "HOST_NOT_ALLOWED", host);
      assert.match(error.message, /httpAllowedHosts/);
    }
    // Every route is guarded, the page and the event stream included.
    for (const path of ["/", "/events", "/metrics", "/healthz"]) {
      assert.equal(
        (await getWithHost(port, "evil.test", path)).status,
        403,
        path,
      );
    }
    for (
      const host of [
        `127.0.0.1:${port}`,
        `localhost:${port}`,
        "LOCALHOST",
        `[::1]:${port}`,
        `status.localhost:${port}`,
      ]
    ) {
      assert.equal((await getWithHost(port, host)).status, 200, host);
    }
    // No Host at all (HTTP/1.0, not a browser): answered.
    assert.equal((await getWithHost(port, undefined)).status, 200);
  });
});

Deno.test("status server: httpAllowedHosts lets a reverse proxy's host through, and only it", async () => {
  await withServer(
    "127.0.0.1:0",
    { httpAllowedHosts: ["status.example.com"] },
    async (port) => {
      assert.equal((await getWithHost(port, "status.example.com")).status, 200);
      assert.equal(
        (await getWithHost(port, "Status.Example.com:443")).status,
        200,
      );
      assert.equal((await getWithHost(port, "other.example.com")).status, 403);
    },
  );
});

Deno.test("status server bound to every interface checks Host only when hosts are given", async () => {
  await withServer("0.0.0.0:0", {}, async (port) => {
    assert.equal((await getWithHost(port, "anything.example")).status, 200);
  });
  await withServer(
    "0.0.0.0:0",
    { httpAllowedHosts: ["status.example.com"] },
    async (port) => {
      assert.equal((await getWithHost(port, "anything.example")).status, 403);
      assert.equal((await getWithHost(port, "status.example.com")).status, 200);
    },
  );
});

Deno.test("serve({ httpAllowedHosts }): a host with a port or scheme, or no http, is INVALID_OPTIONS", async () => {
  const registry = createRegistry({ store: "sqlite::memory:" });
  try {
    for (
      const httpAllowedHosts of [
        ["status.example.com:443"],
        ["https://status.example.com"],
        "status.example.com",
        [""],
      ]
    ) {
      await rejectsWithCode(
        registry.serve({
          http: "127.0.0.1:0",
          // deno-lint-ignore no-explicit-any
          httpAllowedHosts: httpAllowedHosts as any,
          handleSignals: false,
        }),
        "INVALID_OPTIONS",
      );
    }
    await rejectsWithCode(
      registry.serve({
        httpAllowedHosts: ["status.example.com"],
        handleSignals: false,
      }),
      "INVALID_OPTIONS",
    );
  } finally {
    await registry.close();
  }
});

Deno.test("cli: serve --http-allowed-hosts without --http exits 2", async () => {
  const result = await runMain([
    "serve",
    "--http-allowed-hosts",
    "status.example.com",
  ]);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /--http-allowed-hosts needs --http/);
});

Deno.test("allowed hosts: loopback addresses and names; other bind addresses allow any host", () => {
  for (const host of ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"]) {
    assert.ok(isLoopback(host), host);
  }
  for (
    const host of [
      "0.0.0.0",
      "10.0.0.1",
      "::",
      "example.com",
      "127.0.0.1.evil.example",
    ]
  ) {
    assert.ok(!isLoopback(host), host);
  }
  assert.equal(allowedHostsFor("0.0.0.0", undefined), undefined);
  assert.ok(allowedHostsFor("127.0.0.1", undefined)!.has("localhost"));
});

Deno.test("serve({ httpToken }): a token shorter than 16 characters is INVALID_OPTIONS, without showing it", async () => {
  const registry = createRegistry({ store: "sqlite::memory:" });
  try {
    const error = await rejectsWithCode(
      registry.serve({
        http: "127.0.0.1:0",
        httpToken: "admin1",
        signal: AbortSignal.abort(),
        handleSignals: false,
      }),
      "INVALID_OPTIONS",
    );
    assert.match(error.message, /at least 16 characters/);
    assert.ok(!error.message.includes("admin1"));
  } finally {
    await registry.close();
  }
});

Deno.test("status page: a name's bidirectional controls are shown as \\u202E, never raw", async () => {
  const registry = createRegistry({ store: "sqlite::memory:" });
  registry.defineView({
    name: "v",
    database: "sqlite::memory:",
    sql: "SELECT 1 AS id",
  });
  registry.register("noop", () => ({}));
  registry.defineJob({
    name: "invoice\u202Egpj.exe",
    view: "v",
    actions: ["noop"],
  });
  const served = await serveStatus(registry);
  try {
    const page = await (await fetch(served.url)).text();
    assert.ok(page.includes("invoice\\u202Egpj.exe"), "shown escaped");
    assert.ok(!/[\u202A-\u202E\u2066-\u2069]/.test(page), "no raw control");
  } finally {
    await served.stop();
    await registry.close();
  }
});
