/**
 * The options of the registry's calls, checked: an unknown key (`dry_run`,
 * `job_name`) is `INVALID_OPTIONS` naming the closest known key, and a value
 * of the wrong type or out of range (`timeoutMs: "5"`, `limit: -1`) is
 * `INVALID_OPTIONS` naming the option and the value; never ignored. Each
 * table lists every key of its options type, so a key added to the type
 * fails `deno check` until it is listed here. Every problem of one call is
 * reported at once.
 *
 * @module
 */
import {
  describeType,
  TriggerKitError,
  type ValidationProblem,
} from "../errors.ts";
import { isPlainObject } from "../_plain.ts";
import { didYouMean } from "../_suggest.ts";
import { isName, MAX_NAME_LENGTH } from "../_names.ts";
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

/**
 * What an option's value must be, beyond its type: `expected` for messages
 * (`a number (whole milliseconds, 1 to 2147483647)`). A secret's value is
 * never shown.
 */
class Rule {
  constructor(
    readonly expected: string,
    readonly test: (value: unknown) => boolean,
    readonly secret = false,
  ) {}
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
  | Rule
  | OptionTable;

/** The keys of one options object and the type of each. */
interface OptionTable {
  readonly [key: string]: OptionType;
}

/** Every key of `T`, and nothing else. */
export type TableOf<T> = { readonly [K in keyof Required<T>]: OptionType };

/** The longest delay a timer can wait: past it, `setTimeout` fires at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** A whole number from `min` to `max` (`unit` for messages: `milliseconds`). */
function whole(min: number, max = Number.MAX_SAFE_INTEGER, unit = "") {
  const range = max === Number.MAX_SAFE_INTEGER
    ? `${min} or more`
    : `${min} to ${max}`;
  return new Rule(
    `a number (whole${unit ? ` ${unit}` : ""}, ${range})`,
    (value) =>
      Number.isSafeInteger(value) && (value as number) >= min &&
      (value as number) <= max,
  );
}

/** A number above 0 and at most `max`. */
function positive(unit: string, max = Number.MAX_VALUE) {
  return new Rule(
    `a number of ${unit} above 0${
      max === Number.MAX_VALUE ? "" : ` and at most ${max}`
    }`,
    (value) =>
      typeof value === "number" && Number.isFinite(value) && value > 0 &&
      value <= max,
  );
}

const NAME_TEXT =
  `a non-empty string of at most ${MAX_NAME_LENGTH} characters, without control characters or leading/trailing whitespace`;
const NAME = new Rule(NAME_TEXT, isName);
const NAMES = new Rule(
  `a list of names (each ${NAME_TEXT})`,
  (value) => Array.isArray(value) && value.every(isName),
);
const COUNT = whole(1);
const POSITIVE_MS = whole(1, MAX_TIMER_MS, "milliseconds");
const GRACE_MS = whole(0, MAX_TIMER_MS, "milliseconds");
const DAYS = positive("days");
const CLOCK = new Rule(
  "a clock: an object with now() and sleep(ms, signal)",
  (value) =>
    typeof value === "object" && value !== null &&
    typeof (value as Clock).now === "function" &&
    typeof (value as Clock).sleep === "function",
);
const HISTORY = { keepDays: DAYS } satisfies TableOf<
  NonNullable<RegistryOptions["history"]>
>;

const SANDBOX: TableOf<SandboxOptions> = {
  maxWorkersPerAction: COUNT,
  maxProcesses: COUNT,
  trustedInProcess: "boolean",
};

/** The options of each call, by the call's name. */
export const OPTIONS = {
  createRegistry: {
    sandbox: SANDBOX,
    store: new Rule(
      "a database URL or name (a non-empty string) or a RunStore",
      (value) =>
        (typeof value === "string" && value.length > 0) ||
        (typeof value === "object" && value !== null &&
          typeof (value as RunStore).claim === "function"),
    ),
    databases: new Rule(
      "an object of database names and URLs (each URL a non-empty string)",
      (value) =>
        isPlainObject(value) &&
        Object.entries(value).every(([name, url]) =>
          isName(name) && typeof url === "string" && url.length > 0
        ),
    ),
    serve: {
      leaseMs: POSITIVE_MS,
      graceMs: GRACE_MS,
      storeRetryMs: POSITIVE_MS,
    },
    history: HISTORY,
    clock: CLOCK,
  } satisfies TableOf<RegistryOptions>,
  register: {
    description: "string",
    overwrite: "boolean",
    config: "any",
    permissions: "any",
    timeoutMs: positive("milliseconds", MAX_TIMER_MS),
    memoryMb: whole(16, Number.MAX_SAFE_INTEGER, "MiB"),
    maxResultBytes: whole(1, Number.MAX_SAFE_INTEGER, "bytes"),
  } satisfies TableOf<RegisterOptions>,
  // Types only: run() is the hot path, and every value here is checked by
  // its type alone.
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
    runId: NAME,
  } satisfies TableOf<RunJobOptions>,
  serve: {
    signal: "signal",
    graceMs: GRACE_MS,
    leaseMs: POSITIVE_MS,
    storeRetryMs: POSITIVE_MS,
    instance: NAME,
    driver: new Rule(
      `"timer" or "deno-cron"`,
      (value) => value === "timer" || value === "deno-cron",
    ),
    handleSignals: "boolean",
    jobs: NAMES,
    onRun: "function",
    clock: CLOCK,
    cron: "function",
    http: "string",
    httpToken: new Rule("a string", (value) => typeof value === "string", true),
    httpAllowedHosts: new Rule(
      "a list of host names (no port, no scheme)",
      (value) =>
        Array.isArray(value) &&
        value.every((host) =>
          typeof host === "string" &&
          /^(\[[0-9a-fA-F:.]+\]|[^\s:/\[\]@]+|[0-9a-fA-F:.]+)$/.test(host)
        ),
    ),
    onListen: "function",
    history: HISTORY,
  } satisfies TableOf<ServeOptions>,
  define: { overwrite: "boolean" } satisfies TableOf<DefineOptions>,
  validate: {
    timeoutMs: whole(1, MAX_TIMER_MS, "milliseconds"),
  } satisfies TableOf<ValidateOptions>,
  history: { job: NAME, limit: COUNT } satisfies TableOf<HistoryOptions>,
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

/** A value for a message: its type, and the value itself when it is short and plain. */
function describeValue(value: unknown): string {
  switch (typeof value) {
    case "number":
    case "bigint":
    case "boolean":
      return `${typeof value} ${String(value)}`;
    case "string":
      return `string ${
        JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value)
      }`;
    default:
      return describeType(value);
  }
}

/**
 * Every problem of a call's options, each `{ path, code, message }` with the
 * option's path (`serve.leaseMs`) and a message naming the call, the option
 * and the value (or the closest known key). No list is made when all is
 * well.
 *
 * @param call The call's name, for messages (`run`).
 * @param options What the caller passed (`undefined`: none).
 * @returns The problems, or `undefined` when there is none.
 */
export function optionProblems(
  call: keyof typeof OPTIONS,
  options: unknown,
): ValidationProblem[] | undefined {
  return checkTable(`${call}()`, "", options, OPTIONS[call], undefined);
}

/**
 * Checks a call's options against its table.
 *
 * @param call The call's name, for messages (`run`).
 * @param options What the caller passed (`undefined`: none).
 * @throws {TriggerKitError} `INVALID_OPTIONS` naming every unknown key (with
 * the closest known one) and every ill-typed or out-of-range value.
 */
export function checkOptions(
  call: keyof typeof OPTIONS,
  options: unknown,
): void {
  // `run()` calls this on every action call: nothing is built unless a
  // check fails.
  if (options === undefined) return;
  const found = checkTable(`${call}()`, "", options, OPTIONS[call], undefined);
  if (found) throw optionsError(found);
}

/** One `INVALID_OPTIONS` for the problems of a call's options; `issues` lists them. */
export function optionsError(
  found: readonly ValidationProblem[],
): TriggerKitError {
  const message = found.map((problem) => problem.message).join("; ");
  return new TriggerKitError(
    "INVALID_OPTIONS",
    message.charAt(0).toUpperCase() + message.slice(1),
    { issues: found },
  );
}

/**
 * The value of a config setting that maps to an option of
 * `createRegistry()` (`serve.leaseMs`), checked as the option is: what it
 * must be, or `undefined` when it fits or the setting is unknown.
 */
export function settingProblem(
  section: "sandbox" | "serve" | "history",
  key: string,
  value: unknown,
): string | undefined {
  const table: OptionTable = OPTIONS.createRegistry[section];
  const type = table[key];
  if (
    type === undefined || typeof type === "object" && !(type instanceof Rule)
  ) {
    return undefined;
  }
  if (type instanceof Rule) {
    return type.test(value) ? undefined : type.expected;
  }
  return matches(type, value) ? undefined : ARTICLE[type];
}

/**
 * Checks that every job an option names (`serve({ jobs })`) is defined.
 *
 * @throws {TriggerKitError} `INVALID_OPTIONS` naming each unknown job and the closest defined one.
 */
export function checkJobNames(
  call: keyof typeof OPTIONS,
  key: string,
  names: readonly string[] | undefined,
  known: readonly string[],
): void {
  const found = (names ?? []).filter((name) => !known.includes(name)).map((
    name,
  ) =>
    problem(
      key,
      `option "${key}" of ${call}() names job ${
        JSON.stringify(name)
      }, which is not defined${
        didYouMean(name, known) || ` (defined: ${known.join(", ") || "none"})`
      }`,
    )
  );
  if (found.length > 0) throw optionsError(found);
}

function checkTable(
  call: string,
  prefix: string,
  options: unknown,
  table: OptionTable,
  found: ValidationProblem[] | undefined,
): ValidationProblem[] | undefined {
  if (options === undefined) return found;
  if (!isPlainObject(options)) {
    (found ??= []).push(problem(
      prefix.slice(0, -1),
      `the ${
        prefix ? `option "${prefix.slice(0, -1)}"` : "options"
      } of ${call} must be an object, received ${describeType(options)}`,
    ));
    return found;
  }
  for (const key in options) {
    const type = Object.hasOwn(table, key) ? table[key] : undefined;
    if (type === undefined) {
      (found ??= []).push(problem(
        `${prefix}${key}`,
        `unknown option "${prefix}${key}" of ${call}${
          didYouMean(key, Object.keys(table)) ||
          ` (known: ${Object.keys(table).join(", ")})`
        }`,
      ));
      continue;
    }
    const value = options[key];
    if (value === undefined) continue;
    if (typeof type === "string") {
      if (matches(type, value)) continue;
      (found ??= []).push(problem(
        `${prefix}${key}`,
        `option "${prefix}${key}" of ${call} must be ${
          ARTICLE[type]
        }, received ${describeValue(value)}`,
      ));
    } else if (type instanceof Rule) {
      if (type.test(value)) continue;
      (found ??= []).push(problem(
        `${prefix}${key}`,
        `option "${prefix}${key}" of ${call} must be ${type.expected}, received ${
          type.secret ? describeType(value) : describeValue(value)
        }`,
      ));
    } else {
      found = checkTable(call, `${prefix}${key}.`, value, type, found);
    }
  }
  return found;
}

function problem(path: string, message: string): ValidationProblem {
  return { path, code: "INVALID_OPTIONS", message };
}
