/**
 * The status page with 500 jobs and 20 runs each (10,000 runs whose action
 * results are 100 KB each): one `GET /`, against the raw read of the same
 * runs' summary columns with `node:sqlite`. The page reads summaries only,
 * never a result.
 */
import { DatabaseSync } from "node:sqlite";
import { createRegistry } from "../mod.ts";
import { SqliteDatabase } from "../src/db/sqlite.ts";
import { parseNamedSql } from "../src/db/named_sql.ts";
import { serveStatus } from "../tests/_helpers.ts";

const JOBS = 500;
const RUNS = 10_000;
const dir = await Deno.makeTempDir({ prefix: "triggerkit-page-bench-" });
const registry = createRegistry({ store: `sqlite:${dir}/state.db` });
registry.defineView({
  name: "v",
  database: "sqlite::memory:",
  sql: "SELECT 1 AS id",
});
registry.register("fetch", () => ({ image: "x".repeat(100_000) }));
for (let j = 0; j < JOBS; j++) {
  registry.defineJob({
    name: `job_${j}`,
    view: "v",
    actions: ["fetch"],
    schedule: "every 1 hour",
  });
}
await registry.runJob("job_0");
const [first] = await registry.history({ job: "job_0", limit: 1 });
const bulk = new SqliteDatabase(`${dir}/state.db`, "bench");
await bulk.execute(
  parseNamedSql(
    `WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < :last)
     INSERT INTO triggerkit_runs (run_id, job_name, dry_run, status, started_at, finished_at, heartbeat_at, report, row_count, new_row_count)
     SELECT printf('r-%06d', i), printf('job_%d', i % :jobs), 0, 'succeeded',
       strftime('%Y-%m-%dT%H:%M:%fZ', '2026-11-29T10:00:00', printf('+%d seconds', i)),
       strftime('%Y-%m-%dT%H:%M:%fZ', '2026-11-29T10:00:01', printf('+%d seconds', i)), 0,
       json_set(:report, '$.runId', printf('r-%06d', i), '$.jobName', printf('job_%d', i % :jobs)), 1, 1
     FROM n`,
  ),
  {
    params: [{ last: RUNS - 1, jobs: JOBS, report: JSON.stringify(first) }],
    dryRun: false,
  },
);
await bulk.close();
const served = await serveStatus(registry);
const raw = new DatabaseSync(`${dir}/state.db`, { readOnly: true });
const rawSummaries = raw.prepare(
  `SELECT run_id, status, started_at, finished_at, row_count, new_row_count
   FROM triggerkit_runs WHERE job_name = ? ORDER BY started_at DESC, run_id DESC LIMIT 20`,
);

Deno.bench("raw: 500 jobs' 20 latest runs' summary columns (baseline)", {
  group: "page",
  baseline: true,
}, () => {
  for (let j = 0; j < JOBS; j++) rawSummaries.all(`job_${j}`);
});

Deno.bench("GET / with 500 jobs × 20 runs of 100 KB results", {
  group: "page",
}, async () => {
  await (await fetch(served.url)).text();
});

globalThis.addEventListener("unload", () => {
  raw.close();
  served.stop().finally(() => registry.close());
});
