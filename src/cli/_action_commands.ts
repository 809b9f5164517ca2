/**
 * The commands about actions: `actions`, `info`, `exec`.
 *
 * @module
 */
import { isPlainObject } from "../_plain.ts";
import { TriggerKitError } from "../errors.ts";
import { substituteEnv } from "../config/read.ts";
import type { Row } from "../types.ts";
import { table } from "./_format.ts";
import { type Command, json, parseJson, required } from "./_command.ts";

/** `actions`: the registered actions. */
export const actionsCommand: Command = {
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
};

/** `info`: one action described. */
export const infoCommand: Command = {
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
};

/** `exec`: one action on rows from a JSON file (or standard input). */
export const execCommand: Command = {
  summary: "Run one action on rows from a JSON file (or standard input)",
  usage:
    "exec <action> --data FILE|- [--config JSON] [--config-file FILE] [--dry-run] [--json]",
  options: {
    data: {
      type: "string",
      value: "FILE",
      help:
        'the rows: a JSON list of objects (or one object); "-" reads standard input',
    },
    config: {
      type: "string",
      value: "JSON",
      help:
        "the action's config as JSON; ${VAR} and ${VAR:-default} are read from the environment",
    },
    "dry-run": {
      type: "boolean",
      help: "report what would happen, change nothing",
    },
  },
  needsConfig: false,
  async run({ registry, positionals, values, io, readStdin }) {
    const name = required(positionals[0], "an action name");
    const dataFile = required(
      values.data as string | undefined,
      "--data FILE",
    );
    const data = parseJson(
      dataFile === "-" ? await readStdin() : await readData(dataFile),
      dataFile === "-" ? "--data - (standard input)" : `--data ${dataFile}`,
    );
    const config = values.config === undefined ? undefined : substituteEnv(
      parseJson(values.config as string, "--config"),
      "--config",
    );
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
};

async function readData(file: string): Promise<string> {
  try {
    return await Deno.readTextFile(file);
  } catch (error) {
    throw new TriggerKitError(
      "INVALID_DATA",
      `Cannot read --data ${file}: ${
        error instanceof Deno.errors.NotFound
          ? "no such file"
          : (error as Error).message
      }`,
      { cause: error },
    );
  }
}
