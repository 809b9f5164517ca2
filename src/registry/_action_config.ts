/**
 * Action config schemas (zod): validating a run's config, defaults applied,
 * into `INVALID_CONFIG` naming the bad keys; and the schema as JSON Schema
 * for `getInfo`.
 *
 * @module
 */
import { z } from "zod";
import { TriggerKitError } from "../errors.ts";
import type { ConfigSchema } from "../types.ts";

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
  const details = parsed.error.issues.map((issue) =>
    `${issuePath(issue.path)}: ${issue.message}`
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
