/**
 * Lanes: framed messages over a TCP connection on 127.0.0.1, between the
 * host and a sandbox process (control) or a sandbox Worker (calls).
 *
 * A frame is `[u32 length][u8 kind][body]`: kind 1 is a JSON message, kind 2
 * a call (`[u32 id][u32 max result bytes][v8 bytes]`), kind 3 a reply
 * (`[u32 id][v8 bytes]`). Payloads cross as bytes: no base64, no JSON.
 *
 * {@linkcode laneFactory} is shipped as source text into the sandbox process
 * and its Workers, so it must be self-contained; the host calls it too, so
 * the three ends share one implementation.
 *
 * @module
 */

/** What a lane tells its owner. */
export interface LaneHandlers {
  onJson(message: Record<string, unknown>): void;
  onCall?(id: number, max: number, bytes: Uint8Array): void;
  onReply?(id: number, bytes: Uint8Array): void;
  /** The lane is gone: the peer closed it, it broke, or a frame broke the rules. */
  onClose(reason: string | null): void;
}

/** An open lane. */
export interface Lane {
  json(message: Record<string, unknown>): Promise<void>;
  call(id: number, max: number, bytes: Uint8Array): Promise<void>;
  reply(id: number, bytes: Uint8Array): Promise<void>;
  /** Sets the largest frame accepted from the peer. */
  limit(maxFrame: number): void;
  close(): void;
}

/** Opens lanes on connections. */
export type OpenLane = (
  conn: Deno.Conn,
  handlers: LaneHandlers,
  options?: { maxFrame?: number },
) => Lane;

/** Returns the function that opens lanes (self-contained: see the module doc). */
export function laneFactory(): OpenLane {
  const JSON_FRAME = 1;
  const CALL_FRAME = 2;
  const REPLY_FRAME = 3;
  const HEADER = 5;
  const COALESCE = 64 * 1024;
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();

  return function openLane(conn, handlers, options = {}) {
    let maxFrame = options.maxFrame ?? 1024 * 1024 * 1024;
    let closed = false;
    let writing: Promise<void> = Promise.resolve();
    const close = (reason: string | null) => {
      if (closed) return;
      closed = true;
      try {
        conn.close();
      } catch {
        // Already closed by the peer.
      }
      handlers.onClose(reason);
    };
    const writeAll = async (bytes: Uint8Array) => {
      let offset = 0;
      while (offset < bytes.length) {
        offset += await conn.write(bytes.subarray(offset));
      }
    };
    const send = (kind: number, parts: Uint8Array[]): Promise<void> => {
      if (closed) return Promise.reject(new Error("The lane is closed"));
      const length = parts.reduce((total, part) => total + part.byteLength, 0);
      const header = new Uint8Array(HEADER);
      new DataView(header.buffer).setUint32(0, length);
      header[4] = kind;
      const chunks = [header, ...parts];
      let out: Uint8Array[] = chunks;
      if (length < COALESCE) {
        const joined = new Uint8Array(HEADER + length);
        let offset = 0;
        for (const chunk of chunks) {
          joined.set(chunk, offset);
          offset += chunk.byteLength;
        }
        out = [joined];
      }
      writing = writing.then(async () => {
        for (const chunk of out) await writeAll(chunk);
      });
      const written = writing;
      writing = writing.catch((error) =>
        close(`write failed: ${error?.message ?? error}`)
      );
      return written;
    };
    const ids = (id: number, max?: number) => {
      const bytes = new Uint8Array(max === undefined ? 4 : 8);
      const view = new DataView(bytes.buffer);
      view.setUint32(0, id);
      if (max !== undefined) view.setUint32(4, max);
      return bytes;
    };
    const dispatch = (kind: number, body: Uint8Array) => {
      const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
      if (kind === JSON_FRAME) {
        let message: unknown;
        try {
          message = JSON.parse(decoder.decode(body));
        } catch {
          return close("a frame was not valid JSON");
        }
        if (
          typeof message !== "object" || message === null ||
          Array.isArray(message)
        ) {
          return close("a JSON frame was not an object");
        }
        handlers.onJson(message as Record<string, unknown>);
      } else if (
        kind === CALL_FRAME && handlers.onCall && body.byteLength >= 8
      ) {
        handlers.onCall(view.getUint32(0), view.getUint32(4), body.subarray(8));
      } else if (
        kind === REPLY_FRAME && handlers.onReply && body.byteLength >= 4
      ) {
        handlers.onReply(view.getUint32(0), body.subarray(4));
      } else {
        close(`an unexpected frame of kind ${kind}`);
      }
    };
    (async () => {
      const scratch = new Uint8Array(COALESCE);
      let start = 0;
      let end = 0;
      try {
        while (!closed) {
          while (end - start < HEADER) {
            if (start > 0) {
              scratch.copyWithin(0, start, end);
              end -= start;
              start = 0;
            }
            const read = await conn.read(scratch.subarray(end));
            if (read === null) return close(null);
            end += read;
          }
          const view = new DataView(scratch.buffer, start, HEADER);
          const length = view.getUint32(0);
          const kind = scratch[start + 4]!;
          start += HEADER;
          if (length > maxFrame) {
            return close(
              `a frame of ${length} bytes is over the limit of ${maxFrame}`,
            );
          }
          const body = new Uint8Array(length);
          let have = Math.min(length, end - start);
          body.set(scratch.subarray(start, start + have));
          start += have;
          while (have < length) {
            const read = await conn.read(body.subarray(have));
            if (read === null) return close(null);
            have += read;
          }
          dispatch(kind, body);
        }
      } catch (error) {
        close(
          closed ? null : `read failed: ${(error as Error)?.message ?? error}`,
        );
      }
    })();
    return {
      json: (message) =>
        send(JSON_FRAME, [encoder.encode(JSON.stringify(message))]),
      call: (id, max, bytes) => send(CALL_FRAME, [ids(id, max), bytes]),
      reply: (id, bytes) => send(REPLY_FRAME, [ids(id), bytes]),
      limit: (next) => {
        maxFrame = next;
      },
      close: () => close(null),
    };
  };
}
