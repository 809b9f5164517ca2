/**
 * The host side of the sandbox: runs sandboxed actions in permission-
 * restricted Workers inside supervised Deno child processes, one process
 * per action and per kind of run (real or dry), never shared.
 *
 * Why a process boundary: in Deno 2.9 `Worker.terminate()` cannot stop a
 * Worker stuck in synchronous code, a Worker's out-of-memory is fatal to its
 * whole process, and some of Deno's checks (literal `import()` of files)
 * apply only to the process's own permissions. So each action gets a
 * process started with exactly its permissions, watched from outside, and
 * killed when it misbehaves; the next call starts a fresh one.
 *
 * @module
 */
import { TriggerKitError } from "../src/errors.ts";
import type { ActionInput, ActionResult, Permissions } from "../src/types.ts";
import type {
  SandboxedAction,
  SandboxOptions,
  SandboxProcessInfo,
} from "./host/options.ts";
import {
  childProfile,
  granted,
  hostEnv,
  prepareDenoDir,
  type ProcessPlan,
  workerGrant,
} from "./host/grants.ts";
import { type Spawn, spawnDeno } from "./host/spawn.ts";
import { freshId, SandboxProcess, type WorkerSlot } from "./host/process.ts";
import { CallFailure, toTriggerKitError, wire } from "./host/errors.ts";
import {
  decodeReply,
  encodeCall,
  replaceContents,
  withDeadline,
} from "./host/call.ts";
import { childEntry } from "./host/entry.ts";
import { Watchdog } from "./host/watchdog.ts";
import { Deadlines } from "./host/deadlines.ts";
import { OutputRelay } from "./host/output.ts";
import { privateCopy, realGrants } from "./host/files.ts";

export type {
  SandboxedAction,
  SandboxOptions,
  SandboxProcessInfo,
} from "./host/options.ts";

const NEVER_ABORTED: AbortSignal = new AbortController().signal;

/**
 * Memory a sandbox process may hold beyond `memoryMb`: Deno's own runtime,
 * each Worker's baseline and young generation, code. Fixed, documented; an
 * action's two processes (real and dry runs) share `memoryMb` and have an
 * allowance each.
 */
export const MEMORY_ALLOWANCE_MB = 64;

/** What the host keeps per action: its private files and its processes. */
interface Prepared {
  dir: string;
  module: URL;
  /** The real folder the module was copied from. */
  origin: string;
  permissions: Permissions;
  output: OutputRelay;
  real: SandboxProcess | undefined;
  dry: SandboxProcess | undefined;
}

/** Runs sandboxed actions: one process per action and kind of run. */
export class SandboxHost {
  readonly #maxWorkers: number;
  readonly #maxProcesses: number;
  readonly #spawn: Spawn;
  readonly #watchdog: Watchdog;
  /** Every call's deadline, on one timer. */
  readonly #deadlines = new Deadlines();
  readonly #prepared = new WeakMap<SandboxedAction, Prepared>();
  /** Actions unregistered or replaced: their calls fail, nothing starts again. */
  readonly #released = new WeakSet<SandboxedAction>();
  readonly #live = new Set<SandboxProcess>();
  #runtimeDir: string | undefined;
  #nextDir = 1;
  /** Calls waiting for a free process. */
  #waiting: Array<() => void> = [];
  /** Once closed, no process starts again (the registry makes a new host). */
  #closed = false;

  /**
   * @param options Pool sizes.
   * @param spawn Starts a child process (injectable for tests).
   */
  constructor(options: SandboxOptions = {}, spawn: Spawn = spawnDeno) {
    this.#maxWorkers = Math.max(1, options.maxWorkersPerAction ?? 2);
    this.#maxProcesses = Math.max(1, options.maxProcesses ?? 16);
    this.#spawn = spawn;
    this.#watchdog = new Watchdog(spawn);
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

  /** What this runtime lacks to host sandboxed actions, or `undefined`. */
  missing(): string | undefined {
    if (typeof Worker === "undefined") {
      return "this runtime has no Worker (as on Deno Deploy); use function actions, or built-ins";
    }
    const missing: string[] = [];
    if (!granted({ name: "run", command: Deno.execPath() })) {
      missing.push(`--allow-run=${Deno.execPath()}`);
    }
    let dir: string | undefined;
    try {
      dir = this.#runtime();
    } catch {
      missing.push("--allow-write for the temporary folder");
    }
    if (dir) {
      if (!granted({ name: "read", path: dir })) {
        missing.push(`--allow-read=${dir}`);
      }
      if (!granted({ name: "write", path: dir })) {
        missing.push(`--allow-write=${dir}`);
      }
      if (!granted({ name: "net", host: `unix:${dir}/1/real-1.sock` })) {
        missing.push("--allow-net (for Unix sockets)");
      }
    }
    if (missing.length === 0) return undefined;
    return `sandboxed actions run in Deno child processes that talk to this one over Unix sockets in a private temporary folder, which needs ${
      missing.join(", ")
    } (or -A)`;
  }

  /**
   * Gets an action ready at `register`: copies its folder privately,
   * resolves its grants, and starts its process in the background.
   *
   * @throws {TriggerKitError} `INVALID_ACTION` for a folder or grant that
   * holds links, `SANDBOX_UNAVAILABLE`.
   */
  prepare(action: SandboxedAction): void {
    const prepared = this.#prepare(action);
    if (
      !this.#closed && !prepared.real && this.#live.size < this.#maxProcesses
    ) {
      const process = this.#start(action, prepared, false);
      this.#slotFor(process);
    }
  }

  /**
   * Runs a sandboxed action on its input. Context changes are copied back
   * into `input.context`.
   *
   * @param keyText The text of `input.idempotencyKey`, when the Worker may
   * compute the key itself (only if the action reads it).
   */
  async call(
    action: SandboxedAction,
    input: ActionInput,
    keyText?: string,
  ): Promise<ActionResult> {
    const details = { memoryMb: action.memoryMb, dryRun: input.dryRun };
    const payload = encodeCall(action.name, input, keyText);
    const id = freshId();
    try {
      const prepared = this.#prepare(action);
      const reply = await withDeadline(action, {
        signal: input.signal,
        deadlines: this.#deadlines,
      }, async (call) => {
        const found = this.#processFor(action, prepared, input.dryRun);
        const process = found instanceof Promise ? await found : found;
        try {
          if (call.abandoned) throw new CallFailure(call.abandoned);
          const slot = this.#slotFor(process);
          call.onAbandon((siblings) => process.abandon(id, siblings));
          await slot.loaded;
          return await process.call(slot, id, payload, {
            runId: input.runId,
            maxResultBytes: action.maxResultBytes,
          });
        } finally {
          this.#release(process);
        }
      });
      const decoded = decodeReply(reply, action.maxResultBytes);
      const { result, context } = decoded instanceof Promise
        ? await decoded
        : decoded;
      replaceContents(input.context, context);
      return result;
    } catch (error) {
      throw this.#failure(action, error, details);
    }
  }

  /**
   * Loads an action's module in a dry-run Worker without calling it, so that
   * a module that does not compile or has no default export fails now.
   */
  async load(action: SandboxedAction): Promise<void> {
    const details = { memoryMb: action.memoryMb, dryRun: true };
    try {
      const prepared = this.#prepare(action);
      await withDeadline(action, {
        signal: NEVER_ABORTED,
        deadlines: this.#deadlines,
      }, async (call) => {
        const process = await this.#processFor(action, prepared, true);
        try {
          if (call.abandoned) throw new CallFailure(call.abandoned);
          await this.#slotFor(process).loaded;
        } finally {
          this.#release(process);
        }
      });
    } catch (error) {
      throw this.#failure(action, error, details);
    }
  }

  /** The error a call or load failed with, as `run()` throws it. */
  #failure(
    action: SandboxedAction,
    error: unknown,
    details: { memoryMb: number; dryRun: boolean },
  ): unknown {
    if (!(error instanceof CallFailure)) return error;
    const prepared = this.#prepared.get(action);
    return toTriggerKitError(action.name, error.wire, {
      ...details,
      ...(prepared
        ? { copy: { folder: prepared.dir, origin: prepared.origin } }
        : {}),
    });
  }

  /** The sandbox processes running now. */
  processes(): SandboxProcessInfo[] {
    return [...this.#live].filter((process) => !process.dead).map(
      (process) => ({
        pid: process.pid,
        action: process.action,
        dryRun: process.dryRun,
        workers: process.workerCount,
        pending: process.pendingCount,
      }),
    );
  }

  /** Stops the processes of an action that was unregistered or replaced. */
  release(action: SandboxedAction): void {
    this.#released.add(action);
    for (const wake of this.#waiting.splice(0)) wake();
    const prepared = this.#prepared.get(action);
    if (!prepared) return;
    this.#prepared.delete(action);
    const stopping = [prepared.real, prepared.dry].map((process) =>
      process?.close()
    );
    Promise.all(stopping).then(() => removeTree(prepared.dir));
  }

  /** Stops every sandbox process and the watchdog, and removes the private folder. */
  async close(): Promise<void> {
    // First: a call waiting for a process (woken as the killed ones exit)
    // must not start one now.
    this.#closed = true;
    this.#deadlines.clear();
    for (const wake of this.#waiting.splice(0)) wake();
    const processes = [...this.#live];
    this.#live.clear();
    const closing = Promise.all([
      ...processes.map((process) => process.close()),
      this.#watchdog.close(),
    ]);
    // At once (the processes are already killed): a close() not awaited,
    // as in an unload handler, still leaves nothing behind.
    if (this.#runtimeDir) removeTree(this.#runtimeDir);
    this.#runtimeDir = undefined;
    await closing;
  }

  /** The host's private folder (0700): copies, sockets, Deno dirs. */
  #runtime(): string {
    if (this.#runtimeDir) return this.#runtimeDir;
    const dir = Deno.makeTempDirSync({ prefix: "triggerkit-sandbox-" });
    Deno.chmodSync(dir, 0o700);
    return this.#runtimeDir = Deno.realPathSync(dir);
  }

  #prepare(action: SandboxedAction): Prepared {
    if (this.#released.has(action)) throw unregistered(action);
    let prepared = this.#prepared.get(action);
    if (prepared) return prepared;
    const runtime = this.#runtime();
    const permissions = realGrants(action.name, action.permissions, runtime);
    const dir = `${runtime}/${this.#nextDir++}`;
    Deno.mkdirSync(`${dir}/copy`, { recursive: true, mode: 0o700 });
    try {
      prepared = {
        dir,
        ...privateCopy(action.name, action.module, `${dir}/copy`),
        permissions,
        output: new OutputRelay(action.name),
        real: undefined,
        dry: undefined,
      };
    } catch (error) {
      removeTree(dir);
      throw error;
    }
    this.#prepared.set(action, prepared);
    return prepared;
  }

  #start(
    action: SandboxedAction,
    prepared: Prepared,
    dryRun: boolean,
  ): SandboxProcess {
    const kind = dryRun ? "dry" : "real";
    const plan: ProcessPlan = {
      permissions: prepared.permissions,
      copyDir: `${prepared.dir}/copy`,
      socket: `${prepared.dir}/${kind}-${freshId()}.sock`,
      denoDir: `${prepared.dir}/${kind}-deno`,
      memoryMb: action.memoryMb,
      dryRun,
    };
    prepareDenoDir(plan.denoDir);
    const process = new SandboxProcess({
      action: action.name,
      dryRun,
      profile: childProfile(plan, childEntry(), hostEnv),
      init: {
        grant: workerGrant(plan),
        setup: { socket: plan.socket, module: prepared.module.href, dryRun },
      },
      maxFrame: action.maxResultBytes + 1024 * 1024,
      memoryBoundMb: action.memoryMb + MEMORY_ALLOWANCE_MB,
      allowanceMb: MEMORY_ALLOWANCE_MB,
      sibling: () => prepared[dryRun ? "real" : "dry"],
      loadTimeoutMs: action.timeoutMs,
      spawn: this.#spawn,
      watchdog: this.#watchdog,
      output: prepared.output,
      onExit: () => {
        this.#live.delete(process);
        this.#waiting.shift()?.();
      },
    });
    this.#live.add(process);
    prepared[kind] = process;
    return process;
  }

  /**
   * The action's process for this kind of run, reserved for one call: at
   * once when it is up (a warm call), else once one can start.
   */
  #processFor(
    action: SandboxedAction,
    prepared: Prepared,
    dryRun: boolean,
  ): SandboxProcess | Promise<SandboxProcess> {
    const process = prepared[dryRun ? "dry" : "real"];
    if (
      process && !process.dead && !this.#closed && !this.#released.has(action)
    ) {
      process.reserve();
      return process;
    }
    return this.#processOnceFree(action, prepared, dryRun);
  }

  async #processOnceFree(
    action: SandboxedAction,
    prepared: Prepared,
    dryRun: boolean,
  ): Promise<SandboxProcess> {
    for (;;) {
      if (this.#closed) {
        throw new CallFailure(wire("ACTION_FAILED", "the sandbox was closed"));
      }
      if (this.#released.has(action)) throw unregistered(action);
      let process = prepared[dryRun ? "dry" : "real"];
      if (!process || process.dead) {
        process = this.#live.size < this.#maxProcesses || this.#evictIdle()
          ? this.#start(action, prepared, dryRun)
          : undefined;
      }
      if (process) {
        process.reserve();
        return process;
      }
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    }
  }

  /** A call is done with its process: frozen if it was the last. */
  #release(process: SandboxProcess): void {
    // A call waiting for a free process is woken first: if it takes this
    // one, it is not frozen and continued again at once.
    if (process.reserved === 1) this.#waiting.shift()?.();
    process.release();
  }

  #evictIdle(): boolean {
    let idlest: SandboxProcess | undefined;
    for (const process of this.#live) {
      if (process.dead) {
        this.#live.delete(process);
        return true;
      }
      if (
        process.reserved === 0 &&
        (!idlest || process.lastUsed < idlest.lastUsed)
      ) {
        idlest = process;
      }
    }
    if (!idlest) return false;
    this.#live.delete(idlest);
    idlest.close();
    return true;
  }

  #slotFor(process: SandboxProcess): WorkerSlot {
    const slots = process.slots();
    let best: WorkerSlot | undefined;
    for (const slot of slots) {
      if (slot.inflight === 0) return slot;
      if (!best || slot.inflight < best.inflight) best = slot;
    }
    if (best && slots.length >= this.#maxWorkers) return best;
    return process.load();
  }
}

function unregistered(action: SandboxedAction): TriggerKitError {
  return new TriggerKitError(
    "ACTION_NOT_FOUND",
    `Action "${action.name}" was unregistered (or replaced) while it was called`,
  );
}

function removeTree(path: string): void {
  try {
    Deno.removeSync(path, { recursive: true });
  } catch {
    // Already gone, or not ours to remove.
  }
}
