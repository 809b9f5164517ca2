/**
 * What a name of an action, view or job may be (SPEC §1): any non-empty
 * string of at most 200 characters, without control characters and without
 * leading or trailing whitespace. `"My Action"` is a name.
 *
 * @module
 */
/** The longest name, in UTF-16 code units. */
export const MAX_NAME_LENGTH = 200;

/** What a name of an action, view or job may hold, for messages. */
export const NAME_RULE =
  `a non-empty string of at most ${MAX_NAME_LENGTH} characters, without control characters, lone surrogates or leading/trailing whitespace`;

// C0 and C1 controls, DEL, and the line/paragraph separators.
// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/** Whether a value is a valid name of an action, view or job. */
export function isName(value: unknown): value is string {
  return typeof value === "string" && value.length > 0 &&
    value.length <= MAX_NAME_LENGTH && !CONTROL.test(value) &&
    value.trim() === value && value.isWellFormed();
}

/** Why a value is not a name, for messages; `undefined` when it is one. */
export function nameProblem(value: unknown): string | undefined {
  if (isName(value)) return undefined;
  if (typeof value !== "string") return `a name must be a string`;
  if (value.length === 0) return "a name must not be empty";
  if (value.length > MAX_NAME_LENGTH) {
    return `a name must be at most ${MAX_NAME_LENGTH} characters, received ${value.length}`;
  }
  if (CONTROL.test(value)) return "a name must not hold control characters";
  // No store could keep it: SQLite and PostgreSQL would write U+FFFD.
  if (!value.isWellFormed()) {
    return "a name must not hold a lone UTF-16 surrogate";
  }
  return "a name must not start or end with whitespace";
}
