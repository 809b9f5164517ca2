/**
 * What a sandbox process is started with: what it is for, its bounds, and
 * the host's services.
 *
 * @module
 */
import type { ChildInit } from "../_protocol.ts";
import type { Spawn } from "./spawn.ts";
import type { ChildProfile } from "./grants.ts";
import type { Watchdog } from "./watchdog.ts";
import type { OutputRelay } from "./output.ts";
import type { Peer } from "./usage_judge.ts";

/** What a process is started with. */
export interface ProcessOptions {
  /** The action's name, for logs. */
  action: string;
  /** Whether it hosts dry runs. */
  dryRun: boolean;
  profile: ChildProfile;
  /** Its Workers' setup, sent on stdin (the token is added here). */
  init: Omit<ChildInit, "token" | "first">;
  /** The largest frame a Worker may send (a reply of the maximum size). */
  maxFrame: number;
  /** Anonymous memory the process may hold, in MiB. */
  memoryBoundMb: number;
  /** The part of that bound that is this process's own (Deno's runtime). */
  allowanceMb: number;
  /** The action's other process (real or dry run), judged together with this one. */
  sibling: () => Peer | undefined;
  /** How long loading the module may take (its top-level code runs then). */
  loadTimeoutMs: number;
  spawn: Spawn;
  watchdog: Watchdog;
  output: OutputRelay;
  /** Told once it has exited. */
  onExit: () => void;
}
