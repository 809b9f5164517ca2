/**
 * `show <runId>`: one run in full, found by its id or by the first
 * characters of it that `history` prints.
 *
 * @module
 */
import type { Registry } from "../registry/registry.ts";
import type { RunRecord } from "../store/contract.ts";
import { type Command, json, required, UsageError } from "./_command.ts";
import { formatRun, SHORT_ID } from "./_format.ts";

/** How many of the latest runs a shortened id is looked for in. */
const PREFIX_SEARCH_RUNS = 10_000;
/** The fewest characters of an id `show` takes. */
const MIN_PREFIX = 4;

/**
 * The run with this id or, failing that, the one run among the latest
 * {@linkcode PREFIX_SEARCH_RUNS} whose id starts with it.
 */
async function findRun(registry: Registry, id: string): Promise<RunRecord> {
  const exact = await registry.getRun(id);
  if (exact) return exact;
  if (id.length < MIN_PREFIX) {
    throw new UsageError(
      `No run has the id "${id}"; give at least ${MIN_PREFIX} characters of one (history shows ${SHORT_ID})`,
    );
  }
  const matches = (await registry.history({ limit: PREFIX_SEARCH_RUNS }))
    .filter((run) => run.runId.startsWith(id));
  if (matches.length === 1) return matches[0]!;
  if (matches.length === 0) {
    throw new UsageError(
      `No run has an id that is or starts with "${id}" (among the latest ${PREFIX_SEARCH_RUNS} runs)`,
    );
  }
  const shown = matches.slice(0, 5).map((run) =>
    `${run.runId} (${run.jobName}, ${run.startedAt})`
  );
  throw new UsageError(
    `"${id}" starts ${matches.length} run ids; give more of it:\n  ${
      shown.join("\n  ")
    }${matches.length > shown.length ? "\n  …" : ""}`,
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
