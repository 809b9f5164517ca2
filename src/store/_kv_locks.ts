/**
 * Deno KV on a local file is SQLite underneath: when several processes (or
 * several handles in one process) write the same file at once, a call can
 * fail at once with "database is locked" instead of waiting. Such a call
 * changed nothing (its transaction never began), so it is tried again after
 * a short, growing wait — as the SQLite stores wait for locks — for up to
 * {@linkcode LOCK_WAIT_MS}; then the error goes on to the caller (and the
 * store's retries). `list` is left as it is: a listing cut short is read
 * again by its caller.
 *
 * @module
 */
import type { KvAtomic, KvKey, KvLike } from "./_kv_records.ts";

/** How long a call waits out a locked database file, in ms. */
export const LOCK_WAIT_MS = 5_000;

function locked(error: unknown): boolean {
  return error instanceof Error && /database is locked/i.test(error.message);
}

async function waitingOutLocks<T>(call: () => Promise<T>): Promise<T> {
  const until = performance.now() + LOCK_WAIT_MS;
  for (let delay = 1;; delay = Math.min(delay * 2, 50)) {
    try {
      return await call();
    } catch (error) {
      if (!locked(error) || performance.now() + delay > until) throw error;
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}

/** `kv` with its calls (atomic commits included) waiting out a locked file. */
export function lockTolerant(kv: KvLike): KvLike {
  const atomic = (operation: KvAtomic): KvAtomic =>
    new Proxy(operation, {
      get(target, key) {
        const value = Reflect.get(target, key, target);
        if (key === "commit") {
          return () => waitingOutLocks(() => target.commit());
        }
        if (typeof value !== "function") return value;
        // check/set/delete return the operation: keep it wrapped.
        return (...args: unknown[]) => {
          const result = value.apply(target, args);
          return result === target ? proxy(result) : result;
        };
      },
    });
  const proxies = new WeakMap<KvAtomic, KvAtomic>();
  const proxy = (operation: KvAtomic): KvAtomic => {
    let wrapped = proxies.get(operation);
    if (!wrapped) proxies.set(operation, wrapped = atomic(operation));
    return wrapped;
  };
  return {
    get<T>(key: KvKey) {
      return waitingOutLocks(() => kv.get<T>(key));
    },
    getMany<T>(keys: KvKey[]) {
      return waitingOutLocks(() => kv.getMany<T>(keys));
    },
    set(key, value, options) {
      return waitingOutLocks(() => kv.set(key, value, options));
    },
    delete(key) {
      return waitingOutLocks(() => kv.delete(key));
    },
    list: (selector, options) => kv.list(selector, options),
    atomic: () => proxy(kv.atomic()),
    close: () => kv.close(),
  };
}
