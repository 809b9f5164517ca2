/**
 * Escaping for HTML, and redaction (through `src/redact.ts`) of the text the
 * status server shows: a database URL's password never reaches a page or an
 * API answer.
 *
 * @module
 */
import { redact } from "../redact.ts";
import { isPlainObject } from "../_plain.ts";

const HTML_ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/**
 * Text made safe for HTML element content and quoted attribute values. The
 * bidirectional controls (U+202A–U+202E, U+2066–U+2069, U+200E, U+200F,
 * U+061C) are shown as `\u202E`: names may hold them (they are not control
 * characters), and raw they would reverse how a name or its neighbours read.
 */
export function escapeHtml(value: unknown): string {
  return String(value).replace(
    /[&<>"'\u202A-\u202E\u2066-\u2069\u200E\u200F\u061C]/g,
    (char) =>
      HTML_ESCAPES[char] ??
        `\\u${char.charCodeAt(0).toString(16).toUpperCase().padStart(4, "0")}`,
  );
}

/** A JSON-like value with {@linkcode redact} applied to every string in it. */
export function redactDeep(value: unknown): unknown {
  if (typeof value === "string") return redact(value);
  if (Array.isArray(value)) return value.map(redactDeep);
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      out[redact(key)] = redactDeep(item);
    }
    return out;
  }
  return value;
}

/**
 * A JSON-like value with every secret in its strings (and keys) masked as
 * `***`, as {@linkcode redact} masks them; the value itself when there is no
 * secret to mask. Other objects (a `Map`) are left as they are.
 */
export function hideSecrets<T>(value: T, secrets: readonly string[]): T {
  const masked = secrets.filter((secret) => secret.length >= 6);
  if (masked.length === 0) return value;
  const hide = (text: string) =>
    masked.some((secret) => text.includes(secret))
      ? redact(text, masked)
      : text;
  const walk = (item: unknown): unknown => {
    if (typeof item === "string") return hide(item);
    if (Array.isArray(item)) return item.map(walk);
    if (!isPlainObject(item)) return item;
    const out: Record<string, unknown> = {};
    for (const [key, inner] of Object.entries(item)) {
      out[hide(key)] = walk(inner);
    }
    return out;
  };
  return walk(value) as T;
}

/** HTML that is already safe: what {@linkcode html} returns. */
export class SafeHtml {
  /** The markup. */
  readonly value: string;

  constructor(value: string) {
    this.value = value;
  }

  toString(): string {
    return this.value;
  }
}

function interpolate(value: unknown): string {
  if (value instanceof SafeHtml) return value.value;
  if (Array.isArray(value)) return value.map(interpolate).join("");
  if (value === undefined || value === null || value === false) return "";
  return escapeHtml(value);
}

/**
 * A template tag that escapes every interpolated value unless it is
 * {@linkcode SafeHtml} (another `html` template); arrays are joined;
 * `undefined`, `null` and `false` render nothing. Markup is safe by
 * construction: a name cannot become a tag.
 */
export function html(
  strings: TemplateStringsArray,
  ...values: unknown[]
): SafeHtml {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) {
    out += interpolate(values[i]) + strings[i + 1]!;
  }
  return new SafeHtml(out);
}
