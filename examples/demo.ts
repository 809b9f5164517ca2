/**
 * `deno task demo`: makes an embedded SQLite database of sensor readings
 * (once), then runs the demo job end to end through the command line and
 * shows the run history. Run it twice: the second run finds nothing new to
 * fire and writes no new alert.
 *
 * `deno task demo --fix` first "fixes" the hottest anomalous reading: the
 * run after it resolves that anomaly (its alert is marked resolved, and the
 * resolved notice is shown). `deno task demo --reset` starts again from
 * fresh data.
 */
import { DatabaseSync } from "node:sqlite";
import { configureCliLogging, main } from "../src/cli/main.ts";
import { loadConfig } from "../src/config/apply.ts";

// Relative paths in a config are relative to its folder (examples/); the
// demo keeps its files in .triggerkit/ of the folder it is run from, so it
// hands the config absolute paths.
const dbPath = absolute(
  Deno.env.get("TRIGGERKIT_DEMO_DB") ?? ".triggerkit/demo.db",
);
const statePath = absolute(
  Deno.env.get("TRIGGERKIT_DEMO_STATE") ?? ".triggerkit/state.db",
);
Deno.env.set("TRIGGERKIT_DEMO_DB", dbPath);
Deno.env.set("TRIGGERKIT_DEMO_STATE", statePath);
const config = new URL("./triggerkit.config.ts", import.meta.url).pathname;

if (Deno.args.includes("--reset")) {
  for (const path of [dbPath, statePath]) {
    await Deno.remove(path).catch(() => {});
  }
}
await Deno.mkdir(dbPath.slice(0, dbPath.lastIndexOf("/") + 1) || ".", {
  recursive: true,
});
seed(dbPath);

await configureCliLogging();
console.log(`Demo database: ${relative(dbPath)}\n`);
if (Deno.args.includes("--fix")) fixHottest(dbPath);
const code = await main(["run", "temperature_alerts", "--config", config]);
await showSlackMessage();
console.log("\nRun history:");
await main([
  "history",
  "--job",
  "temperature_alerts",
  "--limit",
  "5",
  "--config",
  config,
]);
const db = new DatabaseSync(dbPath);
const alerts = db.prepare(
  "SELECT COUNT(*) AS n, COUNT(resolved_at) AS resolved FROM alerts",
).get() as { n: number; resolved: number };
db.close();
console.log(
  `\nAlerts table: ${alerts.n} rows, ${alerts.resolved} resolved. Run \`deno task demo\` again: nothing new fires. Run \`deno task demo --fix\`: a reading is fixed and its alert resolves.`,
);
Deno.exitCode = code;

/** Prints the Slack messages of the last run when they were dry runs (no SLACK_BOT_TOKEN). */
async function showSlackMessage(): Promise<void> {
  const { registry } = await loadConfig(config);
  try {
    const [last] = await registry.history({
      job: "temperature_alerts",
      limit: 1,
    });
    const steps = [...last?.actions ?? [], ...last?.resolvedActions ?? []];
    const messages = steps
      .filter((action) => action.action === "send_slack_message")
      .map((action) =>
        action.result as {
          dryRun?: boolean;
          messages?: Array<{ channel: string; text: string }>;
        } | undefined
      )
      .filter((result) => result?.dryRun)
      .flatMap((result) => result?.messages ?? []);
    if (messages.length === 0) return;
    console.log(
      "\nSLACK_BOT_TOKEN is not set, so Slack was a dry run. The message would be:",
    );
    for (const message of messages) {
      console.log(`\n[${message.channel}]\n${message.text}`);
    }
  } finally {
    await registry.close();
  }
}

/** "Fixes" the hottest reading (a faulty sensor read): its anomaly resolves on the next run. */
function fixHottest(path: string): void {
  const db = new DatabaseSync(path);
  const hottest = db.prepare(
    "SELECT id, sensor, celsius FROM readings ORDER BY celsius DESC LIMIT 1",
  ).get() as { id: number; sensor: string; celsius: number };
  const normal = db.prepare(
    "SELECT ROUND(AVG(celsius), 1) AS celsius FROM readings WHERE sensor = ? AND id <> ?",
  ).get(hottest.sensor, hottest.id) as { celsius: number };
  db.prepare("UPDATE readings SET celsius = ? WHERE id = ?").run(
    normal.celsius,
    hottest.id,
  );
  db.close();
  console.log(
    `Fixed reading ${hottest.id} (${hottest.sensor}): ${hottest.celsius} °C → ${normal.celsius} °C\n`,
  );
}

function relative(path: string): string {
  return path.startsWith(`${Deno.cwd()}/`)
    ? path.slice(Deno.cwd().length + 1)
    : path;
}

function absolute(path: string): string {
  return path.startsWith("/") ? path : `${Deno.cwd()}/${path}`;
}

/** Creates the readings (with a few anomalies) and the alerts table, once. */
function seed(path: string): void {
  const db = new DatabaseSync(path);
  db.exec(`CREATE TABLE IF NOT EXISTS readings (
             id INTEGER PRIMARY KEY, sensor TEXT NOT NULL, celsius REAL NOT NULL, taken_at TEXT NOT NULL);
           CREATE TABLE IF NOT EXISTS alerts (
             reading_id INTEGER PRIMARY KEY, sensor TEXT NOT NULL, celsius REAL NOT NULL,
             created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP, resolved_at TEXT)`);
  const columns = db.prepare("PRAGMA table_info(alerts)").all();
  if (!columns.some((column) => column.name === "resolved_at")) {
    db.exec("ALTER TABLE alerts ADD COLUMN resolved_at TEXT"); // a demo.db from before alerts resolved
  }
  const { n } = db.prepare("SELECT COUNT(*) AS n FROM readings").get() as {
    n: number;
  };
  if (n === 0) {
    const insert = db.prepare(
      "INSERT INTO readings (sensor, celsius, taken_at) VALUES (?, ?, ?)",
    );
    const start = Date.UTC(2026, 10, 27, 6, 0);
    const spikes: Record<number, number> = { 17: 58, 42: 71, 77: 64, 95: 49 };
    db.exec("BEGIN");
    for (let i = 0; i < 120; i++) {
      const sensor = ["boiler-room", "server-rack", "cold-store"][i % 3]!;
      const base = {
        "boiler-room": 30,
        "server-rack": 24,
        "cold-store": 4,
      }[sensor]!;
      const celsius = spikes[i] ??
        Math.round((base + Math.sin(i) * 2) * 10) / 10;
      insert.run(sensor, celsius, new Date(start + i * 60_000).toISOString());
    }
    db.exec("COMMIT");
  }
  db.close();
}
