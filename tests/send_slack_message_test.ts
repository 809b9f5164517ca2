import assert from "node:assert/strict";
import { createRegistry, type Registry } from "../mod.ts";
import { sendSlackMessage } from "../actions/send_slack_message.ts";
import { Pacer } from "../actions/_pacer.ts";
import { type FakeSlack, startFakeSlack } from "./_fake_slack.ts";
import { rejectsWithCode } from "./_helpers.ts";
import { FakeClock } from "./_fake_clock.ts";

const TOKEN = "xoxb-test-token";

async function withSlack(
  fn: (
    slack: FakeSlack,
    registry: Registry,
    base: Record<string, unknown>,
    clock: FakeClock,
  ) => Promise<void>,
  options: { perSecond?: number } = {},
) {
  const slack = startFakeSlack({ token: TOKEN, ...options });
  // Retries, backoff and pacing wait on a clock that never really sleeps,
  // except against a rate limit that the fake Slack keeps in real time.
  const clock = new FakeClock(undefined, { auto: true });
  const registry = createRegistry(
    options.perSecond === undefined ? { clock } : {},
  );
  Deno.env.set("TK_TEST_SLACK_TOKEN", TOKEN);
  const base = {
    channel: "#alerts",
    tokenEnv: "TK_TEST_SLACK_TOKEN",
    slackApiUrl: slack.apiUrl,
    minIntervalMs: 0,
    retryBaseMs: 10,
  };
  try {
    await fn(slack, registry, base, clock);
  } finally {
    await registry.close();
    await slack.close();
  }
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
      messages: [{ channel: "#alerts", ts: slack.delivered[0]!.ts }],
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

Deno.test("send_slack_message: a 429 is retried after Retry-After and delivered once", async () => {
  await withSlack(async (slack, registry, base, clock) => {
    slack.failNext(429);
    const result = await registry.run("send_slack_message", [{}], {
      config: { ...base, text: "hello" },
    });
    assert.ok(clock.sleeps.includes(1000), "did not wait for Retry-After");
    assert.deepEqual(slack.statuses, [429, 200]);
    assert.equal(slack.delivered.length, 1);
    assert.equal(result.sent, 1);
  });
});

Deno.test("send_slack_message: 5xx answers are retried with backoff and delivered once", async () => {
  await withSlack(async (slack, registry, base) => {
    slack.failNext(500, 503);
    await registry.run("send_slack_message", [{}], {
      config: { ...base, text: "hello" },
    });
    assert.deepEqual(slack.statuses, [500, 503, 200]);
    assert.equal(slack.delivered.length, 1);
  });
});

Deno.test("send_slack_message: failing past the retries is ACTION_FAILED saying how many were sent", async () => {
  await withSlack(async (slack, registry, base) => {
    slack.failNext(500, 500, 500);
    await rejectsWithCode(
      registry.run("send_slack_message", [{}], {
        config: { ...base, text: "x", retries: 2 },
      }),
      "ACTION_FAILED",
      /after 0 of 1 messages/,
    );
    assert.equal(slack.delivered.length, 0);
  });
});

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

Deno.test("send_slack_message: an incoming webhook gets JSON, with 429 and 5xx retried", async () => {
  await withSlack(async (slack, registry, base) => {
    Deno.env.set("TK_TEST_WEBHOOK", slack.webhookUrl);
    try {
      slack.failNext(503);
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
      assert.deepEqual(slack.statuses, [503, 200, 200, 200]);
    } finally {
      Deno.env.delete("TK_TEST_WEBHOOK");
    }
  });
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

Deno.test({
  name:
    "send_slack_message: a 1,000-message burst at 20 requests/s is delivered exactly once, in order per channel",
  fn: async () => {
    await withSlack(async (slack, registry, base) => {
      const rows = Array.from(
        { length: 1000 },
        (_, i) => ({ i, channel: i % 2 === 0 ? "#even" : "#odd" }),
      );
      const runs = ["#even", "#odd"].map((channel) =>
        registry.run(
          "send_slack_message",
          rows.filter((row) => row.channel === channel),
          {
            config: {
              ...base,
              channel,
              mode: "per_row",
              text: "{{i}}",
              retries: 5,
            },
          },
        )
      );
      const results = await Promise.all(runs);
      assert.deepEqual(results.map((r) => r.sent), [500, 500]);
      assert.equal(slack.delivered.length, 1000);
      assert.ok(slack.statuses.includes(429), "the rate limit was never hit");
      for (const channel of ["#even", "#odd"]) {
        const sent = slack.delivered.filter((m) => m.channel === channel).map((
          m,
        ) => Number(m.text));
        const expected = rows.filter((row) => row.channel === channel).map((
          row,
        ) => row.i);
        assert.deepEqual(
          sent,
          expected,
          `${channel} out of order or duplicated`,
        );
      }
    }, { perSecond: 20 });
  },
});
