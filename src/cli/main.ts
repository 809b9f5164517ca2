/**
 * The TriggerKit command line:
 * `deno run -A jsr:@triggerkit/triggerkit/cli <command>`.
 *
 * Commands: `run <job> [--dry-run]`, `serve`, `jobs`, `actions`,
 * `info <action>`, `history [--job NAME] [--limit N]`, `validate`,
 * `exec <action> --data FILE --config JSON [--dry-run]`, `mute <job> --for
 * DURATION [--key KEY]… [--reason TEXT]`, `unmute <job>`, `alerts [--job
 * NAME]`. Every command takes
 * `--help` and `--json`; jobs, views and actions come from
 * `triggerkit.config.ts` or `triggerkit.toml` (or `--config FILE`).
 *
 * Exit codes: 0 on success, 1 on a failed run, 2 on bad usage or invalid
 * configuration.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { configure, getConsoleSink, getTextFormatter } from "@logtape/logtape";
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
import { colourful, paint } from "./_format.ts";

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
  let secrets = environmentSecrets();
  const io: CliIo = {
    out: (line) => sink.out(redact(line, secrets)),
    err: (line) => sink.err(redact(line, secrets)),
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
      },
    });
  } catch (error) {
    io.err(`${(error as Error).message}\n\nUsage: triggerkit ${command.usage}`);
    return 2;
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  if (values.help) {
    io.out(commandHelp(command, configOption));
    return 0;
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
      paint: paint(options.colour ?? colourful()),
      configFile: () => file,
      configPath: values[configOption] as string | undefined,
      injected: options.registry !== undefined,
      readStdin: options.stdin ??
        (() => new Response(Deno.stdin.readable).text()),
    });
  } catch (error) {
    return report(error, json, io, command);
  } finally {
    if (loaded && !options.registry) {
      await (await loaded.catch(() => undefined))?.close();
    }
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
  ].join("\n");
}

const plainText = getTextFormatter({ value: "bare" });

/**
 * Configures LogTape as the command line does: warnings and errors to the
 * console, and what sandboxed actions print (tagged with action and run).
 *
 * @returns When logging is configured.
 *
 * @example In a script that runs jobs
 * ```ts ignore
 * import { configureCliLogging } from "@triggerkit/triggerkit/cli";
 *
 * await configureCliLogging();
 * ```
 */
export async function configureCliLogging(): Promise<void> {
  const secrets = environmentSecrets();
  await configure({
    // Logs go to stderr, so that --json output on stdout stays parseable.
    sinks: {
      console: getConsoleSink({
        formatter: (record) => redact(plainText(record), secrets).trimEnd(),
        levelMap: {
          trace: "error",
          debug: "error",
          info: "error",
          warning: "error",
          error: "error",
          fatal: "error",
        },
      }),
    },
    loggers: [
      { category: ["triggerkit"], sinks: ["console"], lowestLevel: "warning" },
      {
        category: ["triggerkit", "sandbox", "console"],
        sinks: ["console"],
        lowestLevel: "info",
      },
      {
        category: ["logtape", "meta"],
        sinks: ["console"],
        lowestLevel: "warning",
      },
    ],
  });
}

if (import.meta.main) {
  await configureCliLogging();
  Deno.exit(await main(Deno.args));
}
