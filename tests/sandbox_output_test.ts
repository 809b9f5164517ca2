/**
 * SPEC §1.1: the host stays responsive — nothing an action returns or
 * prints blocks its event loop for more than 100 ms; results are bounded
 * after expansion; what an action prints is logged with the action and the
 * run it belongs to as the host knows them, and rate-limited.
 */
import assert from "node:assert/strict";
import type { LogRecord } from "@logtape/logtape";
import { OUTPUT_LIMITS } from "../sandbox/host/output.ts";
import { serialize } from "node:v8";
import { MAX_COST, measureReply } from "../sandbox/host/result_size.ts";
import { SANDBOX_DEFAULTS } from "../src/registry/_entries.ts";

/** The default result cap. */
const DEFAULT_CAP = SANDBOX_DEFAULTS.maxResultBytes;
import { fixture, rejectsWithCode, withRegistry } from "./_helpers.ts";
import {
  assertNoStall,
  captureSandboxLogs,
  cpuShare,
  hostile,
  MAX_STALL,
  MOD,
  startHost,
} from "./_sandbox_helpers.ts";

/** The console records of an action, once `count` of them have arrived. */
async function consoleRecords(
  records: LogRecord[],
  action: string,
  count: number,
): Promise<LogRecord[]> {
  const mine = () =>
    records.filter((record) =>
      record.category.at(-1) === "console" &&
      record.properties.action === action
    );
  for (let tries = 0; tries < 100 && mine().length < count; tries++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return mine();
}

Deno.test(
  "sandbox output: console, Deno.stdout and stderr all reach the host log with the action and its runId",
  withRegistry(async (registry) => {
    const logs = await captureSandboxLogs();
    try {
      registry.register("printer", hostile("printer.ts"));
      await registry.run("printer", [], {
        config: { how: "every channel" },
        runId: "run-42",
      });
      const records = await consoleRecords(logs.records, "printer", 14);
      const messages = records.map((record) =>
        String(record.properties.message)
      );
      for (
        const expected of [
          /via log/,
          /via info/,
          /via debug/,
          /via: "dir"/,
          /via.*table|table/,
          /Assertion failed: via assert/,
          /via count: 1/,
          /via timeEnd: /,
          /via warn/,
          /via error/,
          /via Deno\.stdout/,
          /via Deno\.stderr/,
        ]
      ) {
        assert.ok(
          messages.some((message) => expected.test(message)),
          `${expected} not among ${JSON.stringify(messages)}`,
        );
      }
      for (const record of records) {
        assert.equal(record.properties.runId, "run-42");
      }
      const error = records.find((r) =>
        /via error/.test(String(r.properties.message))
      );
      assert.equal(error?.level, "error");
      const log = records.find((r) =>
        /via log/.test(String(r.properties.message))
      );
      assert.equal(log?.level, "info");
    } finally {
      await logs.stop();
    }
  }),
);

Deno.test(
  "sandbox output: a line cannot forge another action, another runId, or a new line",
  withRegistry(async (registry) => {
    const logs = await captureSandboxLogs();
    try {
      registry.register("forger", hostile("printer.ts"));
      await registry.run("forger", [], {
        config: { how: "forge" },
        runId: "run-1",
      });
      const records = await consoleRecords(logs.records, "forger", 3);
      assert.equal(records.length, 3);
      for (const record of records) {
        assert.equal(record.properties.action, "forger");
        assert.equal(record.properties.runId, "run-1");
        assert.doesNotMatch(
          String(record.properties.message),
          // deno-lint-ignore no-control-regex
          /[\r\n\x1b\u2028]/,
        );
      }
      assert.match(
        String(records[1]!.properties.message),
        /^other-action \[run-999\]: forged\\x0d\\x1b\[31mred\\x2028more$/,
      );
      const all = await consoleRecords(logs.records, "other-action", 0);
      assert.deepEqual(all, []);
    } finally {
      await logs.stop();
    }
  }),
);

Deno.test(
  "sandbox output: a flood is rate-limited, and the dropped lines are counted",
  withRegistry(async (registry) => {
    const logs = await captureSandboxLogs();
    try {
      registry.register("flood", hostile("printer.ts"), { timeoutMs: 20_000 });
      assert.deepEqual(
        await registry.run("flood", [], {
          config: { how: "flood", lines: 50_000 },
        }),
        { printed: 50_000 },
      );
      await registry.run("flood", [], { config: { how: "nothing" } });
      await new Promise((resolve) => setTimeout(resolve, 200));
      const records = await consoleRecords(logs.records, "flood", 1);
      assert.ok(
        records.length <=
          OUTPUT_LIMITS.burst + 2 * OUTPUT_LIMITS.linesPerSecond,
        `${records.length} lines logged`,
      );
      // Drops are reported when the next line gets through.
      await new Promise((resolve) => setTimeout(resolve, 1000));
      await registry.run("flood", [], { config: { how: "flood", lines: 1 } });
      let dropped = 0;
      let logged = 0;
      for (let tries = 0; tries < 100 && dropped + logged < 50_001; tries++) {
        const after = await consoleRecords(logs.records, "flood", 1);
        dropped = after.reduce(
          (total, record) => total + Number(record.properties.dropped ?? 0),
          0,
        );
        logged = after.filter((record) =>
          /^flood flood/.test(String(record.properties.message))
        ).length;
        await new Promise((resolve) =>
          setTimeout(resolve, 20)
        );
      }
      assert.equal(
        dropped + logged,
        50_001,
        `${dropped} dropped, ${logged} logged`,
      );
    } finally {
      await logs.stop();
    }
  }),
);

Deno.test("sandbox output: a flood after the call returned does not keep the host busy", async () => {
  const host = startHost(`
    import { createRegistry } from ${JSON.stringify(MOD)};
    const registry = createRegistry();
    registry.register("flood", ${JSON.stringify(hostile("printer.ts").href)});
    console.log(JSON.stringify(await registry.run("flood", [], { config: { how: "flood after return" } })));
    await new Promise((resolve) => setTimeout(resolve, 3000));
    await registry.close();`);
  assert.deepEqual(await host.next(), { printed: true });
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const share = await cpuShare(host.pid, 1500);
  assert.ok(share < 0.2, `${(share * 100).toFixed(0)}% of a core`);
  assert.equal(await host.done(), 0);
});

Deno.test("sandbox output: a reply is measured from its bytes, shared references expanded without being built", async () => {
  const limits = (json: number) => ({ json, cost: MAX_COST });
  let n: unknown = [1];
  for (let i = 0; i < 40; i++) n = [n, n];
  const started = performance.now();
  assert.equal(
    (await measureReply(serialize({ n }), limits(1_000_000))).json,
    1_000_001,
  );
  assert.ok(performance.now() - started < 50);
  const plain = { a: [1, "xy", null, { b: true }], c: new Date(0) };
  const { json } = await measureReply(serialize(plain), limits(1000));
  assert.ok(json >= JSON.stringify(plain).length && json < 100, `${json}`);
  const sparse: unknown[] = [];
  sparse[2 ** 31] = 1;
  assert.equal(
    (await measureReply(serialize(sparse), limits(1000))).json,
    1001,
  );
});

Deno.test("sandbox output: neither a flood of output nor a shared-reference bomb in a result, the context or a job's report blocks the host's event loop 100 ms", async () => {
  const host = startHost(`
    import { createRegistry } from ${JSON.stringify(MOD)};
    ${MAX_STALL}
    const registry = createRegistry({ store: "sqlite::memory:" });
    registry.register("flood", ${
    JSON.stringify(hostile("printer.ts").href)
  }, { timeoutMs: 20000 });
    registry.register("refs", ${
    JSON.stringify(hostile("shared_refs.ts").href)
  });
    registry.register("context_bomb", ${
    JSON.stringify(hostile("context_bomb.ts").href)
  });
    registry.defineView({ name: "one", database: "sqlite::memory:", sql: "SELECT 1 AS id" });
    registry.defineJob({ name: "bombed", view: "one", actions: [{ action: "refs", config: { depth: 25 } }] });
    for (const name of ["flood", "refs", "context_bomb"]) await registry.run(name, [], { config: { depth: 1 } }).catch(() => {});
    const outcome = (promise) => promise.then((value) => value, (error) => error.code);
    const runs = [
      () => outcome(registry.run("flood", [], { config: { how: "flood", lines: 50000 } })),
      () => outcome(registry.run("refs", [], { config: { depth: 25 } })),
      () => outcome(registry.run("context_bomb", [], { context: {} })),
      () => registry.runJob("bombed").then(async (report) => ({
        status: report.status,
        code: report.actions[0]?.error?.code,
        history: (await registry.history({ job: "bombed" }))[0]?.status,
      })),
    ];
    for (const run of runs) console.log(JSON.stringify(await maxStall(run)));
    await registry.close();`);
  const expected = [
    { printed: 50_000 },
    "INVALID_RESULT",
    "INVALID_RESULT",
    { status: "failed", code: "INVALID_RESULT", history: "failed" },
  ];
  await assertNoStall(host, expected);
});

Deno.test(
  "sandbox output: a result past the byte cap or the building limit is INVALID_RESULT naming the action, its size and the cap",
  withRegistry(async (registry) => {
    registry.register("big", fixture("returns_big.ts"));
    registry.register("rows", fixture("returns_rows.ts"), { memoryMb: 512 });
    await rejectsWithCode(
      registry.run("big", [], { config: { bytes: DEFAULT_CAP + 1 } }),
      "INVALID_RESULT",
      new RegExp(
        `^Action "big" returned a result and context of \\d+ bytes serialized, over the cap of ${DEFAULT_CAP} bytes \\(maxResultBytes\\)`,
      ),
    );
    await rejectsWithCode(
      // Over the building limit, under the byte cap as JSON.
      registry.run("rows", [], { config: { rows: 140_000 } }),
      "INVALID_RESULT",
      /^Action "rows" returned a result and context of \d+ bytes serialized that would block the host too long to build/,
    );
  }),
);

Deno.test(
  "sandbox output: a result of shared references too large as JSON is INVALID_RESULT",
  withRegistry(async (registry) => {
    registry.register("refs", hostile("shared_refs.ts"));
    assert.equal(
      JSON.stringify(await registry.run("refs", [], { config: { depth: 2 } })),
      '{"n":[[[1],[1]],[[1],[1]]]}',
    );
    await rejectsWithCode(
      registry.run("refs", [], { config: { depth: 25 } }),
      "INVALID_RESULT",
      new RegExp(
        `over the cap of ${DEFAULT_CAP} bytes \\(maxResultBytes\\) as JSON`,
      ),
    );
  }),
);

Deno.test(
  "sandbox output: a result that is a function, holds one, or is not an object is INVALID_RESULT",
  withRegistry(async (registry) => {
    registry.register("fn", fixture("returns_function.ts"));
    registry.register("num", fixture("returns_number.ts"));
    await rejectsWithCode(
      registry.run("fn", []),
      "INVALID_RESULT",
      /cannot be cloned/,
    );
    await rejectsWithCode(
      registry.run("num", []),
      "INVALID_RESULT",
      /returned number/,
    );
  }),
);

Deno.test(
  "sandbox output: a result over the size cap is INVALID_RESULT",
  withRegistry(async (registry) => {
    registry.register("big", fixture("returns_big.ts"), {
      maxResultBytes: 1024,
    });
    await rejectsWithCode(
      registry.run("big", [], { config: { bytes: 4096 } }),
      "INVALID_RESULT",
      /over the cap of 1024 bytes/,
    );
    assert.equal(
      ((await registry.run("big", [], { config: { bytes: 10 } }))
        .blob as string).length,
      10,
    );
  }),
);

Deno.test("sandbox output: bytes that build nothing (padding, error sub-tags) still count against a reply's cost", async () => {
  const padded = new Uint8Array(4_000_000);
  padded.set([0xff, 15]);
  const started = performance.now();
  const { cost } = await measureReply(padded, { json: 1e9, cost: 1_000_000 });
  assert.equal(cost, 1_000_001);
  assert.ok(performance.now() - started < 500);
});

Deno.test("sandbox output: any value V8 serializes is measured without error, near its JSON length", async () => {
  // A fixed pseudo-random sequence: the same values on every run.
  let seed = 42;
  const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  const pick = <T>(items: T[]): T =>
    items[Math.floor(random() * items.length)]!;
  const make = (depth: number): unknown => {
    const leaves = [
      () => Math.floor(random() * 1e6) - 5e5,
      () => random() * 1e12,
      () => pick(["", "a", "é", "日本", "😀", "x".repeat(300)]),
      () => pick([null, true, false]),
    ];
    if (depth > 3 || random() < 0.4) return pick(leaves)();
    const child = () => make(depth + 1);
    return pick<() => unknown>([
      () => Array.from({ length: Math.floor(random() * 6) }, child),
      () =>
        Object.fromEntries(
          Array.from(
            { length: Math.floor(random() * 6) },
            (_, i) => [pick([`k${i}`, `${i}`, `键${i}`]), child()],
          ),
        ),
      () => {
        const sparse: unknown[] = [];
        sparse[Math.floor(random() * 50)] = child();
        return sparse;
      },
      () => ({ date: new Date(Math.floor(random() * 1e12)), n: child() }),
    ])();
  };
  const core = (Deno as unknown as Record<symbol, {
    core: { serialize: (value: unknown) => Uint8Array };
  }>)[(Deno as unknown as { internal: symbol }).internal]!.core;
  for (let i = 0; i < 300; i++) {
    const value = { result: { v: make(0) }, context: {} };
    const expected = JSON.stringify(value).length;
    for (const bytes of [serialize(value), core.serialize(value)]) {
      const { json } = await measureReply(bytes, {
        json: 1e9,
        cost: MAX_COST,
      });
      assert.ok(
        json >= expected && json < expected * 30 + 100,
        `${json} for ${expected}: ${JSON.stringify(value)}`,
      );
    }
  }
});
