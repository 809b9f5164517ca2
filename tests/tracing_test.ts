/**
 * Traces of job runs, checked with the OpenTelemetry SDK's in-memory
 * exporter: the span tree of a run, its attributes, and the trace context
 * an `http_request` sends on. Each test registers the SDK globally and
 * removes it afterwards (test files run in processes of their own).
 */
import assert from "node:assert/strict";
import {
  context,
  propagation,
  SpanStatusCode,
  trace,
} from "@opentelemetry/api";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { createRegistry, type Registry } from "../mod.ts";
import { ATTRIBUTE, SPAN, withTraceContext } from "../src/observe/tracing.ts";
import { scriptArgs, serveLocal } from "./_helpers.ts";
import { registerGate } from "./_status_fixtures.ts";

/** Registers an SDK with an in-memory exporter for the test's duration. */
function withSdk(
  fn: (exporter: InMemorySpanExporter) => Promise<void>,
): () => Promise<void> {
  return async () => {
    const exporter = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({
      spanProcessors: [new SimpleSpanProcessor(exporter)],
    });
    const contextManager = new AsyncLocalStorageContextManager().enable();
    context.setGlobalContextManager(contextManager);
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    trace.setGlobalTracerProvider(provider);
    try {
      await fn(exporter);
    } finally {
      trace.disable();
      propagation.disable();
      context.disable();
      await provider.shutdown();
    }
  };
}

/** A registry with a view of 3 rows; an API that records the traceparent it gets. */
async function withJob(
  fn: (registry: Registry, traceparents: Array<string | null>) => Promise<void>,
) {
  const traceparents: Array<string | null> = [];
  const api = serveLocal((request) => {
    traceparents.push(request.headers.get("traceparent"));
    return new Response("{}", {
      headers: { "content-type": "application/json" },
    });
  });
  const registry = createRegistry({ store: "sqlite::memory:" });
  try {
    registry.defineView({
      name: "three",
      database: "sqlite::memory:",
      sql: "SELECT 1 AS id UNION ALL SELECT 2 UNION ALL SELECT 3",
    });
    registry.register("broken", () => {
      throw new Error("no");
    });
    registry.defineJob({
      name: "traced",
      view: "three",
      actions: [
        { action: "broken", continueOnError: true },
        {
          action: "http_request",
          config: { url: `${api.url}/hook`, body: "rows", retries: 0 },
        },
      ],
    });
    await fn(registry, traceparents);
  } finally {
    await registry.close();
    await api.close();
  }
}

function byName(spans: ReadableSpan[], name: string): ReadableSpan[] {
  return spans.filter((span) => span.name === name);
}

Deno.test(
  "a run is one triggerkit.job.run span with a child for the view query and one per action",
  withSdk((exporter) =>
    withJob(async (registry) => {
      const report = await registry.runJob("traced");
      assert.equal(report.status, "succeeded");
      const spans = exporter.getFinishedSpans();
      assert.equal(spans.length, 4);
      const [run] = byName(spans, SPAN.run);
      assert.ok(run);
      assert.equal(run.parentSpanContext, undefined, "the run span is a root");
      assert.equal(run.attributes[ATTRIBUTE.job], "traced");
      assert.equal(run.attributes[ATTRIBUTE.runId], report.runId);
      assert.equal(run.attributes[ATTRIBUTE.rows], 3);
      assert.equal(run.attributes[ATTRIBUTE.outcome], "succeeded");
      const children = spans.filter((span) => span !== run);
      for (const child of children) {
        assert.equal(child.parentSpanContext?.spanId, run.spanContext().spanId);
        assert.equal(child.spanContext().traceId, run.spanContext().traceId);
        assert.equal(child.attributes[ATTRIBUTE.runId], report.runId);
        assert.equal(child.attributes[ATTRIBUTE.job], "traced");
      }
      const [view] = byName(spans, SPAN.view);
      assert.equal(view?.attributes[ATTRIBUTE.view], "three");
      assert.equal(view?.attributes[ATTRIBUTE.rows], 3);
      const actions = byName(spans, SPAN.action);
      assert.deepEqual(
        actions.map((span) => [
          span.attributes[ATTRIBUTE.action],
          span.attributes[ATTRIBUTE.outcome],
          span.attributes[ATTRIBUTE.rows],
        ]),
        [["broken", "failed", 3], ["http_request", "succeeded", 3]],
      );
      assert.equal(actions[0]!.status.code, SpanStatusCode.ERROR);
      assert.equal(
        actions[0]!.attributes[ATTRIBUTE.errorCode],
        "ACTION_FAILED",
      );
      // Children end before their parent.
      for (const child of children) {
        assert.ok(
          child.endTime[0] < run.endTime[0] ||
            (child.endTime[0] === run.endTime[0] &&
              child.endTime[1] <= run.endTime[1]),
        );
      }
    })
  ),
);

Deno.test(
  "http_request sends the action span's context on as traceparent",
  withSdk((exporter) =>
    withJob(async (registry, traceparents) => {
      await registry.runJob("traced");
      const [action] = byName(exporter.getFinishedSpans(), SPAN.action).filter(
        (span) => span.attributes[ATTRIBUTE.action] === "http_request",
      );
      assert.ok(action);
      const { traceId, spanId } = action.spanContext();
      assert.deepEqual(traceparents, [`00-${traceId}-${spanId}-01`]);
    })
  ),
);

Deno.test(
  "a failed or refused run ends its span with its outcome",
  withSdk(async (exporter) => {
    const registry = createRegistry({ store: "sqlite::memory:" });
    try {
      registry.defineView({
        name: "bad",
        database: "sqlite::memory:",
        sql: "SELECT * FROM no_such_table",
      });
      registry.defineView({
        name: "one",
        database: "sqlite::memory:",
        sql: "SELECT 1 AS id",
      });
      const release = registerGate(registry, "wait");
      registry.defineJob({
        name: "broken_view",
        view: "bad",
        actions: ["wait"],
      });
      registry.defineJob({ name: "slow", view: "one", actions: ["wait"] });
      const failed = await registry.runJob("broken_view");
      assert.equal(failed.status, "failed");
      const first = registry.runJob("slow");
      const refused = await registry.runJob("slow");
      release();
      await first;
      const runs = byName(exporter.getFinishedSpans(), SPAN.run);
      const of = (runId: string) =>
        runs.find((span) => span.attributes[ATTRIBUTE.runId] === runId)!;
      assert.equal(of(failed.runId).attributes[ATTRIBUTE.outcome], "failed");
      assert.equal(of(failed.runId).status.code, SpanStatusCode.ERROR);
      assert.equal(
        of(failed.runId).attributes[ATTRIBUTE.errorCode],
        "DATABASE_ERROR",
      );
      const [view] = byName(exporter.getFinishedSpans(), SPAN.view).filter((
        span,
      ) => span.attributes[ATTRIBUTE.runId] === failed.runId);
      assert.equal(view?.attributes[ATTRIBUTE.outcome], "failed");
      assert.equal(view?.status.code, SpanStatusCode.ERROR);
      assert.equal(of(refused.runId).attributes[ATTRIBUTE.outcome], "skipped");
      assert.match(
        String(of(refused.runId).attributes[ATTRIBUTE.reason]),
        /already in progress/,
      );
    } finally {
      await registry.close();
    }
  }),
);

Deno.test("without an SDK, runs make no spans and http_request sends no traceparent", async () => {
  await withJob(async (registry, traceparents) => {
    const report = await registry.runJob("traced");
    assert.equal(report.status, "succeeded");
    assert.deepEqual(traceparents, [null]);
    assert.equal(trace.getActiveSpan(), undefined);
  });
});

Deno.test(
  "withTraceContext() keeps a traceparent the caller set",
  withSdk(async () => {
    const tracer = trace.getTracer("test");
    await tracer.startActiveSpan("outer", async (span) => {
      const mine = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
      assert.equal(withTraceContext({ traceparent: mine }).traceparent, mine);
      assert.match(
        withTraceContext({}).traceparent!,
        new RegExp(`^00-${span.spanContext().traceId}-`),
      );
      await Promise.resolve();
      span.end();
    });
    const headers = { a: "1" };
    assert.equal(
      withTraceContext(headers),
      headers,
      "no active span: unchanged",
    );
  }),
);

Deno.test("with OTEL_DENO=true, Deno's built-in SDK exports a run's spans over OTLP", async () => {
  const bodies: string[] = [];
  const collector = serveLocal(async (request) => {
    bodies.push(await request.text());
    return Response.json({});
  });
  try {
    const script = `
      import { createRegistry } from ${
      JSON.stringify(new URL("../mod.ts", import.meta.url).href)
    };
      const registry = createRegistry({ store: "sqlite::memory:" });
      registry.defineView({ name: "v", database: "sqlite::memory:", sql: "SELECT 1 AS id" });
      registry.register("a", () => ({}));
      registry.defineJob({ name: "otel_job", view: "v", actions: ["a"] });
      console.log((await registry.runJob("otel_job")).status);
      await registry.close();
    `;
    const output = await new Deno.Command(Deno.execPath(), {
      args: scriptArgs(script, ["--allow-all"]),
      env: {
        OTEL_DENO: "true",
        OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
        OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
        OTEL_SERVICE_NAME: "triggerkit-test",
      },
    }).output();
    assert.equal(
      new TextDecoder().decode(output.stdout).trim(),
      "succeeded",
      new TextDecoder().decode(output.stderr),
    );
    const spans = bodies.filter((body) => body.includes('"resourceSpans"'))
      .flatMap((body) =>
        (JSON.parse(body) as {
          resourceSpans: Array<
            { scopeSpans: Array<{ spans: Array<{ name: string }> }> }
          >;
        }).resourceSpans.flatMap((resource) =>
          resource.scopeSpans.flatMap((scope) =>
            scope.spans.map((span) => span.name)
          )
        )
      );
    for (const name of [SPAN.run, SPAN.view, SPAN.action]) {
      assert.ok(spans.includes(name), `${name} in ${spans}`);
    }
  } finally {
    await collector.close();
  }
});
