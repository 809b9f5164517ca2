/**
 * A local Slack on 127.0.0.1, speaking the Web API's shapes for the
 * endpoints TriggerKit uses — chat.postMessage (with message metadata),
 * conversations.history (oldest/latest/inclusive, cursor pages,
 * include_all_metadata), conversations.list — and an incoming webhook.
 *
 * Faults are injected per endpoint, queued or at a rate (seeded): 429 with
 * Retry-After, 5xx before storing the message, 5xx AFTER storing it, a hang
 * after storing it (the client times out), `ok: false` platform errors.
 */
import { type Clock, realClock } from "../src/clock.ts";

/** The endpoints of the fake. */
export type Endpoint =
  | "chat.postMessage"
  | "conversations.history"
  | "conversations.list"
  | "webhook";

/** One injected answer. */
export type Fault =
  /** No fault: answer normally. */
  | null
  /** An HTTP error, before storing the message (default) or after; 429 with Retry-After. */
  | { status: number; stored?: boolean; retryAfter?: number }
  /** Stores the message, then never answers (until the client gives up). */
  | { hang: true }
  /** HTTP 200 with `{ ok: false, error }`, before or after storing. */
  | { platformError: string; stored?: boolean };

/** Fault rates per request, between 0 and 1. */
export interface FaultRates {
  /** 5xx before storing. */
  before5xx?: number;
  /** 5xx after storing. */
  after5xx?: number;
  /** Hang after storing. */
  hang?: number;
  /** 429. */
  rateLimited?: number;
}

/** A message Slack stored. */
export interface Delivered {
  via: "api" | "webhook";
  /** The channel as the client named it (`#alerts`, or an id). */
  channel: string;
  /** The channel's id. */
  channelId: string;
  text: string;
  blocks?: unknown[];
  metadata?: { event_type: string; event_payload: Record<string, unknown> };
  ts: string;
}

/** Options of the fake. */
export interface FakeSlackOptions {
  /** The bot token it accepts. */
  token?: string;
  /** Requests allowed per second (of `clock`) before it answers 429. */
  perSecond?: number;
  /** Its clock: message timestamps and the rate window (share the action's). */
  clock?: Clock;
  /** The token's scopes (default: chat:write, channels:history, channels:read). */
  scopes?: string[];
  /** Seed of the fault rates' random numbers. */
  seed?: number;
  /** Told of every message stored, before the answer. */
  onStore?: (message: Delivered) => void;
}

/** A running fake Slack. */
export interface FakeSlack {
  /** Base URL of the Web API (pass as slackApiUrl). */
  apiUrl: string;
  /** URL of the incoming webhook. */
  webhookUrl: string;
  /** Messages stored, in order. */
  delivered: Delivered[];
  /** Every answer, in order. */
  calls: Array<{ endpoint: string; status: number; fault?: string }>;
  /** Every answer's HTTP status, in order. */
  statuses: number[];
  /** The id of a channel name (created on first use). */
  channelId: (name: string) => string;
  /** Answers the next requests to `endpoint` with these faults, in order. */
  inject: (endpoint: Endpoint, ...faults: Fault[]) => void;
  /** Answers requests to `endpoint` with faults at these rates. */
  faultRates: (endpoint: Endpoint, rates: FaultRates) => void;
  /** The calls made to one endpoint. */
  callsTo: (endpoint: Endpoint) => number;
  close: () => Promise<void>;
}

const DEFAULT_SCOPES = ["chat:write", "channels:history", "channels:read"];
const JSON_TYPE = { "content-type": "application/json; charset=utf-8" };

/** A seeded generator (mulberry32). */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Starts a fake Slack. */
export function startFakeSlack(options: FakeSlackOptions = {}): FakeSlack {
  const token = options.token ?? "xoxb-test-token";
  const clock = options.clock ?? realClock;
  const scopes = options.scopes ?? DEFAULT_SCOPES;
  const next = random(options.seed ?? 42);
  const delivered: Delivered[] = [];
  const calls: FakeSlack["calls"] = [];
  const queued = new Map<string, Fault[]>();
  const rates = new Map<string, FaultRates>();
  const ids = new Map<string, string>();
  const hanging = new Set<() => void>();
  let window = -1;
  let inWindow = 0;
  let lastMicros = 0;

  const channelId = (name: string) => {
    if (/^[CGD][A-Z0-9]{6,}$/.test(name)) return name;
    const bare = name.replace(/^#/, "");
    let id = ids.get(bare);
    if (!id) {
      id = `C${String(ids.size + 1).padStart(9, "0")}`;
      ids.set(bare, id);
    }
    return id;
  };
  const knownId = (id: string) => [...ids.values()].includes(id);
  const nextTs = () => {
    lastMicros = Math.max(Math.floor(clock.now() * 1000), lastMicros + 1);
    return (lastMicros / 1e6).toFixed(6);
  };
  const answer = (
    endpoint: string,
    status: number,
    body: BodyInit,
    headers: HeadersInit = {},
    fault?: string,
  ) => {
    calls.push({ endpoint, status, ...(fault ? { fault } : {}) });
    return new Response(body, { status, headers });
  };
  const json = (endpoint: string, body: unknown, fault?: string) =>
    answer(endpoint, 200, JSON.stringify(body), JSON_TYPE, fault);
  const rateLimited = () => {
    if (!options.perSecond) return false;
    const second = Math.floor(clock.now() / 1000);
    if (second !== window) {
      window = second;
      inWindow = 0;
    }
    return ++inWindow > options.perSecond;
  };
  const faultFor = (endpoint: string): Exclude<Fault, null> | undefined => {
    const queue = queued.get(endpoint);
    if (queue?.length) return queue.shift() ?? undefined;
    const rate = rates.get(endpoint);
    if (!rate) return undefined;
    const roll = next();
    let edge = 0;
    for (
      const [limit, fault] of [
        [rate.rateLimited, { status: 429 }],
        [rate.before5xx, { status: 500 }],
        [rate.after5xx, { status: 503, stored: true }],
        [rate.hang, { hang: true }],
      ] as Array<[number | undefined, Exclude<Fault, null>]>
    ) {
      edge += limit ?? 0;
      if (roll < edge) return fault;
    }
    return undefined;
  };
  const hang = (signal: AbortSignal) =>
    new Promise<void>((resolve) => {
      const release = () => {
        hanging.delete(release);
        resolve();
      };
      hanging.add(release);
      signal.addEventListener("abort", release, { once: true });
    });

  /** The request's arguments, from a form or JSON body. */
  const fieldsOf = async (request: Request) => {
    const type = request.headers.get("content-type") ?? "";
    if (type.includes("json")) {
      return await request.json() as Record<string, unknown>;
    }
    const fields: Record<string, unknown> = Object.fromEntries(
      new URLSearchParams(await request.text()),
    );
    for (const key of ["blocks", "metadata"]) {
      if (typeof fields[key] === "string") {
        fields[key] = JSON.parse(fields[key] as string);
      }
    }
    return fields;
  };

  const store = (
    via: Delivered["via"],
    fields: Record<string, unknown>,
  ): Delivered => {
    const channel = via === "webhook" ? "(webhook)" : String(fields.channel);
    const message: Delivered = {
      via,
      channel,
      channelId: channelId(channel),
      text: String(fields.text ?? ""),
      ...(fields.blocks ? { blocks: fields.blocks as unknown[] } : {}),
      ...(fields.metadata
        ? { metadata: fields.metadata as Delivered["metadata"] & object }
        : {}),
      ts: nextTs(),
    };
    delivered.push(message);
    options.onStore?.(message);
    return message;
  };

  async function postMessage(
    request: Request,
    fields: Record<string, unknown>,
    fault: Exclude<Fault, null> | undefined,
  ) {
    const endpoint = "chat.postMessage";
    const auth = request.headers.get("authorization") ??
      `Bearer ${fields.token ?? ""}`;
    if (auth !== `Bearer ${token}`) {
      return json(endpoint, { ok: false, error: "invalid_auth" });
    }
    if (fault && "platformError" in fault && !fault.stored) {
      return json(endpoint, { ok: false, error: fault.platformError }, "error");
    }
    const message = store("api", fields);
    if (fault && "hang" in fault) {
      await hang(request.signal);
      return answer(endpoint, 504, "gateway timeout", {}, "hang");
    }
    if (fault && "platformError" in fault) {
      return json(
        endpoint,
        { ok: false, error: fault.platformError },
        "error after storing",
      );
    }
    if (fault && "status" in fault) {
      return answer(
        endpoint,
        fault.status,
        "upstream trouble",
        {},
        "after storing",
      );
    }
    return json(endpoint, {
      ok: true,
      channel: message.channelId,
      ts: message.ts,
      message: {
        type: "message",
        bot_id: "B0TRIGGERKIT",
        text: message.text,
        ts: message.ts,
        ...(message.metadata ? { metadata: message.metadata } : {}),
      },
    });
  }

  function history(request: Request, fields: Record<string, unknown>) {
    const endpoint = "conversations.history";
    if (request.headers.get("authorization") !== `Bearer ${token}`) {
      return json(endpoint, { ok: false, error: "invalid_auth" });
    }
    if (!scopes.includes("channels:history")) {
      return json(endpoint, {
        ok: false,
        error: "missing_scope",
        needed: "channels:history",
        provided: scopes.join(","),
      });
    }
    const id = String(fields.channel ?? "");
    if (!knownId(id)) {
      return json(endpoint, { ok: false, error: "channel_not_found" });
    }
    const inclusive = String(fields.inclusive) === "true";
    const oldest = Number(fields.oldest ?? 0);
    const latest = fields.latest === undefined
      ? Infinity
      : Number(fields.latest);
    const limit = Math.min(999, Number(fields.limit ?? 100));
    const offset = fields.cursor
      ? Number(atob(String(fields.cursor)).split(":")[1])
      : 0;
    const withMetadata = String(fields.include_all_metadata) === "true";
    const matching = delivered
      .filter((m) => m.via === "api" && m.channelId === id)
      .filter((m) => {
        const ts = Number(m.ts);
        return inclusive
          ? ts >= oldest && ts <= latest
          : ts > oldest && ts < latest;
      })
      .reverse();
    const page = matching.slice(offset, offset + limit);
    const more = offset + limit < matching.length;
    return json(endpoint, {
      ok: true,
      messages: page.map((m) => ({
        type: "message",
        bot_id: "B0TRIGGERKIT",
        text: m.text,
        ts: m.ts,
        ...(withMetadata && m.metadata ? { metadata: m.metadata } : {}),
      })),
      has_more: more,
      pin_count: 0,
      response_metadata: {
        next_cursor: more ? btoa(`offset:${offset + limit}`) : "",
      },
    });
  }

  function list() {
    const endpoint = "conversations.list";
    if (!scopes.includes("channels:read")) {
      return json(endpoint, {
        ok: false,
        error: "missing_scope",
        needed: "channels:read",
        provided: scopes.join(","),
      });
    }
    return json(endpoint, {
      ok: true,
      channels: [...ids].map(([name, id]) => ({
        id,
        name,
        is_channel: true,
        is_archived: false,
      })),
      response_metadata: { next_cursor: "" },
    });
  }

  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: () => {},
  }, async (request) => {
    const url = new URL(request.url);
    const endpoint = url.pathname === "/webhook"
      ? "webhook"
      : url.pathname.replace(/^\/api\//, "");
    const fault = faultFor(endpoint);
    const fields = request.method === "POST" ? await fieldsOf(request) : {};
    // Slack knows its channels before anything is posted to them.
    if (typeof fields.channel === "string") channelId(fields.channel);
    if (
      (fault && "status" in fault && fault.status === 429) || rateLimited()
    ) {
      const after = fault && "status" in fault ? fault.retryAfter : 1;
      return answer(
        endpoint,
        429,
        endpoint === "webhook"
          ? "rate_limited"
          : '{"ok":false,"error":"ratelimited"}',
        { "retry-after": String(after ?? 1) },
      );
    }
    if (fault && "status" in fault && !fault.stored) {
      return answer(endpoint, fault.status, "upstream trouble", {}, "before");
    }
    switch (endpoint) {
      case "chat.postMessage":
        return await postMessage(request, fields, fault);
      case "conversations.history":
        return history(request, fields);
      case "conversations.list":
        return list();
      case "webhook": {
        store("webhook", fields);
        if (fault && "hang" in fault) {
          await hang(request.signal);
          return answer(endpoint, 504, "gateway timeout", {}, "hang");
        }
        if (fault && "status" in fault) {
          return answer(endpoint, fault.status, "rollup_error", {}, "after");
        }
        return answer(endpoint, 200, "ok");
      }
    }
    return answer(endpoint, 404, "no_service");
  });
  const base = `http://127.0.0.1:${server.addr.port}`;
  return {
    apiUrl: `${base}/api/`,
    webhookUrl: `${base}/webhook`,
    delivered,
    calls,
    get statuses() {
      return calls.map((call) => call.status);
    },
    channelId,
    inject: (endpoint, ...faults) =>
      queued.set(endpoint, [...(queued.get(endpoint) ?? []), ...faults]),
    faultRates: (endpoint, next) => rates.set(endpoint, next),
    callsTo: (endpoint) =>
      calls.filter((call) => call.endpoint === endpoint).length,
    close: async () => {
      for (const release of [...hanging]) release();
      await server.shutdown();
    },
  };
}
