/**
 * One text key for a list of values, as dedupe and alert keys need it:
 * an integer is the same key whether a driver returned it as a number, a
 * bigint or a digit string (PostgreSQL's `int8` through `npm:postgres`;
 * SQLite's integers past 2^53).
 *
 * @module
 */
import { toJson } from "./_json.ts";

/** An integer written in canonical decimal: no sign `+`, no leading zeros, no spaces. */
const CANONICAL_INTEGER = /^-?(?:0|[1-9][0-9]*)$/;

/**
 * The key of a list of values. Integers (safe-integer numbers, bigints,
 * canonical digit strings such as `"42"` or `"-7"`) are written as bare
 * JSON numbers, exactly (no rounding past 2^53); dates as their ISO text;
 * every other value as its JSON. For keys made of safe integers and plain
 * strings, the result is the `JSON.stringify` of the list, as stored by
 * earlier versions.
 *
 * @param values The key's values, in key order.
 * @returns A JSON array text.
 *
 * @example Integers compare by value
 * ```ts
 * import { canonicalKey } from "./_key.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(canonicalKey([1]), canonicalKey([1n]));
 * assert.equal(canonicalKey([1]), canonicalKey(["1"]));
 * assert.notEqual(canonicalKey([1]), canonicalKey(["01"]));
 * ```
 */
export function canonicalKey(values: readonly unknown[]): string {
  let key = "[";
  for (let i = 0; i < values.length; i++) {
    if (i > 0) key += ",";
    key += keyPart(values[i]);
  }
  return key + "]";
}

function keyPart(value: unknown): string {
  switch (typeof value) {
    case "number":
      // An integer past 2^53 is written in full, as its bigint would be.
      return Number.isInteger(value)
        ? BigInt(value).toString()
        : Number.isFinite(value)
        ? String(value)
        : "null";
    case "bigint":
      return value.toString();
    case "string":
      return CANONICAL_INTEGER.test(value) && value !== "-0"
        ? value
        : JSON.stringify(value);
    case "undefined":
      return "null";
    default:
      if (value instanceof Date) {
        return JSON.stringify(
          Number.isNaN(value.getTime()) ? null : value.toISOString(),
        );
      }
      return toJson(value) ?? "null";
  }
}
