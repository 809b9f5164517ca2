import type { Registry } from "../src/registry.ts";
import type { Databases } from "../src/databases.ts";

/** Registers the built-in actions on a registry. */
export function registerBuiltins(
  _registry: Registry,
  _databases: Databases,
): void {
}
