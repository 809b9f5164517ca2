/**
 * Lookups by name that fail helpfully: the error names the closest known
 * names ("did you mean …?").
 *
 * @module
 */
import { type ErrorCode, TriggerKitError } from "./errors.ts";

/** Edit distance between two strings (Levenshtein, two rows). */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min(
        previous[j]! + 1,
        current[j - 1]! + 1,
        previous[j - 1]! + cost,
      );
    }
    previous = current;
  }
  return previous[b.length]!;
}

/**
 * The names closest to `name`, best first: those within a third of its
 * length in edits, or that contain it (or it them) — the nearer in length,
 * the closer — and no more than half an edit behind the best one (`stor`
 * is `store`, not also `history`).
 */
export function closestNames(
  name: string,
  candidates: Iterable<string>,
  limit = 3,
): string[] {
  // Case and separators do not count: `dry_run` is `dryRun`, `job-name` is `jobName`.
  const plain = (text: string) => text.toLowerCase().replace(/[_\-\s]/g, "");
  const needle = plain(name);
  const threshold = Math.max(2, Math.ceil(name.length / 3));
  return [...candidates]
    .map((candidate) => {
      const lower = plain(candidate);
      const distance = lower === needle
        ? 0
        : lower.includes(needle) || needle.includes(lower)
        ? 0.5 + Math.abs(lower.length - needle.length) / 2
        : editDistance(needle, lower);
      return { candidate, distance };
    })
    .filter(({ distance }) => distance <= threshold)
    .filter(({ distance }, _, all) =>
      // One that differs only in case or separators is the answer.
      distance <= Math.min(...all.map((other) => other.distance)) + 0.5
    )
    .sort((a, b) =>
      a.distance - b.distance || (a.candidate < b.candidate ? -1 : 1)
    )
    .slice(0, limit)
    .map(({ candidate }) => candidate);
}

/** A "did you mean" clause for an error message, or "". */
export function didYouMean(name: string, candidates: Iterable<string>): string {
  const close = closestNames(name, candidates);
  return close.length === 0
    ? ""
    : `; did you mean ${close.map((c) => `"${c}"`).join(", ")}?`;
}

/**
 * The entry of `name`, or a `code` error saying it is unknown and naming the
 * closest names.
 */
export function lookup<T>(
  entries: Map<string, T>,
  name: string,
  code: ErrorCode,
  what: string,
): T {
  const entry = entries.get(name);
  if (entry !== undefined) return entry;
  throw new TriggerKitError(
    code,
    `Unknown ${what} "${String(name)}"${
      didYouMean(String(name), entries.keys())
    }`,
  );
}
