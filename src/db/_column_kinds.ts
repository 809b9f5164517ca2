/**
 * The kinds of column a value may be bound for, as far as binding goes, and
 * how each database's column types map to them: SQLite's declared types by
 * its affinity rules, PostgreSQL's parameter types by OID. A value a kind
 * cannot take unchanged is a {@linkcode RefusedValue}.
 *
 * @module
 */

/**
 * What a column holds, as far as binding a value goes. `any` is a column of
 * unknown or unchecked type (and every parameter used in an expression on
 * SQLite): only the checks that hold for every column apply.
 */
export type ColumnKind =
  | "any"
  | "integer"
  | "int2"
  | "int4"
  | "real"
  | "float4"
  | "numeric"
  | "text"
  | "boolean"
  | "json"
  | "bytes"
  | "date"
  | "timestamp";

/** The database a value is bound for. */
export type Dialect = "sqlite" | "postgres";

/** A value a column cannot take unchanged; the binder names the row and field. */
export class RefusedValue extends Error {
  override name = "RefusedValue";
}

/** How messages name each kind of column. */
const KIND_NAMES: Record<ColumnKind, string> = {
  any: "",
  integer: "an integer",
  int2: "a smallint",
  int4: "an integer",
  real: "a floating-point",
  float4: "a real (float4)",
  numeric: "a numeric",
  text: "a text",
  boolean: "a boolean",
  json: "a JSON",
  bytes: "a binary",
  date: "a date",
  timestamp: "a timestamp",
};

/**
 * Refuses a value: `what` it is, the column `kind`, `why` it would not read
 * back the same.
 */
export function refuse(what: string, kind: ColumnKind, why: string): never {
  const into = kind === "any" ? "" : ` into ${KIND_NAMES[kind]} column`;
  throw new RefusedValue(`${what}${into}: ${why}`);
}

/** The SQLite column kind of a declared type, by SQLite's affinity rules. */
export function sqliteKind(declared: string | null | undefined): ColumnKind {
  const type = (declared ?? "").toUpperCase();
  if (type.includes("INT")) return "integer";
  if (/CHAR|CLOB|TEXT/.test(type)) return "text";
  if (type === "" || type.includes("BLOB")) return "any";
  if (/REAL|FLOA|DOUB/.test(type)) return "real";
  return "numeric";
}

/** The column kind of a PostgreSQL parameter type (its OID). */
export function postgresKind(oid: number): ColumnKind {
  switch (oid) {
    case 20:
      return "integer";
    case 21:
      return "int2";
    case 23:
      return "int4";
    case 700:
      return "float4";
    case 701:
      return "real";
    case 1700:
      return "numeric";
    case 16:
      return "boolean";
    case 25:
    case 1042:
    case 1043:
    case 19:
      return "text";
    case 114:
    case 3802:
      return "json";
    case 17:
      return "bytes";
    case 1082:
      return "date";
    case 1114:
    case 1184:
      return "timestamp";
    default:
      return "any";
  }
}
