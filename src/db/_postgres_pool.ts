/**
 * PostgreSQL pools whose connections cannot hang: TriggerKit's own socket
 * factory ends a connection when the TCP connect or the server's first
 * answer takes longer than the connect deadline (npm:postgres's
 * `connect_timeout` did not end a connect to a host that accepts and never
 * answers), and a pool is destroyed together with every socket it opened.
 *
 * @module
 */
import postgres from "postgres";
import net from "node:net";
import { guardClosedSocketWrites } from "./_postgres_guard.ts";

/** How long a connection may go without a first answer from the server, by default. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
/** setTimeout's longest delay; a longer one would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Values arrive as JSON text already (the binder writes it), and postgres.js
 * would otherwise JSON-encode that text again for json/jsonb parameters.
 */
const JSON_TEXT = {
  to: 114,
  from: [114, 3802],
  serialize: (value: unknown) =>
    typeof value === "string" ? value : JSON.stringify(value),
  parse: (text: string) => JSON.parse(text),
};

/**
 * Dates and timestamps: a string goes to the server as written (postgres.js
 * would parse it with `new Date`, in the process's time zone).
 */
const DATE_TEXT = {
  to: 1184,
  from: [1082, 1114, 1184],
  serialize: (value: unknown) =>
    value instanceof Date ? value.toISOString() : String(value),
  parse: (text: string) => new Date(text),
};

/** One pool and the sockets it opened, destroyed together when the server hangs. */
export interface Pool {
  sql: postgres.Sql;
  sockets: Set<net.Socket>;
}

/**
 * A pool for `url` whose connections give up after `connectTimeoutMs`
 * without an answer.
 */
export function openPool(url: string, connectTimeoutMs: number): Pool {
  guardClosedSocketWrites();
  const sockets = new Set<net.Socket>();
  const sql = postgres(url, {
    max: 4,
    onnotice: () => {},
    idle_timeout: 30,
    // The socket factory keeps the deadline; postgres.js's own timer did not
    // end a connect to a server that never answers.
    connect_timeout: 0,
    socket: (options: SocketOptions) =>
      connect(options, sockets, connectTimeoutMs),
    types: { json: JSON_TEXT, date: DATE_TEXT },
  } as postgres.Options<Record<string, postgres.PostgresType>>);
  return { sql, sockets };
}

/**
 * Ends a pool: its queries get `graceSeconds` to finish (0: they fail now),
 * then every socket it opened is destroyed, answered or not.
 */
export async function endPool(pool: Pool, graceSeconds: number): Promise<void> {
  const ended = pool.sql.end({ timeout: graceSeconds }).catch(() => {});
  if (graceSeconds > 0) await ended;
  for (const socket of pool.sockets) socket.destroy();
  await ended;
}

/** Where postgres.js asks its socket factory to connect. */
interface SocketOptions {
  host: string[];
  port: number[];
  path?: string;
}

/**
 * A connected socket, or an error when the TCP connect or the server's
 * first answer takes longer than `ms`.
 */
function connect(
  options: SocketOptions,
  sockets: Set<net.Socket>,
  ms: number,
): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = new net.Socket();
    sockets.add(socket);
    const silent = () =>
      socket.destroy(
        new Error(`the server did not answer within ${ms} ms of connecting`),
      );
    const timer = ms > 0 && ms <= MAX_TIMER_MS
      ? setTimeout(silent, ms)
      : undefined;
    const onError = (error: Error) => {
      clearTimeout(timer);
      reject(error);
    };
    socket.once("error", onError);
    socket.once("close", () => {
      clearTimeout(timer);
      sockets.delete(socket);
    });
    socket.once("connect", () => {
      socket.off("error", onError);
      // Until the server's first byte, the same deadline runs on.
      socket.once("data", () => clearTimeout(timer));
      resolve(socket);
    });
    if (options.path) {
      socket.connect(options.path);
    } else {
      socket.connect(options.port[0] ?? 5432, options.host[0] ?? "localhost");
    }
  });
}
