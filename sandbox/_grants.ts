/**
 * Least privilege, computed in one place: the flags and environment of a
 * sandbox child process, and the permissions of each Worker in it.
 *
 * @module
 */
import type { Permissions, PermissionValue } from "../src/types.ts";
import type { WorkerGrant } from "./_protocol.ts";

/** How a child process is started, and the key of the processes that can share it. */
export interface ChildProfile {
  key: string;
  args: string[];
  env: Record<string, string>;
}

/** What a dry run denies whatever the action declared (SPEC.md §1). */
const DRY_RUN_DENIED = ["net", "write", "sys"] as const;

/** The directory of a `file:` module URL, as a path. */
export function moduleDir(module: URL): string {
  return decodeURIComponent(new URL(".", module).pathname).replace(/\/$/, "");
}

function covers(value: PermissionValue | undefined, path: string): boolean {
  if (value === true) return true;
  if (!Array.isArray(value)) return false;
  return value.some((granted) =>
    path === granted || path.startsWith(`${granted.replace(/\/$/, "")}/`)
  );
}

/**
 * A Worker's permissions. Reading the action's own folder is granted only to
 * load the module (and revoked once it is loaded) unless the action was
 * granted it; in a dry run `net`, `write` and `sys` are denied.
 */
export function workerGrant(
  permissions: Permissions,
  module: URL,
  dryRun: boolean,
): { grant: WorkerGrant; revokeRead: string | null } {
  const dir = moduleDir(module);
  const own = (name: keyof WorkerGrant): boolean | string[] => {
    const value = permissions[name as keyof Permissions];
    return value === undefined ? false : value as boolean | string[];
  };
  const grant: WorkerGrant = {
    net: own("net"),
    read: own("read"),
    write: own("write"),
    env: own("env"),
    sys: own("sys"),
    import: own("import"),
    run: false,
    ffi: false,
  };
  let revokeRead: string | null = null;
  if (!covers(permissions.read, dir)) {
    grant.read = [...(Array.isArray(grant.read) ? grant.read : []), dir];
    revokeRead = dir;
  }
  if (dryRun) { for (const name of DRY_RUN_DENIED) grant[name] = false; }
  return { grant, revokeRead };
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

const PASSED_ENV = ["HOME", "DENO_DIR", "XDG_CACHE_HOME", "TMPDIR", "TZ"];

function flag(name: string, value: PermissionValue | undefined): string[] {
  if (value === true) return [`--allow-${name}`];
  if (Array.isArray(value) && value.length > 0) {
    return [`--allow-${name}=${value.join(",")}`];
  }
  return [];
}

/**
 * The child process for a set of permissions, a heap limit and a module
 * folder: exactly the permissions its Workers can be granted, no more.
 */
export function childProfile(
  permissions: Permissions,
  module: URL,
  memoryMb: number,
  entry: string,
  hostEnv: () => Record<string, string>,
  lanePort: number,
): ChildProfile {
  const { grant } = workerGrant(permissions, module, false);
  // The process and its Workers dial the host's lane port; nothing else of
  // the host's is reachable.
  const net = grant.net === true
    ? true
    : [...(grant.net || []), `127.0.0.1:${lanePort}`];
  const args = [
    "run",
    "--quiet",
    "--no-config",
    "--no-lock",
    "--no-prompt",
    "--unstable-worker-options",
    `--v8-flags=--max-old-space-size=${Math.max(16, Math.floor(memoryMb))}`,
    `--import-map=data:application/json;base64,${btoa(IMPORT_MAP)}`,
    ...flag("read", grant.read),
    ...flag("write", grant.write),
    ...flag("net", net),
    ...flag("env", grant.env),
    ...flag("sys", grant.sys),
    ...(grant.import === false
      ? ["--no-remote"]
      : flag("import", grant.import)),
    entry,
  ];
  const env: Record<string, string> = { NO_COLOR: "1" };
  const source = hostEnv();
  const names = grant.env === true
    ? Object.keys(source)
    : [...PASSED_ENV, ...(Array.isArray(grant.env) ? grant.env : [])];
  for (const name of names) {
    const value = source[name];
    if (value !== undefined) env[name] = value;
  }
  const key = JSON.stringify([grant, memoryMb, moduleDir(module)]);
  return { key, args, env };
}
