/**
 * One call of a registered action: its input built, the action called, its
 * result checked, the call logged when a logger listens. It is on the path
 * of every `run()`, so it allocates nothing that is not read and adds no
 * promise of its own to a call that returns synchronously (`run()` of a
 * function action costs well under a microsecond over calling it).
 *
 * @module
 */
import { describeType, TriggerKitError } from "../errors.ts";
import type { ActionInput, ActionResult, Row, RunOptions } from "../types.ts";
import { isPlainObject } from "../_plain.ts";
import {
  abortError,
  elapsed,
  raceAbort,
  wrapActionError,
} from "./_run_checks.ts";
import { parseConfig } from "./_action_config.ts";
import { logger } from "../logger.ts";
import {
  type BuiltinInput,
  type DeliveryScope,
  idempotencyKeyOf,
  runKeyText,
  type StepRunOptions,
} from "../delivery/journal.ts";
import type { Entry } from "./_entries.ts";

const log = logger("action");

const NEVER_ABORTED: AbortSignal = new AbortController().signal;

/** What `run()` passes when the caller passed no options. */
export const NO_OPTIONS: RunOptions = Object.freeze({});

/**
 * The input of one call: config checked against the action's schema,
 * defaults applied, and the idempotency key computed only when read.
 *
 * @throws {TriggerKitError} `INVALID_CONFIG`.
 */
export function inputOf(
  name: string,
  entry: Entry,
  data: Row[],
  options: RunOptions,
): ActionInput {
  const config = parseConfig(name, entry.schema, options.config);
  const runId = options.runId ?? crypto.randomUUID();
  // A job step's delivery scope (from the engine) reaches built-ins only;
  // every action gets the step's idempotency key.
  const { delivery } = options as StepRunOptions;
  const input: ActionInput & { [CALL]: LazyKey } = {
    data,
    context: options.context ?? {},
    config,
    runId,
    dryRun: options.dryRun ?? false,
    signal: options.signal ?? NEVER_ABORTED,
    [CALL]: new LazyKey(name, data, delivery, runId),
  };
  defineGetter.call(input, "idempotencyKey", readIdempotencyKey);
  if (options.jobName !== undefined) input.jobName = options.jobName;
  if (delivery && entry.info.kind === "builtin") {
    (input as BuiltinInput).delivery = delivery;
  }
  return input;
}

/**
 * The idempotency key of one call, hashed when first read: most actions
 * never read it, and a SHA-256 per call would cost more than the call.
 */
class LazyKey {
  readonly #name: string;
  readonly #data: Row[];
  readonly #delivery: DeliveryScope | undefined;
  readonly #runId: string;
  #key: string | undefined;

  constructor(
    name: string,
    data: Row[],
    delivery: DeliveryScope | undefined,
    runId: string,
  ) {
    this.#name = name;
    this.#data = data;
    this.#delivery = delivery;
    this.#runId = runId;
  }

  /** Whether the key is a job step's (from its delivery scope). */
  get inStep(): boolean {
    return this.#delivery !== undefined;
  }

  get value(): string {
    return this.#key ??= idempotencyKeyOf(this.#name, this.#data, {
      delivery: this.#delivery,
      runId: this.#runId,
    });
  }
}

/** Where an input keeps its lazy key (a symbol: no action key can clash). */
const CALL = Symbol("triggerkit.call");

/**
 * `input.idempotencyKey`: an own enumerable accessor (so `{ ...input }`
 * carries the key), one function shared by every input. An accessor in the
 * input's literal cost ~0.4 µs a call (a new getter and an accessor literal
 * each time), `Object.defineProperty` ~0.2 µs (it parses a descriptor);
 * Annex B's `__defineGetter__` with a shared function ~0.09 µs.
 */
function readIdempotencyKey(this: { [CALL]: LazyKey }): string {
  return this[CALL].value;
}

type DefineGetter = (
  this: object,
  key: string,
  getter: (this: never) => unknown,
) => void;

const defineGetter: DefineGetter =
  (Object.prototype as { __defineGetter__?: DefineGetter }).__defineGetter__ ??
    function defineEnumerableGetter(this: object, key, getter) {
      Object.defineProperty(this, key, {
        get: getter,
        enumerable: true,
        configurable: true,
      });
    };

/**
 * Calls an action with its input and checks what it returns. Never throws:
 * every failure is the returned promise's rejection.
 *
 * @returns The result; rejected with `ACTION_FAILED`, `ACTION_TIMEOUT` (the
 * signal aborted) or `INVALID_RESULT`.
 */
export function invoke(
  name: string,
  entry: Entry,
  input: ActionInput,
): Promise<ActionResult> {
  const { signal } = input;
  // Asked once: a call with no logger listening reads no clock and builds no
  // record (the levels are ordered, so a call that does not log warnings
  // logs nothing). A logger configured during the call sees its failure
  // without a duration.
  const started = log.isEnabledFor("warning") ? performance.now() : undefined;
  if (started !== undefined && log.isEnabledFor("debug")) {
    log.debug("Action {action} started on {rows} rows", {
      action: name,
      jobName: input.jobName,
      runId: input.runId,
      rows: input.data.length,
      dryRun: input.dryRun,
    });
  }
  let pending: unknown;
  try {
    if (signal.aborted) throw abortError(name, signal);
    // Outside a job step, an action that can hash the key itself (a
    // sandboxed one: its Worker, only if the action reads it) gets its text.
    const lazy = (input as { [CALL]?: LazyKey })[CALL];
    pending = entry.invokeWithKeyText && lazy && !lazy.inStep
      ? entry.invokeWithKeyText(input, runKeyText(name, input.runId))
      : entry.invoke(input);
  } catch (error) {
    return Promise.reject(failed(name, input, started, error));
  }
  if (isThenable(pending)) {
    const settled = pending instanceof Promise
      ? pending
      : Promise.resolve(pending);
    return (signal === NEVER_ABORTED
      ? settled
      : raceAbort(name, settled, signal)).then(
        (result) => succeeded(name, input, started, result),
        (error) => {
          throw failed(name, input, started, error);
        },
      );
  }
  try {
    return Promise.resolve(succeeded(name, input, started, pending));
  } catch (error) {
    return Promise.reject(error);
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value instanceof Promise ||
    (value !== null &&
      (typeof value === "object" || typeof value === "function") &&
      typeof (value as { then?: unknown }).then === "function");
}

function succeeded(
  name: string,
  input: ActionInput,
  started: number | undefined,
  result: unknown,
): ActionResult {
  if (!isPlainObject(result)) {
    throw new TriggerKitError(
      "INVALID_RESULT",
      `Action "${name}" returned ${
        describeType(result)
      }; a plain object is required`,
    );
  }
  if (started !== undefined && log.isEnabledFor("info")) {
    log.info("Action {action} succeeded in {durationMs} ms", {
      action: name,
      jobName: input.jobName,
      runId: input.runId,
      durationMs: elapsed(started),
      rows: input.data.length,
      outcome: "succeeded",
    });
  }
  return result;
}

function failed(
  name: string,
  input: ActionInput,
  started: number | undefined,
  error: unknown,
): TriggerKitError {
  const wrapped = wrapActionError(name, error);
  if (log.isEnabledFor("warning")) {
    log.warn("Action {action} failed after {durationMs} ms: {code}", {
      action: name,
      jobName: input.jobName,
      runId: input.runId,
      durationMs: started === undefined ? undefined : elapsed(started),
      rows: input.data.length,
      code: wrapped.code,
      outcome: "failed",
    });
  }
  return wrapped;
}
