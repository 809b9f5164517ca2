/**
 * One supervised sandbox process and the Workers in it. The process has a
 * control lane; each Worker has its own lane for calls. Every pending call
 * is settled when its Worker's lane closes or the process dies, so nothing
 * hangs.
 *
 * @module
 */
import { TriggerKitError } from "../src/errors.ts";
import { logger } from "../src/logger.ts";
import type { Lane } from "./_lane.ts";
import type {
  ControlMessage,
  FromWorker,
  ProcessMessage,
  WireError,
  WorkerGrant,
} from "./_protocol.ts";
import type { ChildExit, Spawn, SpawnedChild } from "./_spawn.ts";
import type { ChildProfile } from "./_grants.ts";
import type { LaneServer } from "./lanes.ts";

const log = logger("sandbox");
const consoleLog = logger("sandbox", "console");

/** How long a Worker may take to answer a ping before it counts as stuck. */
const PING_TIMEOUT_MS = 100;
/** How long a process may take to dial its control lane. */
const START_TIMEOUT_MS = 15_000;
/** How much of a process's stderr is kept for error reports. */
const STDERR_TAIL = 8192;
/** When a Worker's lane closes, how long to wait for news of the whole process first. */
const LANE_CLOSE_GRACE_MS = 100;

/** An error a call failed with, before the host gives it its final wording. */
export class CallFailure extends Error {
  /**
   * @param wire The error as it came from the sandbox.
   */
  constructor(readonly wire: WireError) {
    super(wire.message);
  }
}

/** A Worker for one action in a sandbox process. */
export interface WorkerSlot {
  readonly wid: number;
  readonly action: string;
  /** A dry-run Worker: net, write and sys denied whatever the action declared. */
  readonly dryRun: boolean;
  /** Settles when the action's module is loaded (or fails to load). */
  readonly loaded: Promise<void>;
  inflight: number;
  dead: boolean;
}

interface Slot extends WorkerSlot {
  lane: Lane | undefined;
  token: string;
  settle: (error?: Error) => void;
}

interface Pending {
  slot: Slot;
  resolve: (bytes: Uint8Array) => void;
  reject: (error: Error) => void;
}

let nextId = 1;

/** The LogTape method for each console level an action uses. */
const LOG_METHOD = {
  debug: "debug",
  info: "info",
  warning: "warn",
  error: "error",
} as const;

function wire(code: WireError["code"], message: string): WireError {
  return { code, name: "Error", message };
}

/** A supervised sandbox process hosting Workers. */
export class SandboxProcess {
  readonly key: string;
  readonly #child: SpawnedChild;
  readonly #lanes: LaneServer;
  readonly #control: Promise<Lane>;
  readonly #pending = new Map<number, Pending>();
  readonly #pongs = new Map<number, () => void>();
  readonly #slots = new Map<number, Slot>();
  readonly #onIdle: () => void;
  readonly #exitedPromise: Promise<void>;
  #stderr = "";
  #killReason: WireError | undefined;
  #exited = false;
  /** When the last call ended, for idle eviction. */
  lastUsed: number = performance.now();

  /**
   * Starts the process.
   *
   * @param profile Its flags, environment and key.
   * @param spawn How to start it.
   * @param lanes The host's lane server.
   * @param onIdle Called when it has no pending call.
   */
  constructor(
    profile: ChildProfile,
    spawn: Spawn,
    lanes: LaneServer,
    onIdle: () => void,
  ) {
    this.key = profile.key;
    this.#lanes = lanes;
    this.#onIdle = onIdle;
    const control = lanes.expect({
      onJson: (message) =>
        this.#fromProcess(message as unknown as ProcessMessage),
      onClose: () => {},
    }, 1024 * 1024);
    this.#child = spawn(
      profile.args,
      profile.env,
      `${JSON.stringify({ port: lanes.port, token: control.token })}\n`,
    );
    this.#child.onStdout((text) =>
      log.warn("Raw output from a sandbox process: {text}", {
        pid: this.#child.pid,
        text,
      })
    );
    this.#child.onStderr((text) => {
      this.#stderr = (this.#stderr + text).slice(-STDERR_TAIL);
    });
    this.#exitedPromise = this.#child.status.then((exit) => {
      this.#exited = true;
      lanes.forget(control.token);
      this.#failAll(this.#deathError(exit));
    });
    let timer: ReturnType<typeof setTimeout> | undefined;
    this.#control = Promise.race([
      control.lane,
      this.#exitedPromise.then(() =>
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
    this.#control.catch(() => {});
  }

  /** The process id. */
  get pid(): number {
    return this.#child.pid;
  }

  /** How many Workers are alive in it. */
  get workerCount(): number {
    return [...this.#slots.values()].filter((slot) => !slot.dead).length;
  }

  /** Whether the process is gone. */
  get dead(): boolean {
    return this.#exited;
  }

  /** How many calls are waiting for an answer. */
  get pendingCount(): number {
    return this.#pending.size;
  }

  /** Live Workers of an action, for real runs or for dry runs. */
  slotsOf(action: string, dryRun: boolean): WorkerSlot[] {
    return [...this.#slots.values()].filter((slot) =>
      slot.action === action && slot.dryRun === dryRun && !slot.dead
    );
  }

  /** Starts a Worker for an action's module. */
  load(
    action: string,
    { dryRun, module, grant, revokeRead, maxResultBytes }: {
      dryRun: boolean;
      module: string;
      grant: WorkerGrant;
      revokeRead: string | null;
      maxResultBytes: number;
    },
  ): WorkerSlot {
    const wid = nextId++;
    let settle!: (error?: Error) => void;
    const loaded = new Promise<void>((resolve, reject) => {
      settle = (error) => error ? reject(error) : resolve();
    });
    loaded.catch(() => {});
    const { token, lane } = this.#lanes.expect({
      onJson: (message) =>
        this.#fromWorker(slot, message as unknown as FromWorker),
      onReply: (id, bytes) => this.#settle(id, slot)?.resolve(bytes),
      onClose: (reason) => this.#workerClosed(slot, reason),
    }, maxResultBytes + 1024 * 1024);
    const slot: Slot = {
      wid,
      action,
      dryRun,
      loaded,
      inflight: 0,
      dead: false,
      lane: undefined,
      token,
      settle,
    };
    this.#slots.set(wid, slot);
    lane.then((open) => slot.lane = open);
    this.#control.then(
      (control) =>
        control.json(
          {
            t: "load",
            wid,
            module,
            grant,
            revokeRead,
            token,
          } satisfies ControlMessage,
        ),
      (error) => this.#dropSlot(slot, error),
    ).catch((error) =>
      this.#dropSlot(
        slot,
        new CallFailure(wire("ACTION_FAILED", String(error))),
      )
    );
    return slot;
  }

  /** Stops the Workers of an action (its dry-run Workers too). */
  release(action: string): void {
    for (const slot of [...this.#slots.values()]) {
      if (slot.action === action) {
        this.#dropSlot(
          slot,
          new CallFailure(wire("ACTION_FAILED", "its Worker was released")),
        );
      }
    }
  }

  /** A fresh call id. */
  static nextCallId(): number {
    return nextId++;
  }

  /**
   * Runs one call on a loaded Worker and resolves with the reply payload.
   * The caller owns the deadline: it calls {@linkcode abort} when it passes.
   */
  call(
    slot: WorkerSlot,
    id: number,
    payload: Uint8Array,
    maxResultBytes: number,
  ): Promise<Uint8Array> {
    return new Promise<Uint8Array>((resolve, reject) => {
      const own = this.#slots.get(slot.wid);
      if (this.#exited || !own?.lane || own.dead) {
        reject(
          new CallFailure(
            this.#killReason ?? wire("ACTION_FAILED", "its Worker is gone"),
          ),
        );
        return;
      }
      own.inflight++;
      this.#pending.set(id, { slot: own, resolve, reject });
      own.lane.call(id, maxResultBytes, payload).catch(() => {});
    });
  }

  /**
   * Abandons a call that ran past its deadline: aborts its signal, then
   * asks its Worker for a sign of life. A Worker stuck in synchronous code
   * cannot answer, and `Worker.terminate()` cannot stop it, so the whole
   * process is killed.
   */
  async abort(id: number, slot: WorkerSlot, reason: WireError): Promise<void> {
    const own = this.#slots.get(slot.wid);
    this.#settle(id);
    if (this.#exited || !own?.lane) return;
    own.lane.json({ t: "abort", id }).catch(() => {});
    if (!(await this.#ping(own)) && !this.#exited) this.kill(reason);
  }

  /** Ends the process at once; pending calls fail with `reason`. */
  kill(reason: WireError): void {
    this.#killReason ??= reason;
    this.#child.kill();
  }

  /** Ends the process and waits for it to be gone. */
  async close(): Promise<void> {
    this.kill(wire("ACTION_FAILED", "the sandbox was closed"));
    await this.#exitedPromise;
  }

  #ping(slot: Slot): Promise<boolean> {
    if (slot.dead || !slot.lane) return Promise.resolve(true);
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
      slot.lane!.json({ t: "ping", id }).catch(() => {});
    });
  }

  #fromProcess(message: ProcessMessage): void {
    if (message.t !== "died") return;
    const slot = this.#slots.get(message.wid);
    if (slot) this.#dropSlot(slot, new CallFailure(message.error));
  }

  #fromWorker(slot: Slot, message: FromWorker): void {
    switch (message.t) {
      case "loaded":
        slot.settle();
        break;
      case "loadFailed":
        this.#dropSlot(slot, new CallFailure(message.error));
        break;
      case "fail":
        this.#settle(message.id, slot)?.reject(new CallFailure(message.error));
        break;
      case "pong":
        this.#pongs.get(message.id)?.();
        break;
      case "log": {
        const properties = {
          action: slot.action,
          runId: message.runId,
          message: message.message,
        };
        consoleLog[LOG_METHOD[message.level]](
          "{action} [{runId}]: {message}",
          properties,
        );
        break;
      }
    }
  }

  /** A Worker's lane closed: the Worker is gone (or broke the protocol). */
  #workerClosed(slot: Slot, reason: string | null): void {
    if (slot.dead) return;
    // If the whole process is dying, its exit says why; wait for it a moment.
    setTimeout(() => {
      if (this.#exited || slot.dead) return;
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
    this.lastUsed = performance.now();
    if (this.#pending.size === 0) this.#onIdle();
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
    if (!this.#exited) {
      this.#control.then((control) =>
        control.json({ t: "drop", wid: slot.wid } satisfies ControlMessage)
      ).catch(
        () => {},
      );
    }
  }

  #failAll(error: WireError): void {
    // Every pending call belongs to a slot: dropping the slots rejects them.
    for (const slot of [...this.#slots.values()]) {
      this.#dropSlot(slot, new CallFailure(error));
    }
    for (const pong of this.#pongs.values()) pong();
  }

  #deathError(exit: ChildExit | null): WireError {
    if (/out of memory|heap limit/i.test(this.#stderr)) {
      return wire(
        "OUT_OF_MEMORY",
        "ran out of memory (its sandbox process passed its heap limit)",
      );
    }
    if (this.#killReason) return this.#killReason;
    const how = exit
      ? (exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`)
      : "before it started";
    const tail = this.#stderr.trim().split("\n").slice(-5).join("\n");
    return wire(
      "ACTION_FAILED",
      `its sandbox process exited unexpectedly (${how})${
        tail ? `: ${tail}` : ""
      }`,
    );
  }
}

/** Maps a sandbox error to the error `run()` throws. */
export function toTriggerKitError(
  action: string,
  error: WireError,
  details: { memoryMb: number; dryRun: boolean },
): TriggerKitError {
  const cause = Object.assign(new Error(error.message), { name: error.name });
  if (error.stack) cause.stack = error.stack;
  switch (error.code) {
    case "PERMISSION_DENIED": {
      const hint = details.dryRun &&
          ["net", "write", "sys"].includes(error.permission ?? "")
        ? " (a dry run denies net, write and sys whatever the action declared)"
        : `; grant it with register("${action}", module, { permissions: { ${error.permission}: [...] } })`;
      return new TriggerKitError(
        "PERMISSION_DENIED",
        `Action "${action}" was denied ${error.permission} access to ${error.target}${hint}`,
        { cause },
      );
    }
    case "OUT_OF_MEMORY":
      return new TriggerKitError(
        "OUT_OF_MEMORY",
        `Action "${action}" ${error.message} of ${details.memoryMb} MiB (memoryMb)`,
        { cause },
      );
    case "INVALID_ACTION":
      return new TriggerKitError(
        "INVALID_ACTION",
        `Cannot load action "${action}": ${error.message}`,
        { cause },
      );
    case "INVALID_RESULT":
      return new TriggerKitError(
        "INVALID_RESULT",
        `Action "${action}" ${error.message}`,
        { cause },
      );
    case "SANDBOX_UNAVAILABLE":
      return new TriggerKitError(
        "SANDBOX_UNAVAILABLE",
        `Cannot run action "${action}" in a sandbox: ${error.message}`,
        {
          cause,
        },
      );
    default:
      return new TriggerKitError(
        "ACTION_FAILED",
        `Action "${action}" failed: ${error.message}`,
        { cause },
      );
  }
}
