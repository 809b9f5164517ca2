/**
 * Slots that did not run, and how they are recorded. When the scheduler
 * starts after downtime, or wakes late (a paused process, a machine that
 * slept, an overloaded event loop, a missed `Deno.cron` tick), several
 * slots of a job may be due at once: the latest runs and stands for the
 * others, which are recorded `skipped` with the reason.
 *
 * Records are bounded: a job's queue of slots waiting to be recorded keeps
 * at most {@linkcode MISSED_RECORDS} slots one by one and folds the rest into
 * one record that names how many slots it stands for and from when to
 * when — a job every second down for a day writes 11 records, not 86,400.
 *
 * @module
 */
import type { Schedule } from "./schedule.ts";

/** Slots of a job recorded one by one in a row; the rest go into one record. */
export const MISSED_RECORDS = 10;
/**
 * Slots of a wall-clock schedule counted by stepping through them (about
 * 40 µs each): beyond, a record says "at least".
 */
const COUNT_LIMIT = 2_000;

/** Consecutive slots recorded as one. */
export interface SlotRange {
  /** The first slot (ms). */
  from: number;
  /** The last slot (ms). */
  to: number;
  /** How many slots, from `from` to `to`. */
  count: number;
  /** False: there are at least `count` (too many to count one by one). */
  exact: boolean;
}

/** The slots due at once: the latest runs; the earlier ones are recorded skipped. */
export interface DueSlots {
  /** The slot that runs: the latest due. */
  run: number;
  /** The earliest of the others, one by one, oldest first. */
  each: number[];
  /** The others after `each`, as one range. */
  rest?: SlotRange;
}

/**
 * The slots of `schedule` from `first` (a slot, due) up to `now`.
 *
 * @param schedule The job's schedule.
 * @param first The first due slot (ms), at most `now`.
 * @param now The time (ms).
 * @param max Slots listed one by one before the rest is a range.
 * @returns The slot to run and the earlier ones.
 */
export function dueSlots(
  schedule: Schedule,
  first: number,
  now: number,
  max: number = MISSED_RECORDS,
): DueSlots {
  const seen = [first];
  let next = schedule.next(first);
  while (next <= now && seen.length < max + 2) {
    seen.push(next);
    next = schedule.next(next);
  }
  if (next > now) {
    const run = seen.pop()!;
    return { run, each: seen };
  }
  const each = seen.slice(0, max);
  const from = seen[max]!;
  const interval = schedule.intervalMs;
  if (interval !== undefined) {
    // Its slots are the multiples of the interval: counted, not stepped.
    const run = Math.floor(now / interval) * interval;
    const to = run - interval;
    return {
      run,
      each,
      rest: { from, to, count: (to - from) / interval + 1, exact: true },
    };
  }
  let previous = from;
  let current = seen[max + 1]!;
  let count = 2; // from `from` to `current`
  while (next <= now && count < COUNT_LIMIT) {
    previous = current;
    current = next;
    count++;
    next = schedule.next(current);
  }
  if (next > now) {
    return {
      run: current,
      each,
      rest: { from, to: previous, count: count - 1, exact: true },
    };
  }
  const run = latestDue(schedule, current, now);
  const to = latestDue(schedule, current, run - 1);
  return { run, each, rest: { from, to, count, exact: false } };
}

/**
 * The latest slot at or before `limit`, given a slot `known` at or before
 * it: found by looking back over doubling windows, then stepping forward
 * through the one window that holds it (the half after it held none).
 */
function latestDue(schedule: Schedule, known: number, limit: number): number {
  for (let window = 60_000;; window *= 2) {
    const after = limit - window;
    const start = after < known ? known : schedule.next(after);
    if (after < known || start <= limit) {
      let latest = start;
      for (let n = schedule.next(latest); n <= limit; n = schedule.next(n)) {
        latest = n;
      }
      return latest;
    }
  }
}

/** One record to write: a slot, or a range of slots in one record. */
export interface PendingSkip {
  /** The slot the record is for (a range's first). */
  slot: number;
  /** The slot the store marks as passed (a range's last; else `slot`). */
  through: number;
  /** Why it did not run. */
  reason: string;
}

/**
 * The slots of one job waiting to be recorded `skipped`, oldest first: at
 * most `max` one by one, then one range that takes every later slot. Slots
 * may come out of order (a claim that gave up after the next slot was
 * queued): they are kept in order.
 */
export class SkipQueue {
  readonly #max: number;
  /** Ascending, all before `#rest`. */
  readonly #each: Array<{ slot: number; reason: string }> = [];
  #rest: (SlotRange & { reasons: string[] }) | undefined;

  /** @param max Slots kept one by one. */
  constructor(max: number = MISSED_RECORDS) {
    this.#max = max;
  }

  /** How many records are waiting. */
  get size(): number {
    return this.#each.length + (this.#rest ? 1 : 0);
  }

  /** Adds a slot. */
  add(slot: number, reason: string): void {
    this.addRange({ from: slot, to: slot, count: 1, exact: true }, reason);
  }

  /** Adds consecutive slots. */
  addRange(range: SlotRange, reason: string): void {
    if (range.count === 1 && (!this.#rest || range.from < this.#rest.from)) {
      const at = this.#each.findIndex((one) => one.slot >= range.from);
      if (at === -1) this.#each.push({ slot: range.from, reason });
      else if (this.#each[at]!.slot !== range.from) {
        this.#each.splice(at, 0, { slot: range.from, reason });
      }
    } else {
      this.#merge(range, reason);
    }
    // At most `max` one by one, all before the range.
    for (
      let last = this.#each.at(-1);
      last && (this.#each.length > this.#max ||
        (this.#rest !== undefined && last.slot >= this.#rest.from));
      last = this.#each.at(-1)
    ) {
      this.#each.pop();
      this.#merge(
        { from: last.slot, to: last.slot, count: 1, exact: true },
        last.reason,
      );
    }
  }

  #merge(range: SlotRange, reason: string): void {
    const rest = this.#rest;
    if (!rest) {
      this.#rest = { ...range, reasons: [reason] };
      return;
    }
    rest.from = Math.min(rest.from, range.from);
    rest.to = Math.max(rest.to, range.to);
    rest.count += range.count;
    rest.exact &&= range.exact;
    if (!rest.reasons.includes(reason) && rest.reasons.length < 3) {
      rest.reasons.push(reason);
    }
  }

  /** Adds the slots due before the one that runs. */
  addDue(due: DueSlots, reason: string): void {
    for (const slot of due.each) this.add(slot, reason);
    if (due.rest) this.addRange(due.rest, reason);
  }

  /** The oldest record waiting. */
  peek(): PendingSkip | undefined {
    const one = this.#each[0];
    if (one) return { slot: one.slot, through: one.slot, reason: one.reason };
    const rest = this.#rest;
    if (!rest) return undefined;
    const count = `${rest.exact ? "" : "at least "}${rest.count}`;
    return {
      slot: rest.from,
      through: rest.to,
      reason: `${rest.reasons.join("; ")} (this one record stands for ${
        rest.count === 1 && rest.exact ? "1 slot" : `${count} slots`
      }, from ${iso(rest.from)} to ${iso(rest.to)})`,
    };
  }

  /** Drops the oldest record (it was written). */
  shift(): void {
    if (this.#each.length > 0) this.#each.shift();
    else this.#rest = undefined;
  }
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/**
 * Why slots due before the one that runs did not run: `down`, no instance
 * was running (`serve` starts after them); `late`, the scheduler woke after
 * them.
 *
 * @param cause What kept them from running.
 * @param run The slot that runs for them (ms).
 * @returns The reason their records give.
 */
export function missedReason(cause: "down" | "late", run: number): string {
  const why = cause === "down"
    ? "no instance was running at its time"
    : "the scheduler did not wake in time for it (a paused process, a machine asleep or overloaded, a missed Deno.cron tick) and no other instance took it";
  return `missed: ${why}; slot ${iso(run)}, the latest due, stands for it`;
}
