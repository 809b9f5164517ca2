/**
 * An alert job with 100,000 firing keys, run again with nothing new and
 * nothing resolved, against the bare view query in the same run (raw
 * `node:sqlite`, rows copied to plain objects, as the job bench does). The
 * difference is what alerts add to a quiet run — a hash of every row and two
 * small reads (the job's summary, its mutes) — plus the run's own record.
 * Target: ≤ 2× the bare query.
 */
import { DatabaseSync } from "node:sqlite";
import { createRegistry } from "../mod.ts";

const KEYS = 100_000;
const dir = await Deno.makeTempDir({ prefix: "triggerkit-bench-alerts-" });
const dbPath = `${dir}/view.db`;
const seed = new DatabaseSync(dbPath);
seed.exec(
  "CREATE TABLE readings (id INTEGER PRIMARY KEY, sensor TEXT, celsius REAL, taken_at TEXT)",
);
seed.exec("BEGIN");
const insert = seed.prepare(
  "INSERT INTO readings (sensor, celsius, taken_at) VALUES (?, ?, ?)",
);
const start = Date.UTC(2026, 10, 27);
for (let i = 0; i < KEYS; i++) {
  insert.run(
    `sensor-${i % 500}`,
    60 + (i % 40) / 10,
    new Date(start + i * 1000).toISOString(),
  );
}
seed.exec("COMMIT");
seed.close();

const SQL =
  "SELECT id, sensor, celsius, taken_at FROM readings WHERE celsius > 50";
const registry = createRegistry({ store: `sqlite:${dir}/state.db` });
let delivered = 0;
registry.register("page", ({ data }) => {
  delivered += data.length;
  return { paged: data.length };
});
registry.defineView({ name: "hot", database: `sqlite:${dbPath}`, sql: SQL });
registry.defineJob({
  name: "heat",
  view: "hot",
  actions: ["page"],
  dedupe: { key: ["id"] },
  alert: { repeatEvery: "1d" },
});
const first = await registry.runJob("heat");
if (first.newRowCount !== KEYS || delivered !== KEYS) {
  throw new Error(`the first run fired ${first.newRowCount} keys`);
}
const firing = (await registry.alerts("heat")).length;
if (firing !== KEYS) throw new Error(`${firing} keys firing`);

const raw = new DatabaseSync(dbPath);
const rawQuery = raw.prepare(SQL);
const bareQuery = () => {
  const rows = rawQuery.all().map((row) => ({ ...row }));
  if (rows.length !== KEYS) throw new Error("rows missing");
};
const quietRun = async () => {
  const report = await registry.runJob("heat");
  if (report.status !== "skipped" || report.newRowCount !== 0) {
    throw new Error(JSON.stringify(report));
  }
};

// Interleaved rounds, medians compared: on a shared machine, load that comes
// and goes lands on both sides alike (Deno.bench runs each side in a block).
const ROUNDS = 9;
const times = { bare: [] as number[], run: [] as number[] };
for (let round = 0; round < ROUNDS; round++) {
  let started = performance.now();
  bareQuery();
  times.bare.push(performance.now() - started);
  started = performance.now();
  await quietRun();
  times.run.push(performance.now() - started);
}
// For comparison: a run in which one row's value changed reads every key's
// state (the slow path), to record that row's last seen values.
const write = new DatabaseSync(dbPath);
const toggle = write.prepare(
  "UPDATE readings SET celsius = CASE WHEN celsius = 60 THEN 60.5 ELSE 60 END WHERE id = 1",
);
const changed: number[] = [];
for (let round = 0; round < 5; round++) {
  toggle.run();
  const started = performance.now();
  const report = await registry.runJob("heat");
  changed.push(performance.now() - started);
  if (report.status !== "skipped") throw new Error(JSON.stringify(report));
}
write.close();
await quietRun(); // the summary of the last run is back in place
const median = (list: number[]) =>
  [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)]!;
console.log(
  `alerts, 100k firing keys, nothing new: bare view query ${
    median(times.bare).toFixed(1)
  } ms, runJob ${
    median(times.run).toFixed(1)
  } ms (medians of ${ROUNDS} interleaved rounds): ${
    (median(times.run) / median(times.bare)).toFixed(2)
  }× (target ≤ 2×); a run where one row changed: ${
    median(changed).toFixed(1)
  } ms (${(median(changed) / median(times.bare)).toFixed(2)}×)`,
);

Deno.bench("bare view query: 100,000 rows (baseline)", {
  group: "alert job, 100k firing keys, nothing new",
  baseline: true,
}, bareQuery);

Deno.bench("runJob(): 100k firing keys, nothing new, nothing resolved", {
  group: "alert job, 100k firing keys, nothing new",
}, quietRun);

globalThis.addEventListener("unload", () => {
  raw.close();
  registry.close();
  Deno.removeSync(dir, { recursive: true });
});
