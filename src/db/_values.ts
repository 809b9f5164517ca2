/**
 * How a row's value becomes a database parameter, for SQLite and
 * PostgreSQL alike: a value is stored so that a view reads it back equal,
 * or it is refused. Where the column a parameter goes into is known (its
 * declared type on SQLite, the type PostgreSQL infers for the parameter),
 * the value is checked against it. docs/builtins.md has the table.
 *
 * @module
 */
import {
  type ColumnKind,
  type Dialect,
  refuse,
  RefusedValue,
} from "./_column_kinds.ts";

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const RANGES: Partial<Record<ColumnKind, readonly [bigint, bigint]>> = {
  integer: [INT64_MIN, INT64_MAX],
  int4: [-(2n ** 31n), 2n ** 31n - 1n],
  int2: [-32768n, 32767n],
};
// Text read back as written: integers (no +, 007, -0); PG numerics (1.50).
const CANONICAL_INTEGER = /^(?:0|-?[1-9][0-9]*)$/;
const PG_NUMERIC =
  /^(?:NaN|-?Infinity|0(?:\.[0-9]+)?|-?(?:[1-9][0-9]*(?:\.[0-9]+)?|0\.[0-9]*[1-9][0-9]*))$/;
/** What SQLite's NUMERIC affinity converts to a number (it ignores spaces around it). */
const NUMERIC_LOOKING =
  /^\s*[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\s*$/;

/** Why a string cannot be stored unchanged in any database, or `undefined`. */
function textProblem(text: string): string | undefined {
  if (text.includes("\0")) {
    return "text containing a NUL character (U+0000) cannot be stored: SQLite cuts it there and PostgreSQL refuses it";
  }
  if (!text.isWellFormed()) {
    return "text containing a lone UTF-16 surrogate cannot be stored: it would become U+FFFD";
  }
  return undefined;
}

/**
 * JSON text of an object or array, refusing what JSON would silently drop
 * or change: non-finite numbers, functions, symbols, invalid dates, binary
 * data, Maps, Sets and other class instances. Bigints become decimal
 * strings; dates their ISO text.
 */
export function strictJson(value: unknown): string {
  try {
    return JSON.stringify(
      value,
      function check(this: unknown, key: string, item: unknown) {
        const original = (this as Record<string, unknown> | undefined)?.[key];
        const at = key === "" ? "" : ` at key "${key}"`;
        switch (typeof item) {
          case "bigint":
            return item.toString();
          case "number":
            if (!Number.isFinite(item)) {
              throw new RefusedValue(
                `the number${at} is ${item}, which JSON cannot hold`,
              );
            }
            if (item === 0 && 1 / item < 0) {
              throw new RefusedValue(
                `the number${at} is -0, which JSON writes as 0`,
              );
            }
            return item;
          case "string":
            return item;
          case "function":
          case "symbol":
            throw new RefusedValue(`a ${typeof item}${at} cannot be stored`);
          case "object": {
            if (item === null) {
              if (original instanceof Date) {
                throw new RefusedValue(`the date${at} is invalid`);
              }
              return item;
            }
            if (Array.isArray(item)) return item;
            const proto = Object.getPrototypeOf(item);
            if (proto !== Object.prototype && proto !== null) {
              const name = (proto as { constructor?: { name?: string } })
                ?.constructor?.name ?? "object";
              throw new RefusedValue(
                `a ${name}${at} has no JSON form that reads back the same`,
              );
            }
            return item;
          }
          default:
            return item;
        }
      },
    );
  } catch (error) {
    // JSON.stringify's own TypeError: a cycle.
    if (error instanceof TypeError) {
      throw new RefusedValue("an object that contains itself cannot be stored");
    }
    throw error;
  }
}

function bindString(text: string, kind: ColumnKind, dialect: Dialect): unknown {
  const problem = textProblem(text);
  if (problem) refuse("a string", kind, problem);
  switch (kind) {
    case "integer":
    case "int2":
    case "int4": {
      if (!CANONICAL_INTEGER.test(text)) {
        refuse(
          "a string",
          kind,
          "it is not an integer in plain decimal (like 42 or -7)",
        );
      }
      const integer = BigInt(text);
      inRange(integer, kind, "a string");
      return dialect === "sqlite" ? integer : text;
    }
    case "real":
    case "float4": {
      const number = Number(text);
      if (!Number.isFinite(number) || String(number) !== text) {
        refuse(
          "a string",
          kind,
          "only a number written as JavaScript writes it (like 1.5) is stored unchanged",
        );
      }
      return bindNumber(number, kind, dialect);
    }
    case "numeric":
      if (dialect === "sqlite" && NUMERIC_LOOKING.test(text)) {
        if (CANONICAL_INTEGER.test(text)) {
          const integer = BigInt(text);
          if (integer >= INT64_MIN && integer <= INT64_MAX) return integer;
        } else if (String(Number(text)) === text) return Number(text);
      } else if (dialect === "sqlite" || PG_NUMERIC.test(text)) return text;
      refuse(
        "a string",
        kind,
        `${
          dialect === "sqlite" ? "SQLite" : "PostgreSQL"
        } would store the number it spells, not the text`,
      );
      break;
    case "boolean":
      refuse("a string", kind, "pass true or false");
      break;
    case "bytes":
      refuse("a string", kind, "pass a Uint8Array");
      break;
    case "json":
      return JSON.stringify(text);
    case "date":
    case "timestamp": {
      // npm:postgres sends such a parameter as `new Date(text)`'s ISO text.
      const date = new Date(text);
      if (Number.isNaN(date.getTime())) {
        refuse(
          "a string",
          kind,
          "it is not a date and time npm:postgres can read (write ISO 8601: 2026-01-02T03:04:05Z)",
        );
      }
      return bindDate(date, kind, dialect);
    }
  }
  return text;
}

function inRange(integer: bigint, kind: ColumnKind, what: string): void {
  const [min, max] = RANGES[kind] ?? RANGES.integer!;
  if (integer < min || integer > max) {
    refuse(what, kind, `it is outside the column's range ${min} to ${max}`);
  }
}

/** Whether PostgreSQL's shortest text for the float4 nearest `value` reads back as `value`. */
function float4Exact(value: number): boolean {
  const single = Math.fround(value);
  for (let digits = 1; digits <= 9; digits++) {
    const text = single.toPrecision(digits);
    if (Math.fround(Number(text)) === single) return Number(text) === value;
  }
  return single === value;
}

/** Columns that take no number: a number would be read as something else. */
const OWN_TYPE_ONLY: ReadonlySet<ColumnKind> = new Set([
  "boolean",
  "bytes",
  "date",
  "timestamp",
]);

function refuseIfOwnTypeOnly(what: string, kind: ColumnKind): void {
  if (OWN_TYPE_ONLY.has(kind)) {
    refuse(what, kind, "pass the column's own type");
  }
}

/** The ranges of PostgreSQL's smaller integer columns, as numbers. */
const SMALL_RANGES: Partial<Record<ColumnKind, readonly [number, number]>> = {
  int4: [-(2 ** 31), 2 ** 31 - 1],
  int2: [-32768, 32767],
};

function bindNumber(
  number: number,
  kind: ColumnKind,
  dialect: Dialect,
): unknown {
  if (!Number.isFinite(number)) {
    refuse(
      `the number ${number}`,
      kind,
      "SQLite stores NaN as NULL and JSON has no NaN or Infinity; TriggerKit refuses both on every database",
    );
  }
  if (number === 0 && 1 / number < 0) return bindNegativeZero(kind, dialect);
  // The common cases first: this runs for every value of every row.
  if (kind === "real" || kind === "any" || kind === "numeric") return number;
  switch (kind) {
    case "integer":
    case "int2":
    case "int4":
      if (!Number.isInteger(number)) {
        refuse("a fractional number", kind, "it would be rounded or refused");
      }
      if (!Number.isSafeInteger(number)) {
        refuse(
          "an integer number past 2^53",
          kind,
          "it may already have been rounded; pass a bigint or a digit string",
        );
      }
      // Every safe integer fits int8; smaller columns are checked.
      if (kind !== "integer") {
        const [min, max] = SMALL_RANGES[kind]!;
        if (number < min || number > max) {
          inRange(BigInt(number), kind, "a number");
        }
      }
      return number;
    case "float4":
      if (!float4Exact(number)) {
        refuse(
          "a number",
          kind,
          "float4 keeps about 7 digits and would round it",
        );
      }
      return number;
    case "text":
      // node:sqlite binds every number as REAL, which a TEXT column would
      // write as "5.0": bind the text JavaScript writes, as PostgreSQL does.
      return String(number);
    case "json":
      return JSON.stringify(number);
  }
  refuseIfOwnTypeOnly("a number", kind);
  return number;
}

/**
 * -0 where the column keeps the sign of zero: a SQLite column without a type
 * (or BLOB), a PostgreSQL float8 or float4 (sent as the text "-0":
 * npm:postgres would write the number as "0"). Everywhere else it would read
 * back as 0, so it is refused.
 */
function bindNegativeZero(kind: ColumnKind, dialect: Dialect): unknown {
  if (dialect === "sqlite" && kind === "any") return -0;
  if (dialect === "postgres" && (kind === "real" || kind === "float4")) {
    return "-0";
  }
  refuseIfOwnTypeOnly("a number", kind);
  refuse(
    "the number -0",
    kind,
    dialect === "sqlite"
      ? "SQLite keeps the sign of zero only in a column without a type (or BLOB); it would read back as 0"
      : "PostgreSQL keeps the sign of zero only in float8 and float4 columns; it would read back as 0",
  );
}

function bindBigint(
  integer: bigint,
  kind: ColumnKind,
  dialect: Dialect,
): unknown {
  switch (kind) {
    case "integer":
    case "int2":
    case "int4":
      inRange(integer, kind, "a bigint");
      return dialect === "sqlite" ? integer : integer.toString();
    case "real":
    case "float4":
      if (BigInt(Number(integer)) !== integer) {
        refuse("a bigint", kind, "a floating-point column would round it");
      }
      return bindNumber(Number(integer), kind, dialect);
    case "text":
      return integer.toString();
    case "json":
      return JSON.stringify(integer.toString());
  }
  refuseIfOwnTypeOnly("a bigint", kind);
  if (dialect === "postgres") return integer.toString();
  if (integer < INT64_MIN || integer > INT64_MAX) {
    refuse("a bigint", kind, "SQLite integers are 64-bit");
  }
  return integer;
}

function bindBoolean(
  value: boolean,
  kind: ColumnKind,
  dialect: Dialect,
): unknown {
  switch (kind) {
    case "boolean":
    case "any":
      return dialect === "sqlite" ? (value ? 1 : 0) : value;
    case "integer":
    case "numeric":
      // SQLite has no boolean type: 1 and 0 are its booleans.
      if (dialect === "sqlite") return value ? 1 : 0;
      break;
    case "json":
      return JSON.stringify(value);
  }
  refuse(
    "a boolean",
    kind,
    dialect === "sqlite"
      ? "SQLite would store 1 or 0 in it; use an INTEGER or BOOLEAN column"
      : "use a boolean column",
  );
}

function bindDate(date: Date, kind: ColumnKind, dialect: Dialect): unknown {
  if (Number.isNaN(date.getTime())) {
    refuse("an invalid date", kind, "it has no time");
  }
  const iso = date.toISOString();
  switch (kind) {
    case "date":
      if (!iso.endsWith("T00:00:00.000Z")) {
        refuse(
          "a date with a time of day",
          kind,
          "the column would drop the time",
        );
      }
      return iso.slice(0, 10);
    case "integer":
    case "int2":
    case "int4":
    case "real":
    case "float4":
    case "boolean":
    case "bytes":
      refuse(
        "a date",
        kind,
        "dates are stored as ISO 8601 text or a timestamp",
      );
      break;
    case "numeric":
      if (dialect === "postgres") {
        refuse(
          "a date",
          kind,
          "dates are stored as ISO 8601 text or a timestamp",
        );
      }
      break;
    case "json":
      return JSON.stringify(iso);
  }
  return iso;
}

function bindObject(
  value: object,
  kind: ColumnKind,
  dialect: Dialect,
): unknown {
  if (value instanceof Uint8Array) {
    if (dialect === "postgres" && kind !== "bytes" && kind !== "any") {
      refuse("binary data", kind, "use a bytea column");
    }
    return value;
  }
  switch (kind) {
    case "integer":
    case "int2":
    case "int4":
    case "real":
    case "float4":
    case "boolean":
    case "bytes":
    case "date":
    case "timestamp":
      refuse(
        Array.isArray(value) ? "an array" : "an object",
        kind,
        "objects and arrays are stored as JSON text",
      );
      break;
    case "numeric":
      if (dialect === "postgres") {
        refuse("an object", kind, "objects and arrays are stored as JSON text");
      }
  }
  return strictJson(value);
}

/**
 * A value as a parameter of `dialect` for a column of `kind`, or a
 * {@linkcode RefusedValue} saying why it would not read back the same.
 */
export function bindValue(
  value: unknown,
  kind: ColumnKind,
  dialect: Dialect,
): unknown {
  switch (typeof value) {
    case "string":
      return bindString(value, kind, dialect);
    case "number":
      return bindNumber(value, kind, dialect);
    case "bigint":
      return bindBigint(value, kind, dialect);
    case "boolean":
      return bindBoolean(value, kind, dialect);
    case "undefined":
      return null;
    case "object":
      if (value === null) return null;
      if (value instanceof Date) return bindDate(value, kind, dialect);
      return bindObject(value, kind, dialect);
    default:
      refuse(`a ${typeof value}`, kind, "it cannot be stored");
  }
}
