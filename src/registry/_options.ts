/**
 * The options of the registry's calls, checked: an unknown key (`dry_run`,
 * `job_name`) or an ill-typed value is `INVALID_OPTIONS` naming the closest
 * known key, never ignored. Each table lists every key of its options type,
 * so a key added to the type fails `deno check` until it is listed here.
 *
 * @module
 */
import { describeType, TriggerKitError } from "../errors.ts";
import { isPlainObject } from "../_plain.ts";
import { didYouMean } from "../_suggest.ts";
import type { RegisterOptions, RunOptions } from "../types.ts";
import type { RunJobOptions } from "../jobs/engine.ts";
import type { ServeOptions } from "../jobs/serve.ts";
import type { DefineOptions } from "../jobs/definitions.ts";
import type { HistoryOptions } from "../store/contract.ts";
import type { SandboxOptions } from "../../sandbox/host.ts";
import type { Clock } from "../clock.ts";
import type { RunStore } from "../store/contract.ts";

/** Options of {@linkcode createRegistry}. */
export interface RegistryOptions {
  /** How sandboxed actions are hosted (pool sizes). */
  sandbox?: SandboxOptions;
  /** Where run history and dedupe state live: a URL (`sqlite:…`, `postgres://…`, `kv:…`), a configured database name, or a store (default `sqlite:.triggerkit/state.db`). */
  store?: string | RunStore;
  /** Database names usable wherever a database URL is: views, `run_sql`, the store. `{ main: "postgres://…" }`. */
  databases?: Record<string, string>;
  /** Defaults of `serve()`: lease, grace period, store retries (the lease and `storeRetryMs` apply to `runJob` too). */
  serve?: Pick<ServeOptions, "leaseMs" | "graceMs" | "storeRetryMs">;
  /** Run history: records older than `keepDays` (default 30) are pruned by `serve()`. */
  history?: { keepDays?: number };
  /** The clock of runs, stores, leases, heartbeats, retries and schedules (tests pass a fake one). */
  clock?: Clock;
}

/** Options of `Registry.validate`. */
export interface ValidateOptions {
  /** How long each database may take to answer, in ms (default 5000). */
  timeoutMs?: number;
}

/** What an option's value must be (`any`: checked where it is used). */
type OptionType =
  | "boolean"
  | "string"
  | "number"
  | "function"
  | "signal"
  | "array"
  | "object"
  | "any"
  | OptionTable;

/** The keys of one options object and the type of each. */
interface OptionTable {
  readonly [key: string]: OptionType;
}

/** Every key of `T`, and nothing else. */
export type TableOf<T> = { readonly [K in keyof Required<T>]: OptionType };

const SANDBOX: TableOf<SandboxOptions> = {
  maxWorkersPerAction: "number",
  maxProcesses: "number",
  trustedInProcess: "boolean",
};

/** The options of each call, by the call's name. */
export const OPTIONS = {
  createRegistry: {
    sandbox: SANDBOX,
    store: "any",
    databases: "object",
    serve: { leaseMs: "number", graceMs: "number", storeRetryMs: "number" },
    history: { keepDays: "number" },
    clock: "object",
  } satisfies TableOf<RegistryOptions>,
  register: {
    description: "string",
    overwrite: "boolean",
    config: "any",
    permissions: "any",
    timeoutMs: "any",
    memoryMb: "any",
    maxResultBytes: "any",
  } satisfies TableOf<RegisterOptions>,
  run: {
    context: "object",
    config: "any",
    jobName: "string",
    runId: "string",
    dryRun: "boolean",
    signal: "signal",
  } satisfies TableOf<RunOptions>,
  runJob: {
    dryRun: "boolean",
    signal: "signal",
    onProgress: "function",
    runId: "string",
  } satisfies TableOf<RunJobOptions>,
  serve: {
    signal: "signal",
    graceMs: "number",
    leaseMs: "number",
    storeRetryMs: "number",
    instance: "string",
    driver: "string",
    handleSignals: "boolean",
    jobs: "array",
    onRun: "function",
    clock: "object",
    cron: "function",
    http: "string",
    httpToken: "string",
    onListen: "function",
    history: { keepDays: "number" },
  } satisfies TableOf<ServeOptions>,
  define: { overwrite: "boolean" } satisfies TableOf<DefineOptions>,
  validate: { timeoutMs: "number" } satisfies TableOf<ValidateOptions>,
  history: { job: "string", limit: "number" } satisfies TableOf<
    HistoryOptions
  >,
} as const;

const ARTICLE: Record<string, string> = {
  boolean: "true or false",
  string: "a string",
  number: "a number",
  function: "a function",
  signal: "an AbortSignal",
  array: "a list",
  object: "an object",
};

function matches(type: string, value: unknown): boolean {
  switch (type) {
    case "array":
      return Array.isArray(value);
    case "object":
      return isPlainObject(value) || (typeof value === "object" &&
        value !== null && !Array.isArray(value));
    case "signal":
      return value instanceof AbortSignal;
    case "any":
      return true;
    default:
      // The remaining types are typeof names: boolean, string, number, function.
      return (typeof value as string) === type;
  }
}

/**
 * Checks a call's options against its table.
 *
 * @param call The call's name, for messages (`run`).
 * @param options What the caller passed (`undefined`: none).
 * @throws {TriggerKitError} `INVALID_OPTIONS` naming the key and the closest known one.
 */
export function checkOptions(
  call: keyof typeof OPTIONS,
  options: unknown,
): void {
  checkTable(`${call}()`, "", options, OPTIONS[call]);
}

function checkTable(
  call: string,
  prefix: string,
  options: unknown,
  table: OptionTable,
): void {
  if (options === undefined) return;
  if (!isPlainObject(options)) {
    throw new TriggerKitError(
      "INVALID_OPTIONS",
      `The ${
        prefix ? `option "${prefix}"` : "options"
      } of ${call} must be an object, received ${describeType(options)}`,
    );
  }
  for (const [key, value] of Object.entries(options)) {
    const type = table[key];
    const name = `${prefix}${key}`;
    if (type === undefined) {
      throw new TriggerKitError(
        "INVALID_OPTIONS",
        `Unknown option "${name}" of ${call}${
          didYouMean(key, Object.keys(table)) ||
          ` (known: ${Object.keys(table).join(", ")})`
        }`,
      );
    }
    if (value === undefined) continue;
    if (typeof type !== "string") {
      checkTable(call, `${name}.`, value, type);
    } else if (!matches(type, value)) {
      throw new TriggerKitError(
        "INVALID_OPTIONS",
        `Option "${name}" of ${call} must be ${ARTICLE[type]}, received ${
          describeType(value)
        }`,
      );
    }
  }
}
