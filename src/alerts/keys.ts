/**
 * Rows as alerts see them: each row's key, canonical (integers by value),
 * and a hash of its values; the rows' order-free digest, which lets a run
 * see that nothing changed without reading the keys' states.
 *
 * @module
 */
import { TriggerKitError } from "../errors.ts";
import type { Row } from "../types.ts";
import { toJson } from "../_json.ts";

/**
 * A key's canonical text: the JSON of its values, where an integer is the
 * same whether the driver returned a number, a bigint or a digit string.
 *
 * @param values The key columns' values, in `dedupe.key` order.
 * @returns The key text (`[42,"boiler"]`).
 */
export function alertKey(values: readonly unknown[]): string {
  // A bigint nested in an object value is written as its digits.
  return toJson(values.map(keyValue));
}

function keyValue(value: unknown): unknown {
  // An integer past 2^53 given as a number is the same key as its bigint.
  if (typeof value === "number" && Number.isInteger(value)) {
    return Number.isSafeInteger(value) ? value : BigInt(value).toString();
  }
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
  if (fields.length === 1) {
    // The common case, without an array per row.
    const value = row[fields[0]!];
    if (typeof value === "number" && Number.isSafeInteger(value)) {
      return `[${value}]`;
    }
  }
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
    const row = rows[r]!;
    LANES[0] = 0x811c9dc5;
    LANES[1] = 0x9747b28c;
    for (const column in row) mixValue(row[column]);
    a[r] = LANES[0];
    b[r] = LANES[1];
    sumA = (sumA + LANES[0]) >>> 0;
    sumB = (sumB + LANES[1]) >>> 0;
  }
  return {
    a,
    b,
    digest: `${rows.length}:${sumA.toString(36)}.${sumB.toString(36)}`,
  };
}

/** The two lanes of the row being hashed (no allocation per value). */
const LANES = new Uint32Array(2);
/** A number's 64 bits, read as two words. */
const FLOAT = new Float64Array(1);
const FLOAT_WORDS = new Uint32Array(FLOAT.buffer);

function mix(c: number): void {
  LANES[0] = Math.imul(LANES[0]! ^ c, 0x01000193);
  const h2 = Math.imul(LANES[1]! ^ c, 0x5bd1e995);
  LANES[1] = h2 ^ (h2 >>> 15);
}

function mixText(tag: number, text: string): void {
  mix(tag);
  for (let i = 0; i < text.length; i++) mix(text.charCodeAt(i));
  // The length ends the value: ["ab","c"] and ["a","bc"] differ.
  mix(text.length + 0x10000);
}

/** Mixes one value, tagged by its type, into the lanes. */
function mixValue(value: unknown): void {
  switch (typeof value) {
    case "string":
      return mixText(1, value);
    case "number":
      FLOAT[0] = value;
      mix(2);
      mix(FLOAT_WORDS[0]!);
      return mix(FLOAT_WORDS[1]!);
    case "bigint":
      return mixText(3, value.toString());
    case "boolean":
      return mix(value ? 5 : 4);
    case "undefined":
      return mix(6);
    default:
      if (value === null) return mix(6);
      if (value instanceof Date) return mixText(7, value.toISOString());
      if (value instanceof Uint8Array) {
        mix(8);
        for (const byte of value) mix(byte);
        return mix(value.length + 0x10000);
      }
      return mixText(
        9,
        JSON.stringify(value, (_k, v) => typeof v === "bigint" ? String(v) : v),
      );
  }
}

/** Row `i`'s fingerprint. */
export function fingerprintAt(hashes: RowHashes, i: number): string {
  return `${hashes.a[i]!.toString(36)}.${hashes.b[i]!.toString(36)}`;
}
