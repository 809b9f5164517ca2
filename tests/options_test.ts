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
import { rejectsWithCode, throwsWithCode, withRegistry } from "./_helpers.ts";

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
      /Unknown option "timeout_ms" of register\(\); did you mean "timeoutMs"\?/,
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
