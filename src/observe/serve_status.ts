/**
 * `serve({ http })`: the scheduler with the status server beside it. The
 * server starts first (so `onListen` is told before the first run), follows
 * the scheduler loop's ticks for `/healthz`, and stops after the scheduler.
 *
 * @module
 */
import { realClock } from "../clock.ts";
import { TriggerKitError } from "../errors.ts";
import type { SchedulerHooks, ServeOptions } from "../jobs/serve.ts";
import type { Observability } from "./observability.ts";
import {
  type RegistryParts,
  RegistrySource,
  SchedulerTicks,
} from "./registry_source.ts";
import { parseListenAddress, startStatusServer } from "./status_server.ts";

/** Options of {@linkcode serveWithStatus}: `serve()`'s, and what the registry adds. */
export interface ServeWithStatusOptions extends ServeOptions {
  /** The registry's metrics and run changes. */
  observability: Pick<Observability, "metrics" | "changes">;
  /** Runs the scheduler with the given hooks. */
  runScheduler: (hooks: SchedulerHooks) => Promise<void>;
}

/**
 * Runs the scheduler, with the status server beside it when `http` is set,
 * until the scheduler stops.
 *
 * @param registry The registry's jobs, history and runs.
 * @param options `serve()`'s options (`http`, `httpToken`, `onListen`, the
 * scheduler's), the registry's observability, the scheduler.
 * @returns When both have stopped.
 * @throws {TriggerKitError} `INVALID_OPTIONS` for a bad `http` or `httpToken`, or an address that cannot be bound.
 */
export async function serveWithStatus(
  registry: RegistryParts,
  options: ServeWithStatusOptions,
): Promise<void> {
  const { runScheduler, observability } = options;
  if (options.http === undefined) {
    const stray = (["httpToken", "httpAllowedHosts", "onListen"] as const).find(
      (key) => options[key] !== undefined,
    );
    if (stray) {
      throw new TriggerKitError(
        "INVALID_OPTIONS",
        `Invalid option ${stray}: it needs http ("HOST:PORT") to serve the status page`,
      );
    }
    return await runScheduler({});
  }
  const address = parseListenAddress(options.http);
  const token = options.httpToken;
  if (token !== undefined && (typeof token !== "string" || token === "")) {
    throw new TriggerKitError(
      "INVALID_OPTIONS",
      "Invalid option httpToken: a non-empty string is required",
    );
  }
  // A token no client can send would answer 401 forever, silently: a value
  // read from a file with its final line break, say.
  const unsendable = token?.search(/[^\x21-\x7e]/) ?? -1;
  if (unsendable >= 0) {
    throw new TriggerKitError(
      "INVALID_OPTIONS",
      `Invalid option httpToken: it must be visible ASCII to be sent as "Authorization: Bearer <token>", received ${
        unsendableKind(token!.charCodeAt(unsendable))
      } at index ${unsendable}`,
    );
  }
  // A short token falls to guessing: the run route has no other lock.
  if (token !== undefined && token.length < MIN_TOKEN_LENGTH) {
    throw new TriggerKitError(
      "INVALID_OPTIONS",
      `Invalid option httpToken: it must be at least ${MIN_TOKEN_LENGTH} characters long (e.g. \`openssl rand -hex 32\`), received ${token.length}`,
    );
  }
  const clock = options.clock ?? realClock;
  const ticks = new SchedulerTicks(
    options.driver === "deno-cron" ? 60_000 : (options.leaseMs ?? 60_000) / 2,
  );
  const source = new RegistrySource(registry, {
    ticks,
    clock,
    changes: observability.changes,
  });
  const server = startStatusServer({
    source,
    metrics: observability.metrics,
    address,
    clock,
    secrets: registry.secrets?.() ?? [],
    ...(token === undefined ? {} : { token }),
    ...(options.httpAllowedHosts
      ? { allowedHosts: options.httpAllowedHosts }
      : {}),
    ...(options.onListen ? { onListen: options.onListen } : {}),
  });
  // The runs started over HTTP drain beside the scheduler's, in the same
  // grace period; here only if the scheduler failed before it could stop.
  let drained: Promise<void> | undefined;
  const onStop = (graceMs: number) => drained ??= source.drain(graceMs);
  try {
    await runScheduler({ onTick: ticks.tick, keepAlive: true, onStop });
  } finally {
    ticks.stop();
    await onStop(options.graceMs ?? 30_000);
    await server.close();
  }
}

/** The fewest characters `httpToken` may have. */
export const MIN_TOKEN_LENGTH = 16;

/** What a character a token cannot hold is, without showing it. */
function unsendableKind(code: number): string {
  if (code === 10 || code === 13) return "a line break";
  if (code === 32 || code === 9) return "a space";
  return code < 128 ? "a control character" : "a non-ASCII character";
}
