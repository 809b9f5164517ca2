/**
 * The default registry behind the module-level functions of `mod.ts`.
 *
 * @module
 */
import { createRegistry, type Registry } from "./registry.ts";
import type {
  ActionFn,
  ActionInfo,
  ActionResult,
  RegisterOptions,
  Row,
  RunOptions,
} from "./types.ts";

/** The registry the module-level functions use. */
export const defaultRegistry: Registry = createRegistry();

/**
 * Registers an action on the default registry. A function runs in-process; a
 * module path or `URL` runs sandboxed in a permission-restricted Worker.
 *
 * @param name The action's name.
 * @param action A function, or the module whose default export is the action.
 * @param options Description, overwrite, config schema, sandbox limits.
 * @returns What the registry now knows about the action.
 * @throws {TriggerKitError} `ACTION_EXISTS`, `INVALID_ACTION`, `SANDBOX_UNAVAILABLE`.
 *
 * @example Registering a function action
 * ```ts
 * import { register, unregister } from "@triggerkit/triggerkit";
 * import assert from "node:assert/strict";
 *
 * const info = register("doc_example_register", ({ data }) => ({ n: data.length }));
 * assert.equal(info.kind, "function");
 * unregister("doc_example_register");
 * ```
 */
export function register<C = Record<string, unknown>>(
  name: string,
  action: ActionFn<C> | string | URL,
  options?: RegisterOptions<C>,
): ActionInfo {
  return defaultRegistry.register(name, action, options);
}

/**
 * Describes an action of the default registry.
 *
 * @param name The action's name.
 * @returns Its kind, description, limits and config schema (JSON Schema).
 * @throws {TriggerKitError} `ACTION_NOT_FOUND`, naming the closest names.
 *
 * @example Describing an action
 * ```ts
 * import { getInfo, register, unregister } from "@triggerkit/triggerkit";
 * import assert from "node:assert/strict";
 *
 * register("doc_example_info", () => ({}), { description: "Does nothing" });
 * assert.equal(getInfo("doc_example_info").description, "Does nothing");
 * unregister("doc_example_info");
 * ```
 */
export function getInfo(name: string): ActionInfo {
  return defaultRegistry.getInfo(name);
}

/**
 * Lists the actions of the default registry, sorted by name.
 *
 * @returns One {@linkcode ActionInfo} per action.
 *
 * @example Listing the actions
 * ```ts
 * import { listAvailable } from "@triggerkit/triggerkit";
 * import assert from "node:assert/strict";
 *
 * const names = listAvailable().map((info) => info.name);
 * assert.deepEqual(names, [...names].sort());
 * ```
 */
export function listAvailable(): ActionInfo[] {
  return defaultRegistry.listAvailable();
}

/**
 * Runs an action of the default registry on rows.
 *
 * @param name The action's name.
 * @param data The rows: an array of plain objects.
 * @param options Context, config, job name, run id, dry run, signal.
 * @returns The action's result.
 * @throws {TriggerKitError} `ACTION_NOT_FOUND`, `INVALID_DATA`, `INVALID_CONFIG`,
 * `ACTION_FAILED`, `ACTION_TIMEOUT`, `INVALID_RESULT`, `PERMISSION_DENIED`, `OUT_OF_MEMORY`.
 *
 * @example Running a function action
 * ```ts
 * import { register, run, unregister } from "@triggerkit/triggerkit";
 * import assert from "node:assert/strict";
 *
 * register("doc_example_run", ({ data, context }) => {
 *   context.seen = data.length;
 *   return { ok: true };
 * });
 * const context: Record<string, unknown> = {};
 * assert.deepEqual(await run("doc_example_run", [{ id: 1 }], { context }), { ok: true });
 * assert.equal(context.seen, 1);
 * unregister("doc_example_run");
 * ```
 */
export function run(
  name: string,
  data: Row[],
  options?: RunOptions,
): Promise<ActionResult> {
  return defaultRegistry.run(name, data, options);
}

/**
 * Removes an action from the default registry.
 *
 * @param name The action's name.
 * @returns `true` when it was registered.
 *
 * @example Removing an action
 * ```ts
 * import { register, unregister } from "@triggerkit/triggerkit";
 * import assert from "node:assert/strict";
 *
 * register("doc_example_unregister", () => ({}));
 * assert.equal(unregister("doc_example_unregister"), true);
 * assert.equal(unregister("doc_example_unregister"), false);
 * ```
 */
export function unregister(name: string): boolean {
  return defaultRegistry.unregister(name);
}

/**
 * Stops the default registry's sandbox processes and closes its database
 * connections, so that the process can exit.
 *
 * @returns When everything is stopped.
 *
 * @example Closing at the end of a script
 * ```ts
 * import { close } from "@triggerkit/triggerkit";
 *
 * await close();
 * ```
 */
export function close(): Promise<void> {
  return defaultRegistry.close();
}
