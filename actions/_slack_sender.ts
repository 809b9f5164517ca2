/**
 * How one Slack message is sent, and what a failure means for delivery:
 * the shared contract of the Web API sender (`_slack_web_api.ts`) and the
 * incoming-webhook sender (here).
 *
 * A failure is either `failed` (Slack certainly did not post the message:
 * it may be sent again) or `unknown` (a 5xx or a timeout after the request
 * went out: Slack may have posted it; it is sent again only after a check
 * that finds it absent, and a webhook cannot be checked).
 *
 * @module
 */
import type { Clock } from "../src/clock.ts";
import type { SlackMessage } from "./_slack_format.ts";
import type { RateGate } from "./_pacer.ts";
import { backoffMs, fetchWithRetry, retryAfterMs } from "./_http_retry.ts";

/** A message Slack accepted: the channel (an id for the Web API) and its `ts` (null for webhooks). */
export interface Posted {
  channel: string;
  ts: string | null;
}

/** Which message of which unit is sent. */
export interface MessageTag {
  /** The unit's delivery token (Slack metadata carries it). */
  token: string;
  /** The message's index within its unit. */
  part: number;
  /** When the unit's first attempt started (ms): a check looks from there. */
  since: number;
  /** Look for the message before sending it (an earlier attempt's outcome is unknown). */
  check: boolean;
}

/** Sends the messages of one run. */
export interface SlackSender {
  /** Whether a message whose outcome is unknown can be looked up. */
  readonly canCheck: boolean;
  /** Sends one message (or finds it already posted). */
  send(message: SlackMessage, tag: MessageTag): Promise<Posted>;
}

/** What a send that did not end in a posted message came to. */
export class SendError extends Error {
  /** `failed`: certainly not posted; `unknown`: may have been posted. */
  readonly outcome: "failed" | "unknown";

  /**
   * @param outcome Whether Slack may have posted the message.
   * @param message What happened.
   * @param cause The underlying error.
   */
  constructor(
    outcome: "failed" | "unknown",
    message: string,
    cause?: unknown,
  ) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = "SendError";
    this.outcome = outcome;
  }
}

/** How a sender waits and retries. */
export interface SendPolicy {
  retries: number;
  retryBaseMs: number;
  timeoutMs: number;
  clock: Clock;
  gate: RateGate;
  signal: AbortSignal;
}

/**
 * Whether a fetch error happened before the request was sent (connecting,
 * name resolution): then nothing reached Slack and resending is safe.
 */
export function failedToConnect(error: unknown): boolean {
  // Deno's fetch says "fetch failed"; the cause says "client error (Connect)".
  for (let e = error, depth = 0; e && depth < 4; depth++) {
    const message = e instanceof Error ? e.message : String(e);
    if (
      /client error \(Connect\)|Connection refused|dns error/i.test(message)
    ) {
      return true;
    }
    e = e instanceof Error ? e.cause : undefined;
  }
  return false;
}

/** An error's message with its cause's (Deno's fetch hides the reason in the cause). */
export function describeError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const cause = error instanceof Error && error.cause instanceof Error
    ? error.cause.message
    : undefined;
  return cause && !message.includes(cause) ? `${message}: ${cause}` : message;
}

/**
 * An incoming-webhook sender. Webhooks cannot be read back, so an attempt
 * whose outcome is unknown (5xx, timeout, a connection lost after sending)
 * is never repeated: the message is reported `unknown`. A 429 is waited out
 * and a failure to connect is retried: neither posted anything.
 */
export function webhookSender(url: string, policy: SendPolicy): SlackSender {
  const { clock, gate, signal } = policy;
  const once = {
    retries: 0,
    baseMs: 0,
    timeoutMs: policy.timeoutMs,
    clock,
    returnRateLimited: true,
  };
  return {
    canCheck: false,
    async send(message) {
      const body = JSON.stringify({
        text: message.text,
        ...(message.blocks ? { blocks: message.blocks } : {}),
      });
      for (let attempt = 0;; attempt++) {
        await gate.pass(url, signal);
        signal.throwIfAborted();
        let response: Response;
        try {
          ({ response } = await fetchWithRetry(
            url,
            {
              method: "POST",
              headers: { "content-type": "application/json" },
              body,
            },
            once,
            signal,
          ));
        } catch (error) {
          signal.throwIfAborted();
          if (!failedToConnect(error)) {
            throw new SendError(
              "unknown",
              `the webhook request failed after it was sent (${
                describeError(error)
              })`,
              error,
            );
          }
          if (attempt >= policy.retries) {
            throw new SendError(
              "failed",
              `cannot reach the webhook: ${describeError(error)}`,
              error,
            );
          }
          await clock.sleep(backoffMs(attempt, policy.retryBaseMs), signal);
          continue;
        }
        const text = await response.text();
        if (response.ok) return { channel: message.channel, ts: null };
        if (response.status === 429) {
          gate.close(
            url,
            retryAfterMs(response.headers.get("retry-after"), clock.now()) ??
              1000,
          );
          attempt--;
          continue;
        }
        throw new SendError(
          response.status >= 500 ? "unknown" : "failed",
          `the webhook answered ${response.status}: ${text.slice(0, 200)}`,
        );
      }
    },
  };
}
