/**
 * The delivery journal kept in the run store: what a job run's built-in
 * actions delivered, fenced by the run's claim — once the claim is lost, a
 * record is refused (and the run's signal fires), so a run that another
 * instance took over can deliver nothing more.
 *
 * @module
 */
import { TriggerKitError } from "../errors.ts";
import type { DeliveryJournal, DeliveryReceipt } from "../delivery/journal.ts";
import type { Claim, RunStore } from "./contract.ts";

/** How a run calls the store: retried while its claim holds (the job engine's held claim). */
export interface StoreCalls {
  /** Runs a store call, retried as the run's policy says. */
  call<T>(what: string, op: () => Promise<T>): Promise<T>;
}

/** A run's claim, with its store calls. */
export interface HeldStoreClaim extends StoreCalls {
  /** The claim the run holds. */
  readonly claim: Claim;
}

/** The delivery journal of one job run, in the run store. */
export class StoreJournal implements DeliveryJournal {
  readonly #store: RunStore;
  readonly #jobName: string;
  readonly #calls: StoreCalls;
  readonly #held: HeldStoreClaim | undefined;

  /**
   * @param store The run store.
   * @param jobName The job.
   * @param calls The run's claim (records are fenced by it), or for a dry
   * run only how to call the store: a dry run reads the journal and records
   * nothing.
   */
  constructor(
    store: RunStore,
    jobName: string,
    calls: HeldStoreClaim | StoreCalls,
  ) {
    this.#store = store;
    this.#jobName = jobName;
    this.#calls = calls;
    this.#held = "claim" in calls ? calls : undefined;
  }

  get(unitKeys: readonly string[]): Promise<Map<string, DeliveryReceipt>> {
    if (unitKeys.length === 0) return Promise.resolve(new Map());
    return this.#calls.call(
      "reading the delivery journal",
      () => this.#store.deliveries(this.#jobName, unitKeys),
    );
  }

  record(receipts: ReadonlyMap<string, DeliveryReceipt>): Promise<void> {
    const held = this.#held;
    if (!held) {
      return Promise.reject(
        new TriggerKitError(
          "STORE_ERROR",
          `Job "${this.#jobName}": a run that holds no claim (a dry run) records no deliveries`,
        ),
      );
    }
    if (receipts.size === 0) return Promise.resolve();
    return held.call(
      "recording deliveries",
      () => this.#store.recordDeliveries(held.claim, receipts),
    );
  }
}
