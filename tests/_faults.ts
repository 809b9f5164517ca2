/**
 * What the fault tests share: the run stores under test, stores that fail
 * on demand, `serve` as a real process, and waiting for a condition.
 */
import assert from "node:assert/strict";
import type { Clock, RunStore } from "../mod.ts";
import type { FakeClock } from "./_fake_clock.ts";
import { SqlRunStore } from "../src/store/sql.ts";
import { type KvLike, KvRunStore } from "../src/store/kv.ts";
import { SqliteDatabase } from "../src/db/sqlite.ts";
import { PostgresDatabase } from "../src/db/postgres.ts";
import { TEST_PG } from "./_helpers.ts";
import { spawnCli } from "./_cli.ts";

/** A store under test: how to open it on a clock. */
export interface StoreSubject {
  name: "sqlite" | "kv" | "postgres";
  /** Skipped: no PostgreSQL configured (outside CI). */
  ignore: boolean;
  open(
    clock: Clock,
  ): Promise<{ store: RunStore; close: () => Promise<void> }>;
}

/** SQLite in memory, Deno KV in memory, and PostgreSQL (`TRIGGERKIT_TEST_PG`). */
export const STORE_SUBJECTS: StoreSubject[] = [
  {
    name: "sqlite",
    ignore: false,
    open: (clock) => {
      const db = new SqliteDatabase(":memory:", "sqlite::memory:");
      return Promise.resolve({
        store: new SqlRunStore(db, { clock }),
        close: () => db.close(),
      });
    },
  },
  {
    name: "kv",
    ignore: false,
    open: async (clock) => {
      const kv =
        await (Deno as unknown as { openKv(path: string): Promise<KvLike> })
          .openKv(":memory:");
      const store = new KvRunStore(Promise.resolve(kv), { clock });
      return { store, close: () => store.close() };
    },
  },
  {
    name: "postgres",
    ignore: !TEST_PG && Deno.env.get("CI") !== "true",
    open: (clock) => {
      const db = new PostgresDatabase(TEST_PG!, "postgres");
      return Promise.resolve({
        store: new SqlRunStore(db, { clock }),
        close: () => db.close(),
      });
    },
  },
];

/** A store whose renewals never answer: an instance cut off from it, or paused. */
export function cutOff(store: RunStore): RunStore {
  return new Proxy(store, {
    get(target, key) {
      if (key === "renew") return () => new Promise(() => {});
      const value = Reflect.get(target, key);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/** A store that can be taken down: every call fails while `down`; `downOn` takes it down at the first call of that method. */
export type Flaky = RunStore & { down: boolean; downOn?: keyof RunStore };

/** Wraps a store so that a test can take it down. */
export function flaky(store: RunStore): Flaky {
  const state: { down: boolean; downOn?: string } = { down: false };
  return new Proxy(store, {
    get(target, key) {
      if (key === "down" || key === "downOn") return state[key];
      const value = Reflect.get(target, key);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        if (key === state.downOn) state.down = true;
        return state.down && key !== "close"
          ? Promise.reject(new Error("connect ECONNREFUSED 127.0.0.1:5432"))
          : value.apply(target, args);
      };
    },
    set(_target, key, value) {
      if (key === "down") state.down = value;
      else if (key === "downOn") state.downOn = value;
      else return false;
      return true;
    },
  }) as Flaky;
}

/**
 * A store one of whose calls keeps failing (a table locked, a statement the
 * store rejects) while every other call, renewals included, goes through.
 */
export function failingCall(
  store: RunStore,
  method: keyof RunStore,
  failing: () => boolean = () => true,
): RunStore {
  return new Proxy(store, {
    get(target, key) {
      const value = Reflect.get(target, key);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) =>
        key === method && failing()
          ? Promise.reject(new Error(`${String(method)}: database is locked`))
          : value.apply(target, args);
    },
  });
}

/** Advances a fake clock in steps until `work` settles; fails if it has not after `ms` of the clock. */
export async function settlesWithin<T>(
  clock: FakeClock,
  work: Promise<T>,
  ms: number,
  step = 1_000,
): Promise<T> {
  let done = false;
  const settled = work.finally(() => done = true);
  settled.catch(() => {});
  for (let passed = 0; passed < ms && !done; passed += step) {
    await clock.advance(step, step);
  }
  if (!done) throw new Error(`still running after ${ms} ms of the clock`);
  return await settled;
}

/** `mod.ts`, for config files written by tests. */
export const MOD: string = new URL("../mod.ts", import.meta.url).href;

/** Starts `triggerkit serve` in `dir` (its config there), stderr piped, stdout dropped. */
export function spawnServe(
  dir: string,
  env: Record<string, string>,
): Deno.ChildProcess {
  return spawnCli(["serve"], { cwd: dir, env, stdout: "null" });
}

/** Waits (for real) until `check` holds, or throws after `ms`. */
export async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  ms: number,
): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Whether this machine can create a private PostgreSQL cluster (root and the Debian tools). */
export async function canRunPgCluster(): Promise<boolean> {
  try {
    const { success } = await new Deno.Command("pg_lsclusters", {
      stdout: "null",
      stderr: "null",
    }).output();
    return success && Deno.uid() === 0;
  } catch {
    return false;
  }
}

/**
 * Lets a `serve` process hang on `hung` (once it has connected, 1.5 s
 * more), sends it SIGTERM, and asserts that it exits 0 within `graceMs`
 * plus 6 s (closing a hung PostgreSQL connection takes `npm:postgres` up to
 * 5 s), with no uncaught error and no password in its log.
 *
 * @returns Its stderr.
 */
export async function assertStopsWhileHung(
  server: Deno.ChildProcess,
  hung: { readonly accepted: number },
  graceMs: number,
): Promise<string> {
  const stderr = new Response(server.stderr).text();
  await until(
    "a connection to the hung server",
    () => hung.accepted > 0,
    20_000,
  );
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  server.kill("SIGTERM");
  const stopped = performance.now();
  const { code } = await server.status;
  const took = performance.now() - stopped;
  const log = await stderr;
  assert.equal(code, 0, log);
  assert.doesNotMatch(log, /Uncaught|hung-secret-pw/);
  assert.ok(
    took < graceMs + 6_000,
    `took ${Math.round(took)} ms to stop\n${log}`,
  );
  return log;
}
