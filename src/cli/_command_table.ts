/**
 * The command line's commands, by name, in the order `--help` lists them.
 *
 * @module
 */
import type { Command } from "./_command.ts";
import { historyCommand, jobsCommand, runCommand } from "./_job_commands.ts";
import { validateCommand } from "./_validate_command.ts";
import { serveCommand } from "./_serve_command.ts";
import { showCommand } from "./_show_command.ts";
import {
  actionsCommand,
  execCommand,
  infoCommand,
} from "./_action_commands.ts";
import {
  alertsCommand,
  muteCommand,
  unmuteCommand,
} from "./_alert_commands.ts";

export { type CliIo, type Command, UsageError } from "./_command.ts";

/** Every command, by name. */
export const COMMANDS: Record<string, Command> = {
  run: runCommand,
  serve: serveCommand,
  jobs: jobsCommand,
  actions: actionsCommand,
  info: infoCommand,
  history: historyCommand,
  show: showCommand,
  validate: validateCommand,
  exec: execCommand,
  mute: muteCommand,
  unmute: unmuteCommand,
  alerts: alertsCommand,
};
