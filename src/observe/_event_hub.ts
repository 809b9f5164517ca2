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

/** Server-sent events to the open pages: one `run` event per change, a comment every 15 s. */
export class EventHub {
  readonly #clients = new Set<ReadableStreamDefaultController<Uint8Array>>();
  readonly #encoder = new TextEncoder();
  #ping: ReturnType<typeof setInterval> | undefined;

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
    });
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
