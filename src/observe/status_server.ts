/**
 * The HTTP side of `serve({ http })` (SPEC §6): the status page, `/healthz`,
 * `/metrics`, the JSON API and the live-refresh event stream. Read-only
 * unless a token is given; then `POST /api/jobs/<name>/run` with
 * `Authorization: Bearer <token>` starts a run.
 *
 * @module
 */
import { type Clock, realClock } from "../clock.ts";
import { isTriggerKitError, TriggerKitError } from "../errors.ts";
import { logger } from "../logger.ts";
import {
  countFiring,
  type FiringAlerts,
  type StatusSource,
} from "./_source.ts";
import {
  decodeSegment,
  digest,
  equalDigests,
  errorResponse,
  htmlResponse,
  HttpError,
  jsonResponse,
  parseRunsQuery,
  SECURITY_HEADERS,
} from "./_http.ts";
import { checkHealth, checkScheduler, HEALTH_TIMEOUT_MS } from "./health.ts";
import { PROMETHEUS_CONTENT_TYPE } from "./metrics.ts";
import type { RunMetrics } from "./run_metrics.ts";
import {
  renderJobsPage,
  renderMessagePage,
  renderRunPage,
  SHOWN_ALERTS,
  SPARKLINE_RUNS,
} from "./status_page.ts";

import { ICON_SVG, STATUS_CSS, STATUS_JS } from "./_page_assets.ts";
import { hideSecrets } from "./_escape.ts";
import { EventHub } from "./_event_hub.ts";
import { allowedHostsFor, refusedHost } from "./_allowed_hosts.ts";
import type { ListenAddress, StatusServerAddress } from "./listen_address.ts";

export {
  type ListenAddress,
  parseListenAddress,
  type StatusServerAddress,
} from "./listen_address.ts";

const log = logger("http");

/** The fewest characters of a run id `/runs/<id>` looks up as a prefix. */
const MIN_PREFIX = 4;

/** Options of {@linkcode createStatusHandler}. */
export interface StatusHandlerOptions {
  /** What the pages show and the API does. */
  source: StatusSource;
  /** The registry's run metrics. */
  metrics: RunMetrics;
  /** Enables `POST /api/jobs/<name>/run` with this Bearer token. */
  token?: string;
  /**
   * Values masked as `***` wherever they would show (pages, JSON, errors,
   * `/healthz`), beside what the redaction finds itself; the token is one.
   */
  secrets?: readonly string[];
  /** The clock (tests pass a fake one). */
  clock?: Clock;
  /** How long the store may take for `/healthz` and each page, in ms (default 2000). */
  storeTimeoutMs?: number;
  /**
   * The `Host` names answered (lower case, no port); any other is refused
   * with 403 `HOST_NOT_ALLOWED`. Absent: any (see `_allowed_hosts.ts`).
   */
  hosts?: ReadonlySet<string>;
}

/** The status server's request handler, usable without a socket (tests, benches). */
export interface StatusHandler {
  /** Answers one request. */
  handle(request: Request): Promise<Response>;
  /** Ends the open event streams. */
  close(): void;
  /** The event streams (`/events`) open now. */
  readonly eventStreams: number;
}

const ASSETS: Record<string, { type: string; body: string }> = {
  "/assets/status.css": { type: "text/css; charset=utf-8", body: STATUS_CSS },
  "/assets/status.js": {
    type: "text/javascript; charset=utf-8",
    body: STATUS_JS,
  },
  "/assets/icon.svg": { type: "image/svg+xml", body: ICON_SVG },
};

/**
 * Creates the status server's handler.
 *
 * @param options The source, the metrics, the token, the clock.
 * @returns The handler and a way to end its event streams.
 */
export function createStatusHandler(
  options: StatusHandlerOptions,
): StatusHandler {
  const { source, metrics } = options;
  const clock = options.clock ?? realClock;
  const storeTimeoutMs = options.storeTimeoutMs ?? HEALTH_TIMEOUT_MS;
  const tokenDigest = options.token === undefined
    ? undefined
    : digest(options.token);
  const secrets = [
    ...(options.secrets ?? []),
    ...(options.token === undefined ? [] : [options.token]),
  ];
  const events = new EventHub();
  const unsubscribe = source.subscribe?.((change) => events.send(change));

  /** Waits for a store-backed read, at most the store timeout. */
  async function fromStore<T>(read: Promise<T>): Promise<T> {
    const stop = new AbortController();
    try {
      return hideSecrets(
        await Promise.race([
          read,
          clock.sleep(storeTimeoutMs, stop.signal).then(() => {
            throw new HttpError(
              503,
              "STORE_ERROR",
              `The run store did not answer within ${storeTimeoutMs} ms`,
            );
          }),
        ]),
        secrets,
      );
    } finally {
      stop.abort();
    }
  }

  /** The firing keys the page lists, and their total: a bounded read. */
  function firingAlerts(): Promise<FiringAlerts | undefined> {
    if (source.firingAlerts) return source.firingAlerts(SHOWN_ALERTS);
    return source.alerts
      ? source.alerts().then((alerts) => {
        const firing = alerts.filter((alert) => alert.state === "firing");
        return { alerts: firing.slice(0, SHOWN_ALERTS), total: firing.length };
      })
      : Promise.resolve(undefined);
  }

  async function jobsPage(): Promise<Response> {
    const [jobs, recentRuns, firing] = await fromStore(Promise.all([
      source.jobs({ recentRuns: SPARKLINE_RUNS, summaries: true }),
      source.runs({ limit: 15 }),
      firingAlerts(),
    ]));
    return htmlResponse(renderJobsPage({
      jobs,
      recentRuns,
      alerts: firing?.alerts,
      ...(firing ? { firingTotal: firing.total } : {}),
      scheduler: checkScheduler(source.scheduler(), clock.now()),
      writable: tokenDigest !== undefined,
      now: clock.now(),
    }));
  }

  async function runPage(runId: string): Promise<Response> {
    const run = await fromStore(source.run(runId));
    // A short id (as the page and `history` print them) of exactly one run:
    // its page, found by the store's id index however many runs it holds.
    const [only, other] = !run && runId.length >= MIN_PREFIX
      ? await fromStore(
        source.runsByIdPrefix?.(runId, 2) ?? Promise.resolve([]),
      )
      : [];
    if (only && !other) {
      return new Response(null, {
        status: 302,
        headers: {
          ...SECURITY_HEADERS,
          location: `/runs/${encodeURIComponent(only.runId)}`,
        },
      });
    }
    if (!run) {
      return htmlResponse(
        renderMessagePage(
          "Run not found",
          other
            ? `More than one run id starts with ${runId}: give more of it.`
            : `No run with id ${runId} is in the history.`,
          clock.now(),
        ),
        404,
      );
    }
    return htmlResponse(
      renderRunPage(run, clock.now(), tokenDigest !== undefined),
    );
  }

  async function apiJobs(): Promise<Response> {
    const jobs = await fromStore(source.jobs({ recentRuns: 1 }));
    return jsonResponse(jobs.map((job) => ({
      name: job.name,
      schedule: job.schedule,
      ...(job.timezone ? { timezone: job.timezone } : {}),
      enabled: job.enabled,
      nextRunAt: job.nextRunAt,
      lastRun: job.lastRun,
      alertsFiring: job.alertsFiring,
    })));
  }

  async function apiRuns(url: URL): Promise<Response> {
    const query = parseRunsQuery(url.searchParams);
    return jsonResponse(await fromStore(source.runs(query)));
  }

  async function apiRun(runId: string): Promise<Response> {
    const run = await fromStore(source.run(runId));
    if (!run) {
      throw new HttpError(404, "RUN_NOT_FOUND", `No run with id ${runId}`);
    }
    return jsonResponse(run);
  }

  async function startRun(request: Request, job: string): Promise<Response> {
    if (request.method !== "POST") {
      throw new HttpError(
        405,
        "METHOD_NOT_ALLOWED",
        "Use POST to start a run",
        { allow: "POST" },
      );
    }
    if (tokenDigest === undefined) {
      throw new HttpError(
        403,
        "READ_ONLY",
        "This status server is read-only: serve it with an httpToken (--http-token-env) to start runs",
      );
    }
    const presented = /^Bearer[ ]+(\S+)\s*$/i.exec(
      request.headers.get("authorization") ?? "",
    )?.[1];
    if (
      presented === undefined ||
      !equalDigests(await tokenDigest, await digest(presented))
    ) {
      throw new HttpError(
        401,
        "UNAUTHORIZED",
        "A valid Authorization: Bearer token is required",
        { "www-authenticate": 'Bearer realm="triggerkit"' },
      );
    }
    try {
      const { runId } = await source.startRun(job);
      return jsonResponse({ runId }, 202, {
        location: `/runs/${encodeURIComponent(runId)}`,
      });
    } catch (error) {
      if (isTriggerKitError(error, "JOB_NOT_FOUND")) {
        throw new HttpError(404, error.code, error.message);
      }
      throw error;
    }
  }

  async function health(): Promise<Response> {
    const report = await checkHealth(source, {
      clock,
      timeoutMs: storeTimeoutMs,
    });
    return jsonResponse(
      hideSecrets(report, secrets),
      report.status === "ok" ? 200 : 503,
    );
  }

  async function metricsText(): Promise<Response> {
    const jobs = source.jobNames();
    // The counters are in memory: a store that does not answer costs the
    // firing-alert gauges' freshness (they keep their last values), never the
    // scrape — metrics matter most during an outage.
    const alertsFiring =
      await (source.alertsFiring
        ? fromStore(source.alertsFiring())
        : source.alerts
        ? fromStore(source.alerts()).then(countFiring)
        : Promise.resolve(undefined)).catch((error) => {
          log.warn("/metrics: firing alerts not read: {error}", {
            error: (error as Error).message,
          });
          return undefined;
        });
    const body = metrics.render({
      jobs,
      sandboxProcesses: source.sandboxProcesses(),
      ...(alertsFiring ? { alertsFiring } : {}),
    });
    return new Response(body, {
      headers: { ...SECURITY_HEADERS, "content-type": PROMETHEUS_CONTENT_TYPE },
    });
  }

  async function route(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const path = url.pathname;
    const run = /^\/api\/jobs\/([^/]+)\/run$/.exec(path);
    if (run) return await startRun(request, decodeSegment(run[1]!));
    const read = request.method === "GET" || request.method === "HEAD";
    const asset = ASSETS[path];
    const runPath = /^\/runs\/([^/]+)$/.exec(path);
    const apiRunPath = /^\/api\/runs\/([^/]+)$/.exec(path);
    const known = asset || runPath || apiRunPath ||
      ["/", "/healthz", "/metrics", "/api/jobs", "/api/runs", "/events"]
        .includes(path);
    if (!known) {
      throw new HttpError(404, "NOT_FOUND", `Nothing is served at ${path}`);
    }
    if (!read) {
      throw new HttpError(
        405,
        "METHOD_NOT_ALLOWED",
        `${path} is read-only: use GET`,
        { allow: "GET, HEAD" },
      );
    }
    if (asset) {
      return new Response(asset.body, {
        headers: {
          ...SECURITY_HEADERS,
          "cache-control": "no-cache",
          "content-type": asset.type,
        },
      });
    }
    if (runPath) return await runPage(decodeSegment(runPath[1]!));
    if (apiRunPath) return await apiRun(decodeSegment(apiRunPath[1]!));
    switch (path) {
      case "/":
        return await jobsPage();
      case "/healthz":
        return await health();
      case "/metrics":
        return await metricsText();
      case "/api/jobs":
        return await apiJobs();
      case "/api/runs":
        return await apiRuns(url);
      default:
        if (events.full) {
          throw new HttpError(
            503,
            "TOO_MANY_STREAMS",
            `${events.size} event streams are open, the most there may be; the page reloads itself every 30 s instead`,
            { "retry-after": "30" },
          );
        }
        return events.connect();
    }
  }

  return {
    async handle(request) {
      let response: Response;
      try {
        const refused = refusedHost(request, options.hosts);
        if (refused !== undefined) {
          throw new HttpError(
            403,
            "HOST_NOT_ALLOWED",
            `This status server does not answer for the host ${
              JSON.stringify(refused)
            }: it is bound to loopback, which a web page could reach by DNS rebinding; allow a reverse proxy's host with httpAllowedHosts (--http-allowed-hosts)`,
          );
        }
        response = await route(request);
      } catch (error) {
        response = errorResponse(request, error, clock.now(), secrets);
      }
      if (request.method !== "HEAD") return response;
      // The body is never sent: ending it frees what it holds (an event
      // stream would otherwise stay registered, and fill, forever).
      await response.body?.cancel();
      return new Response(null, {
        status: response.status,
        headers: response.headers,
      });
    },
    get eventStreams() {
      return events.size;
    },
    close() {
      unsubscribe?.();
      events.close();
    },
  };
}

/** Options of {@linkcode startStatusServer}. */
export interface StatusServerOptions extends StatusHandlerOptions {
  /** Where to listen. */
  address: ListenAddress;
  /** Told the address once listening. */
  onListen?: (address: StatusServerAddress) => void;
  /** `Host` names answered besides loopback ones and the bound address. */
  allowedHosts?: readonly string[];
}

/** A running status server. */
export interface StatusServer {
  /** Where it listens. */
  address: StatusServerAddress;
  /** Stops listening and ends open event streams. */
  close(): Promise<void>;
  /** The event streams (`/events`) open now. */
  readonly eventStreams: number;
}

/**
 * Starts the status server.
 *
 * @param options The address, the handler's options, `onListen`.
 * @returns The running server.
 * @throws {TriggerKitError} `INVALID_OPTIONS` when the address cannot be bound.
 */
export function startStatusServer(options: StatusServerOptions): StatusServer {
  const { hostname, port } = options.address;
  const hosts = options.hosts ??
    allowedHostsFor(hostname, options.allowedHosts);
  const handler = createStatusHandler({
    ...options,
    ...(hosts ? { hosts } : {}),
  });
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve(
      { hostname, port, onListen: () => {} },
      (request) => handler.handle(request),
    );
  } catch (error) {
    handler.close();
    throw new TriggerKitError(
      "INVALID_OPTIONS",
      `Cannot serve the status page on ${hostname}:${port}: ${
        (error as Error).message
      }`,
      { cause: error },
    );
  }
  const bound = server.addr;
  const host = bound.hostname.includes(":")
    ? `[${bound.hostname}]`
    : bound.hostname;
  const address = {
    hostname: bound.hostname,
    port: bound.port,
    url: `http://${host}:${bound.port}/`,
  };
  log.info("Status page on {url}", { url: address.url });
  options.onListen?.(address);
  return {
    address,
    async close() {
      handler.close();
      await server.shutdown();
    },
    get eventStreams() {
      return handler.eventStreams;
    },
  };
}
