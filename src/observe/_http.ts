/**
 * The status server's HTTP plumbing: errors that carry their status, the
 * response headers, JSON and HTML responses, query parsing, token digests.
 *
 * @module
 */
import { isTriggerKitError } from "../errors.ts";
import { logger } from "../logger.ts";
import { toJson } from "../_json.ts";
import { closestNames } from "../_suggest.ts";
import { redactDeep } from "./_escape.ts";
import { redact } from "../redact.ts";
import { renderMessagePage } from "./status_page.ts";

const log = logger("http");

/** The largest `limit` of `/api/runs`. */
const MAX_RUNS_LIMIT = 1000;

/** Headers of every response. */
export const SECURITY_HEADERS = {
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-store",
};

/** Headers of an HTML page: no script or style but our own. */
const PAGE_HEADERS = {
  ...SECURITY_HEADERS,
  "content-type": "text/html; charset=utf-8",
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "x-frame-options": "DENY",
};

/** A request answered with an HTTP status: the message is safe to show. */
export class HttpError extends Error {
  readonly status: number;
  readonly code: string;
  readonly headers: Record<string, string>;

  constructor(
    status: number,
    code: string,
    message: string,
    headers: Record<string, string> = {},
  ) {
    super(message);
    this.status = status;
    this.code = code;
    this.headers = headers;
  }
}

/** An error as JSON (the API, and clients that do not want HTML) or as a page. */
export function errorResponse(
  request: Request,
  error: unknown,
  now: number,
  secrets: readonly string[] = [],
): Response {
  const known = error instanceof HttpError
    ? error
    : isTriggerKitError(error)
    ? new HttpError(503, error.code, error.message)
    : undefined;
  if (!known) log.error("Status server error: {error}", { error });
  const failure = known ??
    new HttpError(
      500,
      "INTERNAL_ERROR",
      "The status server failed; see its log",
    );
  const message = redact(failure.message, secrets);
  const path = new URL(request.url).pathname;
  if (path.startsWith("/api/") || !accepts(request, "text/html")) {
    return jsonResponse(
      { error: { code: failure.code, message } },
      failure.status,
      failure.headers,
    );
  }
  const title = failure.status === 404 ? "Not found" : "Unavailable";
  const response = htmlResponse(
    renderMessagePage(title, message, now),
    failure.status,
  );
  for (const [name, value] of Object.entries(failure.headers)) {
    response.headers.set(name, value);
  }
  return response;
}

function accepts(request: Request, type: string): boolean {
  return (request.headers.get("accept") ?? "").includes(type);
}

/** A path segment, percent-decoded, or 400. */
export function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HttpError(
      400,
      "INVALID_OPTIONS",
      "The path is not valid percent-encoding",
    );
  }
}

const RUNS_KEYS = ["job", "limit"];

/** `/api/runs?job=&limit=`, strictly: an unknown key names the closest one. */
export function parseRunsQuery(
  params: URLSearchParams,
): { job?: string; limit: number } {
  for (const key of params.keys()) {
    if (!RUNS_KEYS.includes(key)) {
      const close = closestNames(key, RUNS_KEYS, 1)[0];
      throw new HttpError(
        400,
        "INVALID_OPTIONS",
        `Unknown query parameter "${key}"${
          close ? `; did you mean "${close}"?` : ""
        }`,
      );
    }
  }
  const limitText = params.get("limit");
  const limit = limitText === null || limitText === "" ? 20 : Number(limitText);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_RUNS_LIMIT) {
    throw new HttpError(
      400,
      "INVALID_OPTIONS",
      `limit must be a whole number from 1 to ${MAX_RUNS_LIMIT}, received "${limitText}"`,
    );
  }
  const job = params.get("job");
  return job ? { job, limit } : { limit };
}

/** An HTML page with the page headers. */
export function htmlResponse(body: string, status = 200): Response {
  return new Response(body, { status, headers: PAGE_HEADERS });
}

/** JSON, redacted, with the security headers. */
export function jsonResponse(
  value: unknown,
  status = 200,
  headers: Record<string, string> = {},
): Response {
  return new Response(toJson(redactDeep(value)), {
    status,
    headers: {
      ...SECURITY_HEADERS,
      "content-type": "application/json; charset=utf-8",
      ...headers,
    },
  });
}

/** SHA-256 of a token, so that tokens are compared in constant time. */
export async function digest(text: string): Promise<Uint8Array> {
  return new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)),
  );
}

/** Compares two digests in time independent of where they differ. */
export function equalDigests(a: Uint8Array, b: Uint8Array): boolean {
  let difference = a.length ^ b.length;
  for (let i = 0; i < a.length; i++) difference |= a[i]! ^ (b[i] ?? 0);
  return difference === 0;
}
