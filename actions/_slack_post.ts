/**
 * Posting one Slack message: through an incoming webhook, or the Web API
 * with a bot token. Both wait out rate limits on a gate shared by every
 * message sent with the same credential.
 *
 * @module
 */
import type { LogLevel } from "@slack/web-api";
import { TriggerKitError } from "../src/errors.ts";
import { logger } from "../src/logger.ts";
import type { Clock } from "../src/clock.ts";
import type { RateGate } from "./_pacer.ts";
import type { SlackMessage } from "./_slack_format.ts";
import { fetchWithRetry, retryAfterMs } from "./_http_retry.ts";

const log = logger("slack");

function requiredEnv(name: string, what: string): string {
  const value = Deno.env.get(name);
  if (!value) {
    throw new TriggerKitError(
      "INVALID_CONFIG",
      `Invalid config for action "send_slack_message": the ${what} variable ${name} is not set`,
    );
  }
  return value;
}

/** Sends one message; what it resolves to is where the message went. */
export type Poster = (message: SlackMessage) => Promise<Delivered>;

/** A delivered message: its channel and (Web API only) its timestamp. */
export interface Delivered {
  channel: string;
  ts: string | null;
}

/** What posting needs: retry settings and credentials from the config. */
export interface PostConfig {
  tokenEnv: string;
  slackApiUrl?: string | undefined;
  retries: number;
  retryBaseMs: number;
  timeoutMs: number;
}

/** The registry's clock, the credential's rate gate, and the run's signal. */
export interface PostDeps {
  clock: Clock;
  gate: RateGate;
  signal: AbortSignal;
}

/**
 * Posts through an incoming webhook. A 429 closes the URL's gate for
 * `Retry-After` and the message is sent again: rate limiting is waited out,
 * not counted against `retries` (which are for 5xx and network errors).
 */
export function webhookPoster(
  urlEnv: string,
  config: PostConfig,
  { clock, gate, signal }: PostDeps,
): Poster {
  const url = requiredEnv(urlEnv, "webhook URL");
  const policy = {
    retries: config.retries,
    baseMs: config.retryBaseMs,
    timeoutMs: config.timeoutMs,
    clock,
    returnRateLimited: true,
  };
  return async function postToWebhook(message) {
    const body = JSON.stringify({
      text: message.text,
      ...(message.blocks ? { blocks: message.blocks } : {}),
    });
    for (;;) {
      await gate.pass(url, signal);
      const { response } = await fetchWithRetry(
        url,
        {
          method: "POST",
          headers: { "content-type": "application/json" },
          body,
        },
        policy,
        signal,
      );
      const text = await response.text();
      if (response.status === 429) {
        gate.close(
          url,
          retryAfterMs(response.headers.get("retry-after"), clock.now()) ??
            1000,
        );
        continue;
      }
      if (!response.ok) {
        throw new Error(
          `the webhook answered ${response.status}: ${text.slice(0, 200)}`,
        );
      }
      return { channel: message.channel, ts: null };
    }
  };
}

/**
 * Posts with the Web API and a bot token. A rate-limited call closes the
 * token's gate for the time Slack asked and is sent again.
 */
export function webApiPoster(
  config: PostConfig,
  { gate, signal }: PostDeps,
): Poster {
  const token = requiredEnv(config.tokenEnv, "bot token");
  // Loaded on first use: the SDK reads the OS release when it loads, which
  // would make importing TriggerKit ask for --allow-sys.
  const sdk = import("@slack/web-api");
  const client = sdk.then(({ WebClient }) =>
    new WebClient(token, {
      ...(config.slackApiUrl
        ? { slackApiUrl: config.slackApiUrl.replace(/\/?$/, "/") }
        : {}),
      retryConfig: {
        retries: config.retries,
        factor: 2,
        minTimeout: config.retryBaseMs,
        randomize: true,
      },
      rejectRateLimitedCalls: true,
      timeout: config.timeoutMs,
      logger: slackLogger(),
    })
  );
  return async function postWithWebApi(message) {
    const { ErrorCode } = await sdk;
    for (;;) {
      await gate.pass(token, signal);
      try {
        const result = await (await client).chat.postMessage({
          channel: message.channel,
          text: message.text,
          ...(message.blocks ? { blocks: message.blocks as never } : {}),
        });
        return {
          channel: result.channel ?? message.channel,
          ts: result.ts ?? null,
        };
      } catch (error) {
        const limited = error as { code?: string; retryAfter?: number };
        if (limited.code !== ErrorCode.RateLimitedError) throw error;
        gate.close(token, (limited.retryAfter ?? 1) * 1000);
      }
    }
  };
}

/** WebClient's logger, written to LogTape. */
function slackLogger() {
  let level = "info" as LogLevel;
  const text = (parts: unknown[]) => parts.map(String).join(" ");
  return {
    debug: (...parts: unknown[]) => log.debug(text(parts)),
    info: (...parts: unknown[]) => log.info(text(parts)),
    warn: (...parts: unknown[]) => log.warn(text(parts)),
    error: (...parts: unknown[]) => log.error(text(parts)),
    setLevel: (next: LogLevel) => {
      level = next;
    },
    getLevel: () => level,
    setName: () => {},
  };
}
