/**
 * The demo's config: one view over an embedded SQLite database, one alert
 * job that writes alerts, scores them in a sandboxed team action, and tells
 * Slack; when an anomaly is gone from the view (its reading was fixed), the
 * job's `alert.resolved` steps mark it resolved and tell Slack so.
 *
 * Slack: with SLACK_BOT_TOKEN set the message is really sent to
 * ${SLACK_CHANNEL:-#alerts}; without it, that step is a dry run that shows
 * the message.
 */
import { defineConfig } from "../mod.ts";

const slackIsSetUp = Boolean(Deno.env.get("SLACK_BOT_TOKEN"));

export default defineConfig({
  databases: { demo: "sqlite:${TRIGGERKIT_DEMO_DB:-.triggerkit/demo.db}" },
  store: "sqlite:${TRIGGERKIT_DEMO_STATE:-.triggerkit/state.db}",
  actions: {
    score_alerts: {
      module: "./actions/score_alerts.ts",
      timeoutMs: 5_000,
      memoryMb: 64,
    },
  },
  views: [{
    name: "temperature_anomalies",
    database: "demo",
    description: "Readings more than 15 °C above their sensor's average",
    sql: `SELECT r.id AS reading_id, r.sensor, r.celsius, r.taken_at
          FROM readings r
          JOIN (SELECT sensor, AVG(celsius) AS mean FROM readings GROUP BY sensor) s ON s.sensor = r.sensor
          WHERE r.celsius > s.mean + 15
          ORDER BY r.id`,
  }],
  jobs: [{
    name: "temperature_alerts",
    view: "temperature_anomalies",
    schedule: "every 15 minutes",
    dedupe: { key: ["reading_id"], ttl: "30d" },
    actions: [
      {
        action: "run_sql",
        config: {
          database: "demo",
          sql:
            `INSERT INTO alerts (reading_id, sensor, celsius) VALUES (:reading_id, :sensor, :celsius)
             ON CONFLICT (reading_id) DO UPDATE SET celsius = excluded.celsius, resolved_at = NULL`,
        },
      },
      { action: "score_alerts", config: { critical: 60 } },
      {
        action: "send_slack_message",
        dryRun: !slackIsSetUp,
        config: {
          channel: "${SLACK_CHANNEL:-#alerts}",
          text: ":thermometer: {{count}} temperature anomalies ({{jobName}}):",
          table: true,
          maxRows: 10,
        },
      },
    ],
    alert: {
      // Each anomaly fires once; when the view no longer yields it, it resolves.
      resolved: [
        {
          action: "run_sql",
          config: {
            database: "demo",
            sql:
              "UPDATE alerts SET resolved_at = CURRENT_TIMESTAMP WHERE reading_id = :reading_id",
          },
        },
        {
          action: "send_slack_message",
          dryRun: !slackIsSetUp,
          config: {
            channel: "${SLACK_CHANNEL:-#alerts}",
            text:
              ":white_check_mark: {{count}} temperature anomalies {{state}} ({{jobName}}):",
            table: true,
            maxRows: 10,
          },
        },
      ],
    },
  }],
});
