/**
 * A private PostgreSQL cluster for outage tests: created with
 * `pg_createcluster` on a random free port (20000–60000), with its data in a
 * temporary folder, trust authentication, and durability off (it is thrown
 * away). `stop()` and `start()` simulate an outage; `drop()` removes it. The
 * shared cluster on 5432 is never touched.
 *
 * Needs root (or the postgres user) and the Debian `postgresql-common`
 * tools. Clusters left behind by a test process that died are dropped by
 * the next `startPgCluster()`.
 */

/** A running private cluster. */
export interface PgCluster {
  /** The cluster's name (`tk_<pid>_<random>`). */
  readonly name: string;
  /** Its port on 127.0.0.1. */
  readonly port: number;
  /** `postgres://postgres@127.0.0.1:<port>/postgres`. */
  readonly url: string;
  /** Stops the server at once (`-m immediate`: connections are cut, as in a crash). */
  stop(): Promise<void>;
  /** Starts it again and waits until it accepts connections. */
  start(): Promise<void>;
  /**
   * Freezes the server (SIGSTOP to the postmaster and its backends): it
   * still accepts TCP connections, through the kernel, and answers nothing —
   * a hung host. Queries in flight hang.
   */
  pause(): void;
  /** Lets a paused server run again (SIGCONT). */
  resume(): void;
  /** Stops it and removes its data and configuration. Safe to call twice. */
  drop(): Promise<void>;
}

import { descendants } from "./_helpers.ts";

const PREFIX = "tk_";

async function run(
  command: string,
  args: string[],
  options: { allowFailure?: boolean } = {},
): Promise<string> {
  const output = await new Deno.Command(command, {
    args,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(output.stdout);
  if (!output.success && !options.allowFailure) {
    throw new Error(
      `${command} ${args.join(" ")} failed (${output.code}): ${
        new TextDecoder().decode(output.stderr).trim()
      }`,
    );
  }
  return text;
}

/** The newest installed PostgreSQL major version. */
async function serverVersion(): Promise<string> {
  const versions: number[] = [];
  for await (const entry of Deno.readDir("/usr/lib/postgresql")) {
    if (/^\d+$/.test(entry.name)) versions.push(Number(entry.name));
  }
  if (versions.length === 0) throw new Error("No PostgreSQL server installed");
  return String(Math.max(...versions));
}

/** Clusters of this version: name, port and status. */
async function clusters(
  version: string,
): Promise<Array<{ name: string; port: number; online: boolean }>> {
  const text = await run("pg_lsclusters", ["--no-header"]);
  return text.trim().split("\n").filter(Boolean).map((line) =>
    line.split(/\s+/)
  ).filter((fields) => fields[0] === version).map((fields) => ({
    name: fields[1]!,
    port: Number(fields[2]),
    online: fields[3] === "online",
  }));
}

function alive(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

/** Drops clusters whose test process is gone. */
async function dropStale(version: string): Promise<void> {
  for (const cluster of await clusters(version)) {
    const match = new RegExp(`^${PREFIX}(\\d+)_`).exec(cluster.name);
    if (match && !alive(Number(match[1]))) {
      await run("pg_dropcluster", [version, cluster.name, "--stop"], {
        allowFailure: true,
      });
    }
  }
}

function portIsFree(port: number): boolean {
  try {
    Deno.listen({ hostname: "127.0.0.1", port }).close();
    return true;
  } catch {
    return false;
  }
}

async function freePort(version: string): Promise<number> {
  const taken = new Set((await clusters(version)).map((c) => c.port));
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 40_000);
    if (!taken.has(port) && portIsFree(port)) return port;
  }
  throw new Error("No free port found for a private PostgreSQL cluster");
}

async function waitReady(port: number, ms = 30_000): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    const { success } = await new Deno.Command("pg_isready", {
      args: ["-q", "-h", "127.0.0.1", "-p", String(port)],
      stdout: "null",
      stderr: "null",
    }).output();
    if (success) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`PostgreSQL on port ${port} not ready after ${ms} ms`);
}

/**
 * Creates and starts a private cluster.
 *
 * @returns The cluster; `drop()` it at the end of the test.
 */
export async function startPgCluster(): Promise<PgCluster> {
  const version = await serverVersion();
  await dropStale(version);
  const bin = `/usr/lib/postgresql/${version}/bin`;
  const dir = await Deno.makeTempDir({ prefix: "triggerkit-pg-" });
  await run("chown", ["postgres:postgres", dir]);
  const name = `${PREFIX}${Deno.pid}_${
    crypto.randomUUID().replaceAll("-", "").slice(0, 8)
  }`;
  let port = 0;
  for (let attempt = 0;; attempt++) {
    port = await freePort(version);
    try {
      await run("pg_createcluster", [
        version,
        name,
        "-p",
        String(port),
        "-d",
        `${dir}/data`,
        "-l",
        `${dir}/log`,
        "--start-conf=manual",
        "-o",
        "fsync=off",
        "-o",
        "synchronous_commit=off",
        "-o",
        "full_page_writes=off",
        "-o",
        "shared_buffers=16MB",
        "-q",
        "--",
        "--auth=trust",
        "--no-sync",
      ]);
      break;
    } catch (error) {
      await run("pg_dropcluster", [version, name], { allowFailure: true });
      if (attempt >= 2) {
        await Deno.remove(dir, { recursive: true }).catch(() => {});
        throw error;
      }
    }
  }
  let dropped = false;
  let paused: number[] = [];
  const signalAll = (signal: Deno.Signal, pids: number[]) => {
    for (const pid of pids) {
      try {
        Deno.kill(pid, signal);
      } catch { /* gone */ }
    }
  };
  const cluster: PgCluster = {
    name,
    port,
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    async stop() {
      await run("pg_ctlcluster", [
        "--skip-systemctl-redirect",
        version,
        name,
        "stop",
        "-m",
        "immediate",
      ]);
    },
    async start() {
      // pg_ctl itself, without waiting: pg_ctlcluster polls every 0.5 s and
      // takes 2 s to start a cluster that is ready in 0.1 s.
      await run("runuser", [
        "-u",
        "postgres",
        "--",
        `${bin}/pg_ctl`,
        "start",
        "-W",
        "-s",
        "-D",
        `${dir}/data`,
        "-l",
        `${dir}/log`,
        "-o",
        `-c config_file=/etc/postgresql/${version}/${name}/postgresql.conf`,
      ]);
      await waitReady(port);
    },
    pause() {
      const postmaster = Number(
        Deno.readTextFileSync(`${dir}/data/postmaster.pid`).split("\n")[0],
      );
      paused = [postmaster, ...descendants(postmaster)];
      signalAll("SIGSTOP", paused);
    },
    resume() {
      signalAll("SIGCONT", paused);
      paused = [];
    },
    async drop() {
      if (dropped) return;
      dropped = true;
      cluster.resume();
      await run("pg_dropcluster", [version, name, "--stop"], {
        allowFailure: true,
      });
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
  try {
    await cluster.start();
  } catch (error) {
    await cluster.drop();
    throw error;
  }
  return cluster;
}
