/**
 * A guard against a crash in `npm:postgres` 3.4.9: a write it queued with
 * `setImmediate` can run after the server closed the connection, when its
 * socket is already `null` — `TypeError: Cannot read properties of null
 * (reading 'write')` thrown from an immediate callback, where no caller can
 * catch it, so the whole process exits (porsager/postgres#1154, #1208,
 * denoland/deno#34667). A store or database whose connections drop now and
 * then (a proxy, a failover, a flapping network) would end `serve`.
 *
 * The guard swallows that one error, recognised by its message and its
 * origin in postgres.js's `nextWrite`, and nothing else. The write it drops
 * belonged to a connection that is gone: the queries on it were rejected
 * with `CONNECTION_CLOSED` when it closed, and every TriggerKit call that
 * could still wait on it has a deadline or the run's signal.
 *
 * @module
 */
import { logger } from "../logger.ts";

const log = logger("store");

let installed = false;

/** Whether an uncaught error is postgres.js writing to a connection that closed. */
export function isClosedSocketWrite(error: unknown): boolean {
  return error instanceof TypeError &&
    /Cannot read properties of null \(reading 'write'\)/.test(error.message) &&
    /nextWrite/.test(error.stack ?? "") &&
    /postgres/.test(error.stack ?? "");
}

/** Installs the guard, once per process (PostgreSQL pools call it when they open). */
export function guardClosedSocketWrites(): void {
  if (installed) return;
  installed = true;
  globalThis.addEventListener("error", (event) => {
    if (!isClosedSocketWrite(event.error)) return;
    event.preventDefault();
    log.warn(
      "A PostgreSQL connection closed while a write to it was queued; the write was dropped (its queries failed with CONNECTION_CLOSED)",
    );
  });
}
