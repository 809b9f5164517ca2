/**
 * The TriggerKit command line:
 * `deno run -A jsr:@triggerkit/triggerkit/cli <command>`.
 *
 * Commands: `run <job> [--dry-run]`, `serve`, `jobs`, `actions`,
 * `info <action>`, `history [--job NAME] [--limit N]`, `show <runId>`,
 * `validate`, `exec <action> --data FILE --config JSON [--dry-run]`,
 * `mute <job> --for DURATION [--key KEY]… [--reason TEXT]`, `unmute <job>`,
 * `alerts [--job NAME]`. Every command takes `--help`, `--json`,
 * `--log-level LEVEL` and `-v`; jobs, views and actions come from
 * `triggerkit.config.ts` or `triggerkit.toml` (or `--config FILE`).
 *
 * Exit codes: 0 on success, 1 on a failed run, 2 on bad usage or invalid
 * configuration.
 *
 * @module
 */
import { parseArgs } from "node:util";
import {
  configure,
  getConfig,
  getTextFormatter,
  reset,
  type Sink,
} from "@logtape/logtape";
import { environmentSecrets, redact } from "../redact.ts";
import { namedVariables } from "../registry/validate.ts";
import { createRegistry, type Registry } from "../registry/registry.ts";
import { isTriggerKitError } from "../errors.ts";
import { findConfigFile } from "../config/read.ts";
import { loadConfig } from "../config/apply.ts";
import { urlPasswords } from "../redact.ts";
import { jobSteps } from "../jobs/definitions.ts";
import {
  type CliIo,
  type Command,
  COMMANDS,
  UsageError,
} from "./_command_table.ts";
import { colourful, paint, printable } from "./_format.ts";
import { type Clock, realClock } from "../clock.ts";

export type { CliIo } from "./_command_table.ts";

/** Exit code 2: bad usage or invalid configuration. */
const USAGE_CODES = new Set([
  "ACTION_NOT_FOUND",
  "ACTION_EXISTS",
  "INVALID_OPTIONS",
  "INVALID_CONFIG",
  "INVALID_DATA",
  "INVALID_ACTION",
  "VIEW_NOT_FOUND",
  "JOB_NOT_FOUND",
  "INVALID_VIEW",
  "INVALID_JOB",
  "INVALID_SCHEDULE",
  "SANDBOX_UNAVAILABLE",
  "INVALID_OPTIONS",
]);

/** Options of {@linkcode main}. */
export interface MainOptions {
  /** Where to write (default: the console). */
  io?: CliIo;
  /** Use this registry instead of loading a config file. */
  registry?: Registry;
  /** Colours (default: when stdout is a terminal and NO_COLOR is unset). */
  colour?: boolean;
  /** Reads all of standard input, for `exec --data -` (default: `Deno.stdin`). */
  stdin?: () => Promise<string>;
  /** The clock of next runs and `serve`'s lines (tests pass a fake one). */
  clock?: Clock;
  /** Stops `serve` as SIGINT or SIGTERM would. */
  signal?: AbortSignal;
}

/**
 * Runs the command line with the given arguments.
 *
 * @param args The arguments, without the program name.
 * @param options Where to write, and the registry to use.
 * @returns The exit code: 0 success, 1 failed run, 2 bad usage or configuration.
 *
 * @example Asking for help
 * ```ts
 * import { main } from "@triggerkit/triggerkit/cli";
 * import assert from "node:assert/strict";
 *
 * const lines: string[] = [];
 * const code = await main(["--help"], { io: { out: (l) => lines.push(l), err: () => {} } });
 * assert.equal(code, 0);
 * assert.match(lines.join("\n"), /Commands:/);
 * ```
 */
export async function main(
  args: string[],
  options: MainOptions = {},
): Promise<number> {
  const sink = options.io ??
    {
      out: (line: string) => console.log(line),
      err: (line: string) => console.error(line),
    };
  // Every line goes through the one redaction: no password or token is shown,
  // nor the value of a variable that holds a secret.
  // And no control character reaches the terminal but our own colours.
  let secrets = environmentSecrets();
  const colour = options.colour ?? colourful();
  const io: CliIo = {
    out: (line) => sink.out(printable(redact(line, secrets), colour)),
    err: (line) => sink.err(printable(redact(line, secrets), colour)),
  };
  const [name, ...rest] = args;
  if (
    name === undefined || name === "--help" || name === "-h" || name === "help"
  ) {
    io.out(globalHelp());
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    io.err(`Unknown command "${name}"\n\n${globalHelp()}`);
    return 2;
  }
  const configOption = name === "exec" ? "config-file" : "config";
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      allowPositionals: true,
      strict: true,
      options: {
        ...command.options,
        [configOption]: { type: "string" },
        help: { type: "boolean", short: "h" },
        json: { type: "boolean" },
        "log-level": { type: "string" },
        verbose: { type: "boolean", short: "v", multiple: true },
      },
    });
  } catch (error) {
    io.err(`${(error as Error).message}\n\nUsage: triggerkit ${command.usage}`);
    return 2;
  }
  const { verbose, ...values } = parsed.values as
    & Record<string, string | boolean | undefined>
    & { verbose?: boolean[] };
  if (values.help) {
    io.out(commandHelp(command, configOption));
    return 0;
  }
  let level: CliLogLevel | undefined;
  try {
    level = logLevel(values["log-level"] as string | undefined, verbose);
  } catch (error) {
    io.err(`${(error as Error).message}\n\nUsage: triggerkit ${command.usage}`);
    return 2;
  }
  // The CLI's own log sink, unless the host configured LogTape itself (and no level was asked for).
  const logging = level !== undefined || getConfig() === null;
  if (logging) {
    await configureCliLogging({
      level: level ?? "warning",
      write: io.err,
      // Unless a level was asked for, a run's outcome is printed once: by the command.
      ...(command.printsRuns && level === undefined
        ? { outcomes: "error" as const }
        : {}),
    });
  }
  const json = values.json === true;
  let loaded: Promise<Registry> | undefined;
  let file: string | undefined;
  const registry = () =>
    loaded ??= (async () => {
      if (options.registry) return options.registry;
      const path = values[configOption] as string | undefined;
      if (
        !path && !command.needsConfig && !hasConfigFile()
      ) return createRegistry();
      const result = await loadConfig(path);
      file = result.file;
      secrets = [
        ...environmentSecrets(stepVariables(result.registry)),
        ...urlPasswords(result.config),
      ];
      return result.registry;
    })();
  try {
    refuseExtraArguments(command, parsed.positionals);
    return await command.run({
      registry,
      positionals: parsed.positionals,
      values,
      json,
      io,
      paint: paint(colour),
      configFile: () => file,
      configPath: values[configOption] as string | undefined,
      injected: options.registry !== undefined,
      readStdin: options.stdin ??
        (() => new Response(Deno.stdin.readable).text()),
      clock: options.clock ?? realClock,
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } catch (error) {
    return report(error, json, io, command);
  } finally {
    if (loaded && !options.registry) {
      await (await loaded.catch(() => undefined))?.close();
    }
    if (logging) await reset();
  }
}

/** The environment variables the jobs' steps read secrets from. */
function stepVariables(registry: Registry): string[] {
  return registry.listJobs().flatMap((job) =>
    jobSteps(job).flatMap(({ step }) =>
      namedVariables(step.config).map(({ variable }) => variable)
    )
  );
}

const formatRecord = getTextFormatter({ value: "bare" });

/** A sink writing each record as one redacted line. */
function lineSink(write: (line: string) => void): Sink {
  const secrets = environmentSecrets();
  return (record) =>
    write(printable(redact(formatRecord(record).trimEnd(), secrets)));
}

const LOG_LEVELS: readonly CliLogLevel[] = [
  "debug",
  "info",
  "warning",
  "error",
];

/** `--log-level LEVEL`, or `-v` (info) and `-vv` (debug); undefined when neither is given. */
function logLevel(
  flag: string | undefined,
  verbose: boolean[] | undefined,
): CliLogLevel | undefined {
  if (flag !== undefined) {
    const level = flag.toLowerCase() === "warn"
      ? "warning"
      : flag.toLowerCase();
    if (!LOG_LEVELS.includes(level as CliLogLevel)) {
      throw new UsageError(
        `--log-level must be one of ${
          LOG_LEVELS.join(", ")
        }, received "${flag}"`,
      );
    }
    if (verbose?.length) {
      throw new UsageError("Give --log-level or -v, not both");
    }
    return level as CliLogLevel;
  }
  if (!verbose?.length) return undefined;
  return verbose.length === 1 ? "info" : "debug";
}

function hasConfigFile(): boolean {
  try {
    findConfigFile();
    return true;
  } catch {
    return false;
  }
}

/**
 * Refuses more arguments than the command's usage names (`<job>`): a name
 * with spaces left unquoted, or `unmute heat boiler` meant for one key,
 * must not act on the first word alone.
 */
function refuseExtraArguments(command: Command, positionals: string[]): void {
  const allowed = command.usage.match(/<[^>]+>/g)?.length ?? 0;
  const extra = positionals[allowed];
  if (extra === undefined) return;
  throw new UsageError(
    `Unexpected argument "${extra}"${
      allowed > 0
        ? ` (a name with spaces is quoted: "${positionals.join(" ")}")`
        : ""
    }`,
  );
}

function report(
  error: unknown,
  json: boolean,
  io: CliIo,
  command: Command,
): number {
  if (error instanceof UsageError) {
    io.err(`${error.message}\n\nUsage: triggerkit ${command.usage}`);
    return 2;
  }
  const code = isTriggerKitError(error) ? error.code : "ERROR";
  const message = error instanceof Error ? error.message : String(error);
  io.err(
    json
      ? JSON.stringify({ error: { code, message } })
      : `error[${code}]: ${message}`,
  );
  return isTriggerKitError(error) && USAGE_CODES.has(error.code) ? 2 : 1;
}

/** A command's help: what it does, its usage, every option it takes. */
function commandHelp(command: Command, configOption: string): string {
  const options: Array<[string, string]> = Object.entries(command.options).map((
    [name, spec],
  ) => [
    `--${name}${spec.value ? ` ${spec.value}` : ""}`,
    spec.help ?? "",
  ]);
  options.push(
    [
      `--${configOption} FILE`,
      "the TriggerKit config (default: triggerkit.config.ts, .js or triggerkit.toml in this folder)",
    ],
    ["--json", "machine-readable output"],
    [
      "--log-level LEVEL",
      "debug, info, warning or error: what is logged to stderr (default warning)",
    ],
    ["-v, -vv", "--log-level info, debug"],
    ["-h, --help", "this help"],
  );
  const width = Math.max(...options.map(([flag]) => flag.length));
  return [
    command.summary,
    "",
    `Usage: triggerkit ${command.usage}`,
    "",
    "Options:",
    ...options.map(([flag, help]) =>
      `  ${flag.padEnd(width)}  ${help}`.trimEnd()
    ),
  ].join("\n");
}

function globalHelp(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((name) => name.length));
  return [
    "TriggerKit: watch views, run actions on what they yield",
    "",
    "Usage: triggerkit <command> [options]",
    "",
    "Commands:",
    ...Object.entries(COMMANDS).map(([name, command]) =>
      `  ${name.padEnd(width)}  ${command.summary}`
    ),
    "",
    "Every command takes --help and --json; --config FILE picks the config",
    "(default: triggerkit.config.ts or triggerkit.toml in this directory).",
    "--log-level debug|info|warning|error sets what is logged to stderr",
    "(default warning); -v is info, -vv debug.",
  ].join("\n");
}

/** How much the command line logs: `--log-level`. */
export type CliLogLevel = "debug" | "info" | "warning" | "error";

/** Options of {@linkcode configureCliLogging}. */
export interface CliLoggingOptions {
  /** The lowest level logged (default `warning`); what sandboxed actions print is logged from `info` whatever it is. */
  level?: CliLogLevel;
  /** Writes one log line, already redacted (default: to stderr). */
  write?: (line: string) => void;
  /** The lowest level of the records that tell a run's or an action's outcome, for a caller that prints runs itself (default: `level`). */
  outcomes?: CliLogLevel;
}

/**
 * Configures LogTape as the command line does: TriggerKit's records from
 * `level` up to stderr, and what sandboxed actions print (tagged with action
 * and run). It replaces any earlier LogTape configuration.
 *
 * @param options The level, the sink.
 * @returns When logging is configured.
 *
 * @example In a script that runs jobs
 * ```ts ignore
 * import { configureCliLogging } from "@triggerkit/triggerkit/cli";
 *
 * await configureCliLogging({ level: "info" });
 * ```
 */
export async function configureCliLogging(
  options: CliLoggingOptions = {},
): Promise<void> {
  const level = options.level ?? "warning";
  const sink = lineSink(options.write ?? ((line) => console.error(line)));
  await configure({
    reset: true,
    // Logs go to stderr, so that --json output on stdout stays parseable.
    sinks: { cli: sink },
    loggers: [
      { category: ["triggerkit"], sinks: ["cli"], lowestLevel: level },
      ...[
        ["triggerkit", "job"],
        ["triggerkit", "action"],
        ["triggerkit", "scheduler", "skipped"],
      ].map((category) => ({
        category,
        sinks: ["cli"],
        lowestLevel: options.outcomes ?? level,
        parentSinks: "override" as const,
      })),
      {
        category: ["triggerkit", "sandbox", "console"],
        sinks: ["cli"],
        lowestLevel: level === "debug" ? "debug" : "info",
        parentSinks: "override",
      },
      {
        category: ["logtape", "meta"],
        sinks: ["cli"],
        lowestLevel: "warning",
      },
    ],
  });
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
