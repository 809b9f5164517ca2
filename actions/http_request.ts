/**
 * `http_request`: calls an API once per run or once per row. URL and body
 * are templates (values URL-encoded in the URL, JSON-escaped in the body);
 * 429, 5xx and network errors are retried with backoff honouring
 * `Retry-After`; other 4xx fail at once.
 *
 * Each request is a unit of the delivery journal: units already delivered
 * are skipped, and every request carries an `Idempotency-Key` header (the
 * IETF draft's) that stays the same across retries and runs, so an API that
 * deduplicates by it acts once even when a 5xx came after it accepted.
 *
 * @module
 */
import { z } from "zod";
import { TriggerKitError } from "../src/errors.ts";
import type { Row } from "../src/types.ts";
import {
  escapeJsonString,
  escapeUrlComponent,
  escapeView,
  render,
  templateVariables,
} from "./_template.ts";
import { fetchWithRetry } from "./_http_retry.ts";
import { withTraceContext } from "../src/observe/tracing.ts";
import { toJson } from "../src/_json.ts";
import { type Clock, realClock } from "../src/clock.ts";
import {
  type BuiltinInput,
  deliveryToken,
  scopeOf,
  unitKeysOf,
} from "../src/delivery/journal.ts";

const headerValue = z.union([
  z.string(),
  z.object({ fromEnv: z.string().min(1) }).strict(),
]);

/** The config of `http_request`. */
export const httpRequestConfig = z.object({
  url: z.string().min(1).describe(
    "URL template: {{field}} values are URL-encoded",
  ),
  method: z.enum(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]).default(
    "POST",
  ),
  headers: z.record(z.string(), headerValue).default({}).describe(
    'Header values, or { fromEnv: "VAR" } to read a secret from the environment',
  ),
  body: z.string().min(1).default("rows").describe(
    '"rows" (JSON array), "row" (JSON object, mode each) or a template whose values are JSON-escaped',
  ),
  mode: z.enum(["once", "each"]).default("once").describe(
    "once: one request per run; each: one per row",
  ),
  timeoutMs: z.number().int().positive().default(10_000).describe(
    "Time limit of one attempt",
  ),
  retries: z.number().int().min(0).max(10).default(3).describe(
    "Retries on 429, 5xx and network errors",
  ),
  retryBaseMs: z.number().int().min(0).default(500).describe(
    "First retry delay; doubles each retry, with jitter",
  ),
  allowedHosts: z.array(z.string().min(1)).optional().describe(
    "Hosts (host or host:port) requests may go to",
  ),
  maxBodyBytes: z.number().int().min(0).default(65_536).describe(
    "Response body kept in the result",
  ),
}).strict().refine(
  (config) => !(config.body === "row" && config.mode === "once"),
  {
    message: 'body "row" needs mode "each"',
    path: ["body"],
  },
);

type Config = z.output<typeof httpRequestConfig>;

/** A request as it is (or would be) sent. */
export interface PlannedRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: string;
}

/** The header that carries a unit's idempotency key (draft-ietf-httpapi-idempotency-key-header). */
export const IDEMPOTENCY_HEADER = "idempotency-key";

/**
 * Builds the requests of a run, one per unit; `reveal` false masks secret
 * header values. `tokens` (one per unit) become `Idempotency-Key` headers,
 * unless the config sets that header itself.
 */
export function planRequests(
  config: Config,
  rows: readonly Row[],
  variables: Record<string, unknown>,
  options: { reveal: boolean; tokens: readonly string[] },
): PlannedRequest[] {
  const views: Array<{ view: Row; rows: readonly Row[]; row?: Row }> =
    config.mode === "each"
      ? rows.map((row) => ({
        view: { ...row, ...variables },
        rows: [row],
        row,
      }))
      : [{ view: { ...variables, rows, count: rows.length }, rows }];
  const headers = resolveHeaders(config, options.reveal);
  return views.map(({ view, rows, row }, i) => {
    const where = config.mode === "each" ? `url for row ${i}` : "url";
    const url = checkUrl(
      config,
      render(config.url, escapeView(view, escapeUrlComponent), where),
      where,
    );
    const token = options.tokens[i];
    const request: PlannedRequest = {
      method: config.method,
      url,
      // An sf-string, as the draft has it: the token is base64url, no escaping needed.
      headers: token === undefined || IDEMPOTENCY_HEADER in headers
        ? headers
        : { ...headers, [IDEMPOTENCY_HEADER]: `"${token}"` },
    };
    if (config.method === "GET" || config.method === "HEAD") return request;
    request.body = config.body === "rows"
      ? toJson(rows)
      : config.body === "row"
      ? toJson(row)
      : render(config.body, escapeView(view, escapeJsonString), "body");
    return request;
  });
}

/** Headers that carry credentials, by name. */
const CREDENTIAL_HEADER =
  /authorization|cookie|api[-_]?key|token|secret|passw(?:or)?d|credential|signature/i;

function resolveHeaders(
  config: Config,
  reveal: boolean,
): Record<string, string> {
  const headers: Record<string, string> = {};
  const hasBody = config.method !== "GET" && config.method !== "HEAD";
  if (hasBody) headers["content-type"] = "application/json";
  for (const [name, value] of Object.entries(config.headers)) {
    if (typeof value === "string") {
      // A credential written in the config is not shown by a dry run either.
      headers[name.toLowerCase()] = reveal || !CREDENTIAL_HEADER.test(name)
        ? value
        : "***";
      continue;
    }
    const secret = Deno.env.get(value.fromEnv);
    if (secret === undefined) {
      throw new TriggerKitError(
        "INVALID_CONFIG",
        `Invalid config for action "http_request": headers.${name} reads the variable ${value.fromEnv}, which is not set`,
      );
    }
    headers[name.toLowerCase()] = reveal ? secret : "***";
  }
  return headers;
}

function checkUrl(config: Config, text: string, where: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new TriggerKitError(
      "INVALID_CONFIG",
      `Invalid config for action "http_request": the ${where} "${text}" is not a URL`,
    );
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new TriggerKitError(
      "INVALID_CONFIG",
      `Invalid config for action "http_request": the ${where} uses ${url.protocol}; only http: and https: are allowed`,
    );
  }
  if (
    config.allowedHosts &&
    !config.allowedHosts.some((host) =>
      host === url.host || host === url.hostname
    )
  ) {
    throw new TriggerKitError(
      "INVALID_CONFIG",
      `Invalid config for action "http_request": the ${where} goes to ${url.host}, which allowedHosts does not list`,
    );
  }
  return url.href;
}

/** Reads at most `max` bytes of a body; JSON is parsed when it fits. */
async function readCapped(response: Response, max: number): Promise<unknown> {
  if (max === 0 || !response.body) {
    await response.body?.cancel();
    return undefined;
  }
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  let truncated = false;
  while (size <= max) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    size += value.byteLength;
  }
  if (size > max) {
    truncated = true;
    await reader.cancel();
  }
  const bytes = new Uint8Array(Math.min(size, max));
  let offset = 0;
  for (const chunk of chunks) {
    const part = chunk.subarray(
      0,
      Math.min(chunk.byteLength, bytes.length - offset),
    );
    bytes.set(part, offset);
    offset += part.byteLength;
  }
  const text = new TextDecoder().decode(bytes);
  if (
    !truncated && (response.headers.get("content-type") ?? "").includes("json")
  ) {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  return truncated ? `${text}…` : text;
}

/** What `http_request` can be given besides config (tests). */
export interface HttpActionOptions {
  /** The clock for retry waits. */
  clock?: Clock;
}

/** The `http_request` action. */
export function httpRequest(
  options: HttpActionOptions = {},
): (input: BuiltinInput<Config>) => Promise<Record<string, unknown>> {
  const clock = options.clock ?? realClock;
  return async function http_request(input) {
    const { data, config, dryRun, signal } = input;
    const scope = scopeOf(input, "http_request");
    const keys = unitKeysOf(scope, data, config.mode === "each");
    const variables = templateVariables(input, scope.state);
    const receipts = await scope.journal.get(keys);
    const pending = keys.flatMap((key, i) =>
      receipts.get(key)?.state === "delivered" ? [] : [i]
    );
    const todo = new Set(pending);
    const skipped = keys.length - pending.length;
    const counts = skipped > 0 ? { skipped } : {};
    const plan = (reveal: boolean) =>
      planRequests(config, data, variables, {
        reveal,
        tokens: keys.map(deliveryToken),
      }).filter((_, i) => todo.has(i));
    if (dryRun) {
      const planned = plan(false);
      return { requests: planned.length, dryRun: true, planned, ...counts };
    }
    const planned = plan(true);
    const policy = {
      retries: config.retries,
      baseMs: config.retryBaseMs,
      timeoutMs: config.timeoutMs,
      clock,
    };
    const responses: Array<{ status: number; body?: unknown }> = [];
    for (const [n, request] of planned.entries()) {
      signal.throwIfAborted();
      const init: RequestInit = {
        method: request.method,
        // The run's trace goes on to the API (`traceparent`) when an SDK is registered.
        headers: withTraceContext(request.headers),
      };
      if (request.body !== undefined) init.body = request.body;
      const failed = (message: string, cause?: unknown) =>
        new TriggerKitError(
          "ACTION_FAILED",
          `Action "http_request" failed on request ${
            n + 1
          } of ${planned.length} (${request.method} ${
            new URL(request.url).origin
          }): ${message}`,
          cause === undefined ? {} : { cause },
        );
      let response: Response;
      let attempts: number;
      try {
        ({ response, attempts } = await fetchWithRetry(
          request.url,
          init,
          policy,
          signal,
        ));
      } catch (error) {
        if (signal.aborted) throw error;
        throw failed(
          `${(error as Error).message} after ${config.retries + 1} attempts`,
          error,
        );
      }
      const body = await readCapped(response, config.maxBodyBytes);
      if (!response.ok) {
        const tries = attempts > 1 ? ` after ${attempts} attempts` : "";
        const snippet = typeof body === "string"
          ? body.slice(0, 200)
          : JSON.stringify(body ?? "").slice(0, 200);
        throw failed(`HTTP ${response.status}${tries}: ${snippet}`);
      }
      await scope.journal.record(
        new Map([[keys[pending[n]!]!, {
          state: "delivered",
          at: clock.now(),
          detail: { status: response.status },
        }]]),
      );
      responses.push(
        body === undefined || body === ""
          ? { status: response.status }
          : { status: response.status, body },
      );
    }
    return { requests: planned.length, responses, ...counts };
  };
}
