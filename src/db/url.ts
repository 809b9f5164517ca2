/**
 * Database URLs: which ones TriggerKit knows, and how to show one without
 * its password.
 *
 * @module
 */

export { redactUrl } from "../redact.ts";

/** Whether a string is a database URL TriggerKit knows. */
export function isDatabaseUrl(url: unknown): url is string {
  return typeof url === "string" &&
    /^(sqlite:|postgres:\/\/|postgresql:\/\/)/.test(url);
}
