/**
 * Rows as alerts see them: each row's key, canonical (integers by value),
 * and a hash of its values; the rows' order-free digest, which lets a run
 * see that nothing changed without reading the keys' states.
 *
 * @module
 */
import { TriggerKitError } from "../errors.ts";
import type { Row } from "../types.ts";

/**
 * A key's canonical text: the JSON of its values, where an integer is the
 * same whether the driver returned a number, a bigint or a digit string.
 *
 * @param values The key columns' values, in `dedupe.key` order.
 * @returns The key text (`[42,"boiler"]`).
 */
export function alertKey(values: readonly unknown[]): string {
  return JSON.stringify(values.map(keyValue));
}

function keyValue(value: unknown): unknown {
  if (typeof value === "bigint") {
    return Number.isSafeInteger(Number(value))
      ? Number(value)
      : value.toString();
  }
  if (typeof value === "string" && /^-?(0|[1-9]\d{0,15})$/.test(value)) {
    const number = Number(value);
    if (Number.isSafeInteger(number)) return number;
  }
  if (value instanceof Date) return value.toISOString();
  if (value === undefined) return null;
  return value;
}

/**
 * The key of a row.
 *
 * @throws {TriggerKitError} `INVALID_DATA` when the row lacks a key column.
 */
export function keyOfRow(
  row: Row,
  fields: readonly string[],
  where: () => string,
): string {
  const values = fields.map((field) => {
    if (!(field in row)) {
      throw new TriggerKitError(
        "INVALID_DATA",
        `${where()} has no column "${field}", which dedupe.key uses`,
      );
    }
    return row[field];
  });
  return alertKey(values);
}

/** The rows' hashes (two 32-bit lanes each) and their order-free sum. */
export interface RowHashes {
  /** Lane 1 of each row. */
  a: Uint32Array;
  /** Lane 2 of each row. */
  b: Uint32Array;
  /** The multiset digest of all rows: equal rows in any order give the same. */
  digest: string;
}

/**
 * Hashes each row's values (in column order) into two 32-bit lanes, and
 * sums them into a digest that does not depend on the rows' order: the fast
 * path compares it with the last run's to know that nothing changed without
 * reading the keys' states.
 */
export function rowHashes(rows: readonly Row[]): RowHashes {
  const a = new Uint32Array(rows.length);
  const b = new Uint32Array(rows.length);
  let sumA = 0;
  let sumB = 0;
  for (let r = 0; r < rows.length; r++) {
    let h1 = 0x811c9dc5;
    let h2 = 0x9747b28c;
    const row = rows[r]!;
    for (const column in row) {
      const text = valueText(row[column]);
      for (let i = 0; i < text.length; i++) {
        const c = text.charCodeAt(i);
        h1 = Math.imul(h1 ^ c, 0x01000193);
        h2 = Math.imul(h2 ^ c, 0x5bd1e995);
        h2 ^= h2 >>> 15;
      }
      // The length ends the value: ["ab","c"] and ["a","bc"] differ.
      h1 = Math.imul(h1 ^ (text.length + 0x1f), 0x01000193);
      h2 = Math.imul(h2 ^ (text.length + 0x1f), 0x5bd1e995);
      h2 ^= h2 >>> 13;
    }
    a[r] = h1 >>> 0;
    b[r] = h2 >>> 0;
    sumA = (sumA + a[r]!) >>> 0;
    sumB = (sumB + b[r]!) >>> 0;
  }
  return {
    a,
    b,
    digest: `${rows.length}:${sumA.toString(36)}.${sumB.toString(36)}`,
  };
}

/** Row `i`'s fingerprint. */
export function fingerprintAt(hashes: RowHashes, i: number): string {
  return `${hashes.a[i]!.toString(36)}.${hashes.b[i]!.toString(36)}`;
}

function valueText(value: unknown): string {
  switch (typeof value) {
    case "string":
      return `s${value}`;
    case "number":
    case "bigint":
    case "boolean":
      return String(value);
    case "undefined":
      return "\u0000";
    default:
      if (value === null) return "\u0000";
      if (value instanceof Date) return `d${value.toISOString()}`;
      if (value instanceof Uint8Array) return `b${Array.from(value).join(",")}`;
      return `j${
        JSON.stringify(value, (_k, v) => typeof v === "bigint" ? String(v) : v)
      }`;
  }
}
