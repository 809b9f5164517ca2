/**
 * The watchdog's samples of one sandbox process, judged: memory over the
 * bound, or CPU used with no call in flight. Both are judged for the
 * action, not the process: its other process (real or dry run) counts too,
 * so that two processes cannot hold twice the bound.
 *
 * @module
 */
import type { Usage } from "./watchdog.ts";

/** After its last call ends, how long a process may settle (GC) before its CPU counts. */
export const IDLE_GRACE_MS = 150;
/** The span over which idle CPU is measured. */
export const IDLE_WINDOW_MS = 400;
/** The share of one core an action's idle processes may use together over that span. */
export const IDLE_CPU_SHARE = 0.15;

/** What the judge knows of the action's other process. */
export interface Peer {
  /** Its anonymous memory at its last sample, in MiB. */
  readonly anonMb: number;
  /** The share of a core it used at its last sample with no call in flight. */
  readonly idleShare: number;
}

/** Why a process must end. */
export interface Verdict {
  code: "OUT_OF_MEMORY" | "ACTION_FAILED";
  message: string;
  /** For CPU used with no call in flight: how much, in percent of a core. */
  idlePercent?: number;
}

/** Judges the samples of one process. */
export class UsageJudge implements Peer {
  readonly #bounds: { memoryBoundMb: number; allowanceMb: number };
  readonly #samples: Usage[] = [];
  #idleSince = performance.now();
  anonMb = 0;
  idleShare = 0;

  /**
   * @param bounds The memory the process may hold, and the part of it that
   * is its own (Deno's runtime); the rest, `memoryMb`, the action's two
   * processes share.
   */
  constructor(bounds: { memoryBoundMb: number; allowanceMb: number }) {
    this.#bounds = bounds;
  }

  /** The process has no call in flight and no Worker loading since now. */
  idle(): void {
    this.#idleSince = performance.now();
  }

  /**
   * A sample: a verdict if the process must end.
   *
   * @param busy Whether it has a call in flight or a Worker loading.
   * @param other The action's other process, if any.
   */
  judge(
    usage: Usage,
    busy: boolean,
    other: Peer | undefined,
  ): Verdict | undefined {
    this.anonMb = usage.anonMb;
    this.idleShare = 0;
    const { memoryBoundMb, allowanceMb } = this.#bounds;
    const otherMb = Math.max(0, (other?.anonMb ?? 0) - allowanceMb);
    if (usage.anonMb + otherMb > memoryBoundMb) {
      return {
        code: "OUT_OF_MEMORY",
        message: `used ${Math.round(usage.anonMb)} MiB of memory${
          otherMb > 0
            ? ` (its other sandbox process ${Math.round(otherMb)} MiB more)`
            : ""
        }, over its bound of ${memoryBoundMb} MiB`,
      };
    }
    const samples = this.#samples;
    samples.push(usage);
    while (samples.length > 0 && usage.at - samples[0]!.at > IDLE_WINDOW_MS) {
      samples.shift();
    }
    if (busy) return undefined;
    const from = samples.find((sample) =>
      sample.at >= this.#idleSince + IDLE_GRACE_MS
    );
    if (!from || usage.at - from.at < IDLE_WINDOW_MS * 0.75) return undefined;
    const share = (usage.cpuMs - from.cpuMs) / (usage.at - from.at);
    this.idleShare = share;
    if (share + (other?.idleShare ?? 0) <= IDLE_CPU_SHARE) return undefined;
    return {
      code: "ACTION_FAILED",
      message:
        "its sandbox process was stopped: it used CPU with no call in flight",
      idlePercent: Math.round(share * 100),
    };
  }
}
