/**
 * Escaping for HTML and redaction of secrets in text the status server
 * shows: a database URL's password never reaches a page or an API answer.
 *
 * @module
 */

const HTML_ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/** Text made safe for HTML element content and quoted attribute values. */
export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (char) => HTML_ESCAPES[char]!);
}

const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/[^\s:/?#@]*):[^\s/?#@]*@/gi;
const SECRET_PARAMS =
  /([?&;](?:password|passwd|pwd|pass|token|secret|api[_-]?key|access[_-]?token)=)[^&;\s#"']*/gi;

/**
 * Text with the passwords of the URLs in it masked (`postgres://u:***@h/db`),
 * and secret-looking query parameters too (`?password=***`).
 */
export function redactText(text: string): string {
  return text.replace(URL_CREDENTIALS, "$1:***@").replace(
    SECRET_PARAMS,
    "$1***",
  );
}

/** A JSON-like value with {@linkcode redactText} applied to every string in it. */
export function redactDeep(value: unknown): unknown {
  if (typeof value === "string") return redactText(value);
  if (Array.isArray(value)) return value.map(redactDeep);
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      out[redactText(key)] = redactDeep(item);
    }
    return out;
  }
  return value;
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
