/**
 * `fetch` with retries on 429, 5xx and network errors: exponential backoff
 * with jitter, `Retry-After` honoured (seconds or an HTTP date), a timeout
 * per attempt. Shared by Slack webhooks and `http_request`.
 *
 * @module
 */
import type { Clock } from "../src/clock.ts";

/** How requests are retried. */
export interface RetryPolicy {
  /** Retries after the first attempt. */
  retries: number;
  /** The first backoff delay; it doubles each retry (with jitter). */
  baseMs: number;
  /** Time limit of one attempt. */
  timeoutMs: number;
  /** The clock to wait on. */
  clock: Clock;
  /** The longest wait, whatever `Retry-After` says (default 5 minutes). */
  maxWaitMs?: number;
  /** Return a 429 at once instead of retrying it (the caller paces). */
  returnRateLimited?: boolean;
}

/** What a retried request came to. */
export interface RetriedResponse {
  response: Response;
  attempts: number;
}

/** Whether a status is worth retrying. */
export function isRetryable(status: number): boolean {
  return status === 429 || status >= 500;
}

/** The wait a `Retry-After` header asks for, in ms, or `undefined`. */
export function retryAfterMs(
  header: string | null,
  now: number = Date.now(),
): number | undefined {
  if (header === null || header.trim() === "") return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** The n-th backoff delay: base·2ⁿ, with "equal jitter" (half fixed, half random). */
export function backoffMs(
  attempt: number,
  baseMs: number,
  random: () => number = Math.random,
): number {
  const full = baseMs * 2 ** attempt;
  return full / 2 + random() * (full / 2);
}

/**
 * Sends a request until it gets a response that is not retryable, or the
 * retries run out (the last response is returned), or `signal` aborts.
 * Network errors and timeouts are retried too; the last one is thrown.
 */
export async function fetchWithRetry(
  url: string,
  init: RequestInit,
  policy: RetryPolicy,
  signal?: AbortSignal,
): Promise<RetriedResponse> {
  const maxWait = policy.maxWaitMs ?? 300_000;
  for (let attempt = 0;; attempt++) {
    signal?.throwIfAborted();
    const attemptSignal = signal
      ? AbortSignal.any([signal, AbortSignal.timeout(policy.timeoutMs)])
      : AbortSignal.timeout(policy.timeoutMs);
    let response: Response;
    try {
      response = await fetch(url, { ...init, signal: attemptSignal });
    } catch (error) {
      if (signal?.aborted || attempt >= policy.retries) throw error;
      await policy.clock.sleep(
        Math.min(maxWait, backoffMs(attempt, policy.baseMs)),
        signal,
      );
      continue;
    }
    const rateLimited = response.status === 429 && policy.returnRateLimited;
    if (
      !isRetryable(response.status) || attempt >= policy.retries || rateLimited
    ) {
      return { response, attempts: attempt + 1 };
    }
    const wait =
      retryAfterMs(response.headers.get("retry-after"), policy.clock.now()) ??
        backoffMs(attempt, policy.baseMs);
    await response.body?.cancel();
    await policy.clock.sleep(Math.min(maxWait, wait), signal);
  }
}
