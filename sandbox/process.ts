/**
 * One supervised sandbox child process and the Workers in it. Every pending
 * call has a deadline and is settled when the process dies, so nothing hangs.
 *
 * @module
 */
import { TriggerKitError } from "../src/errors.ts";
import { logger } from "../src/logger.ts";
import type { ChildMessage, WireError, WorkerGrant } from "./_protocol.ts";
import type { ChildExit, Spawn, SpawnedChild } from "./_spawn.ts";
import type { ChildProfile } from "./_grants.ts";

const log = logger("sandbox");
const consoleLog = logger("sandbox", "console");

/** How long a Worker may take to answer a ping before it counts as stuck. */
const PING_TIMEOUT_MS = 100;
/** How much of a child's stderr is kept for error reports. */
const STDERR_TAIL = 8192;

/** An error a call failed with, before the host gives it its final wording. */
export class CallFailure extends Error {
  /**
   * @param wire The error as it came from the sandbox.
   */
  constructor(readonly wire: WireError) {
    super(wire.message);
  }
}

/** A Worker for one action in a child process. */
export interface WorkerSlot {
  readonly wid: number;
  readonly action: string;
  /** Settles when the action's module is loaded (or fails to load). */
  readonly loaded: Promise<void>;
  inflight: number;
  dead: boolean;
}

interface Pending {
  slot: WorkerSlot;
  resolve: (payload: string) => void;
  reject: (error: Error) => void;
}

let nextId = 1;

/** A supervised child process hosting Workers. */
export class SandboxProcess {
  readonly key: string;
  readonly #child: SpawnedChild;
  readonly #ready: Promise<void>;
  readonly #pending = new Map<number, Pending>();
  readonly #pongs = new Map<number, () => void>();
  readonly #slots = new Map<
    number,
    WorkerSlot & { settle: (error?: Error) => void }
  >();
  readonly #onIdle: () => void;
  #stderr = "";
  #killReason: WireError | undefined;
  #exited = false;
  #exitedPromise: Promise<void>;
  /** When the last call ended, for idle eviction. */
  lastUsed: number = performance.now();

  /**
   * Starts the child process.
   *
   * @param profile Its flags, environment and key.
   * @param spawn How to start it.
   * @param onIdle Called when it has no pending call.
   */
  constructor(profile: ChildProfile, spawn: Spawn, onIdle: () => void) {
    this.key = profile.key;
    this.#onIdle = onIdle;
    this.#child = spawn(profile.args, profile.env);
    let ready!: () => void;
    let failed!: (error: Error) => void;
    this.#ready = new Promise<void>((resolve, reject) => {
      ready = resolve;
      failed = reject;
    });
    this.#ready.catch(() => {});
    let exited!: () => void;
    this.#exitedPromise = new Promise((resolve) => exited = resolve);
    this.#child.onMessage((message) => this.#handle(message, ready));
    this.#child.onStdout((text) =>
      log.warn("Raw output from a sandbox process: {text}", {
        pid: this.#child.pid,
        text,
      })
    );
    this.#child.onStderr((text) => {
      this.#stderr = (this.#stderr + text).slice(-STDERR_TAIL);
    });
    this.#child.onExit((exit) => {
      this.#exited = true;
      const error = this.#deathError(exit);
      failed(new CallFailure(error));
      this.#failAll(error);
      exited();
    });
  }

  /** Whether the process is gone. */
  get dead(): boolean {
    return this.#exited;
  }

  /** How many calls are waiting for an answer. */
  get pendingCount(): number {
    return this.#pending.size;
  }

  /** Live Workers of an action. */
  slotsOf(action: string): WorkerSlot[] {
    return [...this.#slots.values()].filter((slot) =>
      slot.action === action && !slot.dead
    );
  }

  /** Stops the Workers of an action (its dry-run Workers too). */
  release(action: string): void {
    for (const slot of [...this.#slots.values()]) {
      if (slot.action === action || slot.action === `${action}\u0000dry`) {
        this.#dropSlot(slot.wid, new CallFailure(workerGone()));
      }
    }
  }

  /** Starts a Worker for an action's module. */
  load(
    action: string,
    module: string,
    grant: WorkerGrant,
    revokeRead: string | null,
  ): WorkerSlot {
    const wid = nextId++;
    let settle!: (error?: Error) => void;
    const loaded = new Promise<void>((resolve, reject) => {
      settle = (error) => error ? reject(error) : resolve();
    });
    loaded.catch(() => {});
    const slot = { wid, action, loaded, inflight: 0, dead: false, settle };
    this.#slots.set(wid, slot);
    this.#ready.then(
      () => this.#child.send({ t: "load", wid, module, grant, revokeRead }),
      (error) => this.#dropSlot(wid, error),
    );
    return slot;
  }

  /**
   * Runs one call on a loaded Worker and resolves with the reply payload.
   * The caller owns the deadline: it calls {@linkcode abort} when it passes.
   */
  call(
    slot: WorkerSlot,
    id: number,
    payload: string,
    maxResultBytes: number,
  ): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      if (this.#exited || slot.dead) {
        reject(new CallFailure(this.#killReason ?? workerGone()));
        return;
      }
      slot.inflight++;
      this.#pending.set(id, { slot, resolve, reject });
      this.#child.send({
        t: "call",
        wid: slot.wid,
        id,
        max: maxResultBytes,
        p: payload,
      });
    });
  }

  /** A fresh call id. */
  static nextCallId(): number {
    return nextId++;
  }

  /**
   * Abandons a call that ran past its deadline: aborts its signal, then
   * asks its Worker for a sign of life. A Worker stuck in synchronous code
   * cannot answer, and `Worker.terminate()` cannot stop it, so the whole
   * process is killed.
   */
  async abort(id: number, slot: WorkerSlot, reason: WireError): Promise<void> {
    const pending = this.#pending.get(id);
    if (pending) this.#settle(id);
    if (this.#exited) return;
    this.#child.send({ t: "abort", wid: slot.wid, id });
    const alive = await this.#ping(slot);
    if (!alive && !this.#exited) this.kill(reason);
  }

  /** Ends the process at once; pending calls fail with `reason`. */
  kill(reason: WireError): void {
    this.#killReason ??= reason;
    this.#child.kill();
  }

  /** Ends the process and waits for it to be gone. */
  async close(): Promise<void> {
    this.kill({
      code: "ACTION_FAILED",
      name: "Error",
      message: "The sandbox was closed",
    });
    await this.#exitedPromise;
  }

  #ping(slot: WorkerSlot): Promise<boolean> {
    if (slot.dead) return Promise.resolve(true);
    const id = nextId++;
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        this.#pongs.delete(id);
        resolve(false);
      }, PING_TIMEOUT_MS);
      this.#pongs.set(id, () => {
        clearTimeout(timer);
        this.#pongs.delete(id);
        resolve(true);
      });
      this.#child.send({ t: "ping", wid: slot.wid, id });
    });
  }

  #handle(message: ChildMessage, ready: () => void): void {
    switch (message.t) {
      case "ready":
        ready();
        break;
      case "loaded":
        this.#slots.get(message.wid)?.settle();
        break;
      case "loadFailed":
        this.#dropSlot(message.wid, new CallFailure(message.error));
        break;
      case "died": {
        const slot = this.#slots.get(message.wid);
        if (!slot) break;
        this.#dropSlot(message.wid, new CallFailure(message.error));
        for (const [id, pending] of this.#pending) {
          if (pending.slot === slot) {
            this.#settle(id)?.reject(new CallFailure(message.error));
          }
        }
        break;
      }
      case "done":
        this.#settle(message.id)?.resolve(message.p);
        break;
      case "fail":
        this.#settle(message.id)?.reject(new CallFailure(message.error));
        break;
      case "pong":
        this.#pongs.get(message.id)?.();
        break;
      case "log": {
        const action = this.#slots.get(message.wid)?.action ?? "(unknown)";
        const properties = {
          action,
          runId: message.runId,
          message: message.message,
        };
        const text = "{action} [{runId}]: {message}";
        if (message.level === "debug") consoleLog.debug(text, properties);
        else if (message.level === "info") consoleLog.info(text, properties);
        else if (message.level === "warning") consoleLog.warn(text, properties);
        else consoleLog.error(text, properties);
        break;
      }
    }
  }

  #settle(id: number): Pending | undefined {
    const pending = this.#pending.get(id);
    if (!pending) return undefined;
    this.#pending.delete(id);
    pending.slot.inflight--;
    this.lastUsed = performance.now();
    if (this.#pending.size === 0) this.#onIdle();
    return pending;
  }

  #dropSlot(wid: number, error: Error): void {
    const slot = this.#slots.get(wid);
    if (!slot) return;
    slot.dead = true;
    this.#slots.delete(wid);
    slot.settle(error);
    if (!this.#exited) this.#child.send({ t: "drop", wid });
  }

  #failAll(error: WireError): void {
    for (const wid of [...this.#slots.keys()]) {
      this.#dropSlot(wid, new CallFailure(error));
    }
    for (const id of [...this.#pending.keys()]) {
      this.#settle(id)?.reject(new CallFailure(error));
    }
    for (const pong of this.#pongs.values()) pong();
  }

  #deathError(exit: ChildExit): WireError {
    if (/out of memory|heap limit/i.test(this.#stderr)) {
      return {
        code: "OUT_OF_MEMORY",
        name: "Error",
        message:
          "ran out of memory (its sandbox process passed its heap limit)",
      };
    }
    if (this.#killReason) return this.#killReason;
    const how = exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`;
    const tail = this.#stderr.trim().split("\n").slice(-5).join("\n");
    return {
      code: "ACTION_FAILED",
      name: "Error",
      message: `its sandbox process exited unexpectedly (${how})${
        tail ? `: ${tail}` : ""
      }`,
    };
  }
}

function workerGone(): WireError {
  return {
    code: "ACTION_FAILED",
    name: "Error",
    message: "its Worker is gone",
  };
}

/** Maps a sandbox error to the error `run()` throws. */
export function toTriggerKitError(
  action: string,
  wire: WireError,
  details: { memoryMb: number; dryRun: boolean },
): TriggerKitError {
  const cause = Object.assign(new Error(wire.message), { name: wire.name });
  if (wire.stack) cause.stack = wire.stack;
  switch (wire.code) {
    case "PERMISSION_DENIED": {
      const dryRun = details.dryRun &&
          ["net", "write", "sys"].includes(wire.permission ?? "")
        ? " (a dry run denies net, write and sys whatever the action declared)"
        : `; grant it with register("${action}", module, { permissions: { ${wire.permission}: [...] } })`;
      return new TriggerKitError(
        "PERMISSION_DENIED",
        `Action "${action}" was denied ${wire.permission} access to ${wire.target}${dryRun}`,
        { cause },
      );
    }
    case "OUT_OF_MEMORY":
      return new TriggerKitError(
        "OUT_OF_MEMORY",
        `Action "${action}" ${wire.message} of ${details.memoryMb} MiB (memoryMb)`,
        { cause },
      );
    case "INVALID_ACTION":
      return new TriggerKitError(
        "INVALID_ACTION",
        `Cannot load action "${action}": ${wire.message}`,
        {
          cause,
        },
      );
    case "INVALID_RESULT":
      return new TriggerKitError(
        "INVALID_RESULT",
        `Action "${action}" ${wire.message}`,
        { cause },
      );
    case "ACTION_TIMEOUT":
      return new TriggerKitError(
        "ACTION_TIMEOUT",
        `Action "${action}" ${wire.message}`,
        { cause },
      );
    case "SANDBOX_UNAVAILABLE":
      return new TriggerKitError(
        "SANDBOX_UNAVAILABLE",
        `Cannot run action "${action}" in a sandbox: ${wire.message}`,
        { cause },
      );
    default:
      return new TriggerKitError(
        "ACTION_FAILED",
        `Action "${action}" failed: ${wire.message}`,
        { cause },
      );
  }
}
