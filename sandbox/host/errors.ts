/**
 * How a sandbox failure becomes the error `run()` throws. Advice in a
 * message is always something a user can do.
 *
 * @module
 */
import { normalize, relative } from "node:path/posix";
import { TriggerKitError } from "../../src/errors.ts";
import { GRANTABLE } from "../../src/registry/permissions.ts";
import type { WireError, WorkerGrant } from "../_protocol.ts";
import { DRY_RUN_DENIED, holds } from "./grants.ts";
import type { ChildExit } from "./spawn.ts";

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

/** Why a sandbox process that nobody killed ended (`null`: before it started). */
export function exitError(exit: ChildExit | null): WireError {
  if (exit?.signal === "SIGTRAP" || exit?.signal === "SIGILL") {
    // V8 ends the process this way when an isolate reaches its heap limit.
    return wire(
      "OUT_OF_MEMORY",
      "ran out of memory: its sandbox process reached V8's heap limit",
    );
  }
  const how = exit
    ? (exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`)
    : "before it started";
  return wire(
    "ACTION_FAILED",
    `its sandbox process exited unexpectedly (${how})`,
  );
}

/** The longest texts kept from a Worker's error. */
const MAX_TEXT = { name: 200, message: 16 * 1024, stack: 64 * 1024 };

function cut(text: unknown, max: number): string {
  const value = String(text);
  return value.length > max
    ? `${value.slice(0, max)} … (cut at ${max} characters)`
    : value;
}

/** A Worker's error with only string fields, cut to {@linkcode MAX_TEXT}. */
function readable(error: WireError): WireError {
  const out: WireError = {
    code: error.code,
    name: cut(error.name, MAX_TEXT.name),
    message: cut(error.message, MAX_TEXT.message),
  };
  if (error.stack !== undefined) out.stack = cut(error.stack, MAX_TEXT.stack);
  if (typeof error.permission === "string") out.permission = error.permission;
  if (error.target !== undefined) out.target = cut(error.target, 4096);
  return out;
}

/** The permissions Deno may deny. */
const DENIABLE = [...GRANTABLE, "run", "ffi", "all"] as const;

/**
 * What a Worker says a call (or its load) failed with, as far as the host
 * believes it. The Worker's runtime shares its realm with the action, which
 * can rewrite anything the runtime sends (a polluted `JSON.stringify` is
 * enough), so the codes only the host can know (`OUT_OF_MEMORY`,
 * `ACTION_TIMEOUT`, `SANDBOX_UNAVAILABLE`) never come from a Worker, and a
 * `PERMISSION_DENIED` counts only for a permission Deno knows and the
 * Worker lacks.
 */
export function fromWorker(
  said: WireError,
  grant: WorkerGrant,
  loading: boolean,
): WireError {
  const error = readable(said);
  const { permission, target } = error;
  if (
    error.code === "PERMISSION_DENIED" && permission !== undefined &&
    (DENIABLE as readonly string[]).includes(permission) &&
    (target === undefined || typeof target === "string") &&
    !holds(grant, permission, target)
  ) {
    return error;
  }
  if (loading) {
    return {
      ...error,
      code: "INVALID_ACTION",
      message: error.code === "INVALID_ACTION"
        ? error.message
        : `its module failed to load: ${error.name}: ${error.message}`,
    };
  }
  return {
    ...error,
    code: error.code === "INVALID_RESULT" ? "INVALID_RESULT" : "ACTION_FAILED",
  };
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
