/**
 * A TCP server on 127.0.0.1 (port 0) that accepts every connection, reads
 * what it is sent, and never answers: a database host that hangs.
 */

/** A server that accepts and never answers. */
export interface HungServer {
  /** The port it listens on. */
  readonly port: number;
  /** A `postgres://` URL pointing at it (with a password, to check it never leaks). */
  readonly postgresUrl: string;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Connections the client has not closed yet. */
  readonly open: number;
  /** Resolves once `open` is 0 (the client closed every connection), or rejects after `ms`. */
  allClosed(ms?: number): Promise<void>;
  /** Stops listening and closes every connection. */
  close(): Promise<void>;
}

/**
 * Starts a server that accepts connections and never writes a byte.
 *
 * @returns The server; close it at the end of the test.
 */
export function startHungServer(): HungServer {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  const readers: Promise<void>[] = [];
  let accepted = 0;
  let onChange = () => {};
  const drain = async (conn: Deno.Conn) => {
    const buffer = new Uint8Array(4096);
    try {
      while ((await conn.read(buffer)) !== null) { /* never answer */ }
    } catch { /* reset by the client, or closed by close() */ }
    if (conns.delete(conn)) {
      try {
        conn.close();
      } catch { /* already closed */ }
    }
    onChange();
  };
  const accepting = (async () => {
    try {
      for await (const conn of listener) {
        accepted++;
        conns.add(conn);
        readers.push(drain(conn));
      }
    } catch { /* listener closed */ }
  })();
  const port = (listener.addr as Deno.NetAddr).port;
  return {
    port,
    postgresUrl: `postgres://hung_user:hung-secret-pw@127.0.0.1:${port}/db`,
    get accepted() {
      return accepted;
    },
    get open() {
      return conns.size;
    },
    allClosed(ms = 2_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          onChange = () => {};
          reject(
            new Error(`${conns.size} connection(s) still open after ${ms} ms`),
          );
        }, ms);
        onChange = () => {
          if (conns.size > 0) return;
          clearTimeout(timer);
          onChange = () => {};
          resolve();
        };
        onChange();
      });
    },
    async close() {
      listener.close();
      for (const conn of conns) {
        try {
          conn.close();
        } catch { /* already closed */ }
      }
      conns.clear();
      await accepting;
      await Promise.all(readers);
    },
  };
}
