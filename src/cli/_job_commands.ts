/**
 * The commands about jobs and their runs: `run`, `serve`, `jobs`, `history`, `validate`.
 *
 * @module
 */
import type { ProgressEvent } from "../jobs/engine.ts";
import { formatHistory, formatReport, table } from "./_format.ts";
import {
  type Command,
  json,
  positiveInteger,
  progress,
  required,
} from "./_command.ts";

/** `run`: one run of a job, its report printed. */
export const runCommand: Command = {
  summary: "Run a job once and print its report",
  usage: "run <job> [--dry-run] [--json] [--config FILE]",
  options: { "dry-run": { type: "boolean" } },
  needsConfig: true,
  async run({ registry, positionals, values, json: asJson, io, paint }) {
    const name = required(positionals[0], "a job name");
    const report = await (await registry()).runJob(
      name,
      {
        dryRun: values["dry-run"] === true,
        ...(asJson ? {} : {
          onProgress: (event: ProgressEvent) =>
            io.err(paint.dim(progress(event))),
        }),
      },
    );
    io.out(asJson ? json(report) : formatReport(report, paint));
    // Refused because the job is held elsewhere: the reason names the holder.
    return report.status === "failed" || report.heldBy ? 1 : 0;
  },
};

/** `serve`: the scheduler, until SIGINT or SIGTERM. */
export const serveCommand: Command = {
  summary: "Run every enabled job on its schedule until SIGINT or SIGTERM",
  usage: "serve [--config FILE]",
  options: {},
  needsConfig: true,
  async run({ registry, io, json: asJson, paint }) {
    const jobs = (await registry()).listJobs().filter((job) =>
      job.schedule && job.enabled !== false
    );
    io.err(
      `Serving ${jobs.length} scheduled jobs: ${
        jobs.map((job) => job.name).join(", ") || "(none)"
      }`,
    );
    await (await registry()).serve({
      onRun: (report) =>
        io.out(asJson ? JSON.stringify(report) : formatReport(report, paint)),
    });
    return 0;
  },
};

/** `jobs`: the config's jobs. */
export const jobsCommand: Command = {
  summary: "List the jobs of the config",
  usage: "jobs [--json] [--config FILE]",
  options: {},
  needsConfig: true,
  async run({ registry, json: asJson, io }) {
    const jobs = (await registry()).listJobs().map((
      { parsedSchedule: _, ...job },
    ) => job);
    if (asJson) {
      io.out(json(jobs));
      return 0;
    }
    io.out(table(
      ["NAME", "VIEW", "SCHEDULE", "ENABLED", "ACTIONS"],
      jobs.map((job) => [
        job.name,
        job.view,
        job.schedule
          ? `${job.schedule}${job.timezone ? ` (${job.timezone})` : ""}`
          : "-",
        job.enabled === false ? "no" : "yes",
        job.steps.map((step) => step.action).join(" → "),
      ]),
    ));
    return 0;
  },
};

/** `history`: recorded runs, newest first. */
export const historyCommand: Command = {
  summary: "Show recorded runs, newest first",
  usage: "history [--job NAME] [--limit N] [--json] [--config FILE]",
  options: { job: { type: "string" }, limit: { type: "string" } },
  needsConfig: false,
  async run({ registry, values, json: asJson, io, paint }) {
    const records = await (await registry()).history({
      ...(typeof values.job === "string" ? { job: values.job } : {}),
      limit: positiveInteger(
        values.limit as string | undefined,
        "--limit",
        20,
      ),
    });
    io.out(asJson ? json(records) : formatHistory(records, paint));
    return 0;
  },
};

/** `validate`: the config checked. */
export const validateCommand: Command = {
  summary: "Check the config: views, jobs, actions, schedules",
  usage: "validate [--json] [--config FILE]",
  options: {},
  needsConfig: true,
  async run({ registry, json: asJson, io, configFile, paint }) {
    const loaded = await registry();
    const summary = {
      file: configFile(),
      views: loaded.listViews().length,
      jobs: loaded.listJobs().length,
      actions: loaded.listAvailable().length,
    };
    io.out(
      asJson
        ? json({ valid: true, ...summary })
        : `${
          paint.ok("valid")
        }: ${summary.file} (${summary.views} views, ${summary.jobs} jobs, ${summary.actions} actions)`,
    );
    return 0;
  },
};
