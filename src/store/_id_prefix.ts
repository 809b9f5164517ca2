/**
 * A run id prefix as a key range, so that every store finds the runs whose
 * id starts with it by an index range scan (SQL) or a key range (Deno KV),
 * whatever the number of runs: the ids in `[start, end)` in code point
 * order — SQLite's and PostgreSQL's `"C"` collation, KV's UTF-8 key order —
 * are exactly those that start with the prefix.
 *
 * @module
 */
import type { RunRecord, RunStore } from "./contract.ts";

/** How many of the latest runs are searched in a store without `findByIdPrefix`. */
export const LATEST_RUNS_SEARCHED = 10_000;

/**
 * The runs whose id starts with `prefix`, in code point order of their ids,
 * at most `limit`: the store's range read, or in a store without one, a
 * search of its latest {@linkcode LATEST_RUNS_SEARCHED} runs.
 */
export async function findByIdPrefix(
  store: RunStore,
  prefix: string,
  limit: number,
): Promise<RunRecord[]> {
  if (store.findByIdPrefix) return await store.findByIdPrefix(prefix, limit);
  const latest = await store.history({ limit: LATEST_RUNS_SEARCHED });
  return latest.filter((run) => run.runId.startsWith(prefix))
    .sort((a, b) => a.runId < b.runId ? -1 : a.runId > b.runId ? 1 : 0)
    .slice(0, limit);
}

/** The ids that start with a prefix: at least `start`, below `end` (none: no bound). */
export interface IdRange {
  /** The prefix itself. */
  start: string;
  /** The first string after every string that starts with the prefix. */
  end: string | undefined;
}

const MAX_CODE_POINT = 0x10ffff;

/**
 * The key range of the ids that start with `prefix`.
 *
 * @param prefix The first characters of an id.
 * @returns `start` (the prefix) and `end`: the prefix with its last code
 * point raised by one (surrogates skipped), or undefined when every code
 * point is the highest (or the prefix is empty).
 */
export function idRange(prefix: string): IdRange {
  const points = [...prefix].map((char) => char.codePointAt(0)!);
  while (points.length > 0) {
    let last = points.pop()!;
    if (last === MAX_CODE_POINT) continue;
    last++;
    // Lone surrogates are no characters a database keeps: skip the block.
    if (last >= 0xd800 && last <= 0xdfff) last = 0xe000;
    points.push(last);
    return { start: prefix, end: String.fromCodePoint(...points) };
  }
  return { start: prefix, end: undefined };
}
