/**
 * Database URLs: which ones TriggerKit knows, and how to show one without
 * its password.
 *
 * @module
 */

/** A database URL with its password masked. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.href;
  } catch {
    return url.replace(/\/\/([^:/@]+):[^@]*@/, "//$1:***@");
  }
}

/** Whether a string is a database URL TriggerKit knows. */
export function isDatabaseUrl(url: unknown): url is string {
  return typeof url === "string" &&
    /^(sqlite:|postgres:\/\/|postgresql:\/\/)/.test(url);
}
