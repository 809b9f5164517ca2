import assert from "node:assert/strict";
import { createRegistry, type Registry } from "../mod.ts";
import {
  sendSlackMessage,
  sendSlackMessageConfig,
} from "../actions/send_slack_message.ts";
import { Pacer } from "../actions/_pacer.ts";
import { type FakeSlack, startFakeSlack } from "./_fake_slack.ts";
import { FakeClock } from "./_fake_clock.ts";
import { rejectsWithCode } from "./_helpers.ts";
import {
  type DeliveryJournal,
  type DeliveryScope,
  deliveryToken,
  MemoryJournal,
  unitKeysOf,
} from "../src/delivery/journal.ts";
import type { Row } from "../src/types.ts";

const TOKEN = "xoxb-test-token";
Deno.env.set("TK_TEST_SLACK_TOKEN", TOKEN);

async function withSlack(
  fn: (
    slack: FakeSlack,
    registry: Registry,
    base: Record<string, unknown>,
  ) => Promise<void>,
  options: Parameters<typeof startFakeSlack>[0] = {},
) {
  const slack = startFakeSlack({ token: TOKEN, ...options });
  const registry = createRegistry();
  const base = {
    channel: "#alerts",
    tokenEnv: "TK_TEST_SLACK_TOKEN",
    slackApiUrl: slack.apiUrl,
    minIntervalMs: 0,
    retryBaseMs: 10,
  };
  try {
    await fn(slack, registry, base);
  } finally {
    await registry.close();
    await slack.close();
  }
}

/**
 * The action itself on a fake clock (shared with the fake Slack), so that
 * backoff and Retry-After cost no real time; a journal and step as a job
 * step would have them.
 */
function directSlack(options: { seed?: number; scopes?: string[] } = {}) {
  const clock = new FakeClock(Date.UTC(2024, 0, 1), { auto: true });
  const slack = startFakeSlack({ token: TOKEN, clock, ...options });
  const action = sendSlackMessage({ clock });
  const journal = new MemoryJournal();
  const run = (
    rows: Row[],
    config: Record<string, unknown>,
    extra: {
      journal?: DeliveryJournal;
      stepKey?: string;
      context?: Record<string, unknown>;
      signal?: AbortSignal;
      state?: string;
    } = {},
  ) => {
    const delivery: DeliveryScope = {
      journal: extra.journal ?? journal,
      stepKey: extra.stepKey ?? "job@0/1:send_slack_message",
      ...(extra.state ? { state: extra.state } : {}),
    };
    return action({
      data: rows,
      config: sendSlackMessageConfig.parse({
        channel: "#alerts",
        tokenEnv: "TK_TEST_SLACK_TOKEN",
        slackApiUrl: slack.apiUrl,
        minIntervalMs: 0,
        ...config,
      }),
      context: extra.context ?? {},
      runId: crypto.randomUUID(),
      jobName: "job",
      dryRun: false,
      signal: extra.signal ?? new AbortController().signal,
      delivery,
    });
  };
  return { clock, slack, journal, run };
}

/** A test body that gets {@linkcode directSlack}'s parts; the fake Slack is closed afterwards. */
function withDirectSlack(
  fn: (parts: ReturnType<typeof directSlack>) => Promise<void>,
  options: Parameters<typeof directSlack>[0] = {},
): () => Promise<void> {
  return async () => {
    const parts = directSlack(options);
    try {
      await fn(parts);
    } finally {
      await parts.slack.close();
    }
  };
}

/** How many times each text was posted, for texts posted more than once. */
function duplicates(slack: FakeSlack): Array<[string, number]> {
  const counts = new Map<string, number>();
  for (const m of slack.delivered) {
    counts.set(m.text, (counts.get(m.text) ?? 0) + 1);
  }
  return [...counts].filter(([, n]) => n > 1);
}

const ORDERS = [
  { id: 1, customer: "Ada", total: 120.5 },
  { id: 2, customer: "Grace", total: 80 },
  { id: 3, customer: "Linus", total: 42 },
];

Deno.test("send_slack_message: a summary posts once with count, rows and more", async () => {
  await withSlack(async (slack, registry, base) => {
    const result = await registry.run("send_slack_message", ORDERS, {
      config: {
        ...base,
        text:
          "{{count}} orders in {{jobName}}:\n{{#rows}}• {{customer}}: {{total}}\n{{/rows}}{{#more}}…and {{more}} more{{/more}}",
        maxRows: 2,
      },
      jobName: "big_orders",
    });
    assert.equal(slack.delivered.length, 1);
    assert.equal(
      slack.delivered[0]!.text,
      "3 orders in big_orders:\n• Ada: 120.5\n• Grace: 80\n…and 1 more",
    );
    assert.deepEqual(result, {
      sent: 1,
      messages: [{
        channel: slack.channelId("#alerts"),
        ts: slack.delivered[0]!.ts,
      }],
    });
  });
});

Deno.test("send_slack_message: per_row posts one message per row, in order", async () => {
  await withSlack(async (slack, registry, base) => {
    const result = await registry.run("send_slack_message", ORDERS, {
      config: {
        ...base,
        mode: "per_row",
        text: "Order {{id}} by {{customer}} ({{runId}})",
      },
      runId: "run-7",
    });
    assert.deepEqual(slack.delivered.map((m) => m.text), [
      "Order 1 by Ada (run-7)",
      "Order 2 by Grace (run-7)",
      "Order 3 by Linus (run-7)",
    ]);
    assert.equal(result.sent, 3);
  });
});

Deno.test("send_slack_message: row values cannot ping, link or inject markup", async () => {
  await withSlack(async (slack, registry, base) => {
    const rows = [{
      name: "<!channel> <https://evil.example|click> & Sons' <@U123>",
    }];
    await registry.run("send_slack_message", rows, {
      config: {
        ...base,
        mode: "per_row",
        text: "{{name}} / {{{name}}} / {{&name}}",
      },
    });
    const escaped =
      "&lt;!channel&gt; &lt;https://evil.example|click&gt; &amp; Sons' &lt;@U123&gt;";
    assert.equal(
      slack.delivered[0]!.text,
      `${escaped} / ${escaped} / ${escaped}`,
    );
  });
});

Deno.test("send_slack_message: table renders an aligned monospace table", async () => {
  await withSlack(async (slack, registry, base) => {
    await registry.run("send_slack_message", ORDERS, {
      config: { ...base, text: "Top orders", table: true },
    });
    assert.equal(
      slack.delivered[0]!.text,
      [
        "Top orders",
        "```",
        "id  customer  total",
        "--  --------  -----",
        " 1  Ada       120.5",
        " 2  Grace        80",
        " 3  Linus        42",
        "```",
      ].join("\n"),
    );
  });
});

Deno.test("send_slack_message: long content is split at row boundaries within Slack's limits", async () => {
  await withSlack(async (slack, registry, base) => {
    const rows = Array.from(
      { length: 3000 },
      (_, i) => ({ line: `row ${i} ${"x".repeat(20)}` }),
    );
    await registry.run("send_slack_message", rows, {
      config: { ...base, text: "{{#rows}}{{line}}\n{{/rows}}", maxRows: 3000 },
    });
    assert.ok(
      slack.delivered.length >= 2,
      `${slack.delivered.length} messages`,
    );
    const lines = slack.delivered.flatMap((m) => {
      assert.ok(m.text.length <= 40_000, `a message of ${m.text.length} chars`);
      return m.text.split("\n").filter(Boolean);
    });
    assert.deepEqual(lines, rows.map((row) => row.line));
  });
});

Deno.test("send_slack_message: blocks over 50 and sections over 3,000 chars are split", async () => {
  await withSlack(async (slack, registry, base) => {
    const rows = Array.from({ length: 60 }, (_, i) => ({ i }));
    const blocks = [
      {
        type: "section",
        text: {
          type: "mrkdwn",
          text: "{{#rows}}row {{i}} " + "y".repeat(80) + "\n{{/rows}}",
        },
      },
      ...Array.from(
        { length: 55 },
        (_, i) => ({ type: "divider", block_id: `d${i}` }),
      ),
    ];
    await registry.run("send_slack_message", rows, {
      config: { ...base, text: "{{count}} rows", blocks, maxRows: 60 },
    });
    const all = slack.delivered.flatMap((m) => m.blocks ?? []) as Array<
      { type: string; text?: { text: string } }
    >;
    for (const message of slack.delivered) {
      assert.ok((message.blocks?.length ?? 0) <= 50);
    }
    const sections = all.filter((b) => b.type === "section");
    assert.ok(sections.length >= 2);
    for (const section of sections) {
      assert.ok(section.text!.text.length <= 3000);
    }
    assert.equal(
      sections.map((s) => s.text!.text).join("\n").split("\n").filter(Boolean)
        .length,
      60,
    );
    assert.equal(all.filter((b) => b.type === "divider").length, 55);
  });
});

Deno.test(
  "send_slack_message: a 429 waits for Retry-After (not a retry) and posts once",
  withDirectSlack(async ({ clock, slack, run }) => {
    slack.inject("chat.postMessage", { status: 429, retryAfter: 7 });
    const result = await run([{}], { text: "hello", retries: 0 });
    assert.deepEqual(clock.sleeps, [7000]);
    assert.deepEqual(slack.statuses, [429, 200]);
    assert.equal(slack.delivered.length, 1);
    assert.equal(result.sent, 1);
  }),
);

Deno.test(
  "send_slack_message: a 5xx before Slack stored the message is checked, then posted again, once",
  withDirectSlack(async ({ slack, run }) => {
    slack.inject("chat.postMessage", { status: 500 }, { status: 503 });
    await run([{}], { text: "hello" });
    assert.deepEqual(
      slack.calls.map((c) => `${c.endpoint} ${c.status}`),
      [
        "chat.postMessage 500",
        "conversations.list 200", // #alerts → its id, once
        "conversations.history 200",
        "chat.postMessage 503",
        "conversations.history 200",
        "chat.postMessage 200",
      ],
    );
    assert.equal(slack.delivered.length, 1);
  }),
);

Deno.test(
  "send_slack_message: a 5xx AFTER Slack stored the message is found, not posted again",
  withDirectSlack(async ({ slack, run }) => {
    slack.inject("chat.postMessage", { status: 500, stored: true });
    const result = await run([{}], { text: "hello" });
    assert.equal(slack.delivered.length, 1);
    assert.equal(slack.callsTo("chat.postMessage"), 1);
    assert.deepEqual(result, {
      sent: 1,
      messages: [{
        channel: slack.channelId("#alerts"),
        ts: slack.delivered[0]!.ts,
      }],
    });
  }),
);

Deno.test(
  "send_slack_message: internal_error after storing is found, not posted again",
  withDirectSlack(async ({ slack, run }) => {
    slack.inject("chat.postMessage", {
      platformError: "internal_error",
      stored: true,
    });
    await run([{}], { text: "hello", retries: 0 });
    assert.equal(slack.delivered.length, 1);
    assert.equal(slack.callsTo("chat.postMessage"), 1);
  }),
);

Deno.test("send_slack_message: a timeout after Slack stored the message is found, not posted again", async () => {
  // The request deadline is a real timer (AbortSignal.timeout): 200 ms.
  const { slack, run } = directSlack();
  try {
    slack.inject("chat.postMessage", { hang: true });
    const result = await run([{ n: 1 }, { n: 2 }], {
      text: "row {{n}}",
      mode: "per_row",
      timeoutMs: 200,
    });
    assert.deepEqual(slack.delivered.map((m) => m.text), ["row 1", "row 2"]);
    assert.equal(result.sent, 2);
    assert.equal(slack.callsTo("chat.postMessage"), 2);
  } finally {
    await slack.close();
  }
});

Deno.test(
  "send_slack_message: every message carries its delivery token as metadata",
  withDirectSlack(async ({ slack, run }) => {
    const rows = [{ n: 1 }, { n: 2 }];
    await run(rows, { text: "{{n}}", mode: "per_row" });
    const keys = unitKeysOf(
      { journal: new MemoryJournal(), stepKey: "job@0/1:send_slack_message" },
      rows,
      true,
    );
    assert.deepEqual(
      slack.delivered.map((m) => m.metadata),
      keys.map((key) => ({
        event_type: "triggerkit_delivery",
        event_payload: { key: deliveryToken(key), part: 0 },
      })),
    );
  }),
);

Deno.test(
  "send_slack_message: failing past the retries is ACTION_FAILED saying how many were sent",
  withDirectSlack(async ({ slack, run }) => {
    slack.inject(
      "chat.postMessage",
      { status: 500 },
      { status: 500 },
      { status: 500 },
    );
    await rejectsWithCode(
      run([{}], { text: "x", retries: 2 }),
      "ACTION_FAILED",
      /after 0 of 1 messages: Slack answered HTTP 500 \(3 attempts\); Slack may have posted it: the next run checks/,
    );
    assert.equal(slack.delivered.length, 0);
    assert.equal(slack.callsTo("chat.postMessage"), 3);
  }),
);

Deno.test(
  "send_slack_message: a platform error is ACTION_FAILED at once, not retried",
  withDirectSlack(async ({ slack, run }) => {
    slack.inject("chat.postMessage", { platformError: "channel_not_found" });
    await rejectsWithCode(
      run([{}], { text: "x" }),
      "ACTION_FAILED",
      /after 0 of 1 messages: Slack answered channel_not_found$/,
    );
    assert.equal(slack.callsTo("chat.postMessage"), 1);
  }),
);

Deno.test("send_slack_message: a dry run returns the messages, sends nothing, needs no token", async () => {
  await withSlack(async (slack, registry, base) => {
    const result = await registry.run("send_slack_message", ORDERS, {
      config: {
        ...base,
        tokenEnv: "TK_TEST_NO_SUCH_TOKEN",
        text: "{{count}} orders",
      },
      dryRun: true,
    });
    assert.deepEqual(result, {
      sent: 0,
      dryRun: true,
      messages: [{ channel: "#alerts", text: "3 orders" }],
    });
    assert.equal(slack.statuses.length, 0);
  });
});

Deno.test("send_slack_message: a missing token variable is INVALID_CONFIG naming it", async () => {
  await withSlack(async (_slack, registry, base) => {
    await rejectsWithCode(
      registry.run("send_slack_message", [{}], {
        config: { ...base, tokenEnv: "TK_TEST_NO_SUCH_TOKEN", text: "x" },
      }),
      "INVALID_CONFIG",
      /TK_TEST_NO_SUCH_TOKEN is not set/,
    );
  });
});

Deno.test("send_slack_message: a rejected token fails without showing the token", async () => {
  await withSlack(async (_slack, registry, base) => {
    Deno.env.set("TK_TEST_BAD_TOKEN", "xoxb-wrong-secret");
    try {
      const error = await rejectsWithCode(
        registry.run("send_slack_message", [{}], {
          config: { ...base, tokenEnv: "TK_TEST_BAD_TOKEN", text: "x" },
        }),
        "ACTION_FAILED",
        /invalid_auth/,
      );
      assert.ok(!error.message.includes("xoxb-wrong-secret"));
    } finally {
      Deno.env.delete("TK_TEST_BAD_TOKEN");
    }
  });
});

Deno.test("send_slack_message: an incoming webhook gets JSON; a 429 is waited out", async () => {
  await withSlack(async (slack, registry, base) => {
    Deno.env.set("TK_TEST_WEBHOOK", slack.webhookUrl);
    try {
      slack.inject("webhook", { status: 429, retryAfter: 0 });
      const result = await registry.run("send_slack_message", ORDERS, {
        config: {
          ...base,
          webhookUrlEnv: "TK_TEST_WEBHOOK",
          mode: "per_row",
          text: "{{customer}}",
        },
      });
      assert.equal(result.sent, 3);
      assert.deepEqual(slack.delivered.map((m) => [m.via, m.text]), [
        ["webhook", "Ada"],
        ["webhook", "Grace"],
        ["webhook", "Linus"],
      ]);
      assert.deepEqual(slack.statuses, [429, 200, 200, 200]);
    } finally {
      Deno.env.delete("TK_TEST_WEBHOOK");
    }
  });
});

Deno.test("send_slack_message: a webhook 5xx is never sent again (webhooks cannot be read back)", async () => {
  const { slack, journal, run } = directSlack();
  Deno.env.set("TK_TEST_WEBHOOK", slack.webhookUrl);
  try {
    const config = {
      webhookUrlEnv: "TK_TEST_WEBHOOK",
      mode: "per_row",
      text: "{{n}}",
    };
    const rows = [{ n: 1 }, { n: 2 }, { n: 3 }];
    slack.inject("webhook", null, { status: 500, stored: true });
    await rejectsWithCode(
      run(rows, config),
      "ACTION_FAILED",
      /on row 1 after 1 of 3 messages: the webhook answered 500: rollup_error; Slack may have posted it: a webhook cannot be checked, so it is not sent again/,
    );
    assert.deepEqual(slack.delivered.map((m) => m.text), ["1", "2"]);
    // The next run skips the uncertain row (at most once) and sends the rest.
    const again = await run(rows, config);
    assert.deepEqual(slack.delivered.map((m) => m.text), ["1", "2", "3"]);
    assert.deepEqual(
      [again.sent, again.skipped, again.uncertain],
      [1, 1, 1],
    );
    assert.equal(
      [...journal.entries.values()].filter((r) => r.state === "delivered")
        .length,
      2,
    );
  } finally {
    Deno.env.delete("TK_TEST_WEBHOOK");
    await slack.close();
  }
});

Deno.test("send_slack_message: a webhook that cannot be reached is retried (nothing was sent)", async () => {
  const { slack, run } = directSlack();
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (closed.addr as Deno.NetAddr).port;
  closed.close();
  Deno.env.set("TK_TEST_WEBHOOK", `http://127.0.0.1:${port}/hook`);
  try {
    await rejectsWithCode(
      run([{}], { webhookUrlEnv: "TK_TEST_WEBHOOK", text: "x", retries: 2 }),
      "ACTION_FAILED",
      /after 0 of 1 messages: cannot reach the webhook: .*Connect/,
    );
  } finally {
    Deno.env.delete("TK_TEST_WEBHOOK");
    await slack.close();
  }
});

Deno.test("send_slack_message: an invalid template or table in per_row mode is INVALID_CONFIG", async () => {
  await withSlack(async (_slack, registry, base) => {
    await rejectsWithCode(
      registry.run("send_slack_message", [{}], {
        config: { ...base, text: "{{#open}}" },
      }),
      "INVALID_CONFIG",
      /Invalid template/,
    );
    await rejectsWithCode(
      registry.run("send_slack_message", [{}], {
        config: { ...base, text: "x", mode: "per_row", table: true },
      }),
      "INVALID_CONFIG",
      /table: table applies to summary mode only/,
    );
  });
});

Deno.test("send_slack_message: messages are paced per channel (fake clock)", async () => {
  await withSlack(async (slack, _registry, base) => {
    let now = 0;
    const sleeps: number[] = [];
    const clock = {
      now: () => now,
      sleep: (ms: number) => {
        sleeps.push(ms);
        now += ms;
        return Promise.resolve();
      },
    };
    const action = sendSlackMessage({ pacer: new Pacer(clock), clock });
    const config = {
      ...base,
      mode: "per_row" as const,
      text: "{{n}}",
      minIntervalMs: 1000,
      table: false,
      maxRows: 20,
      tokenEnv: "TK_TEST_SLACK_TOKEN",
      retries: 0,
      retryBaseMs: 10,
      timeoutMs: 5000,
      channel: "#one",
    };
    await action({
      data: [{ n: 1 }, { n: 2 }, { n: 3 }],
      config,
      context: {},
      runId: "r",
      dryRun: false,
      signal: new AbortController().signal,
    });
    assert.deepEqual(sleeps, [1000, 1000]);
    assert.equal(slack.delivered.length, 3);
  });
});

Deno.test("send_slack_message: a 1,000-message burst at 20 requests/s is delivered exactly once, in order per channel", async () => {
  const clock = new FakeClock(Date.UTC(2024, 0, 1), { auto: true });
  const slack = startFakeSlack({ token: TOKEN, clock, perSecond: 20 });
  const action = sendSlackMessage({ clock });
  try {
    const rows = Array.from(
      { length: 1000 },
      (_, i) => ({ i, channel: i % 2 === 0 ? "#even" : "#odd" }),
    );
    const runs = ["#even", "#odd"].map((channel) =>
      action({
        data: rows.filter((row) => row.channel === channel),
        config: sendSlackMessageConfig.parse({
          channel,
          tokenEnv: "TK_TEST_SLACK_TOKEN",
          slackApiUrl: slack.apiUrl,
          mode: "per_row",
          text: "{{i}}",
          minIntervalMs: 0,
          retries: 5,
        }),
        context: {},
        runId: crypto.randomUUID(),
        dryRun: false,
        signal: new AbortController().signal,
      })
    );
    const results = await Promise.all(runs);
    assert.deepEqual(results.map((r) => r.sent), [500, 500]);
    assert.equal(slack.delivered.length, 1000);
    assert.ok(slack.statuses.includes(429), "the rate limit was never hit");
    for (const channel of ["#even", "#odd"]) {
      const sent = slack.delivered.filter((m) => m.channel === channel)
        .map((m) => Number(m.text));
      const expected = rows.filter((row) => row.channel === channel)
        .map((row) => row.i);
      assert.deepEqual(sent, expected, `${channel} out of order or duplicated`);
    }
  } finally {
    await slack.close();
  }
});

Deno.test(
  "send_slack_message: 500 per_row rows with 30% 5xx after storing: each posted exactly once, in bounded calls",
  withDirectSlack(async ({ slack, run }) => {
    slack.faultRates("chat.postMessage", { after5xx: 0.3 });
    const rows = Array.from({ length: 500 }, (_, i) => ({ i }));
    const result = await run(rows, {
      text: "row {{i}}",
      mode: "per_row",
      retries: 3,
    });
    assert.equal(result.sent, 500);
    assert.deepEqual(duplicates(slack), []);
    assert.deepEqual(
      slack.delivered.map((m) => m.text),
      rows.map((row) => `row ${row.i}`),
    );
    const faults = slack.calls.filter((c) => c.status === 503).length;
    assert.ok(faults > 100, `only ${faults} faults injected`);
    // Each fault costs one check; nothing is posted twice.
    assert.equal(slack.callsTo("chat.postMessage"), 500);
    assert.ok(slack.callsTo("conversations.history") <= faults * 3);
  }, { seed: 7 }),
);

Deno.test(
  "send_slack_message: 5xx before and after storing, 429s and hangs mixed: each row posted exactly once",
  withDirectSlack(async ({ slack, run }) => {
    slack.faultRates("chat.postMessage", {
      before5xx: 0.15,
      after5xx: 0.15,
      rateLimited: 0.1,
      hang: 0.01,
    });
    slack.faultRates("conversations.history", { before5xx: 0.1 });
    const rows = Array.from({ length: 300 }, (_, i) => ({ i }));
    const result = await run(rows, {
      text: "row {{i}}",
      mode: "per_row",
      retries: 8,
      timeoutMs: 300,
    });
    assert.equal(result.sent, 300);
    assert.deepEqual(duplicates(slack), []);
    assert.equal(slack.delivered.length, 300);
    assert.ok(slack.callsTo("chat.postMessage") <= 300 * 9 * 2);
  }, { seed: 11 }),
);

Deno.test(
  "send_slack_message: a run after a failed run posts nothing twice and delivers the rest",
  withDirectSlack(async ({ slack, run }) => {
    const rows = Array.from({ length: 50 }, (_, i) => ({ i }));
    const config = { text: "row {{i}}", mode: "per_row", retries: 2 };
    slack.inject(
      "chat.postMessage",
      ...Array(20).fill(null),
      { status: 500 },
      { status: 500 },
      { status: 500 },
    );
    await rejectsWithCode(
      run(rows, config),
      "ACTION_FAILED",
      /on row 20 after 20 of 50 messages/,
    );
    const first = slack.delivered.length;
    const again = await run(rows, config);
    assert.deepEqual(duplicates(slack), []);
    assert.deepEqual(
      slack.delivered.map((m) => m.text),
      rows.map((row) => `row ${row.i}`),
    );
    // Row 20 was left unknown: the second run checked, then posted it.
    assert.equal(first, 20);
    assert.deepEqual([again.sent, again.skipped], [30, 20]);
  }),
);

Deno.test("send_slack_message: a run cut off after Slack stored a message: the next run finds it", async () => {
  const clock = new FakeClock(Date.UTC(2024, 0, 1), { auto: true });
  const controller = new AbortController();
  const slack = startFakeSlack({
    token: TOKEN,
    clock,
    onStore: (m) => m.text === "row 3" && controller.abort(),
  });
  const action = sendSlackMessage({ clock });
  const journal = new MemoryJournal();
  const input = (signal: AbortSignal) => ({
    data: Array.from({ length: 6 }, (_, i) => ({ i })),
    config: sendSlackMessageConfig.parse({
      channel: "#alerts",
      tokenEnv: "TK_TEST_SLACK_TOKEN",
      slackApiUrl: slack.apiUrl,
      minIntervalMs: 0,
      mode: "per_row",
      text: "row {{i}}",
    }),
    context: {},
    runId: crypto.randomUUID(),
    dryRun: false,
    signal,
    delivery: { journal, stepKey: "job@0/1:send_slack_message" },
  });
  try {
    slack.inject("chat.postMessage", null, null, null, { hang: true });
    await assert.rejects(action(input(controller.signal)));
    assert.equal(slack.delivered.length, 4);
    const result = await action(input(new AbortController().signal));
    assert.deepEqual(
      slack.delivered.map((m) => m.text),
      ["row 0", "row 1", "row 2", "row 3", "row 4", "row 5"],
    );
    assert.deepEqual([result.sent, result.skipped], [3, 3]);
    assert.equal(slack.callsTo("conversations.history"), 1);
  } finally {
    await slack.close();
  }
});

Deno.test(
  "send_slack_message: without the history scope an unknown outcome is not posted again",
  withDirectSlack(async ({ slack, journal, run }) => {
    slack.inject("chat.postMessage", { status: 502 });
    await rejectsWithCode(
      run([{}], { text: "x", channel: slack.channelId("#alerts") }),
      "ACTION_FAILED",
      /it cannot be checked: conversations\.history failed: .*missing_scope; Slack may have posted it/,
    );
    assert.equal(slack.callsTo("chat.postMessage"), 1);
    assert.deepEqual(
      [...journal.entries.values()].map((r) => r.state),
      ["sending"],
    );
  }, { scopes: ["chat:write"] }),
);

Deno.test(
  "send_slack_message: a journal that refuses a write (claim lost) stops the run before the next message",
  withDirectSlack(async ({ slack, run }) => {
    const inner = new MemoryJournal();
    let writes = 0;
    const fenced: DeliveryJournal = {
      get: (keys) => inner.get(keys),
      record: (receipts) => {
        if (++writes > 4) {
          return Promise.reject(
            new Error("the run lost its claim on the job"),
          );
        }
        return inner.record(receipts);
      },
    };
    const rows = Array.from({ length: 10 }, (_, i) => ({ i }));
    await assert.rejects(
      run(rows, { text: "{{i}}", mode: "per_row" }, { journal: fenced }),
      /the run lost its claim on the job/,
    );
    // sending + delivered for rows 0 and 1, then the marker of row 2 fails.
    assert.deepEqual(slack.delivered.map((m) => m.text), ["0", "1"]);
  }),
);

Deno.test(
  "send_slack_message: templates see context, jobName, runId and the alert state",
  withDirectSlack(async ({ slack, run }) => {
    await run([{ id: 1 }], {
      text:
        "{{context.vipCount}} VIPs {{context.who}} in {{jobName}}: {{state}}",
    }, { context: { vipCount: 3, who: "<!here>" }, state: "firing" });
    await run([{ id: 2, state: "shipped" }], {
      text: "{{id}} {{state}}",
      mode: "per_row",
    }, { stepKey: "other" });
    assert.deepEqual(slack.delivered.map((m) => m.text), [
      "3 VIPs &lt;!here&gt; in job: firing",
      "2 shipped",
    ]);
  }),
);

Deno.test("send_slack_message: an unknown config key is INVALID_CONFIG naming the closest key", async () => {
  await withSlack(async (_slack, registry, base) => {
    await rejectsWithCode(
      registry.run("send_slack_message", [{}], {
        config: { ...base, text: "x", token: "xoxb-in-the-config" },
      }),
      "INVALID_CONFIG",
      /unknown key "token" in send_slack_message config; did you mean "tokenEnv"\?/,
    );
  });
});
