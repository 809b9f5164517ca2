import assert from "node:assert/strict";
import { z } from "zod";
import { configure, type LogRecord, reset } from "@logtape/logtape";
import {
  fixture,
  rejectsWithCode,
  runScript,
  throwsWithCode,
  withRegistry,
} from "./_helpers.ts";
import { createRegistry, type Row, TriggerKitError } from "../mod.ts";

Deno.test(
  "register() returns the info of a function action",
  withRegistry((registry) => {
    const info = registry.register(
      "count",
      ({ data }) => ({ n: data.length }),
      {
        description: "Counts rows",
      },
    );
    assert.deepEqual(info, {
      name: "count",
      description: "Counts rows",
      kind: "function",
    });
  }),
);

Deno.test(
  "register() rejects a taken name with ACTION_EXISTS unless overwrite is set",
  withRegistry(async (registry) => {
    registry.register("a", () => ({ v: 1 }));
    throwsWithCode(
      () => registry.register("a", () => ({ v: 2 })),
      "ACTION_EXISTS",
      /"a".*overwrite/,
    );
    registry.register("a", () => ({ v: 2 }), { overwrite: true });
    assert.deepEqual(await registry.run("a", []), { v: 2 });
  }),
);

Deno.test(
  "register() rejects a value that is neither a function nor a module with INVALID_ACTION",
  withRegistry((registry) => {
    throwsWithCode(
      // @ts-expect-error: testing a wrong type
      () => registry.register("x", 42),
      "INVALID_ACTION",
      /a function or module URL is required, received number/,
    );
  }),
);

Deno.test(
  "register() rejects a bad name with INVALID_ACTION",
  withRegistry((registry) => {
    throwsWithCode(
      () => registry.register("", () => ({})),
      "INVALID_ACTION",
      /name/,
    );
    throwsWithCode(
      () => registry.register("tab\there", () => ({})),
      "INVALID_ACTION",
      /control characters/,
    );
  }),
);

Deno.test(
  "register() rejects a config that is not a zod schema with INVALID_ACTION",
  withRegistry((registry) => {
    throwsWithCode(
      // @ts-expect-error: testing a wrong type
      () => registry.register("x", () => ({}), { config: { type: "object" } }),
      "INVALID_ACTION",
      /zod schema/,
    );
  }),
);

Deno.test(
  "register() refuses the run and ffi permissions with INVALID_ACTION",
  withRegistry((registry) => {
    const url = fixture("echo.ts");
    throwsWithCode(
      // @ts-expect-error: run can never be granted
      () => registry.register("r", url, { permissions: { run: true } }),
      "INVALID_ACTION",
      /"run" permission can never be granted/,
    );
    throwsWithCode(
      // @ts-expect-error: ffi can never be granted
      () => registry.register("f", url, { permissions: { ffi: ["/lib.so"] } }),
      "INVALID_ACTION",
      /"ffi" permission/,
    );
    throwsWithCode(
      // @ts-expect-error: unknown permission
      () => registry.register("u", url, { permissions: { hrtime: true } }),
      "INVALID_ACTION",
      /unknown permission "hrtime"/,
    );
  }),
);

Deno.test(
  "register() reports every problem of one call at once, each with its place",
  withRegistry((registry) => {
    const error = throwsWithCode(
      () =>
        registry.register("", () => ({}), {
          timeout_ms: 5,
          description: 7,
          memoryMb: 64,
        } as never),
      "INVALID_ACTION",
      /^Cannot register action "": a name must not be empty; unknown option "timeout_ms" of register\(\); did you mean "timeoutMs"\?; option "description" of register\(\) must be a string, received number 7; option "memoryMb" of register\(\) applies to sandboxed \(module\) actions only/,
    );
    assert.deepEqual(
      (error.issues as Array<{ path: string; code: string }>).map((
        { path, code },
      ) => [path, code]),
      [
        ["name", "INVALID_ACTION"],
        ["options.timeout_ms", "INVALID_OPTIONS"],
        ["options.description", "INVALID_OPTIONS"],
        ["options.memoryMb", "INVALID_OPTIONS"],
      ],
    );
    const sandboxed = throwsWithCode(
      () =>
        registry.register("tab\there", "./tk_no_such_module.ts", {
          // @ts-expect-error: run can never be granted
          permissions: { run: true, net: "yes", hrtime: true },
          memoryMb: 8,
        }),
      "INVALID_ACTION",
    );
    assert.deepEqual(
      (sandboxed.issues as Array<{ path: string }>).map(({ path }) => path),
      [
        "name",
        "options.memoryMb",
        "options.permissions.run",
        "options.permissions.net",
        "options.permissions.hrtime",
        "action",
      ],
    );
    for (
      const part of [
        /control characters/,
        /"memoryMb" .*received number 8/,
        /"run" permission can never be granted/,
        /permission "net" must be true, false or a list/,
        /unknown permission "hrtime"/,
        /tk_no_such_module\.ts does not exist/,
      ]
    ) {
      assert.match(sandboxed.message, part);
    }
    registry.register("taken", () => ({}));
    const taken = throwsWithCode(
      () => registry.register("taken", () => ({}), { description: 1 } as never),
      "INVALID_OPTIONS",
      /"description" .*received number 1; the name is taken \(pass overwrite: true to replace it\)/,
    );
    assert.deepEqual(
      (taken.issues as Array<{ code: string }>).map(({ code }) => code),
      ["INVALID_OPTIONS", "ACTION_EXISTS"],
    );
    throwsWithCode(
      () => registry.register("taken", () => ({})),
      "ACTION_EXISTS",
      /^Cannot register action "taken": the name is taken/,
    );
  }),
);

Deno.test(
  "register() refuses a remote module with INVALID_ACTION",
  withRegistry((registry) => {
    throwsWithCode(
      () => registry.register("remote", "https://example.com/action.ts"),
      "INVALID_ACTION",
      /only local modules/,
    );
  }),
);

Deno.test(
  "getInfo() of an unknown name throws ACTION_NOT_FOUND naming the closest names",
  withRegistry((registry) => {
    registry.register("send_report", () => ({}));
    throwsWithCode(
      () => registry.getInfo("send_reprot"),
      "ACTION_NOT_FOUND",
      /Unknown action "send_reprot".*did you mean "send_report"/,
    );
  }),
);

Deno.test(
  "run() of an unknown name rejects with ACTION_NOT_FOUND",
  withRegistry(async (registry) => {
    await rejectsWithCode(
      registry.run("nope", []),
      "ACTION_NOT_FOUND",
      /Unknown action "nope"/,
    );
  }),
);

Deno.test(
  "getInfo() shows the config schema as JSON Schema",
  withRegistry((registry) => {
    registry.register("cfg", () => ({}), {
      config: z.object({ threshold: z.number().default(5), label: z.string() }),
    });
    const schema = registry.getInfo("cfg").configSchema!;
    assert.equal(schema.type, "object");
    assert.deepEqual(Object.keys(schema.properties as object).sort(), [
      "label",
      "threshold",
    ]);
  }),
);

Deno.test(
  "listAvailable() is sorted by name in code-unit order and holds the built-ins",
  withRegistry((registry) => {
    registry.register("b", () => ({}));
    registry.register("B", () => ({}));
    registry.register("a_", () => ({}));
    const names = registry.listAvailable().map((info) => info.name);
    assert.deepEqual(names, [...names].sort());
    assert.ok(names.indexOf("B") < names.indexOf("a_"));
    for (const builtin of ["run_sql", "send_slack_message", "http_request"]) {
      assert.equal(registry.getInfo(builtin).kind, "builtin");
      assert.equal(registry.getInfo(builtin).configSchema?.type, "object");
    }
  }),
);

Deno.test("createRegistry() gives registries that share nothing", async () => {
  const one = createRegistry();
  const two = createRegistry();
  one.register("only_here", () => ({}));
  assert.throws(() => two.getInfo("only_here"), TriggerKitError);
  await Promise.all([one.close(), two.close()]);
});

Deno.test(
  "unregister() removes an action and says whether it existed",
  withRegistry((registry) => {
    registry.register("gone", () => ({}));
    assert.equal(registry.unregister("gone"), true);
    assert.equal(registry.unregister("gone"), false);
    throwsWithCode(() => registry.getInfo("gone"), "ACTION_NOT_FOUND");
  }),
);

Deno.test(
  "run() rejects data that is not an array with INVALID_DATA",
  withRegistry(async (registry) => {
    registry.register("x", () => ({}));
    await rejectsWithCode(
      registry.run("x", { a: 1 } as unknown as Row[]),
      "INVALID_DATA",
      /must be an array.*received object/,
    );
  }),
);

Deno.test(
  "run() rejects rows that are not plain objects with INVALID_DATA naming the index",
  withRegistry(async (registry) => {
    registry.register("x", () => ({}));
    await rejectsWithCode(
      registry.run("x", [{}, 3] as unknown as Row[]),
      "INVALID_DATA",
      /data\[1\].*received number/,
    );
    await rejectsWithCode(
      registry.run("x", [{}, new Date() as unknown as Record<string, unknown>]),
      "INVALID_DATA",
      /data\[1\].*Date instance/,
    );
  }),
);

Deno.test(
  "run() accepts null-prototype rows",
  withRegistry(async (registry) => {
    registry.register("x", ({ data }) => ({ id: data[0]!.id }));
    const row = Object.assign(Object.create(null), { id: 7 });
    assert.deepEqual(await registry.run("x", [row]), { id: 7 });
  }),
);

Deno.test(
  "run() validates config, applies defaults and names bad keys in INVALID_CONFIG",
  withRegistry(async (registry) => {
    registry.register("cfg", ({ config }) => ({ config }), {
      config: z.object({
        threshold: z.number().default(5),
        channel: z.string(),
        nested: z.object({ level: z.enum(["a", "b"]) }).optional(),
      }),
    });
    assert.deepEqual(
      await registry.run("cfg", [], { config: { channel: "#x" } }),
      {
        config: { threshold: 5, channel: "#x" },
      },
    );
    const error = await rejectsWithCode(
      registry.run("cfg", [], {
        config: { threshold: "high", nested: { level: "c" } },
      }),
      "INVALID_CONFIG",
      /threshold.*channel.*nested\.level|threshold[\s\S]*nested\.level/,
    );
    assert.match(error.message, /channel/);
    assert.equal(error.issues!.length, 3);
  }),
);

Deno.test(
  "run() generates a UUID runId when absent and passes a given one through",
  withRegistry(async (registry) => {
    registry.register(
      "id",
      ({ runId, jobName, dryRun }) => ({ runId, jobName, dryRun }),
    );
    const generated = await registry.run("id", []);
    assert.match(String(generated.runId), /^[0-9a-f-]{36}$/);
    assert.deepEqual(
      await registry.run("id", [], {
        runId: "r-1",
        jobName: "j",
        dryRun: true,
      }),
      { runId: "r-1", jobName: "j", dryRun: true },
    );
  }),
);

Deno.test(
  "run() passes context through so that mutations are visible to the caller",
  withRegistry(async (registry) => {
    registry.register("ctx", ({ context }) => {
      context.count = ((context.count as number) ?? 0) + 1;
      return {};
    });
    const context: Record<string, unknown> = {};
    await registry.run("ctx", [], { context });
    await registry.run("ctx", [], { context });
    assert.equal(context.count, 2);
  }),
);

Deno.test(
  "run() wraps a throw as ACTION_FAILED keeping the original error as cause",
  withRegistry(async (registry) => {
    const original = new RangeError("boom");
    registry.register("bad", () => {
      throw original;
    });
    const error = await rejectsWithCode(
      registry.run("bad", []),
      "ACTION_FAILED",
      /"bad" failed: boom/,
    );
    assert.equal(error.cause, original);
  }),
);

Deno.test(
  "run() rejects a result that is not a plain object with INVALID_RESULT",
  withRegistry(async (registry) => {
    // @ts-expect-error: testing a wrong type
    registry.register("arr", () => [1]);
    // @ts-expect-error: testing a wrong type
    registry.register("str", () => "x");
    registry.register(
      "map",
      () => new Map() as unknown as Record<string, unknown>,
    );
    await rejectsWithCode(
      registry.run("arr", []),
      "INVALID_RESULT",
      /returned array/,
    );
    await rejectsWithCode(
      registry.run("str", []),
      "INVALID_RESULT",
      /returned string/,
    );
    await rejectsWithCode(
      registry.run("map", []),
      "INVALID_RESULT",
      /returned Map instance/,
    );
  }),
);

Deno.test(
  "run() rejects with ACTION_TIMEOUT when its signal is aborted",
  withRegistry(async (registry) => {
    let seen: AbortSignal | undefined;
    registry.register("slow", ({ signal }) => {
      seen = signal;
      return new Promise(() => {});
    });
    const controller = new AbortController();
    const pending = registry.run("slow", [], { signal: controller.signal });
    controller.abort();
    await rejectsWithCode(pending, "ACTION_TIMEOUT", /"slow" was aborted/);
    assert.equal(seen?.aborted, true);
    await rejectsWithCode(
      registry.run("slow", [], { signal: AbortSignal.abort() }),
      "ACTION_TIMEOUT",
    );
  }),
);

Deno.test(
  "run() logs start and end with action, job, runId, rows and outcome",
  withRegistry(async (registry) => {
    const records: LogRecord[] = [];
    await configure({
      sinks: { memory: (record) => records.push(record) },
      loggers: [
        { category: ["triggerkit"], sinks: ["memory"], lowestLevel: "debug" },
        { category: ["logtape", "meta"], sinks: [], lowestLevel: "warning" },
      ],
      reset: true,
    });
    try {
      registry.register("logged", () => ({}));
      await registry.run("logged", [{}, {}], { jobName: "j", runId: "r" });
    } finally {
      await reset();
    }
    assert.deepEqual(records.map((r) => r.level), ["debug", "info"]);
    const end = records[1]!;
    assert.deepEqual(end.category, ["triggerkit", "action"]);
    assert.equal(end.properties.action, "logged");
    assert.equal(end.properties.jobName, "j");
    assert.equal(end.properties.runId, "r");
    assert.equal(end.properties.rows, 2);
    assert.equal(end.properties.outcome, "succeeded");
    assert.equal(typeof end.properties.durationMs, "number");
  }),
);

Deno.test(
  "run() refuses every bad call by rejecting, never by a synchronous throw",
  withRegistry(async (registry) => {
    registry.register("throws", () => {
      throw new Error("boom");
    });
    registry.register("configured", () => ({}), {
      config: z.object({ limit: z.number() }),
    });
    // @ts-expect-error: testing a wrong type
    registry.register("returns_array", () => []);
    const calls: Array<[() => Promise<unknown>, string]> = [
      [() => registry.run("nope", []), "ACTION_NOT_FOUND"],
      // @ts-expect-error: testing an unknown option
      [() => registry.run("throws", [], { dry_run: true }), "INVALID_OPTIONS"],
      // @ts-expect-error: testing a wrong type
      [() => registry.run("throws", "rows"), "INVALID_DATA"],
      [() => registry.run("configured", [], {}), "INVALID_CONFIG"],
      [() => registry.run("throws", []), "ACTION_FAILED"],
      [() => registry.run("returns_array", []), "INVALID_RESULT"],
      [
        () => registry.run("throws", [], { signal: AbortSignal.abort() }),
        "ACTION_TIMEOUT",
      ],
    ];
    for (const [call, code] of calls) {
      let pending: Promise<unknown> | undefined;
      try {
        pending = call();
      } catch (error) {
        assert.fail(`a ${code} call threw synchronously: ${error}`);
      }
      await rejectsWithCode(pending, code);
    }
  }),
);

Deno.test(
  "run() awaits a result that is a thenable, not only a Promise",
  withRegistry(async (registry) => {
    registry.register("thenable", () =>
      ({
        then(resolve: (value: unknown) => void) {
          resolve({ via: "then" });
        },
      }) as unknown as Record<string, unknown>);
    assert.deepEqual(await registry.run("thenable", []), { via: "then" });
  }),
);

Deno.test(
  "run() logs a failure at warning with its duration, and nothing below the configured level",
  withRegistry(async (registry) => {
    const records: LogRecord[] = [];
    await configure({
      sinks: { memory: (record) => records.push(record) },
      loggers: [
        {
          category: ["triggerkit"],
          sinks: ["memory"],
          lowestLevel: "warning",
        },
        { category: ["logtape", "meta"], sinks: [], lowestLevel: "warning" },
      ],
      reset: true,
    });
    try {
      registry.register("fine", () => ({}));
      registry.register("fails", () => Promise.reject(new Error("no")));
      await registry.run("fine", [{}], { jobName: "j", runId: "r1" });
      await rejectsWithCode(
        registry.run("fails", [{}], { jobName: "j", runId: "r2" }),
        "ACTION_FAILED",
      );
    } finally {
      await reset();
    }
    assert.deepEqual(records.map((r) => r.level), ["warning"]);
    const failure = records[0]!;
    assert.equal(failure.properties.action, "fails");
    assert.equal(failure.properties.runId, "r2");
    assert.equal(failure.properties.code, "ACTION_FAILED");
    assert.equal(failure.properties.outcome, "failed");
    assert.equal(typeof failure.properties.durationMs, "number");
  }),
);

Deno.test(
  "run() gives the idempotency key as an own enumerable property, the same each read",
  withRegistry(async (registry) => {
    const seen: Array<Record<string, unknown>> = [];
    registry.register("probe", (input) => {
      seen.push({
        keys: Object.keys(input),
        copy: { ...input }.idempotencyKey,
        first: input.idempotencyKey,
        again: input.idempotencyKey,
      });
      return {};
    });
    await registry.run("probe", [{ id: 1 }], { runId: "fixed" });
    await registry.run("probe", [{ id: 1 }], { runId: "fixed" });
    const [one, two] = seen;
    assert.ok((one!.keys as string[]).includes("idempotencyKey"));
    assert.match(String(one!.first), /^[A-Za-z0-9_-]{43}$/);
    assert.equal(one!.copy, one!.first);
    assert.equal(one!.again, one!.first);
    assert.equal(two!.first, one!.first);
  }),
);

Deno.test("run() gives the idempotency key where Object.prototype.__defineGetter__ is gone", async () => {
  const script = `
    delete Object.prototype.__defineGetter__;
    const { createRegistry } = await import(${
    JSON.stringify(new URL("../mod.ts", import.meta.url).href)
  });
    const registry = createRegistry();
    registry.register("probe", (input) => ({
      key: input.idempotencyKey,
      copied: { ...input }.idempotencyKey,
      listed: Object.keys(input).includes("idempotencyKey"),
    }));
    console.log(JSON.stringify(await registry.run("probe", [], { runId: "r" })));
    await registry.close();`;
  const output = await runScript(script, ["--no-prompt"]);
  assert.equal(output.code, 0, output.stderr);
  const result = JSON.parse(output.stdout);
  assert.match(result.key, /^[A-Za-z0-9_-]{43}$/);
  assert.equal(result.copied, result.key);
  assert.equal(result.listed, true);
});

Deno.test("importing mod.ts needs no permission and does no I/O", async () => {
  const script = `
    import { createRegistry, listAvailable } from ${
    JSON.stringify(new URL("../mod.ts", import.meta.url).href)
  };
    const names = listAvailable().map((info) => info.name);
    await createRegistry().close();
    console.log(JSON.stringify(names));`;
  const output = await runScript(script, ["--no-prompt"]);
  assert.equal(output.code, 0, output.stderr);
  assert.deepEqual(JSON.parse(output.stdout), [
    "http_request",
    "run_sql",
    "send_slack_message",
  ]);
});
