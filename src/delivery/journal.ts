/**
 * The delivery journal: where built-in actions record each unit they
 * delivered (a row, or a batch of rows), so that when the same rows come
 * again — a failed or interrupted run, a takeover — units already delivered
 * are skipped ("effectively once").
 *
 * The job engine gives each step a {@linkcode DeliveryScope}: the journal
 * (store-backed and fenced in a job run), a step key, and the rows' keys.
 * Without one (`registry.run()` outside a job) built-ins use a fresh
 * {@linkcode MemoryJournal}, which only guards the retries of that call.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { TriggerKitError } from "../errors.ts";
import type { ActionInput, Row, RunOptions } from "../types.ts";

/**
 * What the journal holds for a unit.
 *
 * - `sending`: an attempt started and its outcome is not known (written
 *   before a message goes to a destination that cannot deduplicate, so
 *   that a crash leaves a trace: the next run checks before sending again).
 * - `delivered`: the destination acknowledged the unit.
 * - `failed`: the unit was definitely not delivered; it may be sent again.
 */
export type DeliveryState = "sending" | "delivered" | "failed";

/** One unit's entry in the journal. */
export interface DeliveryReceipt {
  /** Where the unit stands. */
  state: DeliveryState;
  /** When this receipt was written, in ms since the epoch (the action's clock). */
  at: number;
  /**
   * What the destination answered, as JSON: Slack `{ messages: [{ channel,
   * ts }] }`, HTTP `{ status }` (`run_sql` records none); for `sending`, what
   * a later check needs (`since`: when the unit's first attempt started).
   */
  detail?: Record<string, unknown>;
}

/**
 * Where delivered units are recorded. A store-backed journal is fenced:
 * once the run has lost its claim on the job, `record` throws (and the run's
 * signal fires); a built-in then stops and starts no further unit.
 */
export interface DeliveryJournal {
  /**
   * The receipts of those of `unitKeys` that have one.
   *
   * @param unitKeys The units to look up.
   * @returns A map from unit key to its latest receipt.
   */
  get(unitKeys: readonly string[]): Promise<Map<string, DeliveryReceipt>>;
  /**
   * Records receipts, replacing earlier ones of the same units, all or none.
   *
   * @param receipts Receipts by unit key.
   * @throws When the run no longer holds its claim (the store's fencing
   * error), or the store cannot be written.
   */
  record(receipts: ReadonlyMap<string, DeliveryReceipt>): Promise<void>;
}

/** A journal in memory: for tests, and for `registry.run()` outside a job. */
export class MemoryJournal implements DeliveryJournal {
  readonly #receipts = new Map<string, DeliveryReceipt>();

  /** Every receipt, by unit key (a copy). */
  get entries(): Map<string, DeliveryReceipt> {
    return new Map(this.#receipts);
  }

  get(unitKeys: readonly string[]): Promise<Map<string, DeliveryReceipt>> {
    const found = new Map<string, DeliveryReceipt>();
    for (const key of unitKeys) {
      const receipt = this.#receipts.get(key);
      if (receipt) found.set(key, structuredClone(receipt));
    }
    return Promise.resolve(found);
  }

  record(receipts: ReadonlyMap<string, DeliveryReceipt>): Promise<void> {
    for (const [key, receipt] of receipts) {
      this.#receipts.set(key, structuredClone(receipt));
    }
    return Promise.resolve();
  }
}

/** What the engine gives the built-in actions of one job step. */
export interface DeliveryScope {
  /** Where units are recorded. */
  journal: DeliveryJournal;
  /**
   * The step's key, derived from the job (see {@linkcode stepKeyOf}). It
   * must change after every successful run of the job, or a job without
   * `dedupe` would never deliver the same rows again.
   */
  stepKey: string;
  /**
   * One key per row of `data`, in order: the dedupe key's values when the
   * job has `dedupe.key` (and the incident and delivery number for alerts).
   * Absent: a hash of each row's canonical JSON ({@linkcode rowHash}).
   */
  rowKeys?: readonly string[];
  /** The alert state of these rows (`"firing"`, `"resolved"`): templates see `{{state}}`. */
  state?: string;
}

/** `run()` options as the engine passes them for a job step. */
export interface StepRunOptions extends RunOptions {
  /** The step's delivery scope (built-in actions only). */
  delivery?: DeliveryScope;
}

/** What a built-in action receives: its input, and the step's delivery scope. */
export interface BuiltinInput<C = Record<string, unknown>>
  extends ActionInput<C> {
  /** Absent outside a job: the built-in uses a {@linkcode MemoryJournal}. */
  delivery?: DeliveryScope;
}

/**
 * The step key of a job step.
 *
 * @param job The job's name.
 * @param generation What changes after each successful run of the job (the
 * last successful run's id, or a count): a failed or interrupted run and its
 * retries share it, so their delivered units are skipped.
 * @param step The step's index and action name.
 * @returns The step key.
 */
export function stepKeyOf(
  job: string,
  generation: string,
  step: { index: number; action: string },
): string {
  return `${JSON.stringify(job)}@${generation}/${step.index}:${step.action}`;
}

/** A short digest (base64url SHA-256, cut to 22 characters: 132 bits). */
function digest(text: string, length = 22): string {
  return createHash("sha256").update(text).digest("base64url").slice(
    0,
    length,
  );
}

/**
 * JSON with sorted keys, integers by value (a bigint that fits is the same
 * as the number), dates as ISO text: equal rows give equal text whatever the
 * driver returned.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || value === undefined) return "null";
  if (typeof value === "bigint") {
    return Number.isSafeInteger(Number(value))
      ? String(Number(value))
      : JSON.stringify(value.toString());
  }
  if (value instanceof Date) return JSON.stringify(value.toISOString());
  if (value instanceof Uint8Array) {
    const hex = Array.from(value, (byte) => byte.toString(16).padStart(2, "0"));
    return JSON.stringify(`bytes:${hex.join("")}`);
  }
  if (Array.isArray(value)) {
    return `[${value.map((item) => canonicalJson(item)).join(",")}]`;
  }
  if (typeof value === "object") {
    const entries = Object.entries(value)
      .filter(([, item]) => item !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${
      entries.map(([key, item]) =>
        `${JSON.stringify(key)}:${canonicalJson(item)}`
      )
        .join(",")
    }}`;
  }
  return JSON.stringify(value) ?? "null";
}

/** A row's key when the job has no dedupe key: a hash of its canonical JSON. */
export function rowHash(row: Row): string {
  return `h:${digest(canonicalJson(row))}`;
}

const ROW_KEYS = new WeakMap<readonly Row[], string[]>();

/** The scope's row keys, or the rows' hashes. */
function rowKeysFor(scope: DeliveryScope, rows: readonly Row[]): string[] {
  if (scope.rowKeys) {
    if (scope.rowKeys.length !== rows.length) {
      throw new TriggerKitError(
        "INVALID_DATA",
        `The delivery scope of step ${scope.stepKey} has ${scope.rowKeys.length} row keys for ${rows.length} rows`,
      );
    }
    return [...scope.rowKeys];
  }
  // Only a frozen array (the engine's rows) can be hashed once for all steps.
  if (!Object.isFrozen(rows)) return rows.map(rowHash);
  let keys = ROW_KEYS.get(rows);
  if (!keys) {
    keys = rows.map(rowHash);
    ROW_KEYS.set(rows, keys);
  }
  return keys;
}

/**
 * The unit keys of a step: one per row (`perRow`), or one for the batch.
 * A row key seen twice in the same rows gets `~2`, `~3`: equal rows are
 * distinct units, and keep their keys when the same rows come again.
 *
 * @param scope The step's scope.
 * @param rows The rows the step acts on.
 * @param perRow One unit per row, or one for all.
 * @returns `${stepKey}:${rowKey}` per row, or `[${stepKey}:b:${hash of the row keys}]`.
 */
export function unitKeysOf(
  scope: DeliveryScope,
  rows: readonly Row[],
  perRow: boolean,
): string[] {
  const keys = rowKeysFor(scope, rows);
  if (!perRow) return [`${scope.stepKey}:b:${digest(keys.join("\n"))}`];
  const seen = new Map<string, number>();
  return keys.map((key) => {
    const count = (seen.get(key) ?? 0) + 1;
    seen.set(key, count);
    return `${scope.stepKey}:${count === 1 ? key : `${key}~${count}`}`;
  });
}

/**
 * The token sent to a destination for a unit (Slack metadata, the
 * `Idempotency-Key` header, `input.idempotencyKey`): a base64url SHA-256 of
 * the unit key — ASCII, fixed length, and it tells nothing of the rows.
 */
export function deliveryToken(unitKey: string): string {
  return digest(unitKey, 43);
}

/**
 * The scope a built-in works in: the engine's, or for a run outside a job a
 * fresh in-memory journal keyed by the run id.
 */
export function scopeOf(
  input: BuiltinInput<unknown>,
  action: string,
): DeliveryScope {
  return input.delivery ?? {
    journal: new MemoryJournal(),
    stepKey: `run:${input.runId}/${action}`,
  };
}

/**
 * `input.idempotencyKey` of a function or sandboxed action: the token of the
 * step's batch unit in a job, else of the run id and the action.
 */
export function idempotencyKeyOf(
  action: string,
  rows: readonly Row[],
  options: { runId: string; delivery: DeliveryScope | undefined },
): string {
  return options.delivery
    ? deliveryToken(unitKeysOf(options.delivery, rows, false)[0]!)
    : deliveryToken(runKeyText(action, options.runId));
}

/**
 * The text of `input.idempotencyKey` outside a job step: the run id and the
 * action. Its token ({@linkcode deliveryToken}) is the key.
 */
export function runKeyText(action: string, runId: string): string {
  return `run:${runId}/${action}`;
}
