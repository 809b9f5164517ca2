/**
 * How a sandbox failure becomes the error `run()` throws. Advice in a
 * message is always something a user can do.
 *
 * @module
 */
import { normalize, relative } from "node:path/posix";
import { TriggerKitError } from "../../src/errors.ts";
import { GRANTABLE } from "../../src/registry/permissions.ts";
import type { WireError } from "../_protocol.ts";
import { DRY_RUN_DENIED } from "./grants.ts";

/** An error a call failed with, before the host gives it its final wording. */
export class CallFailure extends Error {
  /**
   * @param wire The error as it came from the sandbox (or the host's own verdict).
   */
  constructor(readonly wire: WireError) {
    super(wire.message);
  }
}

/** A wire error the host makes itself. */
export function wire(code: WireError["code"], message: string): WireError {
  return { code, name: "Error", message };
}

function denialAdvice(
  action: string,
  permission: string,
  dryRun: boolean,
): string {
  if (dryRun && (DRY_RUN_DENIED as readonly string[]).includes(permission)) {
    return ` (a dry run denies ${
      DRY_RUN_DENIED.join(", ")
    } whatever the action declared)`;
  }
  if ((GRANTABLE as readonly string[]).includes(permission)) {
    return `; grant it with register("${action}", module, { permissions: { ${permission}: [...] } })`;
  }
  if (permission === "all") {
    return " (Deno allows this only to a fully privileged process, which a sandboxed action never is)";
  }
  return ` (${permission} can never be granted to a sandboxed action)`;
}

/** Where an action's code runs from: its private copy, and the real folder it copies. */
export interface CopyPlace {
  /** The private folder of the action (it holds the copy, at `<folder>/copy`). */
  folder: string;
  /** The real folder of the action's module. */
  origin: string;
}

/**
 * A denied path inside the action's private folder was most likely built
 * from `import.meta.url`, which points into the copy: name the real path it
 * stands for, which a grant can cover.
 */
function copyAdvice(target: string, copy: CopyPlace): string {
  if (!target.startsWith(`${copy.folder}/`)) return "";
  const real = normalize(
    `${copy.origin}/${relative(`${copy.folder}/copy`, target)}`,
  );
  return `; its code runs from a private copy of its module's folder, so a path built from import.meta.url points into the copy: use the real path ${
    JSON.stringify(real)
  } (e.g. from the step's config), covered by a grant`;
}

/** Maps a sandbox error to the error `run()` throws. */
export function toTriggerKitError(
  action: string,
  error: WireError,
  details: { memoryMb: number; dryRun: boolean; copy?: CopyPlace },
): TriggerKitError {
  const cause = Object.assign(new Error(error.message), { name: error.name });
  if (error.stack) cause.stack = error.stack;
  const say = (code: WireError["code"], message: string) =>
    new TriggerKitError(code, message, { cause });
  switch (error.code) {
    case "PERMISSION_DENIED": {
      const permission = error.permission ?? "unknown";
      const target = error.target === undefined
        ? ""
        : ` to ${JSON.stringify(error.target)}`;
      const inCopy = details.copy && error.target !== undefined &&
          (permission === "read" || permission === "write")
        ? copyAdvice(error.target, details.copy)
        : "";
      return say(
        "PERMISSION_DENIED",
        `Action "${action}" was denied ${permission} access${target}${
          inCopy || denialAdvice(action, permission, details.dryRun)
        }`,
      );
    }
    case "OUT_OF_MEMORY":
      return say(
        "OUT_OF_MEMORY",
        `Action "${action}" ${error.message} (memoryMb: ${details.memoryMb})`,
      );
    case "INVALID_ACTION":
      return say(
        "INVALID_ACTION",
        `Cannot load action "${action}": ${error.message}`,
      );
    case "INVALID_RESULT":
      return say("INVALID_RESULT", `Action "${action}" ${error.message}`);
    case "ACTION_TIMEOUT":
      return say("ACTION_TIMEOUT", `Action "${action}" ${error.message}`);
    case "SANDBOX_UNAVAILABLE":
      return say(
        "SANDBOX_UNAVAILABLE",
        `Cannot run action "${action}" in a sandbox: ${error.message}`,
      );
    default:
      return say(
        "ACTION_FAILED",
        `Action "${action}" failed: ${error.message}`,
      );
  }
}
