/**
 * What a name of an action, view or job may be.
 *
 * @module
 */
/** What a name of an action, view or job may hold, for messages. */
export const NAME_RULE =
  'letters, digits, "_", ".", ":" or "-", starting with a letter or "_"';

const NAME = /^[A-Za-z_][A-Za-z0-9_.:-]{0,127}$/;

/** Whether a value is a valid name of an action, view or job. */
export function isName(value: unknown): value is string {
  return typeof value === "string" && NAME.test(value);
}
