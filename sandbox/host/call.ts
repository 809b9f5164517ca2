/**
 * One call as the host makes it: its payload, its deadline, and the checks
 * its reply must pass whatever the Worker claims.
 *
 * @module
 */
import { TriggerKitError } from "../../src/errors.ts";
import { isPlainObject } from "../../src/_plain.ts";
import type { ActionInput } from "../../src/types.ts";
import type { CallPayload, CallReply, WireError } from "../_protocol.ts";
import { CallFailure, wire } from "./errors.ts";
import { codec } from "./codec.ts";
import type { Deadlines } from "./deadlines.ts";
import {
  MAX_COST,
  measureReply,
  type ReplyMeasure,
  UnreadableReply,
} from "./result_size.ts";

/** What a deadline needs to know of the action. */
export interface Deadline {
  name: string;
  timeoutMs: number;
}

/** A call's state as {@linkcode withDeadline} sees it. */
export interface DeadlineCall {
  /** Set once the call was given up: what its siblings are told. */
  abandoned: WireError | undefined;
  /** What to do when the call is given up after it was sent. */
  onAbandon(abandon: (siblings: WireError) => void): void;
}

/**
 * Runs a call's work against its time limit (one of `deadlines`) and its
 * signal: whichever comes first rejects with `ACTION_TIMEOUT`, and the work
 * is told to abandon.
 */
export function withDeadline<T>(
  action: Deadline,
  options: { signal: AbortSignal; deadlines: Deadlines },
  work: (call: DeadlineCall) => Promise<T>,
): Promise<T> {
  const { signal, deadlines } = options;
  return new Promise<T>((resolve, reject) => {
    let abandon: ((siblings: WireError) => void) | undefined;
    let settled = false;
    const call: DeadlineCall = {
      abandoned: undefined,
      onAbandon: (callback) => {
        abandon = callback;
        if (call.abandoned) callback(call.abandoned);
      },
    };
    const settle = () => {
      settled = true;
      deadlines.cancel(deadline);
      signal.removeEventListener("abort", onAbort);
    };
    const expire = (message: string, cause?: unknown) => {
      if (settled) return;
      settle();
      reject(
        new TriggerKitError(
          "ACTION_TIMEOUT",
          `Action "${action.name}" ${message}`,
          { cause },
        ),
      );
      call.abandoned = wire(
        "ACTION_TIMEOUT",
        `was stopped with its sandbox process: another of its calls ${message}`,
      );
      abandon?.(call.abandoned);
    };
    const onAbort = () => expire("was aborted", signal.reason);
    const deadline = deadlines.add(
      action.timeoutMs,
      () => expire(`ran past its time limit of ${action.timeoutMs} ms`),
    );
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    work(call).then(
      (value) => {
        if (settled) return;
        settle();
        resolve(value);
      },
      (error) => {
        if (settled) return;
        settle();
        reject(error);
      },
    );
  });
}

/**
 * The bytes a call carries to its Worker. With `keyText`, the idempotency
 * key is left for the Worker to compute if the action reads it.
 */
export function encodeCall(
  action: string,
  input: ActionInput,
  keyText?: string,
): Uint8Array {
  try {
    const value: CallPayload = {
      data: input.data,
      context: input.context,
      config: input.config,
      runId: input.runId,
      jobName: input.jobName ?? null,
      dryRun: input.dryRun,
      idempotencyKey: keyText === undefined ? input.idempotencyKey ?? "" : "",
      keyText: keyText ?? null,
    };
    return codec.serialize(value);
  } catch (error) {
    throw new TriggerKitError(
      "INVALID_DATA",
      `Cannot send data to sandboxed action "${action}": ${
        (error as Error).message
      }`,
      { cause: error },
    );
  }
}

/**
 * Checks a reply on the host, whatever the Worker claims: first its bytes
 * (its JSON, shared references expanded, fits the cap; building it costs at
 * most {@linkcode MAX_COST}), read in slices without blocking the event
 * loop; then, built, a plain result and context. A small reply is checked
 * at once, with no promise.
 */
export function decodeReply(
  bytes: Uint8Array,
  cap: number,
): CallReply | Promise<CallReply> {
  let measure: ReplyMeasure | Promise<ReplyMeasure>;
  try {
    measure = measureReply(bytes, { json: cap, cost: MAX_COST });
  } catch (error) {
    return unreadable(error);
  }
  if (measure instanceof Promise) {
    return measure.then((done) => build(bytes, done, cap), unreadable)
      .then(afterYield);
  }
  const reply = build(bytes, measure, cap);
  return measure.cost > YIELD_AFTER_COST ? afterYield(reply) : reply;
}

function afterYield<T>(value: T): Promise<T> {
  return new Promise((resolve) => setTimeout(() => resolve(value), 0));
}

function refuse(reason: string): never {
  throw new CallFailure(wire("INVALID_RESULT", reason));
}

function unreadable(error: unknown): never {
  if (!(error instanceof UnreadableReply)) throw error;
  return refuse(
    `returned a result that cannot be taken in: ${error.message}`,
  );
}

/** Builds a measured reply, unless a measure is over its limit. */
function build(
  bytes: Uint8Array,
  measure: ReplyMeasure,
  cap: number,
): CallReply {
  if (measure.json > cap) {
    refuse(
      `returned a result and context of ${bytes.byteLength} bytes serialized, over the cap of ${cap} bytes (maxResultBytes) as JSON (shared references expanded)`,
    );
  }
  if (measure.cost > MAX_COST) {
    refuse(
      `returned a result and context of ${bytes.byteLength} bytes serialized that would block the host too long to build (more than about 165,000 objects, or 2 million numbers); return fewer, larger values`,
    );
  }
  let reply: unknown;
  try {
    reply = codec.deserialize(bytes);
  } catch (error) {
    return refuse(
      `returned a reply that cannot be read: ${(error as Error).message}`,
    );
  }
  const { result, context } = (reply ?? {}) as Partial<CallReply>;
  if (!isPlainObject(result) || !isPlainObject(context)) {
    return refuse("returned a result that is not a plain object");
  }
  return { result, context };
}

/**
 * Building a reply this costly took a few ms or more: the caller yields to
 * the event loop before it goes on, so that what it then does with the
 * result (a job's report) is not added to the same block.
 */
export const YIELD_AFTER_COST = 200_000;

/** Makes `target` hold what `source` holds (the context a call sent back). */
export function replaceContents(
  target: Record<string, unknown>,
  source: Record<string, unknown>,
): void {
  for (const key of Object.keys(target)) {
    if (!Object.hasOwn(source, key)) delete target[key];
  }
  // Defined, not assigned: a key "__proto__" must stay a key, not become
  // the context's prototype.
  for (const key of Object.keys(source)) {
    Object.defineProperty(target, key, {
      value: source[key],
      writable: true,
      enumerable: true,
      configurable: true,
    });
  }
}
