/**
 * Several `serve` processes sharing one PostgreSQL store: every slot of a
 * job runs once, none twice, and a run whose instance is killed is taken
 * over once its lease runs out.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { openRunStore } from "../mod.ts";
import { pgTest, uniqueTable } from "./_helpers.ts";
import { spawnCli } from "./_cli.ts";
import { spawnServe } from "./_faults.ts";

const MOD = new URL("../mod.ts", import.meta.url).href;
/** `deno task soak` sets it: the long variants. */
const SOAK = Deno.env.get("TRIGGERKIT_SOAK") === "1";
const RUN_FOR_MS = SOAK ? 60_000 : 20_000;
const LEASE_MS = 3_000;

const config = (job: string) => `
import { defineConfig } from ${JSON.stringify(MOD)};

export default defineConfig({
  store: Deno.env.get("TK_PG"),
  serve: { leaseMs: ${LEASE_MS}, graceMs: 5000 },
  actions: {
    tick: async () => {
      await new Promise((resolve) => setTimeout(resolve, 200));
      return { pid: Deno.pid };
    },
  },
  views: [{ name: "one", database: "sqlite::memory:", sql: "SELECT 1 AS id" }],
  jobs: [{ name: ${
  JSON.stringify(job)
}, view: "one", schedule: "every 1 second", actions: ["tick"] }],
});
`;

pgTest(
  "instances: 3 serve processes, one killed midway: every slot once, none twice",
  async (pg) => {
    const job = uniqueTable("tk_tick");
    const dir = await Deno.makeTempDir({ prefix: "triggerkit-instances-" });
    const sql = postgres(pg, { onnotice: () => {} });
    await Deno.writeTextFile(`${dir}/triggerkit.config.ts`, config(job));
    const spawn = () =>
      spawnCli(["serve"], {
        cwd: dir,
        env: { TK_PG: pg },
        stdout: "null",
        stderr: "null",
      });
    const servers = [spawn(), spawn(), spawn()];
    const started = Date.now();
    let killedPid: number | undefined;
    let killedSlot: number | undefined;
    try {
      await new Promise((resolve) => setTimeout(resolve, RUN_FOR_MS / 3));
      // Kill the instance that is in the middle of a run.
      while (killedPid === undefined && Date.now() - started < RUN_FOR_MS / 2) {
        // A run still running: its outcome is not written yet (between the
        // outcome and the release, a kill would cut nothing short).
        const [lease] = await sql.unsafe(
          `SELECT c.holder, c.slot FROM triggerkit_claims c JOIN triggerkit_runs r ON r.run_id = c.run_id
           WHERE c.job_name = $1 AND c.done = 0 AND r.status = 'running'`,
          [job],
        );
        const pid = lease ? Number(JSON.parse(String(lease.holder)).pid) : NaN;
        const victim = servers.find((server) => server.pid === pid);
        if (victim) {
          victim.kill("SIGKILL");
          killedPid = pid;
          killedSlot = Number(lease!.slot);
        } else {
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
      assert.ok(killedPid !== undefined, "no instance was caught mid-run");
      await new Promise((resolve) =>
        setTimeout(resolve, RUN_FOR_MS - (Date.now() - started))
      );
    } finally {
      for (const server of servers) {
        if (server.pid !== killedPid) server.kill("SIGTERM");
      }
      await Promise.all(servers.map((server) => server.status));
    }
    try {
      const rows = await sql.unsafe(
        "SELECT status, report FROM triggerkit_runs WHERE job_name = $1",
        [job],
      );
      const runs = rows.map((row) => ({
        ...JSON.parse(String(row.report)),
        status: row.status,
      }));
      const succeeded = runs.filter((run) => run.status === "succeeded");
      const bySlot = new Map<string, number>();
      for (const run of succeeded) {
        bySlot.set(run.slot, (bySlot.get(run.slot) ?? 0) + 1);
      }
      const twice = [...bySlot].filter(([, count]) => count > 1);
      assert.deepEqual(twice, [], "a slot ran twice");

      const retried = succeeded.find((run) =>
        Date.parse(run.slot) === killedSlot
      );
      assert.ok(retried, "the killed instance's slot was not taken over");
      assert.equal(retried.attempt, 2);

      const slots = [...bySlot.keys()].map(Date.parse).sort((a, b) => a - b);
      const first = slots[0]!;
      const last = slots.at(-1)!;
      assert.ok(
        last - first >= RUN_FOR_MS * 0.75,
        `ran from ${first} to ${last} only`,
      );
      const lost: number[] = [];
      for (let slot = first; slot <= last; slot += 1000) {
        if (!bySlot.has(new Date(slot).toISOString())) lost.push(slot);
      }
      // A slot may be missing only if it came while the dead instance's
      // lease held the job, or while another run of the job was still going
      // (a job never overlaps itself); no other.
      const busy = succeeded.map((
        run,
      ) => [Date.parse(run.startedAt), Date.parse(run.finishedAt)]);
      const beyondLease = lost.filter((slot) =>
        (slot < killedSlot! || slot > killedSlot! + LEASE_MS + 1000) &&
        !busy.some(([start, end]) => start! <= slot + 50 && slot <= end! + 50)
      );
      assert.deepEqual(
        beyondLease.map((slot) => new Date(slot).toISOString()),
        [],
        "slots lost beyond the lease",
      );
    } finally {
      await sql.unsafe("DELETE FROM triggerkit_runs WHERE job_name = $1", [
        job,
      ]);
      await sql.unsafe("DELETE FROM triggerkit_claims WHERE job_name = $1", [
        job,
      ]);
      await sql.end();
      await Deno.remove(dir, { recursive: true });
    }
  },
);

const SQLITE_RUN_MS = SOAK ? 30_000 : 8_000;
const SQLITE_JOBS = 10;

const sqliteConfig = (jobs: string[]) => `
import { defineConfig } from ${JSON.stringify(MOD)};

export default defineConfig({
  store: Deno.env.get("TK_STORE"),
  serve: { leaseMs: 5000, graceMs: 5000 },
  actions: { tick: () => ({ pid: Deno.pid }) },
  views: [{ name: "one", database: "sqlite::memory:", sql: "SELECT 1 AS id" }],
  jobs: ${
  JSON.stringify(
    jobs.map((name) => ({
      name,
      view: "one",
      schedule: "every 1 second",
      actions: ["tick"],
    })),
  )
},
});
`;

Deno.test(
  `instances: 3 serve processes × ${SQLITE_JOBS} jobs every second on one SQLite file for ${
    SQLITE_RUN_MS / 1000
  } s: no slot lost, none run twice`,
  async () => {
    const dir = await Deno.makeTempDir({
      prefix: "triggerkit-sqlite-instances-",
    });
    const jobs = Array.from({ length: SQLITE_JOBS }, (_, i) => `job_${i}`);
    await Deno.writeTextFile(`${dir}/triggerkit.config.ts`, sqliteConfig(jobs));
    const store = `sqlite:${dir}/state.db`;
    const spawn = () => spawnServe(dir, { TK_STORE: store });
    const servers = [spawn(), spawn(), spawn()];
    const logs = servers.map((server) => new Response(server.stderr).text());
    const started = Date.now();
    try {
      await new Promise((resolve) => setTimeout(resolve, SQLITE_RUN_MS));
    } finally {
      for (const server of servers) server.kill("SIGTERM");
      const statuses = await Promise.all(
        servers.map((server) => server.status),
      );
      assert.deepEqual(
        statuses.map((s) => s.code),
        [0, 0, 0],
        (await Promise.all(logs)).join("\n"),
      );
    }
    const history = openRunStore(store);
    try {
      const runs = await history.history({ limit: 100_000 });
      const log = (await Promise.all(logs)).join("\n");
      assert.doesNotMatch(log, /Uncaught/);
      // Every slot from the first second all three were up to the last one before the stop.
      const from = Math.ceil((started + 3_000) / 1000) * 1000;
      const to = Math.floor((started + SQLITE_RUN_MS - 1_000) / 1000) * 1000;
      const problems: string[] = [];
      for (const job of jobs) {
        const bySlot = new Map<number, string[]>();
        for (const run of runs.filter((run) => run.jobName === job)) {
          const slot = Date.parse(run.slot!);
          bySlot.set(slot, [...(bySlot.get(slot) ?? []), run.status]);
        }
        for (let slot = from; slot <= to; slot += 1000) {
          const statuses = bySlot.get(slot) ?? [];
          if (statuses.length !== 1 || statuses[0] !== "succeeded") {
            problems.push(
              `${job} ${new Date(slot).toISOString()}: ${
                statuses.join(",") || "no record"
              }`,
            );
          }
        }
      }
      assert.deepEqual(problems, [], "slots lost or run twice");
    } finally {
      await history.close?.();
      await Deno.remove(dir, { recursive: true });
    }
  },
);
