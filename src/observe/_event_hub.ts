/**
 * Server-sent events to the open status pages.
 *
 * @module
 */
import { toJson } from "../_json.ts";
import type { RunChange } from "./_source.ts";

const NO_STORE = {
  "x-content-type-options": "nosniff",
  "cache-control": "no-store",
};

/**
 * How many bytes may wait for one client before it is dropped: a page that
 * stopped reading (a stalled tab, a client that never reads) must not make
 * the server keep every later event for it. It reconnects when it reads
 * again, and the page refreshes itself on reconnecting.
 */
export const MAX_BACKLOG_BYTES = 64 * 1024;

/**
 * How many event streams may be open at once. Each event is written to
 * every stream, so a thousand idle ones would slow every run; a page turned
 * away falls back to reloading itself every 30 s.
 */
export const MAX_EVENT_STREAMS = 256;

/** Server-sent events to the open pages: one `run` event per change, a comment every 15 s. */
export class EventHub {
  readonly #clients = new Set<ReadableStreamDefaultController<Uint8Array>>();
  readonly #encoder = new TextEncoder();
  #ping: ReturnType<typeof setInterval> | undefined;

  /** The event streams open now. */
  get size(): number {
    return this.#clients.size;
  }

  /** Whether no more stream can be opened now. */
  get full(): boolean {
    return this.#clients.size >= MAX_EVENT_STREAMS;
  }

  connect(): Response {
    let client: ReadableStreamDefaultController<Uint8Array>;
    const stream = new ReadableStream<Uint8Array>({
      start: (controller) => {
        client = controller;
        this.#clients.add(controller);
        controller.enqueue(this.#encoder.encode("retry: 3000\n\n"));
        this.#startPing();
      },
      cancel: () => this.#drop(client),
    }, new ByteLengthQueuingStrategy({ highWaterMark: MAX_BACKLOG_BYTES }));
    return new Response(stream, {
      headers: {
        ...NO_STORE,
        "content-type": "text/event-stream; charset=utf-8",
      },
    });
  }

  send(change: RunChange): void {
    // JSON escapes line breaks, so a name cannot end the event early.
    this.#broadcast(`event: run\ndata: ${toJson(change)}\n\n`);
  }

  close(): void {
    for (const client of [...this.#clients]) {
      this.#drop(client);
      try {
        client.close();
      } catch {
        // Already closed by its reader.
      }
    }
  }

  #broadcast(text: string): void {
    const bytes = this.#encoder.encode(text);
    for (const client of this.#clients) {
      try {
        client.enqueue(bytes);
        if ((client.desiredSize ?? 0) < 0) {
          // It gets what waits and then the end, nothing more: what the
          // server holds for it stays under the cap.
          this.#drop(client);
          client.close();
        }
      } catch {
        this.#drop(client);
      }
    }
  }

  #startPing(): void {
    if (this.#ping !== undefined) return;
    const ping = setInterval(() => this.#broadcast(": ping\n\n"), 15_000);
    Deno.unrefTimer(ping);
    this.#ping = ping;
  }

  #drop(client: ReadableStreamDefaultController<Uint8Array>): void {
    this.#clients.delete(client);
    if (this.#clients.size === 0 && this.#ping !== undefined) {
      clearInterval(this.#ping);
      this.#ping = undefined;
    }
  }
}
