/**
 * JSON text of a value, with bigints written as decimal strings (JSON has no
 * bigint, and `JSON.stringify` throws on one).
 */
export function toJson(value: unknown, space?: number): string {
  return JSON.stringify(
    value,
    (_key, item) => typeof item === "bigint" ? item.toString() : item,
    space,
  );
}
