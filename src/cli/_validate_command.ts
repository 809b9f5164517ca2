/**
 * The `validate` command: every check that can be made before a run, every
 * problem reported with its place; exit code 2 when there is any.
 *
 * @module
 */
import { type ConfigValidation, validateConfig } from "../config/validate.ts";
import type { Registry } from "../registry/registry.ts";
import { describeProblem } from "../config/check.ts";
import { type Command, json, positiveInteger } from "./_command.ts";

/** `validate`: the config checked as far as it can be before a run. */
export const validateCommand: Command = {
  summary:
    "Check the config: keys, definitions, databases, view SQL, dedupe keys, modules, secrets",
  usage: "validate [--timeout MS] [--json] [--config FILE]",
  options: {
    timeout: {
      type: "string",
      value: "MS",
      help: "how long each database may take to answer (default 5000)",
    },
  },
  needsConfig: true,
  async run(
    { registry, injected, configPath, values, json: asJson, io, paint },
  ) {
    const timeout = values.timeout as string | undefined;
    const options = timeout === undefined
      ? {}
      : { timeoutMs: positiveInteger(timeout, "--timeout", 5000) };
    const { file, problems, counts } = injected
      ? await validateRegistry(await registry(), options)
      : await validateConfig(configPath, options);
    const valid = problems.length === 0;
    if (asJson) {
      io.out(json({ valid, file, problems, ...counts }));
    } else if (valid) {
      io.out(
        `${paint.ok("valid")}: ${
          file ?? "registry"
        } (${counts.views} views, ${counts.jobs} jobs, ${counts.actions} actions)`,
      );
    } else {
      io.err(
        `${paint.bad("invalid")}: ${file ?? "registry"} (${problems.length} ${
          problems.length === 1 ? "problem" : "problems"
        })`,
      );
      for (const found of problems) {
        io.err(
          `  ${paint.bad(`error[${found.code}]`)} ${describeProblem(found)}`,
        );
      }
    }
    return valid ? 0 : 2;
  },
};

/** The checks of a registry given to `main()` (it has no config file). */
async function validateRegistry(
  registry: Registry,
  options: { timeoutMs?: number },
): Promise<ConfigValidation> {
  return {
    problems: await registry.validate(options),
    counts: {
      views: registry.listViews().length,
      jobs: registry.listJobs().length,
      actions: registry.listAvailable().length,
    },
  };
}
