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

/** A problem of a permissions object: the permission's key (`""`: the whole) and why. */
export interface PermissionProblem {
  key: string;
  reason: string;
}

/**
 * Checks a permissions object and returns a normalized copy holding only
 * granted entries, and every problem found. `run` and `ffi` escape Deno's
 * permission model, so asking for them is a problem.
 */
export function checkPermissions(
  permissions: unknown,
): { permissions: Permissions; problems: PermissionProblem[] } {
  const out: Permissions = {};
  const problems: PermissionProblem[] = [];
  if (permissions === undefined) return { permissions: out, problems };
  if (
    typeof permissions !== "object" || permissions === null ||
    Array.isArray(permissions)
  ) {
    problems.push({
      key: "",
      reason: `permissions must be an object, received ${
        describeType(permissions)
      }`,
    });
    return { permissions: out, problems };
  }
  for (const [key, value] of Object.entries(permissions)) {
    if ((NEVER as readonly string[]).includes(key)) {
      if (value === false || value === undefined) continue;
      problems.push({
        key,
        reason:
          `the "${key}" permission can never be granted to a sandboxed action (it escapes Deno's permission model)`,
      });
      continue;
    }
    if (!(GRANTABLE as readonly string[]).includes(key)) {
      problems.push({
        key,
        reason: `unknown permission "${key}" (known: ${GRANTABLE.join(", ")})`,
      });
      continue;
    }
    try {
      const normalized = absolutePaths(key, normalizeValue(key, value));
      if (normalized !== false) out[key as GrantableName] = normalized;
    } catch (error) {
      if (!(error instanceof PermissionError)) throw error;
      problems.push({ key, reason: error.message });
    }
  }
  return { permissions: out, problems };
}

/**
 * Checks a permissions object and returns a normalized copy holding only
 * granted entries.
 *
 * @throws {TriggerKitError} `INVALID_ACTION` naming every problem (`run`
 * and `ffi` asked, an unknown permission, a value that is not a grant).
 */
export function normalizePermissions(
  action: string,
  permissions: Permissions | undefined,
): Permissions {
  const checked = checkPermissions(permissions);
  if (checked.problems.length > 0) {
    throw new TriggerKitError(
      "INVALID_ACTION",
      `Cannot register action "${action}": ${
        checked.problems.map((problem) => problem.reason).join("; ")
      }`,
    );
  }
  return checked.permissions;
}

/** Why one permission's value is not a grant. */
class PermissionError extends Error {}

function normalizeValue(key: string, value: unknown): PermissionValue {
  if (value === undefined || value === false) return false;
  if (value === true) return true;
  if (
    Array.isArray(value) &&
    value.every((item) => typeof item === "string" && item.length > 0)
  ) {
    return [...new Set(value as string[])].sort();
  }
  throw new PermissionError(
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
function absolutePaths(key: string, value: PermissionValue): PermissionValue {
  if (!Array.isArray(value)) return value;
  for (const item of value) {
    if (item.includes(",")) {
      throw new PermissionError(
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
      throw new PermissionError(
        `permission "${key}" path "${path}" is relative and the working directory cannot be read; use an absolute path`,
      );
    }
    return decodeURIComponent(new URL(path, `file://${cwd}/`).pathname).replace(
      /\/+$/,
      "",
    );
  });
}
