/**
 * OpenTelemetry traces of job runs through `npm:@opentelemetry/api`: a span
 * `triggerkit.job.run` per run, with a child span for the view query and one
 * for each action that ran. The action's span is the active context while it
 * runs, so `http_request` sends it on as `traceparent`.
 *
 * Nothing is exported unless an SDK is registered (Deno's built-in one with
 * `OTEL_DENO=true`, or `@opentelemetry/sdk-trace-*`): without one, the API
 * hands out spans with an invalid context and a run takes the untraced path.
 *
 * @module
 */
import {
  type Attributes,
  type Context,
  context,
  isSpanContextValid,
  propagation,
  type Span,
  SpanStatusCode,
  trace,
  type Tracer,
} from "@opentelemetry/api";
import type { RunReport, RunStart } from "../store/contract.ts";
import { noObserver, type RunObserver } from "./run_observer.ts";

/** The instrumentation scope of TriggerKit's spans. */
export const TRACER_NAME = "triggerkit";

/** Span names. */
export const SPAN = {
  /** One run of a job. */
  run: "triggerkit.job.run",
  /** The run's view query. */
  view: "triggerkit.view.query",
  /** One action step of the run (all its attempts). */
  action: "triggerkit.action.run",
} as const;

/** Attribute names. */
export const ATTRIBUTE = {
  job: "triggerkit.job",
  runId: "triggerkit.run_id",
  action: "triggerkit.action",
  view: "triggerkit.view",
  rows: "triggerkit.rows",
  newRows: "triggerkit.new_rows",
  outcome: "triggerkit.outcome",
  dryRun: "triggerkit.dry_run",
  step: "triggerkit.step",
  attempts: "triggerkit.attempts",
  errorCode: "triggerkit.error.code",
  reason: "triggerkit.reason",
  slot: "triggerkit.slot",
} as const;

/**
 * The run observer that traces runs.
 *
 * @returns An observer; it costs a no-op span per run when no SDK is registered.
 */
export function tracingObserver(): RunObserver {
  const tracer = trace.getTracer(TRACER_NAME);
  return {
    runStarted(run: RunStart) {
      const attributes: Attributes = {
        [ATTRIBUTE.job]: run.jobName,
        [ATTRIBUTE.runId]: run.runId,
        [ATTRIBUTE.dryRun]: run.dryRun,
      };
      if (run.slot) attributes[ATTRIBUTE.slot] = run.slot;
      const span = tracer.startSpan(SPAN.run, { attributes });
      if (!isSpanContextValid(span.spanContext())) {
        return noObserver.runStarted(run);
      }
      const parent = trace.setSpan(context.active(), span);
      const common = {
        [ATTRIBUTE.job]: run.jobName,
        [ATTRIBUTE.runId]: run.runId,
      };
      return {
        queryView: (view, query) =>
          inChildSpan(
            tracer,
            parent,
            SPAN.view,
            { ...common, [ATTRIBUTE.view]: view },
            async function traceViewQuery(child) {
              const rows = await query();
              child.setAttribute(ATTRIBUTE.rows, rows.length);
              child.setAttribute(ATTRIBUTE.outcome, "succeeded");
              return rows;
            },
          ),
        runAction: (step, call) =>
          inChildSpan(
            tracer,
            parent,
            SPAN.action,
            {
              ...common,
              [ATTRIBUTE.action]: step.action,
              [ATTRIBUTE.step]: step.index,
              [ATTRIBUTE.rows]: step.rows,
            },
            async function traceAction(child) {
              const outcome = await call();
              child.setAttribute(ATTRIBUTE.outcome, outcome.status);
              child.setAttribute(ATTRIBUTE.attempts, outcome.attempts ?? 1);
              if (outcome.error) {
                child.setAttribute(ATTRIBUTE.errorCode, outcome.error.code);
                child.setStatus({
                  code: SpanStatusCode.ERROR,
                  message: outcome.error.message,
                });
              }
              return outcome;
            },
          ),
        finished: (report) => endRunSpan(span, report),
      };
    },
  };
}

function endRunSpan(span: Span, report: RunReport): void {
  span.setAttributes({
    [ATTRIBUTE.rows]: report.rowCount,
    [ATTRIBUTE.newRows]: report.newRowCount,
    [ATTRIBUTE.outcome]: report.status,
  });
  if (report.reason) span.setAttribute(ATTRIBUTE.reason, report.reason);
  if (report.error) span.setAttribute(ATTRIBUTE.errorCode, report.error.code);
  if (report.status === "failed") {
    span.setStatus({
      code: SpanStatusCode.ERROR,
      message: report.error?.message ?? report.reason ?? "the run failed",
    });
  }
  span.end();
}

async function inChildSpan<T>(
  tracer: Tracer,
  parent: Context,
  name: string,
  attributes: Attributes,
  fn: (span: Span) => Promise<T>,
): Promise<T> {
  const span = tracer.startSpan(name, { attributes }, parent);
  try {
    return await context.with(trace.setSpan(parent, span), () => fn(span));
  } catch (error) {
    span.setAttribute(ATTRIBUTE.outcome, "failed");
    if (error instanceof Error) span.recordException(error);
    span.setStatus({ code: SpanStatusCode.ERROR, message: String(error) });
    throw error;
  } finally {
    span.end();
  }
}

/**
 * Headers with the active trace context added (`traceparent`, `tracestate`)
 * by the registered propagator; headers the caller set win. Without a
 * registered propagator, the same object comes back.
 *
 * @param headers Request headers, lower-case names.
 * @returns The headers to send.
 */
export function withTraceContext(
  headers: Record<string, string>,
): Record<string, string> {
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  let out = headers;
  for (const [name, value] of Object.entries(carrier)) {
    const key = name.toLowerCase();
    if (key in headers) continue;
    if (out === headers) out = { ...headers };
    out[key] = value;
  }
  return out;
}
