/**
 * The guard against npm:postgres's uncaught TypeError when a queued write
 * runs after its connection closed (`src/db/_postgres_guard.ts`): that one
 * error no longer ends the process; any other uncaught error still does.
 * (The real fault, a store whose connections are cut every 200 ms, is the
 * soak test in store_flapping_test.ts.)
 */
import assert from "node:assert/strict";

const POOL = new URL("../src/db/_postgres_pool.ts", import.meta.url).href;

/** Runs a module that throws `what` from an immediate callback, as postgres.js's connection.js does. */
async function throwFromImmediate(what: string): Promise<Deno.CommandOutput> {
  const dir = await Deno.makeTempDir({ prefix: "triggerkit-pg-guard-" });
  try {
    // Named like the library's file, with its function's name: the guard
    // recognises the error by its stack.
    await Deno.writeTextFile(
      `${dir}/postgres_connection.js`,
      `
import { setImmediate } from "node:timers";
import { endPool, openPool } from ${JSON.stringify(POOL)};
// Opening a PostgreSQL pool installs the guard (it connects on first use).
await endPool(openPool("postgres://127.0.0.1:1/none", 1000), 0);
let socket = null;
function nextWrite() { ${what} }
setImmediate(nextWrite);
setTimeout(() => console.log("alive"), 50);
`,
    );
    return await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--config",
        new URL("../deno.json", import.meta.url).pathname,
        `${dir}/postgres_connection.js`,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("postgres guard: a write to a closed connection from an immediate callback does not end the process", async () => {
  const out = await throwFromImmediate("socket.write(new Uint8Array(1));");
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, stderr);
  assert.equal(new TextDecoder().decode(out.stdout).trim(), "alive");
});

Deno.test("postgres guard: any other uncaught error still ends the process", async () => {
  const out = await throwFromImmediate(
    "throw new TypeError('something else');",
  );
  assert.equal(out.code, 1);
  assert.match(new TextDecoder().decode(out.stderr), /something else/);
});
