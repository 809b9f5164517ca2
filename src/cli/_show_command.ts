/**
 * `show <runId>`: one run in full, found by its id or by the first
 * characters of it that `history` prints.
 *
 * @module
 */
import type { Registry } from "../registry/registry.ts";
import type { RunRecord } from "../store/contract.ts";
import { partsOf } from "../registry/action_registry.ts";
import { findByIdPrefix, LATEST_RUNS_SEARCHED } from "../store/_id_prefix.ts";
import { type Command, json, required, UsageError } from "./_command.ts";
import { formatRun, SHORT_ID } from "./_format.ts";

/** The fewest characters of an id `show` takes. */
const MIN_PREFIX = 4;
/** How many runs an ambiguous prefix lists. */
const SHOWN_MATCHES = 5;

/**
 * The run with this id or, failing that, the one run whose id starts with
 * it: a range read of the store's id index, however many runs it holds.
 */
async function findRun(registry: Registry, id: string): Promise<RunRecord> {
  const exact = await registry.getRun(id);
  if (exact) return exact;
  if (id.length < MIN_PREFIX) {
    throw new UsageError(
      `No run has the id "${id}"; give at least ${MIN_PREFIX} characters of one (history shows ${SHORT_ID})`,
    );
  }
  const store = partsOf(registry).store!();
  const matches = await findByIdPrefix(store, id, SHOWN_MATCHES + 1);
  if (matches.length === 1) return matches[0]!;
  if (matches.length === 0) {
    throw new UsageError(
      `No run has an id that is or starts with "${id}"${
        store.findByIdPrefix
          ? ""
          : ` (among the latest ${LATEST_RUNS_SEARCHED} runs)`
      }`,
    );
  }
  // Found in id order; listed newest first, as history lists them.
  const shown = matches.slice(0, SHOWN_MATCHES).sort((a, b) =>
    a.startedAt < b.startedAt ? 1 : a.startedAt > b.startedAt ? -1 : 0
  ).map((run) => `${run.runId} (${run.jobName}, ${run.startedAt})`);
  const more = matches.length > shown.length;
  throw new UsageError(
    `"${id}" starts ${
      more ? `more than ${shown.length}` : matches.length
    } run ids; give more of it:\n  ${shown.join("\n  ")}${more ? "\n  …" : ""}`,
  );
}

/** `show`: one run in full. */
export const showCommand: Command = {
  summary:
    "Show one run in full: every action's status, duration, attempts, result or error",
  usage: "show <runId> [--json] [--config FILE]",
  options: {},
  needsConfig: false,
  async run({ registry, positionals, json: asJson, io, paint }) {
    const id = required(
      positionals[0],
      `a run id (or its first ${SHORT_ID} characters, as history shows them)`,
    );
    const run = await findRun(await registry(), id.trim());
    io.out(asJson ? json(run) : formatRun(run, paint));
    return 0;
  },
};
