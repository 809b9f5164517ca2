/**
 * One timer for every sandboxed call's deadline. Deadlines fall into
 * buckets of {@linkcode DEADLINE_TICK_MS}; a single timer waits for the
 * earliest bucket. A call adds itself and removes itself when it ends, in
 * a few map operations, instead of creating and clearing a timer of its own
 * (about 2.4 µs a call, and a timer in the event loop each).
 *
 * A deadline fires no sooner than asked, and at most one tick later. The
 * timer is left armed when the last deadline is cancelled, so that calls
 * one after another do not create and clear a timer each; when it fires
 * with nothing due it is not armed again, and {@linkcode Deadlines.clear}
 * (the host's `close()`) clears it.
 *
 * @module
 */

/** How finely deadlines are told apart, in ms: the most one fires late. */
export const DEADLINE_TICK_MS = 5;

/** A deadline waiting to fire; give it back to {@linkcode Deadlines.cancel}. */
export interface Deadline {
  readonly bucket: number;
  readonly fire: () => void;
}

/** Deadlines sharing one timer. */
export class Deadlines {
  readonly #buckets = new Map<number, Set<Deadline>>();
  /** Bucket numbers, a min-heap; may hold buckets already emptied. */
  readonly #heap: number[] = [];
  #size = 0;
  #armed: number | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;

  /** Deadlines waiting. */
  get size(): number {
    return this.#size;
  }

  /**
   * Calls `fire` once `ms` have passed, unless cancelled first.
   *
   * @param ms How long from now.
   * @param fire What to do then.
   * @returns The deadline, to cancel.
   */
  add(ms: number, fire: () => void): Deadline {
    const bucket = Math.ceil((performance.now() + ms) / DEADLINE_TICK_MS);
    const deadline: Deadline = { bucket, fire };
    let members = this.#buckets.get(bucket);
    if (!members) {
      members = new Set();
      this.#buckets.set(bucket, members);
      this.#push(bucket);
    }
    members.add(deadline);
    this.#size++;
    if (this.#armed === undefined || bucket < this.#armed) this.#arm(bucket);
    return deadline;
  }

  /** Forgets a deadline that has not fired (or has: then nothing happens). */
  cancel(deadline: Deadline): void {
    const members = this.#buckets.get(deadline.bucket);
    if (!members?.delete(deadline)) return;
    if (members.size === 0) this.#buckets.delete(deadline.bucket);
    this.#size--;
  }

  /** Forgets every deadline and clears the timer. */
  clear(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armed = undefined;
    this.#heap.length = 0;
    this.#buckets.clear();
    this.#size = 0;
  }

  #arm(bucket: number): void {
    clearTimeout(this.#timer);
    this.#armed = bucket;
    const wait = Math.max(0, bucket * DEADLINE_TICK_MS - performance.now());
    this.#timer = setTimeout(() => this.#tick(), wait);
  }

  #tick(): void {
    this.#timer = undefined;
    this.#armed = undefined;
    const now = performance.now();
    while (this.#heap.length > 0) {
      const bucket = this.#heap[0]!;
      const members = this.#buckets.get(bucket);
      if (members && bucket * DEADLINE_TICK_MS > now) {
        return this.#arm(bucket);
      }
      this.#pop();
      if (!members) continue;
      this.#buckets.delete(bucket);
      this.#size -= members.size;
      for (const deadline of members) deadline.fire();
    }
  }

  #push(bucket: number): void {
    const heap = this.#heap;
    let at = heap.push(bucket) - 1;
    while (at > 0) {
      const parent = (at - 1) >> 1;
      if (heap[parent]! <= bucket) break;
      heap[at] = heap[parent]!;
      at = parent;
    }
    heap[at] = bucket;
  }

  #pop(): void {
    const heap = this.#heap;
    const last = heap.pop()!;
    if (heap.length === 0) return;
    let at = 0;
    for (;;) {
      let child = 2 * at + 1;
      if (child >= heap.length) break;
      if (child + 1 < heap.length && heap[child + 1]! < heap[child]!) child++;
      if (heap[child]! >= last) break;
      heap[at] = heap[child]!;
      at = child;
    }
    heap[at] = last;
  }
}
