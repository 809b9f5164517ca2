/**
 * The default registry behind the module-level functions of `mod.ts`.
 *
 * @module
 */
import { createRegistry, type Registry } from "./registry.ts";
import type {
  DefineOptions,
  Job,
  JobDefinition,
  ViewDefinition,
} from "../jobs/definitions.ts";
import type { RunJobOptions } from "../jobs/engine.ts";
import type {
  HistoryOptions,
  RunRecord,
  RunReport,
} from "../store/contract.ts";
import type { ServeOptions } from "../jobs/serve.ts";
import type {
  ActionFn,
  ActionInfo,
  ActionResult,
  RegisterOptions,
  Row,
  RunOptions,
} from "../types.ts";

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

/**
 * Defines a view on the default registry; a name already defined is
 * refused unless `options.overwrite` is true.
 *
 * @param definition `{ name, database, sql, description? }`.
 * @param options `overwrite`: replace a view of the same name.
 * @returns The view.
 * @throws {TriggerKitError} `INVALID_VIEW` naming what is wrong.
 *
 * @example A view on an embedded database
 * ```ts
 * import { defineView } from "@triggerkit/triggerkit";
 * import assert from "node:assert/strict";
 *
 * const view = defineView({ name: "doc_big_orders", database: "sqlite::memory:", sql: "SELECT 1 AS id" });
 * assert.equal(view.name, "doc_big_orders");
 * ```
 */
export function defineView(
  definition: ViewDefinition,
  options?: DefineOptions,
): ViewDefinition {
  return defaultRegistry.defineView(definition, options);
}

/**
 * Defines a job on the default registry; a name already defined is refused
 * unless `options.overwrite` is true.
 *
 * @param definition `{ name, view, actions, schedule?, timezone?, enabled?, when?, dedupe? }`.
 * @param options `overwrite`: replace a job of the same name.
 * @returns The validated job.
 * @throws {TriggerKitError} `INVALID_JOB`, `INVALID_SCHEDULE`, `INVALID_CONFIG`, `VIEW_NOT_FOUND`, `ACTION_NOT_FOUND`.
 *
 * @example A scheduled job
 * ```ts
 * import { defineJob, defineView, register } from "@triggerkit/triggerkit";
 * import assert from "node:assert/strict";
 *
 * defineView({ name: "doc_view", database: "sqlite::memory:", sql: "SELECT 1 AS id" });
 * register("doc_notify", ({ data }) => ({ seen: data.length }), { overwrite: true });
 * const job = defineJob({ name: "doc_job", view: "doc_view", actions: ["doc_notify"], schedule: "every 15 minutes" });
 * assert.equal(job.steps[0]!.action, "doc_notify");
 * ```
 */
export function defineJob(
  definition: JobDefinition,
  options?: DefineOptions,
): Job {
  return defaultRegistry.defineJob(definition, options);
}

/**
 * Runs a job of the default registry once and records the run.
 *
 * @param name The job's name.
 * @param options Dry run, signal, progress callback.
 * @returns The run report; a failed run is reported, not thrown.
 * @throws {TriggerKitError} `JOB_NOT_FOUND`.
 *
 * @example Running a job in a script
 * ```ts ignore
 * import { runJob } from "@triggerkit/triggerkit";
 *
 * const report = await runJob("big_orders", { dryRun: true });
 * console.log(report.status, report.newRowCount);
 * ```
 */
export function runJob(
  name: string,
  options?: RunJobOptions,
): Promise<RunReport> {
  return defaultRegistry.runJob(name, options);
}

/**
 * Runs every enabled job of the default registry on its schedule until the
 * signal aborts (or SIGINT/SIGTERM), then lets running jobs finish.
 *
 * @param options Stop signal, grace period, job subset.
 * @returns When the scheduler has stopped.
 *
 * @example Serving until told to stop
 * ```ts ignore
 * import { serve } from "@triggerkit/triggerkit";
 *
 * const controller = new AbortController();
 * await serve({ signal: controller.signal });
 * ```
 */
export function serve(options?: ServeOptions): Promise<void> {
  return defaultRegistry.serve(options);
}

/**
 * Reads the default registry's run history, newest first.
 *
 * @param options `job` to filter, `limit` (default 20).
 * @returns The runs with their action outcomes.
 *
 * @example The last five runs of a job
 * ```ts ignore
 * import { history } from "@triggerkit/triggerkit";
 *
 * for (const run of await history({ job: "big_orders", limit: 5 })) {
 *   console.log(run.startedAt, run.status);
 * }
 * ```
 */
export function history(options?: HistoryOptions): Promise<RunRecord[]> {
  return defaultRegistry.history(options);
}
