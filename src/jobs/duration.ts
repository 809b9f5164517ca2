/**
 * Durations as people write them in definitions: `30s`, `15m`, `12h`,
 * `30d`, `2w`.
 *
 * @module
 */
import { TriggerKitError } from "../errors.ts";

/** Parses a duration such as `30s`, `15m`, `12h`, `30d`, `2w` into ms. */
export function parseDuration(text: string, where: string): number {
  const match = /^\s*(\d+)\s*(ms|s|m|h|d|w)\s*$/i.exec(String(text));
  if (!match) {
    throw new TriggerKitError(
      "INVALID_JOB",
      `Invalid duration "${text}" in ${where}: use a number and a unit (ms, s, m, h, d, w), such as "30d"`,
    );
  }
  const unit =
    { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }[
      match[2]!.toLowerCase() as "ms"
    ];
  const ms = Number(match[1]) * unit;
  // Past this, now + duration is no date a store or a Date can hold.
  if (ms > MAX_DURATION_MS) {
    throw new TriggerKitError(
      "INVALID_JOB",
      `Invalid duration "${text}" in ${where}: at most 100 years (36500d)`,
    );
  }
  return ms;
}

/** The longest duration: 100 years. */
const MAX_DURATION_MS = 36_500 * 86_400_000;
