/**
 * Logic-less templates (mustache), never `eval`. Values are escaped for
 * their destination before rendering, and mustache's own escaping is off,
 * so `{{x}}` and `{{{x}}}` render the same safe text.
 *
 * @module
 */
// @ts-types="@types/mustache"
import Mustache from "mustache";
import { TriggerKitError } from "../src/errors.ts";
import { toJson } from "../src/_json.ts";

/** How a value becomes text in a destination. */
export type Escaper = (text: string) => string;

/** Slack mrkdwn: exactly `&`, `<` and `>` (not HTML's set). */
export const escapeMrkdwn: Escaper = (text) =>
  text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");

/** A URL component. */
export const escapeUrlComponent: Escaper = encodeURIComponent;

/** The inside of a JSON string literal. */
export const escapeJsonString: Escaper = (text) =>
  JSON.stringify(text).slice(1, -1);

/** A value as template text: dates as ISO, objects as JSON. */
export function toText(value: unknown): string {
  if (value === null || value === undefined) return "";
  if (value instanceof Date) return value.toISOString();
  if (typeof value === "object") {
    return toJson(value);
  }
  return String(value);
}

/**
 * A view whose leaves are escaped text. Arrays and plain objects keep their
 * shape, so that sections (`{{#rows}}…{{/rows}}`) work; numbers and booleans
 * stay as they are, so that conditions work.
 */
export function escapeView(
  value: unknown,
  escape: Escaper,
  depth = 0,
): unknown {
  if (typeof value === "string") return escape(value);
  if (typeof value === "number" || typeof value === "boolean") return value;
  if (Array.isArray(value) && depth < 4) {
    return value.map((item) => escapeView(item, escape, depth + 1));
  }
  if (
    value !== null && typeof value === "object" && !(value instanceof Date) &&
    depth < 4 &&
    [Object.prototype, null].includes(Object.getPrototypeOf(value))
  ) {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      out[key] = escapeView(item, escape, depth + 1);
    }
    return out;
  }
  return value === null || value === undefined ? value : escape(toText(value));
}

/**
 * What every template sees besides the rows: `jobName`, `runId`, `context`
 * (the run's shared context) and, for alert deliveries, `state`.
 */
export function templateVariables(
  input: { jobName?: string; runId: string; context: Record<string, unknown> },
  state: string | undefined,
): Record<string, unknown> {
  return {
    jobName: input.jobName ?? "",
    runId: input.runId,
    context: input.context,
    ...(state === undefined ? {} : { state }),
  };
}

const CONFIG = { escape: (text: unknown) => String(text) };

/**
 * Renders a template with a view already escaped by {@linkcode escapeView}.
 *
 * @throws {TriggerKitError} `INVALID_CONFIG` for a template that does not parse.
 */
export function render(template: string, view: unknown, where: string): string {
  try {
    return Mustache.render(template, view, undefined, CONFIG);
  } catch (error) {
    throw new TriggerKitError(
      "INVALID_CONFIG",
      `Invalid template in ${where}: ${(error as Error).message}`,
      { cause: error },
    );
  }
}

/** Renders every string inside a JSON-like value (for Slack blocks). */
export function renderDeep(
  value: unknown,
  view: unknown,
  where: string,
): unknown {
  if (typeof value === "string") return render(value, view, where);
  if (Array.isArray(value)) {
    return value.map((item) => renderDeep(item, view, where));
  }
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value).map((
        [key, item],
      ) => [key, renderDeep(item, view, where)]),
    );
  }
  return value;
}
