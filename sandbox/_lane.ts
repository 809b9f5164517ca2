/**
 * Lanes: framed messages over a Unix socket, between the host and a sandbox
 * process (control) or one sandbox Worker (calls).
 *
 * A frame is `[u32 length][u8 kind][body]`: kind 1 is a JSON message; kind 2
 * a message with a binary payload, `[u32 json length][json][payload]`, so
 * call data and results cross as bytes (no base64, no JSON); kind 3 a call
 * or a reply, the messages of every warm call, with no JSON at all:
 * `[u8 0 call | 1 reply][f64 id][f64 max][payload]` (`max` is 0 for a
 * reply). The JSON of a frame is at most 1 MiB.
 *
 * The functions here run on all three sides: the host imports them, and
 * {@linkcode LANE_SOURCE} ships them as source text into the sandbox process
 * and its Workers. So each must be self-contained: it may use only globals,
 * its parameters and the other functions of this file.
 *
 * @module
 */

/** A lane message: tagged `t`, with at most one binary `payload`. */
export interface LaneMessage {
  t: string;
  payload?: Uint8Array;
}

/** What a lane tells its owner. */
export interface LaneHandlers<In extends LaneMessage> {
  onMessage(message: In): void;
  /** The lane is gone: the peer closed it, it broke, or a frame broke the rules. */
  onClose(reason: string | null): void;
}

/** An open lane. */
export interface Lane<Out extends LaneMessage> {
  send(message: Out): Promise<void>;
  /** Sets the largest frame accepted from the peer. */
  limit(maxFrame: number): void;
  close(): void;
}

/** Opens a lane on a connection. */
export type OpenLane = <Out extends LaneMessage, In extends LaneMessage>(
  conn: Deno.Conn,
  handlers: LaneHandlers<In>,
  options?: { maxFrame?: number },
) => Lane<Out>;

/** Encodes a message as the chunks of one frame. */
export function encodeFrame(
  message: LaneMessage,
  encoder: TextEncoder = new TextEncoder(),
): Uint8Array[] {
  const HEADER = 5;
  const COMPACT = 17;
  const COALESCE = 64 * 1024;
  const { payload } = message;
  const { id, max } = message as { id?: unknown; max?: unknown };
  const which = message.t === "call" ? 0 : message.t === "reply" ? 1 : -1;
  let keys = 0;
  for (const _key in message) keys++;
  if (
    payload instanceof Uint8Array && which >= 0 && typeof id === "number" &&
    (which === 1 ? keys === 3 : typeof max === "number" && keys === 4)
  ) {
    // A call or a reply: a fixed header, no JSON.
    const length = COMPACT + payload.byteLength;
    const small = length < COALESCE;
    const head = new Uint8Array(small ? HEADER + length : HEADER + COMPACT);
    const view = new DataView(head.buffer);
    view.setUint32(0, length);
    head[4] = 3;
    head[5] = which;
    view.setFloat64(6, id);
    view.setFloat64(14, which === 0 ? max as number : 0);
    if (!small) return [head, payload];
    head.set(payload, HEADER + COMPACT);
    return [head];
  }
  const { payload: _payload, ...rest } = message;
  const json = encoder.encode(JSON.stringify(rest));
  const parts = payload ? [new Uint8Array(4), json, payload] : [json];
  if (payload) new DataView(parts[0]!.buffer).setUint32(0, json.byteLength);
  const length = parts.reduce((total, part) => total + part.byteLength, 0);
  const header = new Uint8Array(HEADER);
  new DataView(header.buffer).setUint32(0, length);
  header[4] = payload ? 2 : 1;
  if (length >= COALESCE) return [header, ...parts];
  const joined = new Uint8Array(HEADER + length);
  let offset = 0;
  for (const part of [header, ...parts]) {
    joined.set(part, offset);
    offset += part.byteLength;
  }
  return [joined];
}

/** Decodes one frame's body; a string says why it is not a valid message. */
export function decodeFrame(
  kind: number,
  body: Uint8Array,
  decoder: TextDecoder = new TextDecoder(),
): LaneMessage | string {
  // Messages are small: only a payload may be large (parsing JSON blocks).
  const MAX_JSON = 1024 * 1024;
  const COMPACT = 17;
  let json = body;
  let payload: Uint8Array | undefined;
  if (kind === 3) {
    if (body.byteLength < COMPACT) return "a frame was too short";
    const view = new DataView(body.buffer, body.byteOffset, COMPACT);
    const id = view.getFloat64(1);
    payload = body.subarray(COMPACT);
    if (body[0] === 0) {
      return { t: "call", id, max: view.getFloat64(9), payload } as LaneMessage;
    }
    if (body[0] === 1) return { t: "reply", id, payload } as LaneMessage;
    return `a frame of kind 3 held an unknown message ${body[0]}`;
  }
  if (kind === 2) {
    if (body.byteLength < 4) return "a frame was too short";
    const length = new DataView(body.buffer, body.byteOffset, 4).getUint32(0);
    if (length > body.byteLength - 4) return "a frame's parts overlapped";
    json = body.subarray(4, 4 + length);
    payload = body.subarray(4 + length);
  } else if (kind !== 1) {
    return `an unexpected frame of kind ${kind}`;
  }
  if (json.byteLength > MAX_JSON) {
    return `a frame's JSON was over ${MAX_JSON} bytes`;
  }
  let message: unknown;
  try {
    message = JSON.parse(decoder.decode(json));
  } catch {
    return "a frame was not valid JSON";
  }
  if (
    typeof message !== "object" || message === null ||
    Array.isArray(message) || typeof (message as LaneMessage).t !== "string"
  ) {
    return "a frame was not a tagged object";
  }
  if (payload) (message as LaneMessage).payload = payload;
  return message as LaneMessage;
}

/**
 * Reads frames until the connection ends; resolves with the reason it
 * stopped (null: the peer closed it).
 */
export async function readFrames(
  read: (buffer: Uint8Array) => Promise<number | null>,
  maxFrame: () => number,
  onFrame: (kind: number, body: Uint8Array) => string | null,
): Promise<string | null> {
  const HEADER = 5;
  const scratch = new Uint8Array(64 * 1024);
  let start = 0;
  let end = 0;
  for (;;) {
    while (end - start < HEADER) {
      if (start > 0) {
        scratch.copyWithin(0, start, end);
        end -= start;
        start = 0;
      }
      const got = await read(scratch.subarray(end));
      if (got === null) return null;
      end += got;
    }
    const length = new DataView(scratch.buffer, start, HEADER).getUint32(0);
    const kind = scratch[start + 4]!;
    start += HEADER;
    if (length > maxFrame()) {
      return `a frame of ${length} bytes is over the limit of ${maxFrame()}`;
    }
    const body = new Uint8Array(length);
    let have = Math.min(length, end - start);
    body.set(scratch.subarray(start, start + have));
    start += have;
    while (have < length) {
      const got = await read(body.subarray(have));
      if (got === null) return null;
      have += got;
    }
    const broken = onFrame(kind, body);
    if (broken !== null) return broken;
  }
}

/** Opens a lane on a connection (self-contained: see the module doc). */
export function openLane<Out extends LaneMessage, In extends LaneMessage>(
  conn: Deno.Conn,
  handlers: LaneHandlers<In>,
  options: { maxFrame?: number } = {},
): Lane<Out> {
  let maxFrame = options.maxFrame ?? 1024 * 1024 * 1024;
  let closed = false;
  // Bound now, before any action code runs in this realm: patching Deno's
  // connection prototype later must not hand the action this connection.
  const read = conn.read.bind(conn);
  const write = conn.write.bind(conn);
  const closeConn = conn.close.bind(conn);
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  // Frames queued while a write is in progress go out together, in one
  // write when they are small: many concurrent calls, few system calls.
  let queue: Uint8Array[] = [];
  let flushing: Promise<void> | undefined;
  const close = (reason: string | null) => {
    if (closed) return;
    closed = true;
    try {
      closeConn();
    } catch {
      // Already closed by the peer.
    }
    handlers.onClose(reason);
  };
  const writeAll = async (bytes: Uint8Array) => {
    for (let offset = 0; offset < bytes.length;) {
      offset += await write(bytes.subarray(offset));
    }
  };
  const flush = async () => {
    for (;;) {
      // Checked and cleared in one go: a frame queued later starts a new flush.
      if (queue.length === 0) return void (flushing = undefined);
      const chunks = queue;
      queue = [];
      const total = chunks.reduce((sum, chunk) => sum + chunk.byteLength, 0);
      if (chunks.length === 1 || total > 256 * 1024) {
        for (const chunk of chunks) await writeAll(chunk);
        continue;
      }
      const joined = new Uint8Array(total);
      let offset = 0;
      for (const chunk of chunks) {
        joined.set(chunk, offset);
        offset += chunk.byteLength;
      }
      await writeAll(joined);
    }
  };
  readFrames(read, () => maxFrame, (kind, body) => {
    const message = decodeFrame(kind, body, decoder);
    if (typeof message === "string") return message;
    handlers.onMessage(message as In);
    return closed ? "closed" : null;
  }).then(
    (reason) => close(closed ? null : reason),
    (error) => close(closed ? null : `read failed: ${error?.message ?? error}`),
  );
  return {
    send(message) {
      if (closed) return Promise.reject(new Error("The lane is closed"));
      queue.push(...encodeFrame(message, encoder));
      if (!flushing) {
        flushing = flush();
        flushing.catch((error) => {
          flushing = undefined;
          close(`write failed: ${error?.message ?? error}`);
        });
      }
      return flushing;
    },
    limit(next) {
      maxFrame = next;
    },
    close: () => close(null),
  };
}

/** The lane functions as source text, for the sandbox process and its Workers. */
export const LANE_SOURCE: string = [
  encodeFrame,
  decodeFrame,
  readFrames,
  openLane,
].map(String).join("\n");
