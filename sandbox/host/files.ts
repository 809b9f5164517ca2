/**
 * Files, and why links do not extend a grant. Deno's permission checks
 * compare path strings and do not resolve symbolic links, so:
 *
 * - an action's code is loaded from a private copy of its folder holding
 *   regular files only; a folder that holds a link, a hard-linked file or
 *   anything else is refused at `register`;
 * - a `read`/`write` grant must name a real path (one reached through a
 *   link is refused), and a granted folder that holds a link leading
 *   outside the grants of its kind is refused at `register`.
 *
 * @module
 */
import { TriggerKitError } from "../../src/errors.ts";
import type { Permissions } from "../../src/types.ts";

/** The most entries and bytes an action's folder may hold. */
export const COPY_LIMITS = { entries: 2_000, bytes: 64 * 1024 * 1024 };
/** The most entries scanned for links under one granted path. */
export const SCAN_LIMIT = 20_000;

function invalid(action: string, reason: string): TriggerKitError {
  return new TriggerKitError(
    "INVALID_ACTION",
    `Cannot register action "${action}": ${reason}`,
  );
}

function join(dir: string, name: string): string {
  return dir === "/" ? `/${name}` : `${dir}/${name}`;
}

/** The folder of a path. */
export function dirname(path: string): string {
  const cut = path.lastIndexOf("/");
  return cut <= 0 ? "/" : path.slice(0, cut);
}

/**
 * Copies the folder of an action's module into `dest` (which must exist and
 * be private), regular files only, and returns the module's URL in the copy
 * and the real folder it was copied from.
 *
 * @throws {TriggerKitError} `INVALID_ACTION` when the folder holds a link,
 * a hard-linked file or a special file, or is over {@linkcode COPY_LIMITS}.
 */
export function privateCopy(
  action: string,
  module: URL,
  dest: string,
): { module: URL; origin: string } {
  const modulePath = decodeURIComponent(module.pathname);
  let source: string;
  try {
    source = Deno.realPathSync(dirname(modulePath));
  } catch (error) {
    throw invalid(
      action,
      `cannot read the folder of ${module.href}: ${(error as Error).message}`,
    );
  }
  const name = modulePath.slice(modulePath.lastIndexOf("/") + 1);
  const budget = { entries: COPY_LIMITS.entries, bytes: COPY_LIMITS.bytes };
  copyTree(action, source, dest, "", budget);
  try {
    if (!Deno.lstatSync(join(dest, name)).isFile) throw new Error();
  } catch {
    throw invalid(action, `the module ${module.href} is not a regular file`);
  }
  return {
    module: new URL(`file://${encodeURI(join(dest, name))}`),
    origin: source,
  };
}

function copyTree(
  action: string,
  root: string,
  dest: string,
  relative: string,
  budget: { entries: number; bytes: number },
): void {
  const dir = relative ? join(root, relative) : root;
  for (const entry of Deno.readDirSync(dir)) {
    if (--budget.entries < 0) {
      throw invalid(
        action,
        `its folder ${root} holds more than ${COPY_LIMITS.entries} entries; give the action a folder of its own`,
      );
    }
    const rel = relative ? `${relative}/${entry.name}` : entry.name;
    const path = join(root, rel);
    const stat = Deno.lstatSync(path);
    if (stat.isSymlink) {
      throw invalid(
        action,
        `its folder holds a symbolic link, ${path}; links are refused because the sandbox would follow them`,
      );
    }
    if (stat.isDirectory) {
      Deno.mkdirSync(join(dest, rel), { mode: 0o700 });
      copyTree(action, root, dest, rel, budget);
    } else if (stat.isFile) {
      budget.bytes -= stat.size;
      if (budget.bytes < 0) {
        throw invalid(
          action,
          `its folder ${root} holds more than ${COPY_LIMITS.bytes} bytes; give the action a folder of its own`,
        );
      }
      copyRegularFile(action, path, stat, join(dest, rel));
    } else {
      throw invalid(
        action,
        `its folder holds ${path}, which is neither a file nor a folder`,
      );
    }
  }
}

/**
 * Copies one file, making sure that what was opened is the regular file
 * that was looked at (not a link swapped in since) and has no other name.
 */
function copyRegularFile(
  action: string,
  path: string,
  seen: Deno.FileInfo,
  target: string,
): void {
  const file = Deno.openSync(path, { read: true });
  try {
    const opened = file.statSync();
    if (opened.ino !== seen.ino || opened.dev !== seen.dev) {
      throw invalid(action, `${path} changed while it was being copied`);
    }
    if ((opened.nlink ?? 1) > 1) {
      throw invalid(
        action,
        `its folder holds ${path}, a file with ${opened.nlink} names (hard links are refused: one may lead outside the folder)`,
      );
    }
    if (Deno.realPathSync(path) !== path) {
      throw invalid(action, `${path} is reached through a symbolic link`);
    }
    const bytes = new Uint8Array(opened.size);
    let have = 0;
    while (have < bytes.length) {
      const read = file.readSync(bytes.subarray(have));
      if (read === null) break;
      have += read;
    }
    Deno.writeFileSync(target, bytes.subarray(0, have), { mode: 0o600 });
  } finally {
    file.close();
  }
}

/** The real path of a path that may not exist yet: its nearest existing folder resolved. */
export function realPath(path: string): string {
  const missing: string[] = [];
  for (let at = path;; at = dirname(at)) {
    try {
      const real = Deno.realPathSync(at);
      return missing.length === 0
        ? real
        : [real === "/" ? "" : real, ...missing.reverse()].join("/");
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound) || at === "/") throw error;
      missing.push(at.slice(at.lastIndexOf("/") + 1));
    }
  }
}

function within(path: string, roots: string[]): boolean {
  return roots.some((root) =>
    root === "/" || path === root || path.startsWith(`${root}/`)
  );
}

/**
 * Checks `read` and `write` grants: each must be a real path, neither hold
 * nor lie in the sandbox's private folder; a folder granted `read` must not
 * hold a link leading outside the read grants, and a folder granted `write`
 * must hold no link at all. An action cannot make a link (Deno requires
 * unscoped read and write for that), but where it may write it may move
 * one, and a moved link leads elsewhere: `a/l → ../b` moved to `l` leads
 * out of the folder, and so does `l → /g/x/../s` once a link to `/g` is
 * moved to `/g/x`. With no link where it may write, nothing it can move
 * leads anywhere.
 *
 * @throws {TriggerKitError} `INVALID_ACTION` naming the link.
 */
export function realGrants(
  action: string,
  permissions: Permissions,
  privateDir: string,
): Permissions {
  const out: Permissions = { ...permissions };
  for (const kind of ["read", "write"] as const) {
    const value = permissions[kind];
    if (!Array.isArray(value)) continue;
    const roots = [...new Set(value)].sort();
    for (const path of roots) {
      let real: string;
      try {
        real = realPath(path);
      } catch (error) {
        throw invalid(
          action,
          `cannot resolve its ${kind} grant ${path}: ${
            (error as Error).message
          }`,
        );
      }
      if (real !== path) {
        throw invalid(
          action,
          `its ${kind} grant ${path} is reached through a symbolic link (it leads to ${real}); Deno would follow it, so grant the real path if that is what you mean`,
        );
      }
      // Other actions' code, Deno dirs and lane sockets live there; and
      // Deno would drop such a grant whole when a Worker gives back its
      // socket's grant (revoking a path revokes every grant that holds it).
      if (within(privateDir, [path]) || within(path, [privateDir])) {
        throw invalid(
          action,
          `its ${kind} grant ${path} holds the sandbox's private folder ${privateDir} (other actions' code and the host's sockets); grant a narrower path`,
        );
      }
    }
    for (const root of roots) scanForLinks(action, kind, root, roots);
    out[kind] = roots;
  }
  return out;
}

function scanForLinks(
  action: string,
  kind: string,
  root: string,
  roots: string[],
): void {
  let budget = SCAN_LIMIT;
  const pending = [root];
  while (pending.length > 0) {
    const dir = pending.pop()!;
    let entries: Iterable<Deno.DirEntry>;
    try {
      if (!Deno.lstatSync(dir).isDirectory) continue;
      entries = Deno.readDirSync(dir);
    } catch {
      continue; // Missing or unreadable: nothing there to follow.
    }
    for (const entry of entries) {
      if (--budget < 0) {
        throw invalid(
          action,
          `cannot check its ${kind} grant ${root} for symbolic links: it holds more than ${SCAN_LIMIT} entries; grant a narrower path`,
        );
      }
      const path = join(dir, entry.name);
      if (entry.isDirectory) pending.push(path);
      if (!entry.isSymlink) continue;
      let target: string;
      try {
        target = Deno.realPathSync(path);
      } catch {
        target = `${Deno.readLinkSync(path)} (dangling)`;
      }
      if (kind === "write") {
        throw invalid(
          action,
          `its write grant ${root} holds a symbolic link, ${path} → ${target}; an action may move a link where it may write, and a moved link can lead outside the grant (Deno follows links): remove the link, or grant that folder read only`,
        );
      }
      if (!within(target, roots)) {
        throw invalid(
          action,
          `its ${kind} grant ${root} holds a symbolic link, ${path} → ${target}, which leads outside the grant (Deno follows links); grant the target too, or remove the link`,
        );
      }
    }
  }
}
