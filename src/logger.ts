/**
 * TriggerKit logs through LogTape under the category `["triggerkit", …]`.
 * A library never configures LogTape; the application (or the CLI) does.
 *
 * @module
 */
import { getLogger as getLogTapeLogger, type Logger } from "@logtape/logtape";

/** The logger of one TriggerKit component, e.g. `logger("action")`. */
export function logger(...category: string[]): Logger {
  return getLogTapeLogger(["triggerkit", ...category]);
}
