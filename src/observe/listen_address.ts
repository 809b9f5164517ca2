/**
 * Where the status server listens: `serve({ http: "HOST:PORT" })`.
 *
 * @module
 */
import { TriggerKitError } from "../errors.ts";

/** Where the status server listens. */
export interface ListenAddress {
  /** The interface, `127.0.0.1` unless told otherwise. */
  hostname: string;
  /** The port; 0 picks a free one. */
  port: number;
}

/** What `serve({ onListen })` is told once the status server listens. */
export interface StatusServerAddress {
  /** The interface it listens on. */
  hostname: string;
  /** The port it listens on. */
  port: number;
  /** The page's URL, e.g. `http://127.0.0.1:8787/`. */
  url: string;
}

/**
 * Reads `serve({ http })`: `"HOST:PORT"`, `"[::1]:PORT"`, or a port alone
 * (on 127.0.0.1).
 *
 * @param value The option's value.
 * @returns The address to bind.
 * @throws {TriggerKitError} `INVALID_OPTIONS` for anything else.
 */
export function parseListenAddress(value: unknown): ListenAddress {
  const text = typeof value === "number" ? String(value) : value;
  const match = typeof text === "string"
    ? /^(?:(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]*):)?(\d{1,5})$/.exec(text.trim())
    : null;
  const port = match ? Number(match[2]) : NaN;
  if (!match || port > 65535) {
    throw new TriggerKitError(
      "INVALID_OPTIONS",
      `Invalid option http: expected "HOST:PORT" such as "127.0.0.1:8787" (port 0 picks a free one), received ${
        typeof value === "string" ? `"${value}"` : typeof value
      }`,
    );
  }
  const host = match[1] ?? "";
  return {
    hostname: host === ""
      ? "127.0.0.1"
      : host.startsWith("[")
      ? host.slice(1, -1)
      : host,
    port,
  };
}
