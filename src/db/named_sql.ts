/**
 * Named SQL parameters (`:field`): found once, then bound per driver. Values
 * are always bound, never spliced into SQL text.
 *
 * @module
 */

/** A SQL statement with its named parameters located. */
export interface NamedSql {
  /** The statement as written. */
  readonly sql: string;
  /** Parameter names, in order of first use, without duplicates. */
  readonly names: readonly string[];
  /** Where each parameter stands: `[start, end, name]` offsets in `sql`. */
  readonly spans: ReadonlyArray<readonly [number, number, string]>;
}

const IDENT = /[A-Za-z_][A-Za-z0-9_]*/y;

/**
 * Finds the `:name` parameters of a statement, skipping string literals,
 * quoted identifiers, comments, dollar-quoted bodies and `::` casts.
 */
export function parseNamedSql(sql: string): NamedSql {
  const spans: Array<[number, number, string]> = [];
  const names: string[] = [];
  let i = 0;
  while (i < sql.length) {
    const ch = sql[i]!;
    const next = sql[i + 1];
    if (ch === "'" || ch === '"' || ch === "`") {
      i = skipQuoted(sql, i, ch);
    } else if (ch === "-" && next === "-") {
      const end = sql.indexOf("\n", i);
      i = end < 0 ? sql.length : end + 1;
    } else if (ch === "/" && next === "*") {
      const end = sql.indexOf("*/", i + 2);
      i = end < 0 ? sql.length : end + 2;
    } else if (ch === "$" && /[A-Za-z_$]/.test(next ?? "")) {
      const tag = /^\$[A-Za-z_0-9]*\$/.exec(sql.slice(i));
      if (tag) {
        const end = sql.indexOf(tag[0], i + tag[0].length);
        i = end < 0 ? sql.length : end + tag[0].length;
      } else {
        i++;
      }
    } else if (ch === ":" && next === ":") {
      i += 2;
    } else if (ch === ":") {
      IDENT.lastIndex = i + 1;
      const match = IDENT.exec(sql);
      if (match) {
        const end = i + 1 + match[0].length;
        spans.push([i, end, match[0]]);
        if (!names.includes(match[0])) names.push(match[0]);
        i = end;
      } else {
        i++;
      }
    } else {
      i++;
    }
  }
  return { sql, names, spans };
}

function skipQuoted(sql: string, start: number, quote: string): number {
  let i = start + 1;
  while (i < sql.length) {
    if (sql[i] === quote) {
      if (sql[i + 1] === quote) {
        i += 2;
        continue;
      }
      return i + 1;
    }
    i++;
  }
  return sql.length;
}

/**
 * Rewrites `:name` parameters as numbered ones, `$1`, `$2`, … for
 * PostgreSQL or `?1`, `?2`, … for SQLite, numbering from `offset + 1`; a
 * name used twice gets one number. Values are then bound by position, in
 * `names` order.
 */
export function toNumbered(
  named: NamedSql,
  offset = 0,
  prefix: "$" | "?" = "$",
): string {
  let out = "";
  let last = 0;
  for (const [start, end, name] of named.spans) {
    const number = offset + named.names.indexOf(name) + 1;
    out += `${named.sql.slice(last, start)}${prefix}${number}`;
    last = end;
  }
  return out + named.sql.slice(last);
}

/**
 * For `INSERT … VALUES (…)` statements whose only parameters are in the
 * VALUES tuple: the text before the tuple, the tuple, and the text after
 * it, so that rows can be sent as one multi-row INSERT. `undefined` for any
 * other statement.
 */
export function splitInsertValues(
  named: NamedSql,
): { head: string; tuple: NamedSql; tail: string } | undefined {
  const { sql } = named;
  if (!/^\s*insert\s/i.test(sql)) return undefined;
  const values = findKeyword(sql, "values");
  if (values < 0) return undefined;
  let open = values + "values".length;
  while (/\s/.test(sql[open] ?? "")) open++;
  if (sql[open] !== "(") return undefined;
  let depth = 0;
  let close = -1;
  for (let i = open; i < sql.length; i++) {
    const ch = sql[i];
    if (ch === "'" || ch === '"') {
      i = skipQuoted(sql, i, ch) - 1;
    } else if (ch === "(") {
      depth++;
    } else if (ch === ")" && --depth === 0) {
      close = i;
      break;
    }
  }
  if (close < 0) return undefined;
  const tail = sql.slice(close + 1).replace(/;\s*$/, "");
  if (named.spans.some(([start]) => start < open || start > close)) {
    return undefined;
  }
  if (/^\s*,/.test(tail)) return undefined;
  return {
    head: sql.slice(0, open),
    tuple: parseNamedSql(sql.slice(open, close + 1)),
    tail,
  };
}

function findKeyword(sql: string, keyword: string): number {
  const pattern = new RegExp(`\\b${keyword}\\b`, "ig");
  for (let match = pattern.exec(sql); match; match = pattern.exec(sql)) {
    const before = sql.slice(0, match.index);
    const quotes = (before.match(/'/g) ?? []).length;
    if (quotes % 2 === 0) return match.index;
  }
  return -1;
}
