/**
 * The TriggerKit command line:
 * `deno run -A jsr:@triggerkit/triggerkit/cli <command>`.
 *
 * Exit codes: 0 on success, 1 on a failed run, 2 on bad usage or invalid
 * configuration.
 *
 * @example Listing actions as JSON
 * ```ts ignore
 * import { main } from "@triggerkit/triggerkit/cli";
 *
 * const code = await main(["actions", "--json"]);
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import { configure, getConsoleSink } from "@logtape/logtape";
import { createRegistry, type Registry } from "./registry.ts";
import { isTriggerKitError, TriggerKitError } from "./errors.ts";
import { isPlainObject } from "./_plain.ts";
import type { Row } from "./types.ts";

/** Where the CLI writes; injectable for tests. */
export interface CliIo {
  /** Writes a line of normal output. */
  out: (line: string) => void;
  /** Writes a line of error output. */
  err: (line: string) => void;
}

interface Command {
  summary: string;
  usage: string;
  options: Record<string, { type: "string" | "boolean"; short?: string }>;
  run: (context: CommandContext) => Promise<number>;
}

interface CommandContext {
  registry: Registry;
  positionals: string[];
  values: Record<string, string | boolean | undefined>;
  json: boolean;
  io: CliIo;
}

const COMMANDS: Record<string, Command> = {
  actions: {
    summary: "List the registered actions",
    usage: "actions [--json]",
    options: {},
    run({ registry, json, io }) {
      const infos = registry.listAvailable();
      if (json) {
        io.out(JSON.stringify(infos, null, 2));
      } else {
        io.out(table(
          ["NAME", "KIND", "DESCRIPTION"],
          infos.map((info) => [info.name, info.kind, info.description]),
        ));
      }
      return Promise.resolve(0);
    },
  },
  info: {
    summary: "Describe one action",
    usage: "info <action> [--json]",
    options: {},
    run({ registry, positionals, json, io }) {
      const name = required(positionals[0], "an action name");
      const info = registry.getInfo(name);
      io.out(json ? JSON.stringify(info, null, 2) : describe({ ...info }));
      return Promise.resolve(0);
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
    async run({ registry, positionals, values, json, io }) {
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
      const rows = (Array.isArray(data) ? data : [data]) as Row[];
      const result = await registry.run(name, rows, {
        config,
        dryRun: values["dry-run"] === true,
      });
      io.out(
        json
          ? JSON.stringify(result, null, 2)
          : JSON.stringify(result, null, 2),
      );
      return 0;
    },
  },
};

class UsageError extends Error {
  override name = "UsageError";
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
  options: { io?: CliIo; registry?: Registry } = {},
): Promise<number> {
  const io = options.io ?? {
    out: (line: string) => console.log(line),
    err: (line: string) => console.error(line),
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
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      allowPositionals: true,
      strict: true,
      options: {
        ...command.options,
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
    io.out(`${command.summary}\n\nUsage: triggerkit ${command.usage}`);
    return 0;
  }
  const registry = options.registry ?? createRegistry();
  const json = values.json === true;
  try {
    return await command.run({
      registry,
      positionals: parsed.positionals,
      values,
      json,
      io,
    });
  } catch (error) {
    return report(error, json, io, command);
  } finally {
    if (!options.registry) await registry.close();
  }
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

const USAGE_CODES = new Set([
  "ACTION_NOT_FOUND",
  "INVALID_CONFIG",
  "INVALID_DATA",
  "INVALID_ACTION",
  "VIEW_NOT_FOUND",
  "JOB_NOT_FOUND",
  "INVALID_VIEW",
  "INVALID_JOB",
  "INVALID_SCHEDULE",
]);

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
    "Every command takes --help and --json.",
  ].join("\n");
}

function describe(info: Record<string, unknown>): string {
  return Object.entries(info)
    .map(([key, value]) =>
      `${key}: ${
        isPlainObject(value) || Array.isArray(value)
          ? JSON.stringify(value)
          : value
      }`
    )
    .join("\n");
}

/** Renders rows as an aligned text table. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((header, i) =>
    Math.max(header.length, ...rows.map((row) => (row[i] ?? "").length))
  );
  const line = (cells: string[]) =>
    cells.map((cell, i) => cell.padEnd(widths[i]!)).join("  ").trimEnd();
  return [line(headers), ...rows.map(line)].join("\n");
}

if (import.meta.main) {
  await configure({
    sinks: { console: getConsoleSink() },
    loggers: [
      { category: ["triggerkit"], sinks: ["console"], lowestLevel: "warning" },
      {
        category: ["logtape", "meta"],
        sinks: ["console"],
        lowestLevel: "warning",
      },
    ],
  });
  Deno.exit(await main(Deno.args));
}
