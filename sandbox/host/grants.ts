/**
 * Least privilege, computed in one place: the permissions of an action's
 * Workers, and the flags and environment of the process that hosts them
 * (exactly the same permissions: the process is a second fence).
 *
 * @module
 */
import type { Permissions, PermissionValue } from "../../src/types.ts";
import type { WorkerGrant } from "../_protocol.ts";

/** What a dry run denies whatever the action declared. */
export const DRY_RUN_DENIED = ["net", "write", "sys", "import"] as const;

/** Where the npm registry is: `import` must grant it for `npm:` specifiers. */
const NPM_REGISTRY = "registry.npmjs.org";

/** What one sandbox process is for. */
export interface ProcessPlan {
  permissions: Permissions;
  /** The folder of the action's private copy. */
  copyDir: string;
  /** The lane socket. */
  socket: string;
  /** The process's own Deno dir (caches), private. */
  denoDir: string;
  memoryMb: number;
  dryRun: boolean;
}

/**
 * Caches Deno opens in its Deno dir at start, as SQLite files. A folder in
 * their place makes Deno keep them in memory instead (it does so, silently,
 * for a cache it cannot open): creating them, with their fsyncs, cost each
 * new process 2–15 ms on a busy machine, and a process's own Deno dir is
 * always new. (The V8 code cache is turned off by a flag.) Names as of Deno
 * 2.9; a renamed cache is only slower to create.
 */
const IN_MEMORY_CACHES = ["dep_analysis_cache_v2", "node_analysis_cache_v2"];

/**
 * Makes a sandbox process's own Deno dir: CacheStorage refused (it lives
 * under `location_data`: a file there makes it fail for every isolate of
 * the process, nested Workers too), and Deno's analysis caches in memory.
 */
export function prepareDenoDir(path: string): void {
  try {
    Deno.lstatSync(`${path}/location_data`);
    return; // Made for an earlier process of the same action and kind.
  } catch {
    // A new Deno dir.
  }
  Deno.mkdirSync(path, { recursive: true, mode: 0o700 });
  Deno.writeFileSync(`${path}/location_data`, new Uint8Array(), {
    mode: 0o400,
  });
  for (const cache of IN_MEMORY_CACHES) {
    Deno.mkdirSync(`${path}/${cache}`, { mode: 0o500 });
  }
}

/** How a sandbox process is started. */
export interface ChildProfile {
  args: string[];
  env: Record<string, string>;
  cwd: string;
}

function own(
  permissions: Permissions,
  name: keyof Permissions,
): boolean | string[] {
  const value = permissions[name];
  return value === undefined ? false : value as boolean | string[];
}

function plus(
  value: boolean | string[],
  ...items: string[]
): boolean | string[] {
  return value === true ? true : [...(value || []), ...items];
}

/**
 * A Worker's permissions: the action's (in a dry run without `net`, `write`,
 * `sys` and `import`), reading its private copy, and its lane socket until
 * it has dialled it.
 */
export function workerGrant(plan: ProcessPlan): WorkerGrant {
  const { permissions, dryRun, socket } = plan;
  const kept = (name: keyof Permissions) =>
    dryRun && (DRY_RUN_DENIED as readonly string[]).includes(name)
      ? false
      : own(permissions, name);
  return {
    net: plus(kept("net"), `unix:${socket}`),
    read: plus(kept("read"), plan.copyDir, socket),
    write: plus(kept("write"), socket),
    env: kept("env"),
    sys: kept("sys"),
    import: kept("import"),
    run: false,
    ffi: false,
  };
}

/** Maps what action modules import from TriggerKit to an inline module. */
const IMPORT_MAP = JSON.stringify({
  imports: Object.fromEntries(
    [
      "@triggerkit/triggerkit/action",
      "jsr:@triggerkit/triggerkit/action",
    ].map((specifier) => [
      specifier,
      "data:application/javascript,export%20function%20defineAction(action)%7Breturn%20action%3B%7D",
    ]),
  ),
});

function flag(name: string, value: PermissionValue | undefined): string[] {
  if (value === true) return [`--allow-${name}`];
  if (Array.isArray(value) && value.length > 0) {
    return [`--allow-${name}=${value.join(",")}`];
  }
  return [];
}

/**
 * The sandbox process for one action, real or dry: exactly its Workers'
 * permissions, no remote or package resolution unless `import` grants it
 * (never in a dry run), its own Deno dir, and a heap limit per isolate.
 */
export function childProfile(
  plan: ProcessPlan,
  entry: string,
  hostEnv: (names: string[] | true) => Record<string, string>,
): ChildProfile {
  const grant = workerGrant(plan);
  const imports = grant.import;
  const npm = imports === true ||
    (Array.isArray(imports) && imports.some((host) => host === NPM_REGISTRY));
  const args = [
    "run",
    "--quiet",
    "--no-config",
    "--no-lock",
    "--no-prompt",
    "--no-code-cache",
    "--unstable-worker-options",
    `--v8-flags=--max-old-space-size=${
      Math.max(16, Math.floor(plan.memoryMb))
    }`,
    `--import-map=data:application/json;base64,${btoa(IMPORT_MAP)}`,
    ...flag("read", grant.read),
    ...flag("write", grant.write),
    ...flag("net", grant.net),
    ...flag("env", grant.env),
    ...flag("sys", grant.sys),
    ...(imports === false ? ["--no-remote"] : flag("import", imports)),
    ...(npm ? [] : ["--no-npm"]),
    entry,
  ];
  const env: Record<string, string> = {
    ...hostEnv(grant.env === true ? true : ["TZ", ...(grant.env || [])]),
    NO_COLOR: "1",
    DENO_DIR: plan.denoDir,
    DENO_NO_UPDATE_CHECK: "1",
  };
  return { args, env, cwd: plan.copyDir };
}

/**
 * Whether a Worker's grant covers a request, as Deno matches it: a path
 * inside a granted path, a host (any port) or host:port, a variable or
 * kind by name. A request with no target is covered only by `true`.
 */
export function holds(
  grant: WorkerGrant,
  permission: string,
  target: string | undefined,
): boolean {
  const value = (grant as unknown as Record<string, unknown>)[permission];
  if (value === true) return true;
  if (!Array.isArray(value) || target === undefined) return false;
  switch (permission) {
    case "read":
    case "write":
      return value.some((path: string) =>
        path === "/" || target === path || target.startsWith(`${path}/`)
      );
    case "net":
    case "import": {
      const host = target.replace(/:\d+$/, "");
      return value.some((entry: string) => entry === target || entry === host);
    }
    default:
      return value.includes(target);
  }
}

/** Whether this (host) process holds a permission. */
export function granted(descriptor: Deno.PermissionDescriptor): boolean {
  const state = Deno.permissions?.querySync?.(descriptor).state;
  return state === undefined || state === "granted";
}

/** The host variables a sandbox process may see (only those granted). */
export function hostEnv(names: string[] | true): Record<string, string> {
  try {
    if (names === true) return Deno.env.toObject();
    const env: Record<string, string> = {};
    for (const name of names) {
      const value = granted({ name: "env", variable: name })
        ? Deno.env.get(name)
        : undefined;
      if (value !== undefined) env[name] = value;
    }
    return env;
  } catch {
    return {};
  }
}
