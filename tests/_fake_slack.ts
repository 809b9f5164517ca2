/**
 * A local Slack: the Web API's chat.postMessage and an incoming webhook, on
 * 127.0.0.1, speaking Slack's shapes, with injectable 429/5xx answers and a
 * requests-per-second limit.
 */

/** A message Slack accepted. */
export interface Delivered {
  via: "api" | "webhook";
  channel: string;
  text: string;
  blocks?: unknown[];
  ts: string;
}

/** Options of the fake. */
export interface FakeSlackOptions {
  /** The bot token it accepts. */
  token?: string;
  /** Requests allowed per second before it answers 429 (default: no limit). */
  perSecond?: number;
}

/** A running fake Slack. */
export interface FakeSlack {
  /** Base URL of the Web API (pass as slackApiUrl). */
  apiUrl: string;
  /** URL of the incoming webhook. */
  webhookUrl: string;
  /** Messages accepted, in the order accepted. */
  delivered: Delivered[];
  /** Every request's answer status, in order. */
  statuses: number[];
  /** Statuses to answer the next requests with, before behaving normally. */
  failNext: (...statuses: number[]) => void;
  close: () => Promise<void>;
}

/** Starts a fake Slack. */
export function startFakeSlack(options: FakeSlackOptions = {}): FakeSlack {
  const token = options.token ?? "xoxb-test-token";
  const delivered: Delivered[] = [];
  const statuses: number[] = [];
  const failures: number[] = [];
  let window = -1;
  let inWindow = 0;
  let seq = 0;

  const answer = (
    status: number,
    body: BodyInit,
    headers: HeadersInit = {},
  ) => {
    statuses.push(status);
    return new Response(body, { status, headers });
  };
  const rateLimited = () => {
    if (!options.perSecond) return false;
    const now = Math.floor(Date.now() / 1000);
    if (now !== window) {
      window = now;
      inWindow = 0;
    }
    return ++inWindow > options.perSecond;
  };

  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: () => {},
  }, async (request) => {
    const url = new URL(request.url);
    const injected = failures.shift();
    if (injected === 429 || rateLimited()) {
      await request.body?.cancel();
      return answer(
        429,
        url.pathname.startsWith("/api/")
          ? '{"ok":false,"error":"ratelimited"}'
          : "rate_limited",
        {
          "retry-after": "1",
        },
      );
    }
    if (injected !== undefined) {
      await request.body?.cancel();
      return answer(injected, "upstream trouble");
    }
    if (url.pathname === "/api/chat.postMessage") {
      const type = request.headers.get("content-type") ?? "";
      let fields: Record<string, unknown>;
      if (type.includes("json")) {
        fields = await request.json();
      } else {
        fields = Object.fromEntries(new URLSearchParams(await request.text()));
        if (typeof fields.blocks === "string") {
          fields.blocks = JSON.parse(fields.blocks);
        }
      }
      const auth = request.headers.get("authorization") ??
        `Bearer ${fields.token ?? ""}`;
      if (auth !== `Bearer ${token}`) {
        return answer(
          200,
          JSON.stringify({ ok: false, error: "invalid_auth" }),
          { "content-type": "application/json" },
        );
      }
      const ts = `1700000000.${String(++seq).padStart(6, "0")}`;
      const channel = String(fields.channel);
      delivered.push({
        via: "api",
        channel,
        text: String(fields.text ?? ""),
        ...(fields.blocks ? { blocks: fields.blocks as unknown[] } : {}),
        ts,
      });
      return answer(
        200,
        JSON.stringify({
          ok: true,
          channel,
          ts,
          message: { text: fields.text },
        }),
        {
          "content-type": "application/json",
        },
      );
    }
    if (url.pathname === "/webhook") {
      const body = await request.json();
      delivered.push({
        via: "webhook",
        channel: "(webhook)",
        text: body.text,
        ...(body.blocks ? { blocks: body.blocks } : {}),
        ts: "",
      });
      return answer(200, "ok");
    }
    return answer(404, "no_service");
  });
  const base = `http://127.0.0.1:${server.addr.port}`;
  return {
    apiUrl: `${base}/api/`,
    webhookUrl: `${base}/webhook`,
    delivered,
    statuses,
    failNext: (...next) => failures.push(...next),
    close: () => server.shutdown(),
  };
}
