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

/** A piece of SQL text: a word, a quoted name or string, a parameter, a sign. */
interface Token {
  readonly kind: "word" | "quoted" | "string" | "param" | "sign";
  readonly start: number;
  readonly end: number;
  /** Words and names unquoted; parameters without the colon. */
  readonly text: string;
}

/**
 * The tokens of a statement, skipping comments and whitespace. String
 * literals, quoted identifiers, dollar-quoted bodies and `::` casts are
 * never parameters.
 */
function* tokens(sql: string): Generator<Token> {
  let i = 0;
  while (i < sql.length) {
    const ch = sql[i]!;
    const next = sql[i + 1];
    const start = i;
    if (ch === "'" || ch === '"' || ch === "`") {
      i = skipQuoted(sql, i, ch);
      const body = sql.slice(start + 1, i - 1).replaceAll(ch + ch, ch);
      yield {
        kind: ch === "'" ? "string" : "quoted",
        start,
        end: i,
        text: body,
      };
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
        yield { kind: "string", start, end: i, text: "" };
      } else {
        i++;
        yield { kind: "sign", start, end: i, text: ch };
      }
    } else if (ch === ":" && next === ":") {
      i += 2;
      yield { kind: "sign", start, end: i, text: "::" };
    } else if (/\s/.test(ch)) {
      i++;
    } else {
      IDENT.lastIndex = ch === ":" ? i + 1 : i;
      const match = IDENT.exec(sql);
      if (match) {
        i = IDENT.lastIndex;
        yield ch === ":"
          ? { kind: "param", start, end: i, text: match[0] }
          : { kind: "word", start, end: i, text: match[0] };
      } else {
        i++;
        yield { kind: "sign", start, end: i, text: ch };
      }
    }
  }
}

/**
 * Finds the `:name` parameters of a statement, skipping string literals,
 * quoted identifiers, comments, dollar-quoted bodies and `::` casts.
 */
export function parseNamedSql(sql: string): NamedSql {
  const spans: Array<[number, number, string]> = [];
  const names: string[] = [];
  for (const token of tokens(sql)) {
    if (token.kind !== "param") continue;
    spans.push([token.start, token.end, token.text]);
    if (!names.includes(token.text)) names.push(token.text);
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

/** The table a statement writes and the column each parameter is stored in. */
export interface ParameterColumns {
  /** The schema named before the table (`main.t`), if any. */
  readonly schema: string | undefined;
  readonly table: string;
  /**
   * The column of each parameter that stands alone as a stored value:
   * an element of an `INSERT … VALUES` tuple, or `SET col = :p` in an
   * `UPDATE` or an upsert's `DO UPDATE`. `undefined` marks a column list
   * left out (`INSERT INTO t VALUES …`): the position in the tuple then
   * names the column (`positions`).
   */
  readonly columns: ReadonlyMap<string, string>;
  /** For `INSERT INTO t VALUES (…)` without a column list: parameter → position. */
  readonly positions: ReadonlyMap<string, number>;
}

const word = (token: Token | undefined, text: string) =>
  token?.kind === "word" && token.text.toLowerCase() === text;
const sign = (token: Token | undefined, text: string) =>
  token?.kind === "sign" && token.text === text;
const isName = (token: Token | undefined): token is Token =>
  token?.kind === "word" || token?.kind === "quoted";

/**
 * Where each parameter of an `INSERT`, `REPLACE` or `UPDATE` is stored, so
 * that a driver can check a value against its column's type. Parameters
 * inside expressions are not listed; `undefined` for other statements.
 */
export function parameterColumns(
  named: NamedSql,
): ParameterColumns | undefined {
  const list = [...tokens(named.sql)];
  let i = 0;
  const isInsert = word(list[0], "insert") || word(list[0], "replace");
  if (!isInsert && !word(list[0], "update")) return undefined;
  i++;
  if (word(list[i], "or")) i += 2;
  if (isInsert) {
    if (!word(list[i], "into")) return undefined;
    i++;
  }
  if (!isName(list[i])) return undefined;
  let schema: string | undefined;
  let table = list[i]!.text;
  i++;
  if (sign(list[i], ".") && isName(list[i + 1])) {
    schema = table;
    table = list[i + 1]!.text;
    i += 2;
  }
  if (word(list[i], "as")) i += 2;
  else if (!isInsert && isName(list[i]) && !word(list[i], "set")) i++;
  const columns = new Map<string, string>();
  const positions = new Map<string, number>();
  if (isInsert) {
    let names: string[] | undefined;
    if (sign(list[i], "(")) {
      names = [];
      for (i++; i < list.length && !sign(list[i], ")"); i++) {
        if (isName(list[i])) names.push(list[i]!.text);
      }
      i++;
    }
    if (!word(list[i], "values")) return undefined;
    i++;
    while (sign(list[i], "(")) {
      const elements = tuple(list, i);
      elements.items.forEach((item, position) => {
        if (item.length !== 1 || item[0]!.kind !== "param") return;
        const param = item[0]!.text;
        if (names) {
          const column = names[position];
          if (column !== undefined) columns.set(param, column);
        } else {
          positions.set(param, position);
        }
      });
      i = elements.end;
      if (!sign(list[i], ",")) break;
      i++;
    }
    while (i < list.length && !word(list[i], "set")) i++;
  } else if (!word(list[i], "set")) {
    return undefined;
  }
  for (const [param, column] of assignments(list, i + 1)) {
    columns.set(param, column);
  }
  return { schema, table, columns, positions };
}

/** The top-level comma-separated items of the parenthesised list at `open`. */
function tuple(
  list: Token[],
  open: number,
): { items: Token[][]; end: number } {
  const items: Token[][] = [[]];
  let depth = 0;
  let i = open;
  for (; i < list.length; i++) {
    const token = list[i]!;
    if (sign(token, "(") && depth++ === 0) continue;
    if (sign(token, ")") && --depth === 0) return { items, end: i + 1 };
    if (sign(token, ",") && depth === 1) items.push([]);
    else items.at(-1)!.push(token);
  }
  return { items, end: i };
}

/** `col = :param` pairs of a SET clause starting at `start`, until its end. */
function* assignments(
  list: Token[],
  start: number,
): Generator<[string, string]> {
  let depth = 0;
  let itemStart = start;
  for (let i = start; i <= list.length; i++) {
    const token = list[i];
    if (sign(token, "(")) depth++;
    if (sign(token, ")")) depth--;
    const ends = token === undefined || depth < 0 ||
      (depth === 0 &&
        (sign(token, ",") || sign(token, ";") ||
          ["from", "where", "returning", "on", "order", "limit"].some((w) =>
            word(token, w)
          )));
    if (!ends) continue;
    const [column, equals, value, extra] = list.slice(itemStart, i);
    if (
      isName(column) && sign(equals, "=") && value?.kind === "param" &&
      extra === undefined
    ) {
      yield [value.text, column.text];
    }
    if (!sign(token, ",")) return;
    itemStart = i + 1;
  }
}
