/**
 * A team action, run sandboxed: it gets no permissions at all. It scores
 * each anomaly and leaves a summary in the run's context for the next step.
 */
import { defineAction } from "@triggerkit/triggerkit/action";

interface Reading {
  reading_id: number;
  sensor: string;
  celsius: number;
}

export default defineAction<{ critical: number }>(
  ({ data, config, context }) => {
    const readings = data as unknown as Reading[];
    const critical = readings.filter((reading) =>
      reading.celsius >= config.critical
    );
    context.critical = critical.length;
    context.hottest = readings.reduce(
      (max, reading) => Math.max(max, reading.celsius),
      -Infinity,
    );
    console.log(
      `scored ${readings.length} anomalies, ${critical.length} critical`,
    );
    return { scored: readings.length, critical: critical.length };
  },
);
