/**
 * A key's last seen row as the alert store keeps it: the resolved steps get
 * it back exactly — bigints, bytes, dates, non-finite numbers and all — from
 * SQL stores (which keep JSON) and Deno KV alike. A row too large for the
 * store is kept as its key columns alone.
 *
 * @module
 */
import type { Row } from "../types.ts";
import { toJson } from "../_json.ts";

/** The one key of a stored row: `[field, tag, value]` triples. */
const TAG = "~tk1";

type Field = [name: string, tag: string, value?: unknown];

/**
 * A row in a form every store keeps exactly (plain JSON).
 *
 * @param row The row as the view yielded it.
 * @returns The stored form.
 */
export function storedRow(row: Row): Row {
  const fields: Field[] = [];
  for (const [name, value] of Object.entries(row)) {
    if (typeof value === "bigint") fields.push([name, "n", value.toString()]);
    else if (value === undefined) fields.push([name, "u"]);
    else if (typeof value === "number" && !Number.isFinite(value)) {
      fields.push([name, "f", String(value)]);
    } else if (Object.is(value, -0)) fields.push([name, "f", "-0"]);
    else if (value instanceof Date) {
      fields.push([name, "d", value.getTime()]);
    } else if (value instanceof Uint8Array) {
      fields.push([name, "b", Array.from(value)]);
    } else fields.push([name, "j", value]);
  }
  return { [TAG]: fields };
}

/**
 * A stored row back as the view yielded it (a row stored as is, by an
 * earlier version, is returned as it is).
 *
 * @param stored What the store gave back.
 * @returns The row.
 */
export function liveRow(stored: Row): Row {
  const fields = stored[TAG];
  if (!Array.isArray(fields) || Object.keys(stored).length !== 1) {
    return stored;
  }
  const row: Row = {};
  for (const [name, tag, value] of fields as Field[]) {
    row[name] = tag === "n"
      ? BigInt(value as string)
      : tag === "u"
      ? undefined
      : tag === "f"
      ? Number(value)
      : tag === "d"
      ? new Date((value as number | null) ?? NaN)
      : tag === "b"
      ? new Uint8Array(value as number[])
      : value;
  }
  return row;
}

/**
 * The stored form of a row, or its key columns alone when it is larger than
 * the store can keep in one value (Deno KV: 64 KiB).
 *
 * @param row The row as the view yielded it.
 * @param key The key columns.
 * @param maxBytes The store's limit (none: any size).
 * @returns The stored form.
 */
export function storedRowWithin(
  row: Row,
  key: readonly string[],
  maxBytes: number | undefined,
): Row {
  const stored = storedRow(row);
  if (maxBytes === undefined || byteSize(stored) <= maxBytes) return stored;
  return storedRow(
    Object.fromEntries(key.map((field) => [field, row[field]])),
  );
}

/** The UTF-8 length of a stored row's JSON: at least what V8 writes for it. */
export function byteSize(stored: unknown): number {
  return new TextEncoder().encode(toJson(stored)).length;
}
