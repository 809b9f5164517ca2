/**
 * Strict objects: the keys each object of a config or definition may hold,
 * and the unknown ones found, each named with its path and the closest
 * known key (`unknown key "schedul" in jobs.alerts; did you mean
 * "schedule"?`). A typo is an error, never a setting silently ignored.
 *
 * @module
 */
import { closestNames } from "./_suggest.ts";
import { isPlainObject } from "./_plain.ts";

/** The keys an object may hold, each with the shape of its value (`null`: not looked into). */
export interface ObjectShape {
  readonly keys: Readonly<Record<string, Shape | null>>;
}

/** Every item of a list, or every value of a table, has this shape. */
export interface EachShape {
  readonly each: Shape;
}

/** What a value's keys may be, level by level. */
export type Shape = ObjectShape | EachShape;

/**
 * The shape of an object of type `T`: every key of `T` must be listed, and
 * nothing else, so that a key added to the type fails `deno check` until its
 * shape knows it too.
 */
export function shapeOf<T>(
  keys: { readonly [K in keyof Required<T>]: Shape | null },
): ObjectShape {
  return { keys: keys as Record<string, Shape | null> };
}

/** Every item of a list (or value of a table) has `shape`. */
export function each(shape: Shape): EachShape {
  return { each: shape };
}

/** One unknown key: the object it is in, the key, the closest known keys. */
export interface UnknownKey {
  /** Where the object is (`jobs.alerts`), or `""` for the top. */
  readonly path: string;
  /** The unknown key. */
  readonly key: string;
  /** The message: `unknown key "schedul" in jobs.alerts; did you mean "schedule"?`. */
  readonly message: string;
  /** The object that holds it. */
  readonly owner: Record<string, unknown>;
}

/** A path with a key added: `a.b`, `a[2]`, `a["My Job"]`. */
export function joinPath(path: string, key: string | number): string {
  if (typeof key === "number") return `${path}[${key}]`;
  if (/^[A-Za-z_$][\w$-]*$/.test(key)) return path ? `${path}.${key}` : key;
  return `${path}[${JSON.stringify(key)}]`;
}

/** The message for an unknown key in the object at `where`. */
export function unknownKeyMessage(
  key: string,
  where: string,
  known: Iterable<string>,
): string {
  const names = [...known];
  const close = closestNames(key, names);
  const hint = close.length > 0
    ? `; did you mean ${close.map((name) => `"${name}"`).join(" or ")}?`
    : ` (known keys: ${names.join(", ")})`;
  return `unknown key ${JSON.stringify(key)}${
    where ? ` in ${where}` : ""
  }${hint}`;
}

/**
 * Every key of `value` that `shape` does not know, at any depth. Values
 * that are not objects (or lists) where a shape expects one are left to the
 * type checks.
 *
 * @param value What to look into.
 * @param shape The keys each level may hold.
 * @param path Where `value` is, for messages.
 * @returns The unknown keys, in the order they appear.
 */
export function unknownKeys(
  value: unknown,
  shape: Shape,
  path = "",
): UnknownKey[] {
  if ("each" in shape) {
    if (Array.isArray(value)) {
      return value.flatMap((item, i) =>
        unknownKeys(item, shape.each, joinPath(path, i))
      );
    }
    if (!isPlainObject(value)) return [];
    return Object.entries(value).flatMap(([key, item]) =>
      unknownKeys(item, shape.each, joinPath(path, key))
    );
  }
  if (!isPlainObject(value)) return [];
  const found: UnknownKey[] = [];
  for (const [key, item] of Object.entries(value)) {
    if (!Object.hasOwn(shape.keys, key)) {
      found.push({
        path,
        key,
        message: unknownKeyMessage(key, path, Object.keys(shape.keys)),
        owner: value,
      });
      continue;
    }
    const inner = shape.keys[key];
    if (inner) found.push(...unknownKeys(item, inner, joinPath(path, key)));
  }
  return found;
}
