/**
 * `send_slack_message`: renders a message from the rows (one summary, or one
 * per row) and posts it with `@slack/web-api` (bot token) or an incoming
 * webhook. Row values are escaped for mrkdwn, so they cannot ping or link;
 * long content is split to Slack's limits; messages are paced per channel.
 *
 * Each unit (a row in `per_row` mode, the summary otherwise) goes through
 * the delivery journal: units already delivered are skipped, and the Web API
 * never posts a message twice (see `_slack_web_api.ts`).
 *
 * @module
 */
import { z } from "zod";
import { TriggerKitError } from "../src/errors.ts";
import { logger } from "../src/logger.ts";
import type { Row } from "../src/types.ts";
import {
  escapeMrkdwn,
  escapeView,
  render,
  renderDeep,
  templateVariables,
} from "./_template.ts";
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
import {
  type BuiltinInput,
  type DeliveryReceipt,
  type DeliveryScope,
  deliveryToken,
  scopeOf,
  unitKeysOf,
} from "../src/delivery/journal.ts";
import {
  type Posted,
  SendError,
  type SendPolicy,
  type SlackSender,
  webhookSender,
} from "./_slack_sender.ts";
import { webApiSender } from "./_slack_web_api.ts";

const log = logger("slack");

/** The config of `send_slack_message`. */
export const sendSlackMessageConfig = z.object({
  channel: z.string().min(1).describe(
    "Channel id or #name (ignored by webhooks, which have their own)",
  ),
  text: z.string().min(1).describe(
    "Mustache template: the row's fields (per_row) or rows, count, more (summary); always jobName, runId, context",
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
    "Retries of a message that failed (5xx, timeouts); 429s are waited out, not counted",
  ),
  retryBaseMs: z.number().int().min(0).default(1000).describe(
    "First retry delay; doubles each retry",
  ),
  timeoutMs: z.number().int().positive().default(30_000).describe(
    "Time limit of one request",
  ),
}).strict().refine((config) => !(config.table && config.mode === "per_row"), {
  message: "table applies to summary mode only",
  path: ["table"],
});

type Config = z.output<typeof sendSlackMessageConfig>;

/** Renders the messages a run would post. */
export function renderSlackMessages(
  config: Config,
  rows: readonly Row[],
  variables: Record<string, unknown>,
): SlackMessage[] {
  return renderSlackUnits(config, rows, variables).flat();
}

/**
 * Renders the messages of each unit: one unit per row (`per_row`), or one
 * for the summary. A unit has several messages when its content is split.
 */
function renderSlackUnits(
  config: Config,
  rows: readonly Row[],
  variables: Record<string, unknown>,
): SlackMessage[][] {
  if (config.mode === "per_row") {
    return rows.map((row, i) =>
      compose(
        config,
        escapeView({ ...row, ...variables }, escapeMrkdwn),
        `per_row message ${i}`,
      )
    );
  }
  const shown = rows.slice(0, config.maxRows);
  const view = escapeView(
    {
      ...variables,
      rows: shown,
      count: rows.length,
      more: Math.max(0, rows.length - shown.length),
    },
    escapeMrkdwn,
  );
  const messages = compose(config, view, "the summary message");
  if (!config.table) return [messages];
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
  return [[
    ...messages,
    ...rest.map((text) => ({ channel: config.channel, text })),
  ]];
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
  /** The clock for pacing, retries and the delivery journal. */
  clock?: Clock;
}

/** A unit still to deliver. */
interface Unit {
  /** Its index among the run's units (the row, in per_row mode). */
  index: number;
  key: string;
  messages: SlackMessage[];
  /** What the journal held for it: `sending` means an earlier attempt's outcome is unknown. */
  receipt: DeliveryReceipt | undefined;
}

/** The `send_slack_message` action. */
export function sendSlackMessage(
  options: SlackActionOptions = {},
): (input: BuiltinInput<Config>) => Promise<Record<string, unknown>> {
  const clock = options.clock ?? realClock;
  const pacer = options.pacer ?? new Pacer(clock);
  const gate = new RateGate(clock);
  return async function send_slack_message(input) {
    const { data, config, dryRun, signal } = input;
    const scope = scopeOf(input, "send_slack_message");
    const rendered = renderSlackUnits(
      config,
      data,
      templateVariables(input, scope.state),
    );
    const keys = unitKeysOf(scope, data, config.mode === "per_row");
    const receipts = await scope.journal.get(keys);
    const units: Unit[] = rendered.map((messages, index) => ({
      index,
      key: keys[index]!,
      messages,
      receipt: receipts.get(keys[index]!),
    })).filter((unit) => unit.receipt?.state !== "delivered");
    const skipped = rendered.length - units.length;
    const counts = skipped > 0 ? { skipped } : {};
    if (dryRun) {
      return {
        sent: 0,
        dryRun: true,
        messages: units.flatMap((unit) => unit.messages),
        ...counts,
      };
    }
    const sender = senderFor(config, {
      retries: config.retries,
      retryBaseMs: config.retryBaseMs,
      timeoutMs: config.timeoutMs,
      clock,
      gate,
      signal,
    });
    const total = units.reduce((sum, unit) => sum + unit.messages.length, 0);
    const delivered: Posted[] = [];
    let uncertain = 0;
    for (const unit of units) {
      signal.throwIfAborted();
      const resumed = unit.receipt?.state === "sending";
      if (resumed && !sender.canCheck) {
        // A webhook cannot be read back: a message that may have been posted
        // is not sent again (at most once).
        uncertain++;
        log.warn(
          "Slack unit {unit} may have been posted by an earlier run; a webhook cannot be checked, so it is not sent again",
          { unit: unit.key, runId: input.runId },
        );
        continue;
      }
      const since = resumed
        ? Number(unit.receipt!.detail?.since ?? unit.receipt!.at)
        : clock.now();
      await mark(scope, unit.key, "sending", { since });
      const token = deliveryToken(unit.key);
      const posted: Posted[] = [];
      try {
        for (const [part, message] of unit.messages.entries()) {
          await pacer.wait(message.channel, config.minIntervalMs, signal);
          posted.push(
            await sender.send(message, { token, part, since, check: resumed }),
          );
        }
      } catch (error) {
        delivered.push(...posted);
        const certain = error instanceof SendError &&
          error.outcome === "failed" && posted.length === 0 && !resumed;
        if (certain) await mark(scope, unit.key, "failed", {});
        throw deliveryFailed(config, unit, error, {
          sent: delivered.length,
          total,
          canCheck: sender.canCheck,
        });
      }
      delivered.push(...posted);
      await mark(scope, unit.key, "delivered", { messages: posted });
    }
    return {
      sent: delivered.length,
      messages: delivered,
      ...counts,
      ...(uncertain > 0 ? { uncertain } : {}),
    };
  };

  function mark(
    scope: DeliveryScope,
    key: string,
    state: DeliveryReceipt["state"],
    detail: Record<string, unknown>,
  ): Promise<void> {
    return scope.journal.record(
      new Map([[key, { state, at: clock.now(), detail }]]),
    );
  }
}

function senderFor(config: Config, policy: SendPolicy): SlackSender {
  if (config.webhookUrlEnv) {
    return webhookSender(
      requiredEnv(config.webhookUrlEnv, "webhook URL"),
      policy,
    );
  }
  return webApiSender(
    requiredEnv(config.tokenEnv, "bot token"),
    config.slackApiUrl,
    policy,
  );
}

/** `ACTION_FAILED` saying where delivery stopped and how many messages Slack has. */
function deliveryFailed(
  config: Config,
  unit: Unit,
  error: unknown,
  progress: { sent: number; total: number; canCheck: boolean },
): unknown {
  if (!(error instanceof SendError)) return error;
  const where = config.mode === "per_row" ? `row ${unit.index}` : "the summary";
  const outcome = error.outcome === "failed"
    ? ""
    : progress.canCheck
    ? "; Slack may have posted it: the next run checks before posting it again"
    : "; Slack may have posted it: a webhook cannot be checked, so it is not sent again";
  return new TriggerKitError(
    "ACTION_FAILED",
    `Slack delivery failed on ${where} after ${progress.sent} of ${progress.total} messages: ${error.message}${outcome}`,
    { cause: error },
  );
}

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
