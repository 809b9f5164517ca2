/**
 * Checks and wrappers around one action run: its rows, its abort signal,
 * its errors, its duration.
 *
 * @module
 */
import { describeType, TriggerKitError } from "../errors.ts";
import { isPlainObject } from "../_plain.ts";
import type { Row } from "../types.ts";

export function elapsed(started: number): number {
  return Math.round((performance.now() - started) * 1000) / 1000;
}

export function assertRows(name: string, data: unknown): asserts data is Row[] {
  if (!Array.isArray(data)) {
    throw new TriggerKitError(
      "INVALID_DATA",
      `Cannot run action "${name}": data must be an array of plain objects, received ${
        describeType(data)
      }`,
    );
  }
  for (let i = 0; i < data.length; i++) {
    if (!isPlainObject(data[i])) {
      throw new TriggerKitError(
        "INVALID_DATA",
        `Cannot run action "${name}": data[${i}] must be a plain object, received ${
          describeType(data[i])
        }`,
      );
    }
  }
}

export function abortError(name: string, signal: AbortSignal): TriggerKitError {
  return new TriggerKitError(
    "ACTION_TIMEOUT",
    `Action "${name}" was aborted`,
    { cause: signal.reason },
  );
}

export function raceAbort<T>(
  name: string,
  pending: Promise<T>,
  signal: AbortSignal,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortError(name, signal));
    signal.addEventListener("abort", onAbort, { once: true });
    pending.then(resolve, reject).finally(() =>
      signal.removeEventListener("abort", onAbort)
    );
  });
}

export function wrapActionError(name: string, error: unknown): TriggerKitError {
  if (error instanceof TriggerKitError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new TriggerKitError(
    "ACTION_FAILED",
    `Action "${name}" failed: ${message}`,
    { cause: error },
  );
}
