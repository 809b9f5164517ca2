/**
 * What a command of the command line is, and the helpers commands share:
 * required arguments, JSON input, counts.
 *
 * @module
 */
import { TriggerKitError } from "../errors.ts";
import type { Registry } from "../registry/registry.ts";
import type { ProgressEvent } from "../jobs/engine.ts";
import type { Paint } from "./_format.ts";
import { toJson } from "../_json.ts";
import { redact } from "../redact.ts";
import type { Clock } from "../clock.ts";

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
  /** The config file given on the command line (`--config`, `--config-file` for exec). */
  configPath: string | undefined;
  /** Whether the registry was given to `main()` rather than loaded from a config file. */
  injected: boolean;
  /** Reads all of standard input. */
  readStdin: () => Promise<string>;
  /** The clock of next runs and of `serve`'s lines. */
  clock: Clock;
  /** Stops `serve`, as SIGINT or SIGTERM would. */
  signal?: AbortSignal;
}

/** An option of a command, as `--help` shows it. */
export interface OptionSpec {
  type: "string" | "boolean";
  short?: string;
  /** Whether it may be given more than once (its values are a list). */
  multiple?: boolean;
  /** What its value is, for `--help` (`FILE`, `JSON`). */
  value?: string;
  /** What it does, for `--help`. */
  help?: string;
}

/** A command of the command line. */
export interface Command {
  summary: string;
  usage: string;
  options: Record<string, OptionSpec>;
  /** Whether it needs a config file. */
  needsConfig: boolean;
  /** It prints each run's outcome itself: the log's run and action outcomes would say it twice. */
  printsRuns?: boolean;
  run: (context: CommandContext) => Promise<number>;
}

/** Bad usage: exit code 2 with the command's usage. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** A required argument, or a usage error naming it. */
export function required(value: string | undefined, what: string): string {
  if (value === undefined || value === "") {
    throw new UsageError(`Missing ${what}`);
  }
  return value;
}

/** JSON from an argument or a file, or `INVALID_DATA` saying where. */
export function parseJson(text: string, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new TriggerKitError(
      "INVALID_DATA",
      `Cannot parse ${where} as JSON: ${(error as Error).message}`,
    );
  }
}

/** A count from an argument (`--limit`), or a usage error. */
export function positiveInteger(
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
export function progress(event: ProgressEvent): string {
  return event.type === "rows"
    ? `… ${event.rowCount} rows fetched, ${event.newRowCount} new`
    : `… ${event.index + 1}/${event.total} ${event.action} ${event.status}`;
}

/** Indented JSON for people and scripts alike, secrets masked. */
export function json(value: unknown): string {
  return redact(toJson(value, 2));
}
