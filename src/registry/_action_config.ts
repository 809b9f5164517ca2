/**
 * Action config schemas (zod): validating a run's config, defaults applied,
 * into `INVALID_CONFIG` naming the bad keys; and the schema as JSON Schema
 * for `getInfo`.
 *
 * @module
 */
import { z } from "zod";
import { TriggerKitError } from "../errors.ts";
import type { ConfigIssue, ConfigSchema } from "../types.ts";
import { didYouMean } from "../_suggest.ts";

/** Whether a value looks like a zod schema. */
export function isZodSchema(value: unknown): value is ConfigSchema {
  return typeof value === "object" && value !== null &&
    typeof (value as { safeParse?: unknown }).safeParse === "function";
}

/** A readable path of a zod issue: `a.b[2]` or `(root)`. */
function issuePath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const key of path) {
    out += typeof key === "number"
      ? `[${key}]`
      : out
      ? `.${String(key)}`
      : String(key);
  }
  return out || "(root)";
}

/** What zod's internals show of a schema, to find the keys an object knows. */
interface ZodInternals {
  _zod?: {
    def?: {
      type?: string;
      shape?: Record<string, unknown>;
      innerType?: unknown;
      in?: unknown;
      valueType?: unknown;
      element?: unknown;
      options?: unknown[];
    };
  };
}

/** The object schemas that `schema` may be at `path` (wrappers unwrapped). */
function objectsAt(schema: unknown, path: readonly PropertyKey[]): unknown[] {
  const def = (schema as ZodInternals)?._zod?.def;
  if (!def) return [];
  const inner = def.innerType ?? (def.type === "pipe" ? def.in : undefined);
  if (inner) return objectsAt(inner, path);
  if (def.type === "union") {
    return (def.options ?? []).flatMap((option) => objectsAt(option, path));
  }
  if (path.length === 0) return def.type === "object" ? [schema] : [];
  const [head, ...rest] = path;
  if (def.type === "object") return objectsAt(def.shape?.[String(head)], rest);
  if (def.type === "record") return objectsAt(def.valueType, rest);
  if (def.type === "array") return objectsAt(def.element, rest);
  return [];
}

/**
 * An unknown-key issue as `unknown key "k" in <action> config; did you mean
 * "key"?` (one per key), or `undefined` for another issue. A union's issue
 * is looked into: a typo inside `{ fromEnv }` is named too.
 */
function unknownKeys(
  actionName: string,
  schema: ConfigSchema,
  issue: ConfigIssue,
  prefix: readonly PropertyKey[] = [],
): string[] | undefined {
  const path = [...prefix, ...issue.path];
  const { code, keys, errors } = issue as ConfigIssue & {
    code?: string;
    keys?: string[];
    errors?: ConfigIssue[][];
  };
  if (code === "invalid_union" && errors) {
    const named = errors.map((branch) =>
      branch.flatMap((inner) =>
        unknownKeys(actionName, schema, inner, path) ?? []
      )
    ).filter((branch) => branch.length > 0);
    return named.length === 1 ? named[0] : undefined;
  }
  if (code !== "unrecognized_keys" || !keys) return undefined;
  const known = objectsAt(schema, path).flatMap((object) =>
    Object.keys((object as ZodInternals)._zod?.def?.shape ?? {})
  );
  return keys.map((key) =>
    `unknown key "${issuePath([...path, key])}" in ${actionName} config${
      didYouMean(key, known)
    }`
  );
}

/**
 * Validates `config` against `schema`, returning the parsed value (defaults
 * applied) or throwing `INVALID_CONFIG` that names every bad key.
 */
export function parseConfig(
  actionName: string,
  schema: ConfigSchema | undefined,
  config: unknown,
): Record<string, unknown> {
  if (schema === undefined) {
    return (config ?? {}) as Record<string, unknown>;
  }
  const parsed = schema.safeParse(config ?? {});
  if (parsed.success) return parsed.data as Record<string, unknown>;
  const details = parsed.error.issues.flatMap((issue) =>
    unknownKeys(actionName, schema, issue) ??
      [`${issuePath(issue.path)}: ${issue.message}`]
  );
  throw new TriggerKitError(
    "INVALID_CONFIG",
    `Invalid config for action "${actionName}": ${details.join("; ")}`,
    { issues: parsed.error.issues },
  );
}

/**
 * The JSON Schema of a zod schema, as `getInfo().configSchema` shows it, or
 * `undefined` for a schema zod cannot render.
 */
export function toJsonSchema(
  schema: ConfigSchema,
): Record<string, unknown> | undefined {
  try {
    return z.toJSONSchema(schema as z.ZodType, {
      unrepresentable: "any",
      io: "input",
    }) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}
