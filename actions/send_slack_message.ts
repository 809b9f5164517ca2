/**
 * `send_slack_message`: renders a message from the rows (one summary, or one
 * per row) and posts it with `@slack/web-api` (bot token) or an incoming
 * webhook. Row values are escaped for mrkdwn, so they cannot ping or link;
 * long content is split to Slack's limits; messages are paced per channel.
 *
 * @module
 */
import { z } from "zod";
import { TriggerKitError } from "../src/errors.ts";
import type { ActionFn, Row } from "../src/types.ts";
import { escapeMrkdwn, escapeView, render, renderDeep } from "./_template.ts";
import {
  chunkLines,
  SLACK_LIMITS,
  type SlackMessage,
  splitBlocks,
  tableChunks,
  tableLines,
} from "./_slack_format.ts";
import { Pacer, RateGate } from "./_pacer.ts";
import { type Clock, realClock } from "../src/clock.ts";
import { webApiPoster, webhookPoster } from "./_slack_post.ts";

/** The config of `send_slack_message`. */
export const sendSlackMessageConfig = z.object({
  channel: z.string().min(1).describe(
    "Channel id or #name (ignored by webhooks, which have their own)",
  ),
  text: z.string().min(1).describe(
    "Mustache template: the row's fields (per_row) or rows, count, more (summary); always jobName, runId",
  ),
  blocks: z.array(z.record(z.string(), z.unknown())).optional().describe(
    "Block Kit blocks; every string in them is a template",
  ),
  table: z.boolean().default(false).describe(
    "Summary: add the rows as an aligned table in a code block",
  ),
  mode: z.enum(["summary", "per_row"]).default("summary"),
  maxRows: z.number().int().positive().default(20).describe(
    "Summary: rows shown; the rest counted in `more`",
  ),
  tokenEnv: z.string().min(1).default("SLACK_BOT_TOKEN").describe(
    "Variable holding the bot token",
  ),
  webhookUrlEnv: z.string().min(1).optional().describe(
    "Variable holding an incoming webhook URL (used instead of the token)",
  ),
  slackApiUrl: z.url().optional().describe(
    "Slack Web API base URL (tests, proxies)",
  ),
  minIntervalMs: z.number().int().min(0).default(1000).describe(
    "Least time between two messages to one channel",
  ),
  retries: z.number().int().min(0).max(10).default(3).describe(
    "Retries on 429 and 5xx",
  ),
  retryBaseMs: z.number().int().min(0).default(1000).describe(
    "First retry delay; doubles each retry",
  ),
  timeoutMs: z.number().int().positive().default(30_000).describe(
    "Time limit of one request",
  ),
}).refine((config) => !(config.table && config.mode === "per_row"), {
  message: "table applies to summary mode only",
  path: ["table"],
});

type Config = z.output<typeof sendSlackMessageConfig>;

/** Renders the messages a run would post. */
export function renderSlackMessages(
  config: Config,
  rows: readonly Row[],
  meta: { jobName: string | null; runId: string },
): SlackMessage[] {
  const base = { jobName: meta.jobName ?? "", runId: meta.runId };
  if (config.mode === "per_row") {
    return rows.flatMap((row, i) =>
      compose(
        config,
        escapeView({ ...row, ...base }, escapeMrkdwn),
        `per_row message ${i}`,
      )
    );
  }
  const shown = rows.slice(0, config.maxRows);
  const view = escapeView(
    {
      ...base,
      rows: shown,
      count: rows.length,
      more: Math.max(0, rows.length - shown.length),
    },
    escapeMrkdwn,
  );
  const messages = compose(config, view, "the summary message");
  if (!config.table) return messages;
  const last = messages.pop()!;
  const tables = tableChunks(tableLines(shown), SLACK_LIMITS.text - 2);
  const [first, ...rest] = tables;
  if (first !== undefined) {
    if (last.text.length + 1 + first.length <= SLACK_LIMITS.text) {
      messages.push({ ...last, text: `${last.text}\n${first}` });
    } else messages.push(last, { channel: config.channel, text: first });
  } else {
    messages.push(last);
  }
  return [
    ...messages,
    ...rest.map((text) => ({ channel: config.channel, text })),
  ];
}

/** One template rendering, split to Slack's limits. */
function compose(config: Config, view: unknown, where: string): SlackMessage[] {
  const texts = chunkLines(
    render(config.text, view, where).split("\n"),
    SLACK_LIMITS.text,
  );
  const messages: SlackMessage[] = texts.map((text) => ({
    channel: config.channel,
    text,
  }));
  if (config.blocks) {
    const groups = splitBlocks(
      renderDeep(config.blocks, view, where) as unknown[],
    );
    groups.forEach((blocks, i) => {
      if (i < messages.length) messages[i]!.blocks = blocks;
      else {messages.push({
          channel: config.channel,
          text: texts.at(-1)!,
          blocks,
        });}
    });
  }
  return messages;
}

/** What `send_slack_message` can be given besides config (tests). */
export interface SlackActionOptions {
  /** Pacing state, shared by the runs of one registry. */
  pacer?: Pacer;
  /** The clock for pacing and retries. */
  clock?: Clock;
}

/** The `send_slack_message` action. */
export function sendSlackMessage(
  options: SlackActionOptions = {},
): ActionFn<Config> {
  const clock = options.clock ?? realClock;
  const pacer = options.pacer ?? new Pacer(clock);
  const gate = new RateGate(clock);
  return async function send_slack_message(
    { data, config, dryRun, runId, jobName, signal },
  ) {
    const messages = renderSlackMessages(config, data, {
      jobName: jobName ?? null,
      runId,
    });
    if (dryRun) return { sent: 0, dryRun: true, messages };
    const post = config.webhookUrlEnv
      ? webhookPoster(config.webhookUrlEnv, config, { clock, gate, signal })
      : webApiPoster(config, { clock, gate, signal });
    // One channel a run: its messages go in order, paced with every other
    // run's messages to that channel.
    const delivered: Array<{ channel: string; ts: string | null }> = [];
    for (const message of messages) {
      await pacer.wait(message.channel, config.minIntervalMs, signal);
      try {
        delivered.push(await post(message));
      } catch (error) {
        throw new TriggerKitError(
          "ACTION_FAILED",
          `Slack delivery failed after ${delivered.length} of ${messages.length} messages: ${
            (error as Error).message
          }`,
          { cause: error },
        );
      }
    }
    return { sent: delivered.length, messages: delivered };
  };
}
