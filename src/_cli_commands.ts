/**
 * The command line's commands (SPEC.md §5).
 *
 * @module
 */
import { TriggerKitError } from "./errors.ts";
import { isPlainObject } from "./_plain.ts";
import type { Registry } from "./registry.ts";
import type { ProgressEvent } from "./jobs.ts";
import type { Row } from "./types.ts";
import {
  formatHistory,
  formatReport,
  type Paint,
  table,
} from "./_cli_format.ts";
import { toJson } from "./_json.ts";

/** Where the CLI writes; injectable for tests. */
export interface CliIo {
  /** Writes a line of normal output. */
  out: (line: string) => void;
  /** Writes a line of error output (and progress). */
  err: (line: string) => void;
}

/** What a command gets. */
export interface CommandContext {
  /** The registry: from the config file when there is one. */
  registry: () => Promise<Registry>;
  positionals: string[];
  values: Record<string, string | boolean | undefined>;
  json: boolean;
  io: CliIo;
  paint: Paint;
  /** The config file the registry came from, if any. */
  configFile: () => string | undefined;
}

/** A command of the command line. */
export interface Command {
  summary: string;
  usage: string;
  options: Record<string, { type: "string" | "boolean"; short?: string }>;
  /** Whether it needs a config file. */
  needsConfig: boolean;
  run: (context: CommandContext) => Promise<number>;
}

/** Bad usage: exit code 2 with the command's usage. */
export class UsageError extends Error {
  override name = "UsageError";
}

function required(value: string | undefined, what: string): string {
  if (value === undefined || value === "") {
    throw new UsageError(`Missing ${what}`);
  }
  return value;
}

function parseJson(text: string, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new TriggerKitError(
      "INVALID_DATA",
      `Cannot parse ${where} as JSON: ${(error as Error).message}`,
    );
  }
}

function positiveInteger(
  value: string | undefined,
  what: string,
  fallback: number,
): number {
  if (value === undefined) return fallback;
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1) {
    throw new UsageError(
      `${what} must be a positive whole number, received "${value}"`,
    );
  }
  return number;
}

/** A progress line for people. */
function progress(event: ProgressEvent): string {
  return event.type === "rows"
    ? `… ${event.rowCount} rows fetched, ${event.newRowCount} new`
    : `… ${event.index + 1}/${event.total} ${event.action} ${event.status}`;
}

const json = (value: unknown) => toJson(value, 2);

/** `serve --http HOST:PORT --http-token-env VAR` as `serve()` options. */
function httpOptions(
  values: CommandContext["values"],
  io: CliIo,
): {
  http?: string;
  httpToken?: string;
  onListen?: (a: { url: string }) => void;
} {
  const http = values.http as string | undefined;
  const tokenEnv = values["http-token-env"] as string | undefined;
  if (http === undefined) {
    if (tokenEnv !== undefined) {
      throw new UsageError("--http-token-env needs --http HOST:PORT");
    }
    return {};
  }
  let httpToken: string | undefined;
  if (tokenEnv !== undefined) {
    httpToken = Deno.env.get(required(tokenEnv, "a variable name"));
    if (!httpToken) {
      throw new UsageError(
        `--http-token-env names ${tokenEnv}, which is not set or empty`,
      );
    }
  }
  return {
    http,
    ...(httpToken ? { httpToken } : {}),
    onListen: ({ url }) =>
      io.err(
        `Status page on ${url}${
          httpToken ? " (runs can be started with the token)" : " (read-only)"
        }`,
      ),
  };
}

/** Every command, by name. */
export const COMMANDS: Record<string, Command> = {
  run: {
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
      return report.status === "failed" ? 1 : 0;
    },
  },
  serve: {
    summary: "Run every enabled job on its schedule until SIGINT or SIGTERM",
    usage:
      "serve [--http HOST:PORT [--http-token-env VAR]] [--json] [--config FILE]",
    options: {
      http: { type: "string" },
      "http-token-env": { type: "string" },
    },
    needsConfig: true,
    async run({ registry, io, json: asJson, paint, values }) {
      const http = httpOptions(values, io);
      const jobs = (await registry()).listJobs().filter((job) =>
        job.schedule && job.enabled !== false
      );
      io.err(
        `Serving ${jobs.length} scheduled jobs: ${
          jobs.map((job) => job.name).join(", ") || "(none)"
        }`,
      );
      await (await registry()).serve({
        ...http,
        onRun: (report) =>
          io.out(asJson ? JSON.stringify(report) : formatReport(report, paint)),
      });
      return 0;
    },
  },
  jobs: {
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
  },
  actions: {
    summary: "List the registered actions",
    usage: "actions [--json] [--config FILE]",
    options: {},
    needsConfig: false,
    async run({ registry, json: asJson, io }) {
      const infos = (await registry()).listAvailable();
      io.out(
        asJson ? json(infos) : table(
          ["NAME", "KIND", "DESCRIPTION"],
          infos.map((i) => [i.name, i.kind, i.description]),
        ),
      );
      return 0;
    },
  },
  info: {
    summary: "Describe one action",
    usage: "info <action> [--json] [--config FILE]",
    options: {},
    needsConfig: false,
    async run({ registry, positionals, json: asJson, io }) {
      const info = (await registry()).getInfo(
        required(positionals[0], "an action name"),
      );
      io.out(
        asJson
          ? json(info)
          : Object.entries(info).map(([key, value]) =>
            `${key}: ${
              isPlainObject(value) || Array.isArray(value)
                ? JSON.stringify(value)
                : value
            }`
          ).join("\n"),
      );
      return 0;
    },
  },
  history: {
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
  },
  validate: {
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
  },
  exec: {
    summary: "Run one action on rows from a JSON file",
    usage: "exec <action> --data FILE [--config JSON] [--dry-run] [--json]",
    options: {
      data: { type: "string" },
      config: { type: "string" },
      "dry-run": { type: "boolean" },
    },
    needsConfig: false,
    async run({ registry, positionals, values, io }) {
      const name = required(positionals[0], "an action name");
      const dataFile = required(
        values.data as string | undefined,
        "--data FILE",
      );
      const data = parseJson(
        await Deno.readTextFile(dataFile),
        `--data ${dataFile}`,
      );
      const config = values.config === undefined
        ? undefined
        : parseJson(values.config as string, "--config");
      const result = await (await registry()).run(
        name,
        (Array.isArray(data) ? data : [data]) as Row[],
        {
          config,
          dryRun: values["dry-run"] === true,
        },
      );
      io.out(json(result));
      return 0;
    },
  },
};
