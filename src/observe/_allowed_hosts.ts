/**
 * Which `Host` headers the status server answers: the guard against DNS
 * rebinding. A web page open in a browser on the same machine can point its
 * own domain at 127.0.0.1 and then read a loopback server as same-origin; the
 * browser still sends that domain as `Host`. So a server bound to loopback
 * answers only requests addressed to a loopback name, its own address, or a
 * host the user allowed (`httpAllowedHosts`, for a reverse proxy that passes
 * the original `Host` on). A server bound to another address was exposed on
 * purpose and checks `Host` only when hosts are given.
 *
 * @module
 */

/** The names a loopback server always answers to. */
const LOOPBACK_NAMES = ["localhost", "127.0.0.1", "::1"];

/** Whether `hostname` (an address or a name) is the loopback interface. */
export function isLoopback(hostname: string): boolean {
  const name = unbracket(hostname.toLowerCase());
  return name === "localhost" || name.endsWith(".localhost") ||
    name === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name);
}

/**
 * The host names (lower case, without port or brackets) a server bound to
 * `bound` answers to, or `undefined` for any.
 *
 * @param bound The address the server is bound to.
 * @param allowed The hosts the user allowed besides (`httpAllowedHosts`).
 */
export function allowedHostsFor(
  bound: string,
  allowed: readonly string[] | undefined,
): ReadonlySet<string> | undefined {
  if (!isLoopback(bound) && allowed === undefined) return undefined;
  return new Set([
    ...LOOPBACK_NAMES,
    unbracket(bound.toLowerCase()),
    ...(allowed ?? []).map((host) => unbracket(host.toLowerCase())),
  ]);
}

/**
 * The `Host` header's name when `hosts` do not hold it (the request must be
 * refused), else `undefined`. A request without `Host` (HTTP/1.0, no
 * browser) passes: rebinding works through browsers, which always send it.
 */
export function refusedHost(
  request: Request,
  hosts: ReadonlySet<string> | undefined,
): string | undefined {
  if (hosts === undefined) return undefined;
  const header = request.headers.get("host");
  if (header === null) return undefined;
  const name = hostName(header.toLowerCase());
  return hosts.has(name) || name.endsWith(".localhost") ? undefined : name;
}

/** `example.com:8080` → `example.com`; `[::1]:80` → `::1`. */
function hostName(header: string): string {
  if (header.startsWith("[")) {
    const end = header.indexOf("]");
    return end < 0 ? header : header.slice(1, end);
  }
  const colon = header.indexOf(":");
  return colon < 0 ? header : header.slice(0, colon);
}

function unbracket(host: string): string {
  return host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
}
