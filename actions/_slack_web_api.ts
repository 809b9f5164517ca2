/**
 * Slack's Web API sender: `chat.postMessage` with the SDK's own retries
 * turned off, each message tagged with metadata carrying its delivery token,
 * and after an attempt whose outcome is unknown (5xx, timeout,
 * `internal_error`) a look in `conversations.history` before posting again:
 * a message is never posted twice.
 *
 * @module
 */
import type { LogLevel, WebClient } from "@slack/web-api";
import { logger } from "../src/logger.ts";
import type { SlackMessage } from "./_slack_format.ts";
import { backoffMs } from "./_http_retry.ts";
import {
  failedToConnect,
  type MessageTag,
  type Posted,
  SendError,
  type SendPolicy,
  type SlackSender,
} from "./_slack_sender.ts";

const log = logger("slack");

/** The metadata `event_type` of TriggerKit's messages. */
export const DELIVERY_EVENT = "triggerkit_delivery";

/** How far before an attempt a check looks: clocks differ between hosts and Slack. */
const CHECK_MARGIN_MS = 5 * 60_000;
/** Messages per `conversations.history` page, and pages a check reads at most. */
const PAGE = 200;
const MAX_PAGES = 50;

/** Platform errors after which Slack may have posted the message. */
const MAYBE_POSTED = new Set(["internal_error", "fatal_error"]);
/** Platform errors that posted nothing and pass with time. */
const TRANSIENT = new Set(["service_unavailable", "request_timeout"]);

/** A channel id (public, private, direct): `conversations.history` needs one. */
const CHANNEL_ID = /^[CGD][A-Z0-9]{6,}$/;

type Verdict =
  | { kind: "rate_limited"; waitMs: number }
  | { kind: "retry" | "unknown" | "failed"; reason: string };

/** What an SDK error means for delivery. */
function judge(error: unknown): Verdict {
  const e = error as {
    code?: string;
    retryAfter?: number;
    statusCode?: number;
    data?: { error?: string };
    original?: unknown;
    message?: string;
  };
  switch (e.code) {
    case "slack_webapi_rate_limited_error":
      return { kind: "rate_limited", waitMs: (e.retryAfter ?? 1) * 1000 };
    case "slack_webapi_http_error":
      return {
        kind: (e.statusCode ?? 0) >= 500 ? "unknown" : "failed",
        reason: `Slack answered HTTP ${e.statusCode}`,
      };
    case "slack_webapi_request_error":
      return failedToConnect(e.original)
        ? { kind: "retry", reason: String(e.message) }
        : { kind: "unknown", reason: String(e.message) };
    case "slack_webapi_platform_error": {
      const code = e.data?.error ?? "unknown_error";
      if (code === "ratelimited") return { kind: "rate_limited", waitMs: 1000 };
      const kind = MAYBE_POSTED.has(code)
        ? "unknown"
        : TRANSIENT.has(code)
        ? "retry"
        : "failed";
      return { kind, reason: `Slack answered ${code}` };
    }
  }
  // A 429 without a usable Retry-After (the SDK throws a plain Error).
  if (/Retry header did not contain/.test(e.message ?? "")) {
    return { kind: "rate_limited", waitMs: 1000 };
  }
  return { kind: "unknown", reason: String(e.message ?? error) };
}

/** A Slack timestamp ("1700000000.000100") for a time in ms. */
function slackTs(ms: number): string {
  return (Math.max(0, ms) / 1000).toFixed(6);
}

/** Sends with a bot token through the Web API. */
export function webApiSender(
  token: string,
  apiUrl: string | undefined,
  policy: SendPolicy,
): SlackSender {
  const { clock, gate, signal } = policy;
  // Loaded on first use: the SDK reads the OS release when it loads, which
  // would make importing TriggerKit ask for --allow-sys.
  const client = import("@slack/web-api").then(({ WebClient }) =>
    new WebClient(token, {
      ...(apiUrl ? { slackApiUrl: apiUrl.replace(/\/?$/, "/") } : {}),
      // No blind retries: a retried post whose first try Slack stored is a
      // second message. 429s come back to us (the gate waits them out).
      retryConfig: { retries: 0 },
      rejectRateLimitedCalls: true,
      timeout: policy.timeoutMs,
      logger: slackLogger(),
      fetch: (input, init) =>
        fetch(input, {
          ...init,
          signal: init?.signal
            ? AbortSignal.any([init.signal, signal])
            : signal,
        }),
    })
  );
  const channelIds = new Map<string, string>();

  /** Calls the API until it answers other than 429 (waited out, not counted). */
  async function call<T>(fn: (client: WebClient) => Promise<T>): Promise<T> {
    const api = await client;
    for (;;) {
      await gate.pass(token, signal);
      // Nothing goes out for a run that was aborted (its claim lost) meanwhile.
      signal.throwIfAborted();
      try {
        return await fn(api);
      } catch (error) {
        signal.throwIfAborted();
        const verdict = judge(error);
        if (verdict.kind !== "rate_limited") throw error;
        gate.close(token, verdict.waitMs);
      }
    }
  }

  /**
   * A read (safe to repeat): 5xx, timeouts and transient errors are
   * retried with backoff, `retries` times; other errors are thrown.
   */
  async function read<T>(fn: (client: WebClient) => Promise<T>): Promise<T> {
    for (let attempt = 0;; attempt++) {
      try {
        return await call(fn);
      } catch (error) {
        signal.throwIfAborted();
        if (judge(error).kind === "failed" || attempt >= policy.retries) {
          throw error;
        }
        await clock.sleep(backoffMs(attempt, policy.retryBaseMs), signal);
      }
    }
  }

  /** The channel's id, for `conversations.history` (`undefined`: cannot tell). */
  async function channelId(channel: string): Promise<string | undefined> {
    if (CHANNEL_ID.test(channel)) return channel;
    const known = channelIds.get(channel);
    if (known) return known;
    const name = channel.replace(/^#/, "");
    let cursor: string | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      const listed = await read((api) =>
        api.conversations.list({
          types: "public_channel,private_channel",
          exclude_archived: true,
          limit: 1000,
          ...(cursor ? { cursor } : {}),
        })
      );
      const found = listed.channels?.find((c) => c.name === name);
      if (found?.id) {
        channelIds.set(channel, found.id);
        return found.id;
      }
      cursor = listed.response_metadata?.next_cursor || undefined;
      if (!cursor) return undefined;
    }
    return undefined;
  }

  /**
   * The message of `tag`, if Slack has it. Throws `unknown` when the
   * history cannot be read: without a check, nothing is posted again.
   */
  async function find(
    message: SlackMessage,
    tag: MessageTag,
  ): Promise<Posted | undefined> {
    const unverifiable = (why: string, cause?: unknown) =>
      new SendError("unknown", `it cannot be checked: ${why}`, cause);
    let id: string | undefined;
    try {
      id = await channelId(message.channel);
    } catch (error) {
      signal.throwIfAborted();
      throw unverifiable(
        `the channel id of ${message.channel} is unknown: ${
          (error as Error).message
        }`,
        error,
      );
    }
    if (!id) {
      throw unverifiable(
        `the channel id of ${message.channel} is unknown; configure the channel by id`,
      );
    }
    let cursor: string | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      let history;
      try {
        history = await read((api) =>
          api.conversations.history({
            channel: id,
            oldest: slackTs(tag.since - CHECK_MARGIN_MS),
            include_all_metadata: true,
            limit: PAGE,
            ...(cursor ? { cursor } : {}),
          })
        );
      } catch (error) {
        signal.throwIfAborted();
        throw unverifiable(
          `conversations.history failed: ${(error as Error).message}`,
          error,
        );
      }
      for (const item of history.messages ?? []) {
        const metadata = item.metadata as
          | { event_type?: string; event_payload?: Record<string, unknown> }
          | undefined;
        if (
          metadata?.event_type === DELIVERY_EVENT &&
          metadata.event_payload?.key === tag.token &&
          metadata.event_payload?.part === tag.part && item.ts
        ) {
          channelIds.set(message.channel, id);
          return { channel: id, ts: item.ts };
        }
      }
      cursor = history.response_metadata?.next_cursor || undefined;
      if (!history.has_more || !cursor) return undefined;
    }
    throw unverifiable(
      `more than ${MAX_PAGES * PAGE} messages to look through`,
    );
  }

  return {
    canCheck: true,
    async send(message, tag) {
      let check = tag.check;
      for (let attempt = 0;; attempt++) {
        if (check) {
          const found = await find(message, tag);
          if (found) {
            log.info("Slack already had message {part} of unit {token}", {
              part: tag.part,
              token: tag.token,
            });
            return found;
          }
        }
        try {
          const result = await call((api) =>
            api.chat.postMessage({
              channel: message.channel,
              text: message.text,
              ...(message.blocks ? { blocks: message.blocks as never } : {}),
              metadata: {
                event_type: DELIVERY_EVENT,
                event_payload: { key: tag.token, part: tag.part },
              },
            })
          );
          const channel = result.channel ?? message.channel;
          channelIds.set(message.channel, channel);
          return { channel, ts: result.ts ?? null };
        } catch (error) {
          signal.throwIfAborted();
          const verdict = judge(error);
          // (429s were waited out by call(): the narrowing is for the types.)
          if (verdict.kind === "rate_limited") continue;
          if (verdict.kind === "failed") {
            throw new SendError("failed", verdict.reason, error);
          }
          // Once an attempt may have posted, every later one checks first.
          check ||= verdict.kind === "unknown";
          if (attempt >= policy.retries) {
            const found = check ? await find(message, tag) : undefined;
            if (found) return found;
            // Not found is no proof after a timeout (Slack may store the
            // message later): the unit stays unknown and is checked again.
            throw new SendError(
              check ? "unknown" : "failed",
              `${verdict.reason} (${attempt + 1} attempts)`,
              error,
            );
          }
          await clock.sleep(backoffMs(attempt, policy.retryBaseMs), signal);
        }
      }
    },
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
