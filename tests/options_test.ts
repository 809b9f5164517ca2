import assert from "node:assert/strict";
import {
  createRegistry,
  defineJob,
  register,
  type Registry,
  run,
  runJob,
  serve,
  unregister,
} from "../mod.ts";
import {
  fixture,
  rejectsWithCode,
  throwsWithCode,
  withRegistry,
} from "./_helpers.ts";

Deno.test(
  "run() refuses unknown option keys with INVALID_OPTIONS naming the closest key, before the action runs",
  withRegistry(async (registry) => {
    let calls = 0;
    registry.register("count", () => ({ calls: ++calls }));
    await rejectsWithCode(
      registry.run("count", [], { dry_run: true } as never),
      "INVALID_OPTIONS",
      /Unknown option "dry_run" of run\(\); did you mean "dryRun"\?/,
    );
    await rejectsWithCode(
      registry.run("count", [], { job_name: "x" } as never),
      "INVALID_OPTIONS",
      /did you mean "jobName"\?/,
    );
    await rejectsWithCode(
      registry.run("count", [], { frobnicate: 1 } as never),
      "INVALID_OPTIONS",
      /known: context, config, jobName, runId, dryRun, signal/,
    );
    assert.equal(calls, 0, "the action never ran");
  }),
);

Deno.test(
  "run() refuses ill-typed options with INVALID_OPTIONS",
  withRegistry(async (registry) => {
    registry.register("count", () => ({}));
    await rejectsWithCode(
      registry.run("count", [], { dryRun: "yes" } as never),
      "INVALID_OPTIONS",
      /Option "dryRun" of run\(\) must be true or false, received string/,
    );
    await rejectsWithCode(
      registry.run("count", [], { signal: {} } as never),
      "INVALID_OPTIONS",
      /must be an AbortSignal/,
    );
    await rejectsWithCode(
      registry.run("count", [], { context: [] } as never),
      "INVALID_OPTIONS",
      /"context" .*must be an object, received array/,
    );
    await rejectsWithCode(
      registry.run("count", [], true as never),
      "INVALID_OPTIONS",
      /options of run\(\) must be an object, received boolean/,
    );
    assert.deepEqual(
      await registry.run("count", [], { dryRun: undefined } as never),
      {},
      "undefined values are as if absent",
    );
  }),
);

Deno.test("the module-level run() refuses unknown options too", async () => {
  register("doc_options_count", () => ({}));
  try {
    await rejectsWithCode(
      run("doc_options_count", [], { dry_run: true } as never),
      "INVALID_OPTIONS",
      /did you mean "dryRun"/,
    );
  } finally {
    unregister("doc_options_count");
  }
});

/** A job "j" on a view of one row, with an in-process action. */
function oneJob(registry: Registry): void {
  registry.register("notify", () => ({}));
  registry.defineView({
    name: "v",
    database: "sqlite::memory:",
    sql: "SELECT 1 AS id",
  });
  registry.defineJob({ name: "j", view: "v", actions: ["notify"] });
}

Deno.test(
  "runJob(), serve(), history(), register() and defineJob() refuse unknown options",
  withRegistry(async (registry) => {
    oneJob(registry);
    await rejectsWithCode(
      registry.runJob("j", { dry_run: true } as never),
      "INVALID_OPTIONS",
      /Unknown option "dry_run" of runJob\(\); did you mean "dryRun"\?/,
    );
    await rejectsWithCode(
      registry.serve({ signl: AbortSignal.abort() } as never),
      "INVALID_OPTIONS",
      /Unknown option "signl" of serve\(\); did you mean "signal"\?/,
    );
    await rejectsWithCode(
      registry.serve({ graceMs: "1s" } as never),
      "INVALID_OPTIONS",
      /"graceMs" of serve\(\) must be a number/,
    );
    await rejectsWithCode(
      registry.history({ jobs: "j" } as never),
      "INVALID_OPTIONS",
      /did you mean "job"\?/,
    );
    throwsWithCode(
      () => registry.register("x", () => ({}), { timeout_ms: 5 } as never),
      "INVALID_OPTIONS",
      /Cannot register action "x": unknown option "timeout_ms" of register\(\); did you mean "timeoutMs"\?/,
    );
    throwsWithCode(
      () =>
        registry.defineJob({ name: "k", view: "v", actions: ["notify"] }, {
          replace: true,
        } as never),
      "INVALID_OPTIONS",
      /known: overwrite/,
    );
    await rejectsWithCode(
      registry.validate({ timeout: 5 } as never),
      "INVALID_OPTIONS",
      /did you mean "timeoutMs"\?/,
    );
  }),
);

Deno.test("the module-level runJob(), serve() and defineJob() refuse unknown options", async () => {
  await rejectsWithCode(
    runJob("whatever", { dry_run: true } as never),
    "INVALID_OPTIONS",
  );
  await rejectsWithCode(
    serve({ handle_signals: false } as never),
    "INVALID_OPTIONS",
    /did you mean "handleSignals"\?/,
  );
  throwsWithCode(
    () =>
      defineJob({ name: "x", view: "y", actions: ["z"] }, { ow: 1 } as never),
    "INVALID_OPTIONS",
  );
});

Deno.test("createRegistry() refuses ill-typed nested options", () => {
  throwsWithCode(
    () => createRegistry({ serve: { leaseMs: "1m" } } as never),
    "INVALID_OPTIONS",
    /"serve\.leaseMs" of createRegistry\(\) must be a number/,
  );
});

Deno.test(
  "run() refuses the engine's internal delivery scope: a caller cannot forge journal entries",
  withRegistry(async (registry) => {
    await rejectsWithCode(
      registry.run("run_sql", [], {
        delivery: { journal: {}, stepKey: "job@g/0:run_sql" },
      } as never),
      "INVALID_OPTIONS",
      /Unknown option "delivery" of run\(\)/,
    );
  }),
);

Deno.test(
  "serve() knows http, httpToken and onListen, and runJob() knows runId",
  withRegistry(async (registry) => {
    oneJob(registry);
    const runId = `given-${crypto.randomUUID()}`;
    const report = await registry.runJob("j", { runId });
    assert.equal(report.runId, runId);
    await rejectsWithCode(
      registry.runJob("j", { run_id: "x" } as never),
      "INVALID_OPTIONS",
      /did you mean "runId"\?/,
    );
    await rejectsWithCode(
      registry.serve({ htpp: "127.0.0.1:0" } as never),
      "INVALID_OPTIONS",
      /did you mean "http"\?/,
    );
    await rejectsWithCode(
      registry.serve({ http: 8787 } as never),
      "INVALID_OPTIONS",
      /"http" of serve\(\) must be a string/,
    );
    await rejectsWithCode(
      registry.serve({ http_token: "t" } as never),
      "INVALID_OPTIONS",
      /did you mean "httpToken"\?/,
    );
    let told = "";
    await registry.serve({
      http: "127.0.0.1:0",
      onListen: (address) => {
        told = address.url;
      },
      signal: AbortSignal.timeout(200),
      handleSignals: false,
    });
    assert.match(told, /^http:\/\/127\.0\.0\.1:\d+\/$/);
  }),
);

Deno.test(
  "register() refuses option values of the wrong type or range with INVALID_OPTIONS naming the option and the value",
  withRegistry((registry) => {
    const module = fixture("echo.ts");
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [
        { timeoutMs: "5" },
        /"timeoutMs" of register\(\) must be a number of milliseconds above 0 and at most 2147483647, received string "5"/,
      ],
      [{ timeoutMs: -1 }, /"timeoutMs" .*received number -1/],
      [{ timeoutMs: 0 }, /"timeoutMs" .*received number 0/],
      [{ timeoutMs: 2 ** 31 }, /"timeoutMs" .*received number 2147483648/],
      [{ timeoutMs: NaN }, /"timeoutMs" .*received number NaN/],
      [
        { memoryMb: 8 },
        /"memoryMb" of register\(\) must be a number \(whole MiB, 16 or more\), received number 8/,
      ],
      [{ memoryMb: 64.5 }, /"memoryMb" .*received number 64\.5/],
      [
        { maxResultBytes: 0.5 },
        /"maxResultBytes" .*whole bytes.*received number 0\.5/,
      ],
      [
        { description: 5 },
        /"description" of register\(\) must be a string, received number 5/,
      ],
      [
        { overwrite: "yes" },
        /"overwrite" .*must be true or false, received string "yes"/,
      ],
    ];
    for (const [options, message] of cases) {
      throwsWithCode(
        () => registry.register("sandboxed", module, options as never),
        "INVALID_OPTIONS",
        message,
      );
    }
    throwsWithCode(
      () => registry.register("f", () => ({}), { timeoutMs: "5" } as never),
      "INVALID_OPTIONS",
      /"timeoutMs" of register\(\) must be a number .*received string "5"/,
    );
    assert.equal(registry.listAvailable().length, 3, "nothing was registered");
  }),
);

Deno.test(
  "register() refuses sandbox options on a function action, which runs in-process where they have no effect",
  withRegistry((registry) => {
    for (
      const options of [{ timeoutMs: 5 }, { memoryMb: 64 }, {
        permissions: { net: true },
      }]
    ) {
      throwsWithCode(
        () => registry.register("f", () => ({}), options),
        "INVALID_OPTIONS",
        /option "(timeoutMs|memoryMb|permissions)" of register\(\) applies to sandboxed \(module\) actions only/,
      );
    }
  }),
);

Deno.test(
  "history() refuses a limit that is not a whole number of 1 or more, and a job that is not a name",
  withRegistry(async (registry) => {
    oneJob(registry);
    for (
      const [limit, shown] of [[-1, "number -1"], [1.5, "number 1.5"], [
        "5",
        'string "5"',
      ], [0, "number 0"]] as const
    ) {
      await rejectsWithCode(
        registry.history({ limit } as never),
        "INVALID_OPTIONS",
        new RegExp(
          `Option "limit" of history\\(\\) must be a number \\(whole, 1 or more\\), received ${shown}`,
        ),
      );
    }
    await rejectsWithCode(
      registry.history({ job: "" }),
      "INVALID_OPTIONS",
      /Option "job" of history\(\) must be a non-empty string/,
    );
    const runs = await registry.history({ job: "j", limit: 5 });
    assert.ok(runs.length <= 5, "a whole limit is taken");
  }),
);

Deno.test(
  "runJob(), serve() and validate() refuse values of the wrong type or range, naming the option and the value",
  withRegistry(async (registry) => {
    oneJob(registry);
    await rejectsWithCode(
      registry.runJob("j", { runId: "" }),
      "INVALID_OPTIONS",
      /Option "runId" of runJob\(\) must be a non-empty string.*received string ""/,
    );
    const serveCases: Array<[Record<string, unknown>, RegExp]> = [
      [
        { graceMs: -1 },
        /"graceMs" of serve\(\) must be a number \(whole milliseconds, 0 to 2147483647\), received number -1/,
      ],
      [{ leaseMs: 0 }, /"leaseMs" .*1 to 2147483647.*received number 0/],
      [{ leaseMs: 2 ** 31 }, /"leaseMs" .*received number 2147483648/],
      [
        { driver: "cron" },
        /"driver" of serve\(\) must be "timer" or "deno-cron", received string "cron"/,
      ],
      [
        { jobs: "j" },
        /"jobs" of serve\(\) must be a list of names.*received string "j"/,
      ],
      [{ instance: "" }, /"instance" .*non-empty string/],
      [
        { history: { keepDays: 0 } },
        /"history\.keepDays" of serve\(\) must be a number of days above 0, received number 0/,
      ],
      [{ clock: { now: 1 } }, /"clock" of serve\(\) must be a clock/],
      [
        { httpToken: 12345 },
        /"httpToken" of serve\(\) must be a string, received number$/,
      ],
    ];
    for (const [options, message] of serveCases) {
      await rejectsWithCode(
        registry.serve({ handleSignals: false, ...options } as never),
        "INVALID_OPTIONS",
        message,
      );
    }
    await rejectsWithCode(
      registry.serve({ jobs: ["i"], handleSignals: false }),
      "INVALID_OPTIONS",
      /Option "jobs" of serve\(\) names job "i", which is not defined; did you mean "j"\?/,
    );
    await rejectsWithCode(
      registry.validate({ timeoutMs: 0 }),
      "INVALID_OPTIONS",
      /"timeoutMs" of validate\(\) must be a number \(whole milliseconds, 1 to 2147483647\), received number 0/,
    );
    throwsWithCode(
      () =>
        registry.defineView({
          name: "w",
          database: "sqlite::memory:",
          sql: "SELECT 1",
        }, { overwrite: 1 } as never),
      "INVALID_OPTIONS",
      /"overwrite" of define\(\) must be true or false, received number 1/,
    );
  }),
);

Deno.test("an options call with several problems names them all in one INVALID_OPTIONS", async () => {
  await withRegistry(async (registry) => {
    const error = await rejectsWithCode(
      registry.serve({ graceMs: "1s", leaseMs: -5, signl: 1 } as never),
      "INVALID_OPTIONS",
      /"graceMs" .*received string "1s"; option "leaseMs" .*received number -5; unknown option "signl" of serve\(\); did you mean "signal"\?/,
    );
    assert.deepEqual(
      (error.issues as Array<{ path: string }>).map((issue) => issue.path),
      ["graceMs", "leaseMs", "signl"],
    );
  })();
});

Deno.test("createRegistry() refuses values of the wrong range, naming the option and the value", () => {
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [
      { sandbox: { maxProcesses: 0 } },
      /"sandbox\.maxProcesses" of createRegistry\(\) must be a number \(whole, 1 or more\), received number 0/,
    ],
    [
      { sandbox: { maxWorkersPerAction: 1.5 } },
      /"sandbox\.maxWorkersPerAction" .*received number 1\.5/,
    ],
    [{ serve: { graceMs: 1.5 } }, /"serve\.graceMs" .*received number 1\.5/],
    [
      { history: { keepDays: -1 } },
      /"history\.keepDays" of createRegistry\(\) must be a number of days above 0, received number -1/,
    ],
    [
      { databases: { main: 5 } },
      /"databases" of createRegistry\(\) must be an object of database names and URLs/,
    ],
    [
      { store: "" },
      /"store" of createRegistry\(\) must be a database URL or name .*received string ""/,
    ],
    [
      { clock: { now: () => 0 } },
      /"clock" of createRegistry\(\) must be a clock: an object with now\(\) and sleep/,
    ],
  ];
  for (const [options, message] of cases) {
    throwsWithCode(
      () => createRegistry(options as never),
      "INVALID_OPTIONS",
      message,
    );
  }
});
