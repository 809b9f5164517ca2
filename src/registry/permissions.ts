/**
 * Validation of the permissions a sandboxed action asks for.
 *
 * @module
 */
import { describeType, TriggerKitError } from "../errors.ts";
import type { Permissions, PermissionValue } from "../types.ts";

/** The permissions a sandboxed action may be granted. */
export const GRANTABLE = [
  "net",
  "read",
  "write",
  "env",
  "sys",
  "import",
] as const;
/** A grantable permission's name. */
export type GrantableName = typeof GRANTABLE[number];
const NEVER = ["run", "ffi"] as const;

/**
 * Checks a permissions object and returns a normalized copy holding only
 * granted entries. `run` and `ffi` escape Deno's permission model, so asking
 * for them is an error.
 */
export function normalizePermissions(
  action: string,
  permissions: Permissions | undefined,
): Permissions {
  if (permissions === undefined) return {};
  if (
    typeof permissions !== "object" || permissions === null ||
    Array.isArray(permissions)
  ) {
    throw invalid(
      action,
      `permissions must be an object, received ${describeType(permissions)}`,
    );
  }
  const out: Permissions = {};
  for (const [key, value] of Object.entries(permissions)) {
    if ((NEVER as readonly string[]).includes(key)) {
      if (value === false || value === undefined) continue;
      throw invalid(
        action,
        `the "${key}" permission can never be granted to a sandboxed action (it escapes Deno's permission model)`,
      );
    }
    if (!(GRANTABLE as readonly string[]).includes(key)) {
      throw invalid(
        action,
        `unknown permission "${key}" (known: ${GRANTABLE.join(", ")})`,
      );
    }
    const normalized = absolutePaths(
      action,
      key,
      normalizeValue(action, key, value),
    );
    if (normalized !== false) out[key as GrantableName] = normalized;
  }
  return out;
}

function normalizeValue(
  action: string,
  key: string,
  value: unknown,
): PermissionValue {
  if (value === undefined || value === false) return false;
  if (value === true) return true;
  if (
    Array.isArray(value) &&
    value.every((item) => typeof item === "string" && item.length > 0)
  ) {
    return [...new Set(value as string[])].sort();
  }
  throw invalid(
    action,
    `permission "${key}" must be true, false or a list of non-empty strings, received ${
      describeType(value)
    }`,
  );
}

/**
 * Makes `read` and `write` paths absolute (from the working directory), so
 * that they mean the same in the sandbox process. Commas cannot be passed to
 * Deno's permission flags.
 */
function absolutePaths(
  action: string,
  key: string,
  value: PermissionValue,
): PermissionValue {
  if (!Array.isArray(value)) return value;
  for (const item of value) {
    if (item.includes(",")) {
      throw invalid(
        action,
        `permission "${key}" entry "${item}" contains a comma, which Deno's permission flags cannot carry`,
      );
    }
  }
  if (key !== "read" && key !== "write") return value;
  return value.map((path) => {
    if (path.startsWith("/")) {
      return path.length > 1 ? path.replace(/\/+$/, "") : path;
    }
    let cwd: string;
    try {
      cwd = Deno.cwd();
    } catch {
      throw invalid(
        action,
        `permission "${key}" path "${path}" is relative and the working directory cannot be read; use an absolute path`,
      );
    }
    return decodeURIComponent(new URL(path, `file://${cwd}/`).pathname).replace(
      /\/+$/,
      "",
    );
  });
}

function invalid(action: string, reason: string): TriggerKitError {
  return new TriggerKitError(
    "INVALID_ACTION",
    `Cannot register action "${action}": ${reason}`,
  );
}
