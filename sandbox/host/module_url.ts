import { describeType, TriggerKitError } from "../../src/errors.ts";

/**
 * Resolves a sandboxed action's module to a `file:` URL. Relative paths are
 * taken from the working directory; remote modules are refused because the
 * sandbox runs with `--no-remote`.
 */
export function resolveModuleUrl(action: string, module: string | URL): URL {
  let url: URL;
  if (module instanceof URL) {
    url = module;
  } else if (
    /^[a-z][a-z0-9+.-]*:/i.test(module) && !/^[a-z]:[\\/]/i.test(module)
  ) {
    url = new URL(module);
  } else if (module.startsWith("/")) {
    url = new URL(`file://${encodeURI(module)}`);
  } else {
    let cwd: string;
    try {
      cwd = Deno.cwd();
    } catch {
      throw new TriggerKitError(
        "INVALID_ACTION",
        `Cannot register action "${action}": the relative path "${module}" needs read access to the working directory; pass a URL such as new URL("${module}", import.meta.url)`,
      );
    }
    url = new URL(encodeURI(module), `file://${encodeURI(cwd)}/`);
  }
  if (url.protocol !== "file:") {
    throw new TriggerKitError(
      "INVALID_ACTION",
      `Cannot register action "${action}": only local modules (file:) can be sandboxed, received ${
        url.protocol === "" ? describeType(module) : url.protocol
      } module ${url.href}`,
    );
  }
  assertExists(action, url);
  return url;
}

/** Fails early on a module file that is not there (when the host may look). */
function assertExists(action: string, url: URL): void {
  try {
    Deno.statSync(url);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new TriggerKitError(
        "INVALID_ACTION",
        `Cannot register action "${action}": the module ${url.href} does not exist`,
      );
    }
    // Without read permission the host cannot look; the sandbox will tell.
  }
}
