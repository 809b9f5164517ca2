/**
 * The claim of a job's notices (`onFailure`, `onRecovery`, and `serve`'s
 * `stale` checks): one instance sends a notice at a time, across every
 * process that shares the store — the holder of this claim. It is a claim
 * like a run's (an epoch, a lease renewed on the store's clock, taken at
 * once when it ran out), kept in the store under a name no job can have,
 * and it fences the notices' delivery journal and the write that marks a
 * notice sent: a sender that lost it (paused past its lease) is aborted, and
 * the next one finds in the journal what went through.
 *
 * @module
 */
import type { Clock } from "../clock.ts";
import type { Holder, RunStore } from "../store/contract.ts";
import { StoreJournal } from "../store/journal.ts";
import type { NoticeClaim } from "../alerts/run.ts";
import { HeldClaim, retryStore, STORE_CALL_MS } from "./_claim.ts";

/** What claiming a job's notices needs of the engine. */
export interface NoticeClaimHost {
  store(): RunStore;
  readonly clock: Clock;
  /** Who this instance is in claims. */
  holder(): Holder;
  /** How long the claim lasts without renewal, in ms. */
  readonly leaseMs: number;
  /** How long a store call under it is retried, in ms. */
  readonly storeRetryMs?: number;
}

/**
 * The store name of a job's notice claim: it starts with a space, which no
 * job name does, so it is never a job's.
 */
export function noticeClaimName(jobName: string): string {
  return ` notices of ${jobName}`;
}

/**
 * Claims a job's notices.
 *
 * @param host The store, clock, holder and lease.
 * @param jobName The job.
 * @returns The claim, or undefined when another instance holds it.
 * @throws {TriggerKitError} `STORE_ERROR` when the store cannot be reached.
 */
export async function claimNotices(
  host: NoticeClaimHost,
  jobName: string,
): Promise<NoticeClaim | undefined> {
  const store = host.store();
  const { clock, leaseMs } = host;
  const name = noticeClaimName(jobName);
  const asked = clock.now();
  const result = await retryStore(
    clock,
    "claiming the job's notices",
    () =>
      store.claim(name, {
        runId: crypto.randomUUID(),
        holder: host.holder(),
        leaseMs,
      }),
    { forMs: STORE_CALL_MS },
  );
  if (!result.claimed) return undefined;
  const { claim } = result;
  const held = new HeldClaim(store, claim, {
    clock,
    claimedAt: asked,
    ...(host.storeRetryMs === undefined ? {} : { retryMs: host.storeRetryMs }),
  });
  return {
    journal: new StoreJournal(store, name, held),
    fence: { jobName: name, epoch: claim.epoch },
    signal: held.signal,
    call: (what, op) => held.call(what, op),
    async release() {
      await held.stop();
      if (!held.holds()) return;
      await held.call("releasing the job's notices", () => store.release(claim))
        .catch(() => {});
    },
  };
}
