/**
 * The one error class TriggerKit throws, with a stable `code`.
 *
 * @module
 */

/** Every error code TriggerKit uses: a stable name for each way a call can fail. */
export type ErrorCode =
  | "ACTION_NOT_FOUND"
  | "ACTION_EXISTS"
  | "INVALID_CONFIG"
  | "INVALID_DATA"
  | "INVALID_ACTION"
  | "ACTION_FAILED"
  | "ACTION_TIMEOUT"
  | "PERMISSION_DENIED"
  | "OUT_OF_MEMORY"
  | "INVALID_RESULT"
  | "SANDBOX_UNAVAILABLE"
  | "VIEW_NOT_FOUND"
  | "JOB_NOT_FOUND"
  | "INVALID_VIEW"
  | "INVALID_JOB"
  | "INVALID_SCHEDULE"
  | "DATABASE_ERROR"
  | "STORE_ERROR";

/** Options of {@linkcode TriggerKitError}. */
export interface TriggerKitErrorOptions {
  /** The error that caused this one. */
  cause?: unknown;
  /** Validation issues (zod issues for `INVALID_CONFIG`). */
  issues?: readonly unknown[];
}

/**
 * The base of every error TriggerKit throws. Branch on `code`, never on the
 * message.
 *
 * @example Branching on the code
 * ```ts
 * import { TriggerKitError } from "@triggerkit/triggerkit";
 * import assert from "node:assert/strict";
 *
 * const error = new TriggerKitError("ACTION_NOT_FOUND", "Unknown action \"x\"");
 * assert.equal(error.code, "ACTION_NOT_FOUND");
 * assert.ok(error instanceof Error);
 * ```
 */
export class TriggerKitError extends Error {
  /** The stable error code. */
  readonly code: ErrorCode;
  /** Validation issues, when the error is about invalid input. */
  readonly issues: readonly unknown[] | undefined;

  /**
   * Creates an error with a code.
   *
   * @param code The stable error code.
   * @param message What failed, in sentence case, without a final period.
   * @param options The cause and validation issues.
   */
  constructor(
    code: ErrorCode,
    message: string,
    options: TriggerKitErrorOptions = {},
  ) {
    super(
      message,
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.name = "TriggerKitError";
    this.code = code;
    this.issues = options.issues;
  }
}

/**
 * Whether a value is a {@linkcode TriggerKitError}, optionally with a given
 * code.
 *
 * @param value The value to test.
 * @param code The code it must have.
 * @returns `true` when `value` is a TriggerKit error (with that code).
 *
 * @example Checking a caught error
 * ```ts
 * import { isTriggerKitError, TriggerKitError } from "@triggerkit/triggerkit";
 * import assert from "node:assert/strict";
 *
 * const error = new TriggerKitError("JOB_NOT_FOUND", "Unknown job \"x\"");
 * assert.ok(isTriggerKitError(error, "JOB_NOT_FOUND"));
 * assert.ok(!isTriggerKitError(new Error("x")));
 * ```
 */
export function isTriggerKitError(
  value: unknown,
  code?: ErrorCode,
): value is TriggerKitError {
  return value instanceof TriggerKitError &&
    (code === undefined || value.code === code);
}

/** A short, safe description of a value's type for error messages. */
export function describeType(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "object") {
    const proto = Object.getPrototypeOf(value);
    const ctor = proto?.constructor?.name;
    return ctor && ctor !== "Object" ? `${ctor} instance` : "object";
  }
  return typeof value;
}
