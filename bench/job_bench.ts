/**
 * A job over a 10,000-row SQLite view with one in-process action, against
 * the same work done by hand (the raw query plus calling the function), in
 * the same run. The difference is the framework's overhead: run record,
 * dedupe-free pipeline, context, freezing rows, logging.
 */
import { DatabaseSync } from "node:sqlite";
import { createRegistry, type Row } from "../mod.ts";

const dir = await Deno.makeTempDir({ prefix: "triggerkit-bench-job-" });
const dbPath = `${dir}/view.db`;
const seed = new DatabaseSync(dbPath);
seed.exec(
  "CREATE TABLE events (id INTEGER PRIMARY KEY, kind TEXT, value REAL)",
);
seed.exec("BEGIN");
const insert = seed.prepare("INSERT INTO events (kind, value) VALUES (?, ?)");
for (let i = 0; i < 10_000; i++) insert.run(i % 2 ? "click" : "view", i * 0.5);
seed.exec("COMMIT");
seed.close();

const SQL = "SELECT id, kind, value FROM events";
const action = ({ data }: { data: Row[] }) => {
  let total = 0;
  for (const row of data) total += row.value as number;
  return { total };
};

const registry = createRegistry({ store: `sqlite:${dir}/state.db` });
registry.register("sum", action);
registry.defineView({ name: "events", database: `sqlite:${dbPath}`, sql: SQL });
registry.defineJob({ name: "sum_events", view: "events", actions: ["sum"] });
await registry.runJob("sum_events");

const raw = new DatabaseSync(dbPath);
const rawQuery = raw.prepare(SQL);

Deno.bench("raw: query 10,000 rows and call the function (baseline)", {
  group: "job over 10k rows",
  baseline: true,
}, () => {
  const rows = rawQuery.all().map((row) => ({ ...row }));
  action({ data: rows });
});

Deno.bench("runJob(): view → one in-process action, recorded", {
  group: "job over 10k rows",
}, async () => {
  const report = await registry.runJob("sum_events");
  if (report.status !== "succeeded") throw new Error(JSON.stringify(report));
});

globalThis.addEventListener("unload", () => {
  raw.close();
  registry.close();
  Deno.removeSync(dir, { recursive: true });
});
