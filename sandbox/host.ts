/**
 * The host side of the sandbox.
 *
 * @module
 */
import { TriggerKitError } from "../src/errors.ts";
import type { ActionInput, ActionResult, Permissions } from "../src/types.ts";

/** Options of the sandbox: pool sizes and the in-process opt-in. */
export interface SandboxOptions {
  /** Most Workers kept per action module (default 2). */
  maxWorkersPerModule?: number;
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

/** Hosts sandboxed actions. */
export class SandboxHost {
  constructor(_options: SandboxOptions) {}

  /** Throws `SANDBOX_UNAVAILABLE` when this runtime cannot host sandboxed actions. */
  assertAvailable(action: string): void {
    throw new TriggerKitError(
      "SANDBOX_UNAVAILABLE",
      `Cannot register action "${action}": sandboxed module actions are not available in this version`,
    );
  }

  /** Runs a sandboxed action. */
  call(_action: SandboxedAction, _input: ActionInput): Promise<ActionResult> {
    return Promise.reject(new Error("unreachable"));
  }

  /** Stops every sandbox process. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}
