/**
 * The code the host ships into the processes it starts, as `data:` URLs
 * built from the source text of self-contained functions: the sandbox
 * process's main with its Worker runtime, and the watchdog's main.
 *
 * @module
 */
import { LANE_SOURCE } from "../_lane.ts";
import { childMain } from "../child/main.ts";
import { WORKER_FUNCTIONS } from "../worker/runtime.ts";
import { watchdogMain } from "../watchdog/main.ts";

const dataUrl = (source: string) =>
  `data:application/javascript,${encodeURIComponent(source)}`;

let childSource: string | undefined;

/** The sandbox process's entrypoint: its main, the Worker runtime, the lanes. */
export function childEntry(): string {
  if (childSource) return childSource;
  const worker = dataUrl(
    `${LANE_SOURCE}\n${WORKER_FUNCTIONS.map(String).join("\n")}\n` +
      `workerMain(openLane);`,
  );
  return childSource = dataUrl(
    `${LANE_SOURCE}\n${childMain}\nchildMain(openLane, ${
      JSON.stringify(worker)
    });`,
  );
}

/** The watchdog process's entrypoint. */
export function watchdogEntry(intervalMs: number): string {
  return dataUrl(`${watchdogMain}\nwatchdogMain(${intervalMs});`);
}
