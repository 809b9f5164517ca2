/**
 * One supervised sandbox process: it hosts the Workers of one action, for
 * real runs or for dry runs, never both and never another action's.
 *
 * The host judges it by facts the action cannot forge: the watchdog's
 * samples of its CPU time and memory (a process that burns CPU with no call
 * in flight, or passes its memory bound, is killed), its exit status, and
 * its own deadlines (a call past its time limit gets the process killed
 * without asking it anything). Every pending call is settled when its
 * Worker's lane closes or the process dies, so nothing hangs.
 *
 * It runs only while it has work: between calls it is frozen
 * (`./freezer.ts`).
 *
 * @module
 */
import type { Lane } from "../_lane.ts";
import type {
  ChildInit,
  FromChild,
  FromWorker,
  ToChild,
  ToWorker,
  WireError,
} from "../_protocol.ts";
import { logger } from "../../src/logger.ts";
import type { ChildExit, SpawnedChild } from "./spawn.ts";
import { LaneListener } from "./lane_listener.ts";
import type { Usage } from "./watchdog.ts";
import { UsageJudge } from "./usage_judge.ts";
import type { ProcessOptions } from "./process_options.ts";
import { CallFailure, exitError, fromWorker, wire } from "./errors.ts";
import { Freezer } from "./freezer.ts";

const log = logger("sandbox");

/** How long a process may take to dial its control lane. */
const START_TIMEOUT_MS = 15_000;
/** When a Worker's lane closes, how long to wait for news of the whole process first. */
const LANE_CLOSE_GRACE_MS = 100;
/** How long output after a call ends still counts as that call's. */
const OUTPUT_GRACE_MS = 250;

/** A Worker in the process. */
export interface WorkerSlot {
  readonly wid: number;
  /** Settles when the action's module is loaded (or fails to load). */
  readonly loaded: Promise<void>;
  inflight: number;
  dead: boolean;
}

interface Slot extends WorkerSlot {
  lane: Lane<ToWorker> | undefined;
  token: string;
  settle: (error?: Error) => void;
  isLoaded: boolean;
}

interface Pending {
  slot: Slot;
  runId: string;
  resolve: (bytes: Uint8Array) => void;
  reject: (error: Error) => void;
}

let nextId = 1;

/** A fresh id for a Worker or a call. */
export function freshId(): number {
  return nextId++;
}

/** A supervised sandbox process hosting the Workers of one action. */
export class SandboxProcess {
  readonly #options: ProcessOptions;
  readonly #child: SpawnedChild;
  readonly #lanes: LaneListener;
  readonly #control: Promise<Lane<ToChild>>;
  readonly #pending = new Map<number, Pending>();
  readonly #slots = new Map<number, Slot>();
  readonly #exited: Promise<void>;
  readonly #ended: Array<{ runId: string; at: number }> = [];
  readonly #unwatch: () => void;
  readonly #usage: UsageJudge;
  readonly #freezer: Freezer;
  #killReason: WireError | undefined;
  #dead = false;
  /** Whether its control lane is up (it is never frozen before). */
  #started = false;
  /** When the last call ended, for eviction. */
  lastUsed: number = performance.now();

  /**
   * Starts the process.
   *
   * @param options What it is for, and the host's services.
   */
  constructor(options: ProcessOptions) {
    this.#options = options;
    this.#usage = new UsageJudge(options);
    this.#lanes = new LaneListener(options.init.setup.socket);
    const control = this.#lanes.expect<ToChild, FromChild>({
      onMessage: (message) => this.#fromChild(message),
      onClose: () => {},
    }, 1024 * 1024);
    const first = this.#newSlot();
    const init: ChildInit = {
      ...options.init,
      token: control.token,
      first: { wid: first.wid, token: first.token },
    };
    this.#child = options.spawn({
      args: options.profile.args,
      env: options.profile.env,
      cwd: options.profile.cwd,
      stdin: `${JSON.stringify(init)}\n`,
    });
    this.#freezer = new Freezer(this.#child, () => this.dead || this.#busy());
    const attribution = () => this.#runIds();
    options.output.pump(this.#child.stdout, "info", attribution);
    options.output.pump(this.#child.stderr, "error", attribution);
    this.#unwatch = options.watchdog.watch(
      this.#child.pid,
      (usage) => usage && this.#judge(usage),
    );
    this.#exited = this.#child.status.then((exit) => {
      this.#dead = true;
      this.#freezer.end();
      this.#unwatch();
      this.#lanes.close();
      this.#failAll(this.#deathError(exit));
      options.onExit();
    });
    let timer: ReturnType<typeof setTimeout> | undefined;
    this.#control = Promise.race([
      control.lane,
      this.#exited.then(() =>
        Promise.reject(
          new CallFailure(this.#killReason ?? this.#deathError(null)),
        )
      ),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          const reason = wire(
            "SANDBOX_UNAVAILABLE",
            "its sandbox process did not start in time",
          );
          this.kill(reason);
          reject(new CallFailure(reason));
        }, START_TIMEOUT_MS);
      }),
    ]).finally(() => clearTimeout(timer));
    this.#control.then(() => {
      this.#started = true;
      this.#checkIdle();
    }, () => {});
  }

  /** The action it hosts. */
  get action(): string {
    return this.#options.action;
  }

  /** Whether it hosts the action's dry runs. */
  get dryRun(): boolean {
    return this.#options.dryRun;
  }

  /** The process id. */
  get pid(): number {
    return this.#child.pid;
  }

  /** Its anonymous memory at the last sample, in MiB (0 once gone). */
  get anonMb(): number {
    return this.dead ? 0 : this.#usage.anonMb;
  }

  /** The share of a core it used at the last sample with no call in flight (0 when busy or gone). */
  get idleShare(): number {
    return this.dead ? 0 : this.#usage.idleShare;
  }

  /** Calls that chose this process and have not ended. */
  get reserved(): number {
    return this.#freezer.reserved;
  }

  /**
   * A call chose this process: it runs (is continued if frozen) until the
   * call {@linkcode release}s it.
   */
  reserve(): void {
    this.#freezer.reserve();
  }

  /** A call that chose this process has ended: with nothing left, it is frozen. */
  release(): void {
    this.#freezer.release();
    this.#checkIdle();
  }

  /** Whether the process is gone (or going). */
  get dead(): boolean {
    return this.#dead || this.#killReason !== undefined;
  }

  /** How many Workers are alive in it. */
  get workerCount(): number {
    return [...this.#slots.values()].filter((slot) => !slot.dead).length;
  }

  /** How many calls are waiting for an answer. */
  get pendingCount(): number {
    return this.#pending.size;
  }

  /** Its live Workers. */
  slots(): WorkerSlot[] {
    return [...this.#slots.values()].filter((slot) => !slot.dead);
  }

  /** Starts a Worker for the action. */
  load(): WorkerSlot {
    const slot = this.#newSlot();
    this.#control.then(
      (control) =>
        control.send({ t: "load", wid: slot.wid, token: slot.token }),
    ).catch((error) =>
      this.#dropSlot(
        slot,
        error instanceof CallFailure
          ? error
          : new CallFailure(wire("ACTION_FAILED", String(error))),
      )
    );
    return slot;
  }

  /** A Worker the host expects: its slot, its lane's token, its load deadline. */
  #newSlot(): Slot {
    const wid = freshId();
    let settle!: (error?: Error) => void;
    const loaded = new Promise<void>((resolve, reject) => {
      settle = (error) => {
        slot.isLoaded = true;
        this.#checkIdle();
        if (error) reject(error);
        else resolve();
      };
    });
    loaded.catch(() => {});
    const deadline = setTimeout(() => {
      if (slot.isLoaded) return;
      this.kill(wire(
        "ACTION_TIMEOUT",
        `took more than ${this.#options.loadTimeoutMs} ms to load its module`,
      ));
    }, this.#options.loadTimeoutMs);
    loaded.then(() => clearTimeout(deadline), () => clearTimeout(deadline));
    const { token, lane } = this.#lanes.expect<ToWorker, FromWorker>({
      onMessage: (message) => this.#fromWorker(slot, message),
      onClose: (reason) => this.#workerClosed(slot, reason),
    }, this.#options.maxFrame);
    const slot: Slot = {
      wid,
      loaded,
      inflight: 0,
      dead: false,
      lane: undefined,
      token,
      settle,
      isLoaded: false,
    };
    this.#slots.set(wid, slot);
    lane.then((open) => slot.lane = open);
    return slot;
  }

  /**
   * Runs one call on a loaded Worker and resolves with the reply payload.
   * The caller owns the deadline: it calls {@linkcode abandon} when it passes.
   */
  call(
    slot: WorkerSlot,
    id: number,
    payload: Uint8Array,
    options: { runId: string; maxResultBytes: number },
  ): Promise<Uint8Array> {
    return new Promise<Uint8Array>((resolve, reject) => {
      const own = this.#slots.get(slot.wid);
      if (this.dead || !own?.lane || own.dead) {
        reject(
          new CallFailure(
            this.#killReason ?? wire("ACTION_FAILED", "its Worker is gone"),
          ),
        );
        return;
      }
      own.inflight++;
      this.#pending.set(id, {
        slot: own,
        runId: options.runId,
        resolve,
        reject,
      });
      own.lane.send({ t: "call", id, max: options.maxResultBytes, payload })
        .catch(() => {});
    });
  }

  /**
   * Gives up on a call that ran past its deadline or was aborted: the
   * process is killed at once, without asking it anything (a Worker stuck
   * in a loop cannot be stopped any other way); the action's other calls in
   * it fail with `siblings`.
   */
  abandon(id: number, siblings: WireError): void {
    this.#settle(id);
    this.kill(siblings);
  }

  /** Ends the process at once; pending calls fail with `reason`. */
  kill(reason: WireError): void {
    this.#freezer.end();
    if (this.#dead) return;
    this.#killReason ??= reason;
    this.#child.kill();
  }

  /** Ends the process and waits for it to be gone. */
  async close(): Promise<void> {
    this.kill(wire("ACTION_FAILED", "the sandbox was closed"));
    await this.#exited;
  }

  /** The run ids output now belongs to: calls in flight, or just ended. */
  #runIds(): string[] {
    const ids = new Set<string>();
    for (const pending of this.#pending.values()) ids.add(pending.runId);
    if (ids.size > 0) return [...ids];
    const now = performance.now();
    for (const ended of this.#ended) {
      if (now - ended.at <= OUTPUT_GRACE_MS) ids.add(ended.runId);
    }
    return [...ids];
  }

  #busy(): boolean {
    if (this.#pending.size > 0 || !this.#started) return true;
    for (const slot of this.#slots.values()) {
      if (!slot.dead && !slot.isLoaded) return true;
    }
    return false;
  }

  #checkIdle(): void {
    if (this.dead || this.#busy()) return;
    this.#usage.idle();
    this.#freezer.idle();
  }

  /** A watchdog sample: memory over the bound, or CPU with no call in flight, ends the process. */
  #judge(usage: Usage): void {
    if (this.dead) return;
    const verdict = this.#usage.judge(
      usage,
      this.#busy(),
      this.#options.sibling(),
    );
    if (!verdict) return;
    if (verdict.idlePercent !== undefined) {
      log.warn(
        "Action {action}'s sandbox process used {percent}% of a core with no call in flight; it was stopped",
        { action: this.#options.action, percent: verdict.idlePercent },
      );
    }
    this.kill(wire(verdict.code, verdict.message));
  }

  #fromChild(message: FromChild): void {
    if (message.t !== "died") return;
    const slot = this.#slots.get(message.wid);
    if (slot) this.#dropSlot(slot, new CallFailure(message.error));
  }

  /**
   * A message on a Worker's lane. The action shares its Worker's realm and
   * can make the runtime send anything, so anything the host did not ask
   * for — a message of another kind, news of loading once loaded, an answer
   * to a call it did not send there — ends the Worker at once: a flood of
   * frames goes no further than its first.
   */
  #fromWorker(slot: Slot, message: FromWorker): void {
    if (this.dead || slot.dead) return;
    const grant = this.#options.init.grant;
    const malformed = message.t === "reply"
      ? !(message.payload instanceof Uint8Array)
      : (message.t === "fail" || message.t === "loadFailed") &&
        (typeof message.error !== "object" || message.error === null);
    if (malformed) return this.#broke(slot, `a ${message.t} was malformed`);
    switch (message.t) {
      case "loaded":
      case "loadFailed":
        if (slot.isLoaded) {
          return this.#broke(slot, "it spoke of loading once loaded");
        }
        if (message.t === "loaded") return slot.settle();
        return this.#dropSlot(
          slot,
          new CallFailure(fromWorker(message.error, grant, true)),
        );
      case "reply":
      case "fail": {
        const pending = this.#settle(message.id, slot);
        if (!pending) {
          return this.#broke(slot, "it answered a call it was not given");
        }
        if (message.t === "reply") return pending.resolve(message.payload);
        return pending.reject(
          new CallFailure(fromWorker(message.error, grant, false)),
        );
      }
      default:
        return this.#broke(slot, "it sent a message of an unknown kind");
    }
  }

  #broke(slot: Slot, why: string): void {
    this.#dropSlot(
      slot,
      new CallFailure(
        wire("ACTION_FAILED", `its Worker broke the protocol (${why})`),
      ),
    );
  }

  /** A Worker's lane closed: the Worker is gone (or broke the protocol). */
  #workerClosed(slot: Slot, reason: string | null): void {
    if (slot.dead) return;
    // If the whole process is dying, its exit says why; wait for it a moment.
    setTimeout(() => {
      if (this.#dead || slot.dead) return;
      const message = reason
        ? `its Worker broke the protocol (${reason})`
        : "its Worker stopped";
      this.#dropSlot(slot, new CallFailure(wire("ACTION_FAILED", message)));
    }, LANE_CLOSE_GRACE_MS);
  }

  #settle(id: number, slot?: Slot): Pending | undefined {
    const pending = this.#pending.get(id);
    // A reply counts only on the lane of the Worker the call went to.
    if (!pending || (slot && pending.slot !== slot)) return undefined;
    this.#pending.delete(id);
    pending.slot.inflight--;
    const now = performance.now();
    this.lastUsed = now;
    this.#ended.push({ runId: pending.runId, at: now });
    if (this.#ended.length > 64) this.#ended.splice(0, 32);
    this.#checkIdle();
    return pending;
  }

  #dropSlot(slot: Slot, error: Error): void {
    if (!this.#slots.has(slot.wid)) return;
    slot.dead = true;
    this.#slots.delete(slot.wid);
    this.#lanes.forget(slot.token);
    slot.settle(error);
    for (const [id, pending] of this.#pending) {
      if (pending.slot === slot) this.#settle(id)?.reject(error);
    }
    slot.lane?.close();
    if (!this.dead) {
      this.#control.then((control) =>
        control.send({ t: "drop", wid: slot.wid })
      ).catch(() => {});
    }
  }

  #failAll(error: WireError): void {
    // Every pending call belongs to a slot: dropping the slots rejects them.
    for (const slot of [...this.#slots.values()]) {
      this.#dropSlot(slot, new CallFailure(error));
    }
  }

  #deathError(exit: ChildExit | null): WireError {
    return this.#killReason ?? exitError(exit);
  }
}
