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

/** Source text as a `data:` URL: base64, shorter than percent-encoding code. */
function dataUrl(source: string): string {
  const bytes = new TextEncoder().encode(source);
  let binary = "";
  for (let at = 0; at < bytes.length; at += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(at, at + 0x8000));
  }
  return `data:application/javascript;base64,${btoa(binary)}`;
}

let childSource: string | undefined;

/**
 * The sandbox process's entrypoint: its main, the Worker runtime, the
 * lanes. The Worker's source travels inside as a string (its `data:` URL
 * is made in the process): encoded once, the entry is half the size, which
 * Deno parses at every process's start.
 */
export function childEntry(): string {
  if (childSource) return childSource;
  const worker = `${LANE_SOURCE}\n${
    WORKER_FUNCTIONS.map(String).join("\n")
  }\nworkerMain(openLane);`;
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
