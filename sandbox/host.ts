/**
 * The host side of the sandbox: runs sandboxed actions in permission-
 * restricted Workers inside supervised Deno child processes.
 *
 * Why a process boundary: in Deno 2.9 `Worker.terminate()` cannot stop a
 * Worker stuck in synchronous code, and a Worker's out-of-memory is fatal to
 * its whole process. So Workers live in child processes started with the
 * permissions their actions need and a heap limit; a stuck or exhausted
 * process is killed and a fresh one started on the next call.
 *
 * @module
 */
import { deserialize, serialize } from "node:v8";
import { TriggerKitError } from "../src/errors.ts";
import type { ActionInput, ActionResult, Permissions } from "../src/types.ts";
import type { CallPayload, CallReply, WireError } from "./_protocol.ts";
import { childProfile, workerGrant } from "./_grants.ts";
import { type Spawn, spawnDeno } from "./_spawn.ts";
import {
  CallFailure,
  SandboxProcess,
  toTriggerKitError,
  type WorkerSlot,
} from "./process.ts";
import { childMain } from "./child.ts";
import { workerRuntime } from "./worker.ts";
import { laneFactory } from "./_lane.ts";
import { LaneServer } from "./lanes.ts";

/** Options of the sandbox: pool sizes and how processes are started. */
export interface SandboxOptions {
  /** Most Workers kept per sandboxed action (default 2). */
  maxWorkersPerAction?: number;
  /** Most sandbox child processes at once (default 4); calls wait for a free one. */
  maxProcesses?: number;
  /**
   * Where no sandbox can run (Deno Deploy: no Worker, no subprocess), load
   * module actions in this process instead of refusing them. They then run
   * with the host's permissions, no time limit that stops them, no memory
   * cap: for code you trust as much as your own. Default false.
   */
  trustedInProcess?: boolean;
}

/** A running sandbox process, for monitoring. */
export interface SandboxProcessInfo {
  /** Its process id. */
  pid: number;
  /** Workers alive in it. */
  workers: number;
  /** Calls waiting for an answer. */
  pending: number;
}

/** One sandboxed action as the host runs it. */
export interface SandboxedAction {
  name: string;
  module: URL;
  permissions: Permissions;
  timeoutMs: number;
  memoryMb: number;
  maxResultBytes: number;
}

let entrySource: string | undefined;

const NEVER_ABORTED: AbortSignal = new AbortController().signal;

/**
 * The sandbox process's entrypoint, as a `data:` URL: its main, the Worker
 * runtime, and the lane code both share.
 */
function childEntry(): string {
  if (entrySource) return entrySource;
  const lanes = `(${laneFactory.toString()})()`;
  const workerUrl = `data:application/javascript,${
    encodeURIComponent(`(${workerRuntime.toString()})(${lanes});`)
  }`;
  entrySource = `data:application/javascript,${
    encodeURIComponent(
      `(${childMain.toString()})(${lanes}, ${JSON.stringify(workerUrl)});`,
    )
  }`;
  return entrySource;
}

/** What the host works out once per sandboxed action. */
interface Prepared {
  /** The lane port the profile was made for. */
  port: number;
  profile: ReturnType<typeof childProfile>;
  grants: [ReturnType<typeof workerGrant>, ReturnType<typeof workerGrant>];
}

/** Runs sandboxed actions: a pool of child processes, Workers per action. */
export class SandboxHost {
  readonly #maxWorkers: number;
  readonly #maxProcesses: number;
  readonly #spawn: Spawn;
  readonly #processes = new Map<string, SandboxProcess>();
  #lanes: LaneServer | undefined;
  readonly #prepared = new WeakMap<SandboxedAction, Prepared>();
  #waiting: Array<() => void> = [];

  /**
   * @param options Pool sizes.
   * @param spawn Starts a child process (injectable for tests).
   */
  constructor(options: SandboxOptions = {}, spawn: Spawn = spawnDeno) {
    this.#maxWorkers = Math.max(1, options.maxWorkersPerAction ?? 2);
    this.#maxProcesses = Math.max(1, options.maxProcesses ?? 4);
    this.#spawn = spawn;
  }

  /**
   * Throws `SANDBOX_UNAVAILABLE` naming what is missing when this runtime
   * cannot host sandboxed actions.
   */
  assertAvailable(action: string): void {
    const missing = this.missing();
    if (missing) {
      throw new TriggerKitError(
        "SANDBOX_UNAVAILABLE",
        `Cannot register sandboxed action "${action}": ${missing}`,
      );
    }
  }

  /**
   * Runs a sandboxed action on its input. Context changes are copied back
   * into `input.context`.
   */
  async call(
    action: SandboxedAction,
    input: ActionInput,
  ): Promise<ActionResult> {
    const details = { memoryMb: action.memoryMb, dryRun: input.dryRun };
    let payload: Uint8Array;
    try {
      const value: CallPayload = {
        data: input.data,
        context: input.context,
        config: input.config,
        runId: input.runId,
        jobName: input.jobName ?? null,
        dryRun: input.dryRun,
      };
      payload = serialize(value);
    } catch (error) {
      throw new TriggerKitError(
        "INVALID_DATA",
        `Cannot send data to sandboxed action "${action.name}": ${
          (error as Error).message
        }`,
        { cause: error },
      );
    }
    const id = SandboxProcess.nextCallId();
    try {
      const reply = await withDeadline(
        action,
        input.signal,
        async (onAbandon) => {
          const prepared = this.#prepare(action);
          const process = await this.#processFor(prepared.profile);
          const slot = this.#slotFor(process, action, prepared, input.dryRun);
          onAbandon((reason) => process.abort(id, slot, reason));
          await slot.loaded;
          return await process.call(slot, id, payload, action.maxResultBytes);
        },
      );
      const { result, context } = deserialize(reply) as CallReply;
      replaceContents(input.context, context);
      return result;
    } catch (error) {
      if (error instanceof CallFailure) {
        throw toTriggerKitError(action.name, error.wire, details);
      }
      throw error;
    }
  }

  /**
   * Loads an action's module in a dry-run Worker without calling it, so that
   * a module that does not compile or has no default export fails now.
   */
  async load(action: SandboxedAction): Promise<void> {
    try {
      await withDeadline(action, NEVER_ABORTED, async () => {
        const prepared = this.#prepare(action);
        const process = await this.#processFor(prepared.profile);
        await this.#slotFor(process, action, prepared, true).loaded;
      });
    } catch (error) {
      if (!(error instanceof CallFailure)) throw error;
      throw toTriggerKitError(action.name, error.wire, {
        memoryMb: action.memoryMb,
        dryRun: true,
      });
    }
  }

  /** What this runtime lacks to host sandboxed actions, or `undefined`. */
  missing(): string | undefined {
    return missingCapability();
  }

  /** The sandbox processes running now. */
  processes(): SandboxProcessInfo[] {
    return [...this.#processes.values()].filter((process) => !process.dead).map(
      (process) => ({
        pid: process.pid,
        workers: process.workerCount,
        pending: process.pendingCount,
      }),
    );
  }

  /** Stops the Workers of an action that was unregistered or replaced. */
  release(action: SandboxedAction): void {
    for (const process of this.#processes.values()) {
      process.release(action.name);
    }
    this.#prepared.delete(action);
  }

  /** Stops every sandbox process, and the lane listener. */
  async close(): Promise<void> {
    const processes = [...this.#processes.values()];
    this.#processes.clear();
    await Promise.all(processes.map((process) => process.close()));
    this.#lanes?.close();
    this.#lanes = undefined;
    for (const wake of this.#waiting.splice(0)) wake();
  }

  /** The lane listener, opened on first use. */
  #laneServer(): LaneServer {
    if (this.#lanes) return this.#lanes;
    try {
      return this.#lanes = new LaneServer();
    } catch (error) {
      throw new TriggerKitError(
        "SANDBOX_UNAVAILABLE",
        `The sandbox talks to its processes over 127.0.0.1, which needs --allow-net=127.0.0.1: ${
          (error as Error).message
        }`,
        { cause: error },
      );
    }
  }

  #prepare(action: SandboxedAction): Prepared {
    const port = this.#laneServer().port;
    let prepared = this.#prepared.get(action);
    if (!prepared || prepared.port !== port) {
      const { permissions, module } = action;
      prepared = {
        profile: childProfile(
          permissions,
          module,
          action.memoryMb,
          childEntry(),
          () => Deno.env.toObject(),
          port,
        ),
        port,
        grants: [
          workerGrant(permissions, module, false),
          workerGrant(permissions, module, true),
        ],
      };
      this.#prepared.set(action, prepared);
    }
    return prepared;
  }

  async #processFor(profile: Prepared["profile"]): Promise<SandboxProcess> {
    for (;;) {
      const existing = this.#processes.get(profile.key);
      if (existing && !existing.dead) return existing;
      if (existing) this.#processes.delete(profile.key);
      if (this.#processes.size < this.#maxProcesses || this.#evictIdle()) {
        const process = new SandboxProcess(
          profile,
          this.#spawn,
          this.#laneServer(),
          () => this.#wakeOne(),
        );
        this.#processes.set(profile.key, process);
        return process;
      }
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    }
  }

  #evictIdle(): boolean {
    let idlest: SandboxProcess | undefined;
    for (const process of this.#processes.values()) {
      if (process.dead) {
        this.#processes.delete(process.key);
        return true;
      }
      if (
        process.pendingCount === 0 &&
        (!idlest || process.lastUsed < idlest.lastUsed)
      ) {
        idlest = process;
      }
    }
    if (!idlest) return false;
    this.#processes.delete(idlest.key);
    idlest.close();
    return true;
  }

  #wakeOne(): void {
    this.#waiting.shift()?.();
  }

  #slotFor(
    process: SandboxProcess,
    action: SandboxedAction,
    prepared: Prepared,
    dryRun: boolean,
  ): WorkerSlot {
    const slots = process.slotsOf(action.name, dryRun);
    let best: WorkerSlot | undefined;
    for (const slot of slots) {
      if (slot.inflight === 0) return slot;
      if (!best || slot.inflight < best.inflight) best = slot;
    }
    if (best && slots.length >= this.#maxWorkers) return best;
    const { grant, revokeRead } = prepared.grants[dryRun ? 1 : 0];
    return process.load(action.name, {
      dryRun,
      module: action.module.href,
      grant,
      revokeRead,
      maxResultBytes: action.maxResultBytes,
    });
  }
}

/**
 * Runs a call's work against its time limit and its signal: whichever comes
 * first rejects with `ACTION_TIMEOUT`, and the work is told to abandon
 * (with the reason its process would be killed for).
 */
function withDeadline<T>(
  action: SandboxedAction,
  signal: AbortSignal,
  work: (
    onAbandon: (abandon: (reason: WireError) => void) => void,
  ) => Promise<T>,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let abandon: ((reason: WireError) => void) | undefined;
    let abandoned: WireError | undefined;
    let settled = false;
    const settle = () => {
      settled = true;
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
    };
    const expire = (message: string, cause?: unknown) => {
      if (settled) return;
      settle();
      reject(
        new TriggerKitError(
          "ACTION_TIMEOUT",
          `Action "${action.name}" ${message}`,
          { cause },
        ),
      );
      abandoned = {
        code: "ACTION_FAILED",
        name: "Error",
        message:
          `its sandbox process was stopped because action "${action.name}" on it ${message}`,
      };
      abandon?.(abandoned);
    };
    const onAbort = () => expire("was aborted", signal.reason);
    const timer = setTimeout(
      () => expire(`ran past its time limit of ${action.timeoutMs} ms`),
      action.timeoutMs,
    );
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    work((callback) => {
      abandon = callback;
      if (abandoned) callback(abandoned);
    }).then(
      (value) => {
        if (settled) return;
        settle();
        resolve(value);
      },
      (error) => {
        if (settled) return;
        settle();
        reject(error);
      },
    );
  });
}

function replaceContents(
  target: Record<string, unknown>,
  source: Record<string, unknown>,
): void {
  for (const key of Object.keys(target)) {
    if (!Object.hasOwn(source, key)) delete target[key];
  }
  Object.assign(target, source);
}

/** What this runtime lacks to host sandboxed actions, or `undefined`. */
function missingCapability(): string | undefined {
  if (typeof Worker === "undefined") {
    return "this runtime has no Worker (as on Deno Deploy); use function actions, or built-ins";
  }
  const granted = (descriptor: Deno.PermissionDescriptor) => {
    const state = Deno.permissions?.querySync?.(descriptor).state;
    return state === undefined || state === "granted";
  };
  const missing: string[] = [];
  if (!granted({ name: "run", command: Deno.execPath() })) {
    missing.push(`--allow-run=${Deno.execPath()}`);
  }
  if (!granted({ name: "net", host: "127.0.0.1" })) {
    missing.push("--allow-net=127.0.0.1");
  }
  if (missing.length === 0) return undefined;
  return `sandboxed actions run in Deno child processes that talk to this one over 127.0.0.1, which needs ${
    missing.join(" and ")
  } (or -A)`;
}
