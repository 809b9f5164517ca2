/**
 * The commands about jobs and their runs: `run`, `jobs`, `history`.
 *
 * @module
 */
import type { ProgressEvent } from "../jobs/engine.ts";
import {
  duration,
  formatHistory,
  formatReport,
  status,
  table,
  when,
} from "./_format.ts";
import { jobStatuses } from "../observe/registry_source.ts";
import { redact } from "../redact.ts";
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
  printsRuns: true,
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

/** `jobs`: the config's jobs, each with its next run and its last. */
export const jobsCommand: Command = {
  summary: "List the jobs: schedule, next run, last run and its status",
  usage: "jobs [--json] [--config FILE]",
  options: {},
  needsConfig: true,
  async run({ registry, json: asJson, io, paint, clock }) {
    const loaded = await registry();
    const now = clock.now();
    // The definitions are worth showing even when the run store cannot say how the runs went.
    let storeError: string | undefined;
    const statuses = await jobStatuses(loaded, now).catch((error) => {
      storeError = redact(
        error instanceof Error ? error.message : String(error),
      );
      return jobStatuses({
        listJobs: () => loaded.listJobs(),
        history: () => Promise.resolve([]),
      }, now);
    });
    if (storeError) {
      io.err(
        paint.bad(`Last runs unknown: the run store failed: ${storeError}`),
      );
    }
    const jobs = loaded.listJobs().map(({ parsedSchedule: _, ...job }, i) => {
      const { nextRunAt, lastRun, alertsFiring } = statuses[i]!;
      return {
        ...job,
        nextRunAt,
        lastRun,
        lastStatus: lastRun?.status ?? null,
        alertsFiring,
      };
    });
    const code = storeError ? 1 : 0;
    if (asJson) {
      io.out(json(jobs));
      return code;
    }
    if (jobs.length === 0) {
      io.out("No jobs defined.");
      return code;
    }
    io.out(table(
      ["NAME", "SCHEDULE", "NEXT RUN", "LAST RUN", "STATUS", "ACTIONS"],
      jobs.map((job) => [
        job.name,
        job.schedule
          ? `${job.schedule}${job.timezone ? ` (${job.timezone})` : ""}`
          : "-",
        job.enabled === false
          ? paint.dim("disabled")
          : job.nextRunAt
          ? `${when(job.nextRunAt)} ${
            paint.dim(`(in ${duration(Date.parse(job.nextRunAt) - now)})`)
          }`
          : paint.dim("by hand"),
        job.lastRun
          ? when(job.lastRun.startedAt)
          : storeError
          ? paint.bad("unknown")
          : "never",
        job.lastRun ? status(job.lastRun.status, paint) : "-",
        job.steps.map((step) => step.action).join(" → "),
      ]),
    ));
    return code;
  },
};

/** `history`: recorded runs, newest first, with why each failed or was skipped. */
export const historyCommand: Command = {
  summary: "Show recorded runs, newest first, and why each failed or skipped",
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
