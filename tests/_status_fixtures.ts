/**
 * Fixtures for the status server's tests: a registry with jobs that have a
 * history (the browser test, the serve tests), and a fake status source
 * (names that must be escaped, a store that hangs).
 */
import {
  createRegistry,
  type Registry,
  type RunRecord,
  type RunReport,
  TriggerKitError,
} from "../mod.ts";
import { RunMetrics } from "../src/observe/run_metrics.ts";
import {
  createStatusHandler,
  type StatusHandler,
} from "../src/observe/status_server.ts";
import type {
  JobStatus,
  RunChange,
  SchedulerState,
  StatusSource,
} from "../src/observe/_source.ts";

/** A registry on a SQLite file in `dir`, with varied jobs and a few runs of each. */
export async function demoRegistry(dir: string): Promise<Registry> {
  const database = `sqlite:${dir}/shop.db`;
  const registry = createRegistry({ store: `sqlite:${dir}/state.db` });
  await registry.run("run_sql", [], {
    config: {
      database,
      mode: "once",
      sql:
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, late INTEGER, amount REAL)",
    },
  });
  registry.defineView({
    name: "late_orders",
    database,
    sql: "SELECT id, amount FROM orders WHERE late = 1",
  });
  registry.defineView({
    name: "big_orders",
    database,
    sql: "SELECT id, amount FROM orders WHERE amount > 100",
  });
  let calls = 0;
  registry.register("notify_ops", ({ data }) => ({ notified: data.length }));
  registry.register("sync_crm", () => {
    calls++;
    if (calls % 3 === 0) {
      throw new Error("CRM answered 503 Service Unavailable");
    }
    return { synced: true };
  });
  registry.defineJob({
    name: "orders.late_shipments",
    view: "late_orders",
    actions: ["notify_ops"],
    schedule: "every 15 minutes",
  });
  registry.defineJob({
    name: "crm.sync_big_orders",
    view: "big_orders",
    actions: ["notify_ops", "sync_crm"],
    schedule: "hourly",
  });
  registry.defineJob({
    name: "reports.daily_digest",
    view: "big_orders",
    actions: ["notify_ops"],
    schedule: "daily at 06:00",
    timezone: "Europe/Paris",
  });
  registry.defineJob({
    name: "billing.backfill",
    view: "late_orders",
    actions: ["notify_ops"],
    when: "always",
  });
  registry.defineJob({
    name: "legacy.export",
    view: "late_orders",
    actions: ["notify_ops"],
    schedule: "daily at 02:30",
    enabled: false,
  });
  for (let round = 0; round < 12; round++) {
    await registry.run("run_sql", [], {
      config: {
        database,
        mode: "once",
        sql: `INSERT INTO orders (late, amount) VALUES (${
          round % 4 === 0 ? 1 : 0
        }, ${40 + ((round * 37) % 140)})`,
      },
    });
    await registry.runJob("orders.late_shipments");
    await registry.runJob("crm.sync_big_orders");
    if (round % 3 === 0) await registry.runJob("reports.daily_digest");
  }
  await registry.runJob("billing.backfill");
  return registry;
}

/** What a fake source's run looks like, with defaults. */
export function fakeRun(fields: Partial<RunRecord> = {}): RunRecord {
  return {
    runId: crypto.randomUUID(),
    jobName: "job",
    dryRun: false,
    status: "succeeded",
    startedAt: "2030-01-01T10:00:00.000Z",
    finishedAt: "2030-01-01T10:00:01.500Z",
    rowCount: 3,
    newRowCount: 3,
    actions: [{ action: "notify", status: "succeeded", durationMs: 12 }],
    ...fields,
  };
}

/** A fake status source: its fields can be changed by the test. */
export class FakeSource implements StatusSource {
  jobsList: JobStatus[] = [];
  runList: RunRecord[] = [];
  storeAnswer: () => Promise<void> = () => Promise.resolve();
  schedulerState: SchedulerState | undefined = {
    tickedAt: Date.parse("2030-01-01T10:00:00Z"),
    tickEveryMs: 30_000,
    stopping: false,
  };
  started: string[] = [];
  processes = 0;
  listeners = new Set<(change: RunChange) => void>();

  /** Adds a job with the given name and runs. */
  addJob(
    name: string,
    runs: RunRecord[] = [],
    fields: Partial<JobStatus> = {},
  ) {
    const recentRuns = runs.map((run) => ({ ...run, jobName: name }));
    this.jobsList.push({
      name,
      schedule: "every 15 minutes",
      enabled: true,
      nextRunAt: "2030-01-01T10:15:00.000Z",
      lastRun: recentRuns[0] ?? null,
      alertsFiring: 0,
      recentRuns,
      ...fields,
    });
    this.runList.push(...recentRuns);
  }

  jobNames(): string[] {
    return this.jobsList.map((job) => job.name);
  }

  jobs(): Promise<JobStatus[]> {
    return this.storeAnswer().then(() => this.jobsList);
  }

  runs(query: { job?: string; limit?: number } = {}): Promise<RunRecord[]> {
    return this.storeAnswer().then(() =>
      this.runList.filter((run) => !query.job || run.jobName === query.job)
        .slice(0, query.limit ?? 20)
    );
  }

  run(runId: string): Promise<RunRecord | undefined> {
    return this.storeAnswer().then(() =>
      this.runList.find((run) => run.runId === runId)
    );
  }

  storeAlive(): Promise<void> {
    return this.storeAnswer();
  }

  scheduler(): SchedulerState | undefined {
    return this.schedulerState;
  }

  startRun(job: string): Promise<{ runId: string }> {
    if (!this.jobsList.some((candidate) => candidate.name === job)) {
      return Promise.reject(
        new TriggerKitError("JOB_NOT_FOUND", `Unknown job "${job}"`),
      );
    }
    this.started.push(job);
    return Promise.resolve({ runId: `run-${this.started.length}` });
  }

  sandboxProcesses(): number {
    return this.processes;
  }

  subscribe(
    listener: (change: RunChange) => void,
  ): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

/**
 * Parses a Prometheus text exposition strictly enough to catch broken
 * escaping: every line is a comment (`# HELP`/`# TYPE`) or
 * `name{label="value",...} number`. Returns the samples with their labels
 * unescaped.
 */
export function parseExposition(
  text: string,
): Array<{ name: string; labels: Record<string, string>; value: number }> {
  const samples = [];
  assertEndsWithNewline(text);
  for (const line of text.slice(0, -1).split("\n")) {
    if (line.startsWith("# HELP ") || line.startsWith("# TYPE ")) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`Not a sample line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    let rest = match[2] ? match[2].slice(1, -1) : "";
    while (rest.length > 0) {
      const pair = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/
        .exec(rest);
      if (!pair) throw new Error(`Bad labels in ${JSON.stringify(line)}`);
      labels[pair[1]!] = pair[2]!.replace(
        /\\([\\"n])/g,
        (_, char) => char === "n" ? "\n" : char,
      );
      rest = rest.slice(pair[0].length);
    }
    const value = match[3] === "+Inf" ? Infinity : Number(match[3]);
    if (Number.isNaN(value)) throw new Error(`Bad value in ${line}`);
    samples.push({ name: match[1]!, labels, value });
  }
  return samples;
}

function assertEndsWithNewline(text: string) {
  if (!text.endsWith("\n")) {
    throw new Error("The exposition must end with a line feed");
  }
}

/** A status handler whose metrics have 500 jobs, each with runs of every status, a histogram and a failure series. */
export function fiveHundredJobs(): {
  handler: StatusHandler;
  source: FakeSource;
  metrics: RunMetrics;
} {
  const metrics = new RunMetrics();
  const source = new FakeSource();
  for (let job = 0; job < 500; job++) {
    const name = `team_${job % 7}.job_${job}`;
    source.addJob(name);
    for (const status of ["succeeded", "failed", "skipped"] as const) {
      const run = fakeRun({
        jobName: name,
        status,
        finishedAt: new Date(Date.parse("2030-01-01T10:00:00Z") + job * 37)
          .toISOString(),
      }) as RunReport;
      const observation = metrics.runStarted(run);
      if (status === "failed") {
        observation.runAction(
          { action: "send_slack_message", index: 0, rows: 1 },
          () =>
            Promise.resolve({
              action: "send_slack_message",
              status: "failed",
              durationMs: 1,
              error: { code: "ACTION_TIMEOUT", message: "x" },
            }),
        );
      }
      observation.finished(run);
    }
  }
  return { handler: createStatusHandler({ source, metrics }), source, metrics };
}

/** The value of the sample with this name and these labels (among others), if any. */
export function sampleValue(
  samples: ReturnType<typeof parseExposition>,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  return samples.find((sample) =>
    sample.name === name &&
    Object.entries(labels).every(([key, value]) => sample.labels[key] === value)
  )?.value;
}

/** Registers an action that waits until the returned function is called. */
export function registerGate(registry: Registry, name: string): () => void {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => release = resolve);
  registry.register(name, async () => {
    await gate;
    return {};
  });
  return release;
}
