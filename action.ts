/**
 * What a sandboxed action module imports: {@linkcode defineAction} types the
 * module's default export. A plain default-export function works too.
 *
 * @example A sandboxed action module
 * ```ts
 * import { defineAction } from "@triggerkit/triggerkit/action";
 *
 * export default defineAction<{ threshold: number }>(({ data, config }) => ({
 *   over: data.filter((row) => Number(row.value) > config.threshold).length,
 * }));
 * ```
 *
 * @module
 */
import type { ActionFn } from "./src/types.ts";
export type { ActionFn, ActionInput, ActionResult, Row } from "./src/types.ts";

/**
 * Types an action function. It returns the function unchanged.
 *
 * @param action The action: a function of its input returning a plain object.
 * @returns The same function.
 *
 * @example Typing the config
 * ```ts
 * import { defineAction } from "@triggerkit/triggerkit/action";
 * import assert from "node:assert/strict";
 *
 * const action = defineAction<{ label: string }>(({ data, config }) => ({
 *   label: config.label,
 *   count: data.length,
 * }));
 * const result = await action({
 *   data: [{}],
 *   config: { label: "x" },
 *   context: {},
 *   runId: "r",
 *   dryRun: false,
 *   signal: new AbortController().signal,
 * });
 * assert.deepEqual(result, { label: "x", count: 1 });
 * ```
 */
export function defineAction<C = Record<string, unknown>>(
  action: ActionFn<C>,
): ActionFn<C> {
  return action;
}
