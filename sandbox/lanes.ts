/**
 * The host's end of the lanes: a listener on 127.0.0.1 that accepts only
 * connections whose first message carries a token the host issued (once).
 *
 * @module
 */
import { type Lane, laneFactory, type LaneHandlers } from "./_lane.ts";

const openLane = laneFactory();

/** How long a connection may take to say hello. */
const HELLO_TIMEOUT_MS = 10_000;
/** The largest hello. */
const HELLO_MAX = 4096;

interface Expected {
  handlers: LaneHandlers;
  maxFrame: number;
  resolve: (lane: Lane) => void;
}

/** Accepts lanes from sandbox processes and their Workers. */
export class LaneServer {
  readonly #listener: Deno.TcpListener;
  readonly #expected = new Map<string, Expected>();
  readonly #open = new Set<Lane>();

  /**
   * Listens on 127.0.0.1, on a port of the system's choosing.
   *
   * @throws NotCapable without `--allow-net=127.0.0.1`.
   */
  constructor() {
    this.#listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.#accept();
  }

  /** The port sandbox processes dial. */
  get port(): number {
    return this.#listener.addr.port;
  }

  /**
   * A fresh one-time token, and the lane that will say hello with it. Its
   * messages go to `handlers`; frames over `maxFrame` close it.
   */
  expect(
    handlers: LaneHandlers,
    maxFrame: number,
  ): { token: string; lane: Promise<Lane> } {
    const token = crypto.randomUUID();
    const lane = new Promise<Lane>((resolve) =>
      this.#expected.set(token, { handlers, maxFrame, resolve })
    );
    return { token, lane };
  }

  /** Forgets a token that will not be used. */
  forget(token: string): void {
    this.#expected.delete(token);
  }

  /** Stops listening and closes every lane. */
  close(): void {
    try {
      this.#listener.close();
    } catch {
      // Already closed.
    }
    for (const lane of this.#open) lane.close();
    this.#expected.clear();
  }

  async #accept(): Promise<void> {
    try {
      for await (const conn of this.#listener) this.#greet(conn);
    } catch {
      // The listener was closed.
    }
  }

  #greet(conn: Deno.TcpConn): void {
    conn.setNoDelay(true);
    let bound: LaneHandlers | undefined;
    const timer = setTimeout(() => bound ?? lane.close(), HELLO_TIMEOUT_MS);
    Deno.unrefTimer(timer);
    const lane: Lane = openLane(conn, {
      onJson: (message) => {
        if (bound) return bound.onJson(message);
        const expected =
          message.t === "hello" && typeof message.token === "string"
            ? this.#expected.get(message.token)
            : undefined;
        clearTimeout(timer);
        if (!expected) return lane.close();
        this.#expected.delete(message.token as string);
        bound = expected.handlers;
        lane.limit(expected.maxFrame);
        expected.resolve(lane);
      },
      onReply: (id, bytes) =>
        bound?.onReply ? bound.onReply(id, bytes) : lane.close(),
      onClose: (reason) => {
        clearTimeout(timer);
        this.#open.delete(lane);
        bound?.onClose(reason);
      },
    }, { maxFrame: HELLO_MAX });
    this.#open.add(lane);
  }
}
