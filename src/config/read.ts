/**
 * Reading a config file: a `triggerkit.config.ts` module (default export of
 * `defineConfig`) or a TOML file, with `${VAR}` and `${VAR:-default}` read
 * from the environment.
 *
 * @module
 */
import { parse as parseToml } from "smol-toml";
import {
  describeType,
  TriggerKitError,
  type ValidationProblem,
} from "../errors.ts";
import { isPlainObject } from "../_plain.ts";
import { joinPath } from "../_strict.ts";
import type { TriggerKitConfig } from "./schema.ts";

/** The config file names looked for, in order. */
export const CONFIG_FILES = [
  "triggerkit.config.ts",
  "triggerkit.config.js",
  "triggerkit.toml",
] as const;

/**
 * `$${` (a literal `${`), or `${NAME}` / `${NAME:-default}`, or a `${`
 * followed by a name and then something else (`${NAME-x}`, `${NAME:?x}`, no
 * closing `}`): a mistake, reported. `${{` (a `$` before a template) is text.
 */
const VARIABLE =
  /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(\})|:-([^}]*)\}|([^}]*\}?))/g;

/** Options of {@linkcode substituteEnv}. */
export interface SubstituteOptions {
  /** Reads a variable (default: `Deno.env.get`). */
  env?: (name: string) => string | undefined;
  /**
   * Collects unset variables here instead of throwing at the first (their
   * text is then left as written).
   */
  problems?: ValidationProblem[];
}

/**
 * Replaces `${VAR}` and `${VAR:-default}` in every string of a value. An
 * unset variable without a default is an error naming it and the key path.
 *
 * @param value A config, or any part of one.
 * @param where What the value is, for messages (the file, or `--config`).
 * @param options Where variables are read; where problems are collected.
 * @returns A copy of the value with the variables replaced.
 * @throws {TriggerKitError} `INVALID_CONFIG` naming the variable and its key.
 */
export function substituteEnv(
  value: unknown,
  where: string,
  options: SubstituteOptions = {},
): unknown {
  const env = options.env ?? ((name: string) => Deno.env.get(name));
  const walk = (item: unknown, path: string): unknown => {
    if (typeof item === "string") {
      return item.replace(
        VARIABLE,
        (
          match,
          name: string | undefined,
          plain: string | undefined,
          fallback: string | undefined,
        ) => {
          if (name === undefined) return "${";
          const found = env(name);
          let message: string;
          if (plain === undefined && fallback === undefined) {
            message =
              `"${match}" is not a variable reference: write \${${name}} or \${${name}:-default} (the default holds no "}"), or $\${ for a literal \${`;
          } else if (fallback?.includes("${")) {
            message = `"${match}}": a default cannot hold another variable`;
          } else if (found !== undefined && found !== "") return found;
          else if (fallback !== undefined) return fallback;
          else {
            message = found === ""
              ? `\${${name}} is set but empty and has no default (write \${${name}:-default} for one)`
              : `\${${name}} is not set and has no default (write \${${name}:-default} for one)`;
          }
          if (!options.problems) {
            throw new TriggerKitError(
              "INVALID_CONFIG",
              `${where}: ${path || "(root)"}: ${message}`,
            );
          }
          options.problems.push({ path, code: "INVALID_CONFIG", message });
          return match;
        },
      );
    }
    if (Array.isArray(item)) {
      return item.map((inner, i) => walk(inner, joinPath(path, i)));
    }
    if (isPlainObject(item)) {
      return Object.fromEntries(
        Object.entries(item).map((
          [key, inner],
        ) => [key, walk(inner, joinPath(path, key))]),
      );
    }
    return item;
  };
  return walk(value, "");
}

/** Finds the config file: the given path, or the first of {@linkcode CONFIG_FILES} in the directory. */
export function findConfigFile(
  path?: string,
  cwd: string = Deno.cwd(),
): string {
  if (path) return absolute(path, cwd);
  for (const name of CONFIG_FILES) {
    const candidate = `${cwd}/${name}`;
    try {
      if (Deno.statSync(candidate).isFile) return candidate;
    } catch {
      // Not there: try the next name.
    }
  }
  throw new TriggerKitError(
    "INVALID_CONFIG",
    `No config file: looked for ${
      CONFIG_FILES.join(", ")
    } in ${cwd} (or pass --config FILE)`,
  );
}

function absolute(path: string, cwd: string): string {
  return path.startsWith("/") ? path : `${cwd}/${path}`.replace(/\/\.\//g, "/");
}

/**
 * Reads a config file (module or TOML) and substitutes the environment.
 *
 * @param file The config file's absolute path.
 * @param problems Collects unset variables instead of throwing at the first.
 * @returns The config, as written (not yet checked).
 * @throws {TriggerKitError} `INVALID_CONFIG` when it cannot be read or parsed.
 */
export async function readConfig(
  file: string,
  problems?: ValidationProblem[],
): Promise<TriggerKitConfig> {
  let raw: unknown;
  if (file.endsWith(".toml")) {
    let text: string;
    try {
      text = await Deno.readTextFile(file);
    } catch (error) {
      throw new TriggerKitError(
        "INVALID_CONFIG",
        `${file}: cannot be read: ${(error as Error).message}`,
        { cause: error },
      );
    }
    try {
      raw = parseToml(text);
    } catch (error) {
      throw new TriggerKitError(
        "INVALID_CONFIG",
        `${file}: ${(error as Error).message}`,
        { cause: error },
      );
    }
  } else {
    try {
      raw = (await import(new URL(`file://${encodeURI(file)}`).href)).default;
    } catch (error) {
      throw new TriggerKitError(
        "INVALID_CONFIG",
        `${file}: cannot be loaded: ${(error as Error).message}`,
        { cause: error },
      );
    }
  }
  if (!isPlainObject(raw)) {
    throw new TriggerKitError(
      "INVALID_CONFIG",
      `${file}: the config must be an object (the module's default export), received ${
        describeType(raw)
      }`,
    );
  }
  return substituteEnv(
    raw,
    file,
    problems ? { problems } : {},
  ) as TriggerKitConfig;
}
