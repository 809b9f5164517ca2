/**
 * The host's end of one sandbox process's lanes: a Unix socket in the host's
 * private folder that listens only while the host expects a lane, and
 * accepts only connections whose first message carries a token it issued
 * (once). No TCP port: no `net` grant of an action reaches it.
 *
 * @module
 */
import {
  type Lane,
  type LaneHandlers,
  type LaneMessage,
  openLane,
} from "../_lane.ts";

/** How long a connection may take to say hello. */
const HELLO_TIMEOUT_MS = 10_000;
/** The largest hello. */
const HELLO_MAX = 4096;
/** Connections that have not said hello yet, at most: past it the oldest is closed. */
const MAX_STRANGERS = 8;

interface Expected {
  // deno-lint-ignore no-explicit-any
  handlers: LaneHandlers<any>;
  maxFrame: number;
  // deno-lint-ignore no-explicit-any
  resolve: (lane: Lane<any>) => void;
}

/** Accepts the lanes of one sandbox process. */
export class LaneListener {
  readonly path: string;
  readonly #expected = new Map<string, Expected>();
  readonly #open = new Set<Lane<LaneMessage>>();
  #listener: Deno.Listener | undefined;
  readonly #strangers: Array<Lane<LaneMessage>> = [];
  #closed = false;

  /**
   * @param path The socket's path (in a folder only the host's user can enter).
   */
  constructor(path: string) {
    this.path = path;
  }

  /**
   * A fresh one-time token, and the lane that will say hello with it. Its
   * messages go to `handlers`; frames over `maxFrame` close it.
   */
  expect<Out extends LaneMessage, In extends LaneMessage>(
    handlers: LaneHandlers<In>,
    maxFrame: number,
  ): { token: string; lane: Promise<Lane<Out>> } {
    if (this.#closed) throw new Error("The lane listener is closed");
    const token = crypto.randomUUID();
    const lane = new Promise<Lane<Out>>((resolve) =>
      this.#expected.set(token, { handlers, maxFrame, resolve })
    );
    this.#listen();
    return { token, lane };
  }

  /** Forgets a token that will not be used. */
  forget(token: string): void {
    this.#expected.delete(token);
    this.#quiet();
  }

  /** Stops listening and closes every lane. */
  close(): void {
    this.#closed = true;
    this.#expected.clear();
    this.#quiet();
    for (const lane of this.#open) lane.close();
  }

  #listen(): void {
    if (this.#listener) return;
    try {
      Deno.removeSync(this.path);
    } catch {
      // No stale socket file.
    }
    const listener = Deno.listen({ transport: "unix", path: this.path });
    this.#listener = listener;
    (async () => {
      try {
        for await (const conn of listener) this.#greet(conn);
      } catch {
        // Closed.
      }
    })();
  }

  /** Nothing is expected: close the socket, so there is nothing to dial. */
  #quiet(): void {
    if ((this.#expected.size > 0 && !this.#closed) || !this.#listener) return;
    try {
      this.#listener.close();
    } catch {
      // Already closed.
    }
    this.#listener = undefined;
    try {
      Deno.removeSync(this.path);
    } catch {
      // Deno removed it, or it never was.
    }
  }

  #greet(conn: Deno.Conn): void {
    // A real lane says hello at once: whoever keeps quiet longest goes first.
    if (this.#strangers.length >= MAX_STRANGERS) this.#strangers[0]!.close();
    // deno-lint-ignore no-explicit-any
    let bound: LaneHandlers<any> | undefined;
    const known = () => {
      const at = this.#strangers.indexOf(lane);
      if (at >= 0) this.#strangers.splice(at, 1);
      clearTimeout(timer);
    };
    const timer = setTimeout(() => lane.close(), HELLO_TIMEOUT_MS);
    Deno.unrefTimer(timer);
    const lane: Lane<LaneMessage> = openLane(conn, {
      onMessage: (message) => {
        if (bound) return bound.onMessage(message);
        const hello = message as { t: string; token?: unknown };
        const expected = hello.t === "hello" && typeof hello.token === "string"
          ? this.#expected.get(hello.token)
          : undefined;
        known();
        if (!expected) return lane.close();
        this.#expected.delete(hello.token as string);
        bound = expected.handlers;
        lane.limit(expected.maxFrame);
        this.#open.add(lane);
        expected.resolve(lane);
        this.#quiet();
      },
      onClose: (reason) => {
        known();
        this.#open.delete(lane);
        bound?.onClose(reason);
      },
    }, { maxFrame: HELLO_MAX });
    this.#strangers.push(lane);
  }
}
