/**
 * TriggerKit watches views (SQL queries) and runs pipelines of actions on the
 * rows they yield: built-ins (`run_sql`, `send_slack_message`,
 * `http_request`), in-process functions, and sandboxed team actions.
 *
 * @example Register and run an action
 * ```ts
 * import { createRegistry } from "@triggerkit/triggerkit";
 * import assert from "node:assert/strict";
 *
 * const registry = createRegistry();
 * registry.register("count_rows", ({ data }) => ({ count: data.length }));
 * assert.deepEqual(await registry.run("count_rows", [{ id: 1 }, { id: 2 }]), { count: 2 });
 * await registry.close();
 * ```
 *
 * @module
 */
export {
  close,
  defaultRegistry,
  defineJob,
  defineView,
  getInfo,
  history,
  listAvailable,
  register,
  run,
  runJob,
  serve,
  unregister,
} from "./src/registry/default_registry.ts";
export type {
  DefineOptions,
  Job,
  JobDefinition,
  JobStep,
  ViewDefinition,
} from "./src/jobs/definitions.ts";
export type { ProgressEvent, RunJobOptions } from "./src/jobs/engine.ts";
export type {
  AlertDefinition,
  AlertingDefinition,
  AlertingPlans,
  AlertPlan,
  FailureNoticeDefinition,
  NoticePlan,
  NoticeRow,
  RecoveryNoticeDefinition,
  StepLike,
} from "./src/alerts/definitions.ts";
export type { AlertInfo, MuteInfo, MuteOptions } from "./src/alerts/mutes.ts";
export type {
  AlertFence,
  AlertStore,
  FiringPage,
  NoticeState,
  OpenIncident,
  VersionedNotice,
} from "./src/alerts/store.ts";
export type {
  AlertCommit,
  AlertSummary,
  KeyState,
  Mute,
} from "./src/alerts/state.ts";
export type {
  ActionOutcome,
  Claim,
  ClaimRequest,
  ClaimResult,
  DedupeRecord,
  HistoryOptions,
  Holder,
  KeySetDigest,
  Lease,
  PruneOptions,
  PruneResult,
  RunRecord,
  RunReport,
  RunStart,
  RunStore,
  RunSummary,
  UnseenKeys,
} from "./src/store/contract.ts";
export { ClaimLostError } from "./src/store/contract.ts";
export type { DeliveryReceipt, DeliveryState } from "./src/delivery/journal.ts";
export { openRunStore, type OpenRunStoreOptions } from "./src/store/open.ts";
export type { DenoCron, ServeOptions } from "./src/jobs/serve.ts";
export type { StatusServerAddress } from "./src/observe/listen_address.ts";
export type { Clock } from "./src/clock.ts";
export { parseSchedule, type Schedule } from "./src/jobs/schedule.ts";
export {
  type ConfigModuleAction,
  defineConfig,
  type TriggerKitConfig,
} from "./src/config/schema.ts";
export { loadConfig } from "./src/config/apply.ts";
export {
  type ConfigValidation,
  validateConfig,
  type ValidateConfigOptions,
} from "./src/config/validate.ts";
export {
  ActionRegistry,
  createRegistry,
  Registry,
  type RegistryOptions,
  type ValidateOptions,
} from "./src/registry/registry.ts";
export {
  type ErrorCode,
  isTriggerKitError,
  TriggerKitError,
  type TriggerKitErrorOptions,
  type ValidationProblem,
} from "./src/errors.ts";
export type {
  ActionFn,
  ActionInfo,
  ActionInput,
  ActionKind,
  ActionResult,
  ConfigIssue,
  ConfigSchema,
  Permissions,
  PermissionValue,
  RegisterOptions,
  Row,
  RunOptions,
} from "./src/types.ts";
export type { SandboxOptions, SandboxProcessInfo } from "./sandbox/host.ts";
