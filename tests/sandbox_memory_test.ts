/**
 * SPEC §1.1: an action's whole footprint — V8 heap, ArrayBuffers,
 * WebAssembly memory, Workers it creates — stays under `memoryMb` plus a
 * fixed allowance, or its run fails with OUT_OF_MEMORY; the host and other
 * actions live on.
 */
import assert from "node:assert/strict";
import { MEMORY_ALLOWANCE_MB } from "../sandbox/host.ts";
import { fixture, rejectsWithCode, withRegistry } from "./_helpers.ts";
import { hostile } from "./_sandbox_helpers.ts";

const CASES = [
  { kind: "buffers", what: "1.5 GiB of ArrayBuffers", mb: 1536 },
  { kind: "wasm", what: "1 GiB of WebAssembly memory", mb: 1024 },
  { kind: "workers", what: "8 nested Workers of 50 MiB each", mb: 400 },
];

for (const { kind, what, mb } of CASES) {
  Deno.test(
    `sandbox memory: ${what} with memoryMb 64 fails with OUT_OF_MEMORY, and other actions run on`,
    withRegistry(async (registry) => {
      registry.register("hoarder", hostile("hoarder.ts"), {
        memoryMb: 64,
        timeoutMs: 20_000,
      });
      registry.register("neighbour", fixture("slow.ts"));
      await registry.run("neighbour", [], { config: { ms: 1 } });
      const neighbour = registry.run("neighbour", [], { config: { ms: 1500 } });
      const started = performance.now();
      const error = await rejectsWithCode(
        registry.run("hoarder", [], { config: { kind, mb } }),
        "OUT_OF_MEMORY",
        new RegExp(`over its bound of ${64 + MEMORY_ALLOWANCE_MB} MiB`),
      );
      assert.ok(
        performance.now() - started < 10_000,
        `took ${performance.now() - started} ms: ${error.message}`,
      );
      assert.deepEqual(await neighbour, { slept: 1500 });
      // A fresh process serves the next call.
      assert.deepEqual(
        await registry.run("hoarder", [], { config: { kind, mb: 16 } }),
        { held: 16 },
      );
    }),
  );
}

Deno.test(
  "sandbox memory: a V8 heap bomb fails with OUT_OF_MEMORY and the host survives",
  withRegistry(async (registry) => {
    registry.register("bomb", fixture("memory_bomb.ts"), {
      memoryMb: 64,
      timeoutMs: 20_000,
    });
    await rejectsWithCode(registry.run("bomb", []), "OUT_OF_MEMORY", /64/);
    registry.register("echo", fixture("echo.ts"));
    assert.equal(
      (await registry.run("echo", [{ a: 1 }])).data instanceof Array,
      true,
    );
  }),
);

Deno.test(
  "sandbox memory: an action within memoryMb runs",
  withRegistry(async (registry) => {
    registry.register("hoarder", hostile("hoarder.ts"), {
      memoryMb: 64,
      timeoutMs: 20_000,
    });
    assert.deepEqual(
      await registry.run("hoarder", [], {
        config: { kind: "buffers", mb: 48 },
      }),
      { held: 48 },
    );
  }),
);
