/**
 * `/healthz`: healthy while the scheduler loop has ticked recently and the
 * run store answers, each request asking the store anew under a timeout.
 *
 * @module
 */
import type { Clock } from "../clock.ts";
import type { SchedulerState, StatusSource } from "./_source.ts";
import { redact } from "../redact.ts";

/** How long `/healthz` waits for the store, in ms (SPEC §6). */
export const HEALTH_TIMEOUT_MS = 2000;

/** One check's verdict. */
export interface HealthCheck {
  /** Whether it passed. */
  ok: boolean;
  /** What was seen, for people. */
  detail: string;
}

/** What `/healthz` answers. */
export interface HealthReport {
  /** `ok` when every check passed. */
  status: "ok" | "unavailable";
  /** Why not, one line per failed check. */
  reasons: string[];
  /** Each check. */
  checks: { scheduler: HealthCheck; store: HealthCheck };
}

/** Options of {@linkcode checkHealth}. */
export interface HealthOptions {
  /** The clock (tests pass a fake one). */
  clock: Clock;
  /** How long the store may take to answer (default 2000 ms). */
  timeoutMs?: number;
}

/**
 * Checks the scheduler loop and the store.
 *
 * @param source The registry's status source.
 * @param options The clock and the store's timeout.
 * @returns The verdict, with the reason of each failed check.
 */
export async function checkHealth(
  source: Pick<StatusSource, "scheduler" | "storeAlive">,
  options: HealthOptions,
): Promise<HealthReport> {
  const scheduler = checkScheduler(source.scheduler(), options.clock.now());
  const store = await checkStore(source, options);
  const reasons = [scheduler, store].filter((check) => !check.ok).map((
    check,
  ) => check.detail);
  return {
    status: reasons.length === 0 ? "ok" : "unavailable",
    reasons,
    checks: { scheduler, store },
  };
}

/** How long without a tick before the loop counts as stuck: two missed ticks and some slack. */
export function staleAfterMs(state: SchedulerState): number {
  return 2 * state.tickEveryMs + 5000;
}

/** Whether the scheduler loop ticked recently (no store access). */
export function checkScheduler(
  state: SchedulerState | undefined,
  now: number,
): HealthCheck {
  if (!state) return { ok: false, detail: "the scheduler is not running" };
  if (state.stopping) return { ok: false, detail: "the scheduler is stopping" };
  if (state.tickedAt === undefined) {
    return { ok: false, detail: "the scheduler has not started its loop yet" };
  }
  const ago = Math.max(0, now - state.tickedAt);
  const detail = `the scheduler loop ticked ${seconds(ago)} ago`;
  if (ago > staleAfterMs(state)) {
    return {
      ok: false,
      detail: `${detail} (it should every ${seconds(state.tickEveryMs)})`,
    };
  }
  return { ok: true, detail };
}

async function checkStore(
  source: Pick<StatusSource, "storeAlive">,
  options: HealthOptions,
): Promise<HealthCheck> {
  const timeoutMs = options.timeoutMs ?? HEALTH_TIMEOUT_MS;
  const stop = new AbortController();
  const started = performance.now();
  try {
    const answered = await Promise.race([
      source.storeAlive(stop.signal).then(() => true),
      options.clock.sleep(timeoutMs, stop.signal).then(() => false),
    ]);
    if (!answered) {
      return {
        ok: false,
        detail: `the run store did not answer within ${seconds(timeoutMs)}`,
      };
    }
    const ms = Math.round(performance.now() - started);
    return { ok: true, detail: `the run store answered in ${ms} ms` };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return {
      ok: false,
      detail: `the run store failed: ${redact(message)}`,
    };
  } finally {
    stop.abort();
  }
}

function seconds(ms: number): string {
  return ms < 10_000
    ? `${Math.round(ms / 100) / 10} s`
    : `${Math.round(ms / 1000)} s`;
}
