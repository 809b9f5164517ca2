/**
 * How large a value becomes as JSON, computed without expanding it: a
 * result that crossed as a few hundred bytes of shared references
 * (`n = [n, n]` 25 times) would be gigabytes in the report and the history.
 * Each object is measured once (its size memoized), so the cost follows the
 * value as it crossed, not its expansion.
 *
 * @module
 */

/** Why a value cannot be measured. */
export class UnmeasurableValue extends Error {}

const TYPED = Object.getPrototypeOf(Uint8Array) as abstract new () => unknown;

/**
 * The length of `value` as JSON, near enough (strings counted without their
 * escapes), or `cap + 1` as soon as it is known to be over `cap`.
 *
 * @throws {UnmeasurableValue} for a cycle (JSON cannot hold one).
 */
export function jsonSize(value: unknown, cap: number): number {
  const memo = new Map<object, number>();
  const open = new Set<object>();
  const over = cap + 1;
  const add = (a: number, b: number) => Math.min(over, a + b);

  const measure = (item: unknown): number => {
    switch (typeof item) {
      case "string":
        return item.length + 2;
      case "number":
        return 24;
      case "bigint":
        return item.toString().length + 2;
      case "boolean":
        return 5;
      case "object":
        break;
      default:
        return 4; // undefined, functions and symbols: dropped or null
    }
    if (item === null) return 4;
    const known = memo.get(item);
    if (known !== undefined) return known;
    if (open.has(item)) throw new UnmeasurableValue("it holds a cycle");
    open.add(item);
    const size = measureObject(item);
    open.delete(item);
    memo.set(item, size);
    return size;
  };

  const measureObject = (item: object): number => {
    if (item instanceof Date) return 26;
    if (item instanceof TYPED) {
      return add(2, (item as unknown as { length: number }).length * 8);
    }
    if (
      item instanceof Map || item instanceof Set || item instanceof RegExp ||
      item instanceof ArrayBuffer || item instanceof Error
    ) {
      return 2;
    }
    if (Array.isArray(item)) {
      const length = item.length;
      let size = add(2, Math.max(0, length - 1));
      if (size >= over) return over;
      if (length > 1_000_000) {
        // Perhaps sparse: holes are written as null.
        const keys = Object.keys(item);
        size = add(size, (length - keys.length) * 4);
        for (const key of keys) {
          size = add(size, measure(item[Number(key)]));
          if (size >= over) return over;
        }
        return size;
      }
      for (let i = 0; i < length; i++) {
        size = add(size, i in item ? measure(item[i]) : 4);
        if (size >= over) return over;
      }
      return size;
    }
    let size = 2;
    for (const key of Object.keys(item)) {
      size = add(
        size,
        key.length + 4 + measure((item as Record<string, unknown>)[key]),
      );
      if (size >= over) return over;
    }
    return size;
  };

  return measure(value);
}
