/**
 * Reading a config file: a `triggerkit.config.ts` module (default export of
 * `defineConfig`) or a TOML file, with `${VAR}` and `${VAR:-default}` read
 * from the environment.
 *
 * @module
 */
import { parse as parseToml } from "smol-toml";
import { describeType, TriggerKitError } from "../errors.ts";
import { isPlainObject } from "../_plain.ts";
import type { TriggerKitConfig } from "./schema.ts";

/** The config file names looked for, in order. */
export const CONFIG_FILES = [
  "triggerkit.config.ts",
  "triggerkit.config.js",
  "triggerkit.toml",
] as const;

const VARIABLE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/**
 * Replaces `${VAR}` and `${VAR:-default}` in every string of a value. An
 * unset variable without a default is an error naming it and the key path.
 */
export function substituteEnv(
  value: unknown,
  file: string,
  env: (name: string) => string | undefined = (name) => Deno.env.get(name),
  path = "",
): unknown {
  if (typeof value === "string") {
    return value.replace(
      VARIABLE,
      (_match, name: string, fallback: string | undefined) => {
        const found = env(name);
        if (found !== undefined && found !== "") return found;
        if (fallback !== undefined) return fallback;
        throw new TriggerKitError(
          "INVALID_CONFIG",
          `${file}: ${
            path || "(root)"
          }: \${${name}} is not set and has no default (write \${${name}:-default} for one)`,
        );
      },
    );
  }
  if (Array.isArray(value)) {
    return value.map((item, i) =>
      substituteEnv(item, file, env, `${path}[${i}]`)
    );
  }
  if (isPlainObject(value)) {
    return Object.fromEntries(
      Object.entries(value).map((
        [key, item],
      ) => [
        key,
        substituteEnv(item, file, env, path ? `${path}.${key}` : key),
      ]),
    );
  }
  return value;
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

/** Reads a config file (module or TOML) and substitutes the environment. */
export async function readConfig(file: string): Promise<TriggerKitConfig> {
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
  return substituteEnv(raw, file) as TriggerKitConfig;
}
