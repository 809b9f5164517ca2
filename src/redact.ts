/**
 * The one redaction of TriggerKit's output: passwords in URLs, secret query
 * parameters, bearer and Slack tokens, and any secret value the caller
 * names are masked as `***`. Every printer (the command line's output and
 * errors, its logs, messages that show a database URL) goes through it.
 *
 * @module
 */
import { isPlainObject } from "./_plain.ts";

// The password runs to the last "@" before a space, a double quote or the
// next URL: it may hold "/", "'", "<" or "@" that its author did not
// percent-encode. A scheme starts where no scheme character precedes it, and
// a password never spans another "://": each character is looked at a few
// times, not once per position before it (a 64 kB run of letters in a
// result took seconds, a megabyte hours).
const URL_PASSWORD =
  /(?<![a-z0-9+.-])([0-9+.-]*[a-z][a-z0-9+.-]*:\/\/[^\s:/@"'<>]*):((?:(?!:\/\/)[^\s"])*)@/gi;
const SECRET_PARAMETER =
  /([?&;](?:password|passwd|pwd|pass|sslpassword|token|access_token|api_key|apikey|secret|sig|signature)=)[^&\s"'<>#]*/gi;
const BEARER = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{6,}/g;
// A JSON field whose name says it holds a credential (`"X-Api-Key": "…"`,
// `"authorization": "…"`, `"password": "…"`), not one naming a variable
// (`"tokenEnv": "SLACK_BOT_TOKEN"`).
// A field name is at most 64 characters either side of the word, so that a
// long quoted run of letters costs little.
const SECRET_FIELD =
  /("[\w.-]{0,64}(?:authorization|api[-_]?key|token|secret|passw(?:or)?d|cookie|credential)[\w.-]{0,64}(?<!Env)"\s*:\s*")(?:[^"\\]|\\.)+"/gi;
const SLACK_TOKEN = /\bxox[a-z]-[A-Za-z0-9-]+/g;
const SLACK_WEBHOOK =
  /(hooks\.slack\.com\/(?:services|workflows|triggers)\/)[^\s"'<>]+/g;

/** Names of environment variables that hold secrets by convention. */
const SECRET_NAME =
  /TOKEN|SECRET|PASSWORD|PASSWD|API_?KEY|PRIVATE|CREDENTIAL|WEBHOOK/i;

/**
 * The values of environment variables that hold secrets: those named in
 * `names` (the variables steps read, `tokenEnv`, `fromEnv`, …) and those whose
 * name says so (`*_TOKEN`, `*_SECRET`, `*PASSWORD*`, `*_API_KEY`, `*WEBHOOK*`).
 *
 * @param names Variables known to hold secrets.
 * @returns Their values (none without permission to read the environment).
 */
export function environmentSecrets(names: Iterable<string> = []): string[] {
  try {
    const wanted = new Set(names);
    return Object.entries(Deno.env.toObject())
      .filter(([name, value]) =>
        value !== "" && (wanted.has(name) || SECRET_NAME.test(name))
      )
      .map(([, value]) => value);
  } catch {
    return [];
  }
}

/**
 * The passwords of the URLs in a value (a config: every string at any
 * depth), as written, percent-decoded and JSON-escaped: what
 * {@linkcode redact} must mask even where the URL pattern cannot see them
 * (a password with a space or a double quote).
 *
 * @param value A config, or any part of one.
 * @returns The passwords, in each form they may be printed.
 */
export function urlPasswords(value: unknown): string[] {
  const found = new Set<string>();
  const walk = (item: unknown): void => {
    if (typeof item === "string") {
      const match = /^[a-z][a-z0-9+.-]*:\/\/[^/@]*?:(.*)@[^@]*$/is.exec(item);
      const password = match?.[1];
      if (!password) return;
      let decoded = password;
      try {
        decoded = decodeURIComponent(password);
      } catch {
        // Not percent-encoded: as written.
      }
      for (const form of [password, decoded]) {
        found.add(form);
        found.add(JSON.stringify(form).slice(1, -1));
      }
    } else if (Array.isArray(item)) item.forEach(walk);
    else if (isPlainObject(item)) Object.values(item).forEach(walk);
  };
  walk(value);
  return [...found];
}

/**
 * Text with every secret it holds masked.
 *
 * @param text What is about to be printed.
 * @param secrets Values that must never be shown (tokens read from the environment).
 * @returns The text, secrets replaced by `***`.
 */
export function redact(text: string, secrets: Iterable<string> = []): string {
  let out = text;
  for (const secret of secrets) {
    // Short values would mask ordinary words; such values are no secret anyway.
    if (secret.length >= 6) out = out.replaceAll(secret, "***");
  }
  return out
    .replace(URL_PASSWORD, "$1:***@")
    .replace(SECRET_PARAMETER, "$1***")
    .replace(BEARER, "$1 ***")
    .replace(SECRET_FIELD, '$1***"')
    .replace(SLACK_TOKEN, (token) => `${token.slice(0, 5)}***`)
    .replace(SLACK_WEBHOOK, "$1***");
}

/**
 * A URL with its password (and secret query parameters) masked. The URL is
 * parsed, so a password holding `@` is masked whole.
 *
 * @param url A database or store URL.
 * @returns The URL, safe to show.
 */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (!parsed.password) return redact(url);
    const password = parsed.password;
    parsed.password = "***";
    return redact(parsed.href, [password, decodeURIComponent(password)]);
  } catch {
    return redact(url);
  }
}
