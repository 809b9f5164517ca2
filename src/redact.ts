/**
 * The one redaction of TriggerKit's output: passwords in URLs, secret query
 * parameters, bearer and Slack tokens, and any secret value the caller
 * names are masked as `***`. Every printer (the command line's output and
 * errors, its logs, messages that show a database URL) goes through it.
 *
 * @module
 */

const URL_PASSWORD = /([a-z][a-z0-9+.-]*:\/\/[^\s:/@"'<>]*):([^\s/"'<>]*)@/gi;
const SECRET_PARAMETER =
  /([?&;](?:password|passwd|pwd|pass|sslpassword|token|access_token|api_key|apikey|secret|sig|signature)=)[^&\s"'<>#]*/gi;
const BEARER = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{6,}/g;
const SLACK_TOKEN = /\bxox[a-z]-[A-Za-z0-9-]+/g;
const SLACK_WEBHOOK =
  /(hooks\.slack\.com\/(?:services|workflows|triggers)\/)[^\s"'<>]+/g;

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
