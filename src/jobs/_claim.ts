/**
 * Holding a job's claim while its run lasts: the lease renewed on the
 * clock, the run's signal fired the moment the claim is lost (the store
 * refused a renewal or a write, or no renewal got through for a whole
 * lease — a paused or cut-off instance must assume another took over), and
 * the run's store calls retried with backoff while the claim holds.
 *
 * @module
 */
import { TriggerKitError } from "../errors.ts";
import { type Clock, withDeadline } from "../clock.ts";
import {
  type Claim,
  ClaimLostError,
  type RunStore,
} from "../store/contract.ts";
import { logger } from "../logger.ts";

const log = logger("store");

/** How long one try of a store call is waited for, in ms. */
export const STORE_CALL_MS = 10_000;
/**
 * How long a run's store call is retried while its claim holds, by
 * default, in ms (`storeRetryMs`): longer than the default lease, so that a
 * run survives any outage its lease survives.
 */
export const DEFAULT_STORE_RETRY_MS = 300_000;
/** The first retry delay of a store call, doubled up to {@linkcode MAX_BACKOFF_MS}. */
const FIRST_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 5_000;

/** The delay before retry number `attempt` (0-based): doubling, with jitter, capped; whole ms. */
function backoff(attempt: number): number {
  const base = Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** attempt);
  return Math.round(base / 2 + Math.random() * base / 2);
}

/**
 * One try of a store call, waited for at most `ms` and until `signal`
 * aborts. A try given up on is not cancelled (the driver's own deadline
 * does that) and may still land: every store write is idempotent (a claim
 * names its run, a start or an outcome already written is taken as done),
 * so a retry beside it is safe.
 */
function call<T>(
  clock: Clock,
  what: string,
  op: () => Promise<T>,
  ms: number,
  signal?: AbortSignal,
): Promise<T> {
  let work: Promise<T>;
  try {
    work = op();
  } catch (error) {
    work = Promise.reject(error);
  }
  return withDeadline(
    clock,
    Math.max(1, ms),
    work,
    () =>
      new TriggerKitError(
        "STORE_ERROR",
        `The run store did not answer within ${Math.round(ms)} ms (${what})`,
      ),
    signal,
  );
}

/** The error when a store call gives up: `STORE_ERROR` with the last failure as cause. */
function gaveUp(
  what: string,
  tries: number,
  error: unknown,
  bound = "",
): TriggerKitError {
  const message = error instanceof Error ? error.message : String(error);
  return new TriggerKitError(
    "STORE_ERROR",
    `The run store could not be reached after ${tries} tries (${what}${bound}): ${message}`,
    { cause: error },
  );
}

/** Logs the first failure of a store call, not every retry. */
function logFailure(what: string, error: unknown, attempt: number): void {
  if (attempt > 0) return;
  log.warn("Store call failed ({what}), retrying: {error}", {
    what,
    error: error instanceof Error ? error.message : String(error),
  });
}

/** Options of {@linkcode retryStore}. */
export interface RetryOptions {
  /** Gives up after this long, in ms of the clock (default 30000). */
  forMs?: number;
  /** Stops retrying when it aborts (after one try). */
  signal?: AbortSignal;
}

/**
 * A store call that holds no claim (a claim itself, a skipped run's
 * record), retried with backoff on the clock.
 *
 * @throws {TriggerKitError} `STORE_ERROR` when it gives up.
 */
export async function retryStore<T>(
  clock: Clock,
  what: string,
  op: () => Promise<T>,
  options: RetryOptions = {},
): Promise<T> {
  const until = clock.now() + (options.forMs ?? 30_000);
  let last: unknown;
  for (let attempt = 0;; attempt++) {
    try {
      return await call(
        clock,
        what,
        op,
        Math.min(STORE_CALL_MS, until - clock.now()),
        options.signal,
      );
    } catch (thrown) {
      if (thrown instanceof ClaimLostError) throw thrown;
      // A try the signal cut short says less than the store's last answer.
      const cutShort = options.signal?.aborted &&
        thrown === options.signal.reason && last !== undefined;
      const error = cutShort ? last : thrown;
      last = error;
      const delay = backoff(attempt);
      if (clock.now() + delay > until || options.signal?.aborted) {
        throw gaveUp(what, attempt + 1, error);
      }
      logFailure(what, error, attempt);
      try {
        await clock.sleep(delay, options.signal);
      } catch {
        throw gaveUp(what, attempt + 1, error);
      }
    }
  }
}

/** A claim held by a run in this process. */
export class HeldClaim {
  /** The claim. */
  readonly claim: Claim;
  readonly #store: RunStore;
  readonly #clock: Clock;
  readonly #lost = new AbortController();
  #lostReason: string | undefined;
  readonly #stop = new AbortController();
  readonly #outer: AbortSignal | undefined;
  /** Fires when the claim is lost, or the run's own signal aborts. */
  readonly signal: AbortSignal;
  /** Until when the claim surely holds, by this instance's clock. */
  #deadline: number;
  readonly #renewing: Promise<void>;
  /** How long a store call is retried, in ms. */
  readonly #retryMs: number;
  /** A store call gave up: later ones get one try each (to record the outcome if the store lets it). */
  #gaveUp = false;

  /**
   * Starts renewing the claim.
   *
   * @param store Where it was claimed.
   * @param claim The claim.
   * @param options The clock; when the claim was asked for (its lease runs
   * from then at the latest); the run's own signal; how long a store call is
   * retried (default {@linkcode DEFAULT_STORE_RETRY_MS}).
   */
  constructor(
    store: RunStore,
    claim: Claim,
    options: {
      clock: Clock;
      claimedAt: number;
      signal?: AbortSignal;
      retryMs?: number;
    },
  ) {
    this.#store = store;
    this.claim = claim;
    this.#clock = options.clock;
    this.#retryMs = options.retryMs ?? DEFAULT_STORE_RETRY_MS;
    this.#outer = options.signal;
    this.#deadline = options.claimedAt + claim.leaseMs;
    this.signal = options.signal
      ? AbortSignal.any([this.#lost.signal, options.signal])
      : this.#lost.signal;
    judgeOnRead(this.signal, () => this.holds());
    this.#renewing = this.#renew();
  }

  /** Why the claim was lost, if it was. */
  get lostReason(): string | undefined {
    return this.#lostReason;
  }

  /**
   * Whether the claim still holds. Checks the clock itself: after a pause
   * of the process (SIGSTOP, a frozen VM) the answer is right before any
   * timer has run.
   */
  holds(): boolean {
    if (this.#lostReason !== undefined) return false;
    if (this.#clock.now() >= this.#deadline) {
      this.#lose(
        `its lease was not renewed for ${this.claim.leaseMs} ms (this instance was paused or cut off from the store)`,
      );
      return false;
    }
    return true;
  }

  /** Whether a store call of the run gave up (`storeRetryMs` passed). */
  get gaveUp(): boolean {
    return this.#gaveUp;
  }

  /**
   * Runs a store call of the run, retried with backoff while the claim
   * holds, for at most `storeRetryMs` (after a call gave up, later ones get
   * one try). A write the store refuses (the claim was taken over) loses the
   * claim at once.
   *
   * @throws {ClaimLostError} When the claim was lost before it succeeded.
   * @throws {TriggerKitError} `STORE_ERROR` when it gave up.
   */
  async call<T>(what: string, op: () => Promise<T>): Promise<T> {
    const clock = this.#clock;
    const once = this.#gaveUp;
    const until = clock.now() + (once ? STORE_CALL_MS : this.#retryMs);
    for (let attempt = 0;; attempt++) {
      if (!this.holds()) throw new ClaimLostError(this.claim, what);
      try {
        const result = await call(
          clock,
          what,
          op,
          Math.min(STORE_CALL_MS, until - clock.now()),
          this.#lost.signal,
        ).catch((error) => {
          throw this.#lostReason === undefined
            ? error
            : new ClaimLostError(this.claim, what);
        });
        // Paused while the call was out: what it returned must not be acted on.
        if (!this.holds()) throw new ClaimLostError(this.claim, what);
        return result;
      } catch (error) {
        if (error instanceof ClaimLostError) {
          this.#lose(error.message);
          throw error;
        }
        if (this.#outer?.aborted) throw gaveUp(what, attempt + 1, error);
        const delay = backoff(attempt);
        if (once || clock.now() + delay > until) {
          if (!once) {
            this.#gaveUp = true;
            log.error(
              "Job {jobName}: a store call gave up after {ms} ms (storeRetryMs): {what}",
              { jobName: this.claim.jobName, ms: this.#retryMs, what },
            );
          }
          throw gaveUp(
            what,
            attempt + 1,
            error,
            once ? "" : `; storeRetryMs ${this.#retryMs} passed`,
          );
        }
        logFailure(what, error, attempt);
        try {
          await clock.sleep(delay, this.signal);
        } catch { /* lost, or the run was aborted: judged at the loop's top */ }
        if (this.#outer?.aborted && this.#lostReason === undefined) {
          throw gaveUp(what, attempt + 1, error);
        }
      }
    }
  }

  /** Stops renewing (the run is over). */
  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#renewing;
  }

  #lose(reason: string): void {
    if (this.#lostReason !== undefined) return;
    log.error("Job {jobName} lost its claim (epoch {epoch}): {reason}", {
      jobName: this.claim.jobName,
      epoch: this.claim.epoch,
      runId: this.claim.runId,
      reason,
    });
    const error = new TriggerKitError(
      "STORE_ERROR",
      `The run lost its claim on job "${this.claim.jobName}": ${reason}`,
    );
    this.#lostReason = error.message;
    this.#lost.abort(error);
  }

  /** Renews every third of the lease, and wakes at the deadline to judge it. */
  async #renew(): Promise<void> {
    const { leaseMs } = this.claim;
    const wake = AbortSignal.any([this.#stop.signal, this.#lost.signal]);
    let next = this.#clock.now() + leaseMs / 3;
    let failures = 0;
    while (!wake.aborted) {
      const wait = Math.min(next, this.#deadline) - this.#clock.now();
      try {
        if (wait > 0) await this.#clock.sleep(wait, wake);
      } catch {
        return;
      }
      if (!this.holds()) return;
      if (this.#clock.now() < next) continue;
      const sent = this.#clock.now();
      try {
        const renewed = await call(
          this.#clock,
          "renewing the lease",
          () => this.#store.renew(this.claim),
          this.#deadline - this.#clock.now(),
        );
        if (!renewed) {
          this.#lose(
            "the store refused to renew it: another instance took it over, or its lease ran out by the store's clock",
          );
          return;
        }
        if (failures > 0) {
          log.info("Job {jobName}: the store answers again", {
            jobName: this.claim.jobName,
          });
        }
        failures = 0;
        this.#deadline = sent + leaseMs;
        next = sent + leaseMs / 3;
      } catch (error) {
        if (error instanceof ClaimLostError) {
          this.#lose(error.message);
          return;
        }
        logFailure("renewing the lease", error, failures++);
        next = this.#clock.now() + Math.min(leaseMs / 10, backoff(failures));
      }
    }
  }
}

const ABORTED = Object.getOwnPropertyDescriptor(
  AbortSignal.prototype,
  "aborted",
)!.get!;

/**
 * Makes `signal.aborted` and `signal.throwIfAborted()` judge the claim
 * first, by the clock: an action or built-in that resumes after a pause of
 * the process sees its run aborted on its first look, before any timer of
 * the renewal has had a chance to run.
 */
function judgeOnRead(signal: AbortSignal, holds: () => boolean): void {
  Object.defineProperties(signal, {
    aborted: {
      get(): boolean {
        holds();
        return ABORTED.call(signal);
      },
    },
    throwIfAborted: {
      value(): void {
        holds();
        AbortSignal.prototype.throwIfAborted.call(signal);
      },
    },
  });
}
