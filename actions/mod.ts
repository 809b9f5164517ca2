/**
 * The built-in actions, as plain values: each registry installs them with
 * its own databases and clock.
 *
 * @module
 */
import type { ActionFn, ConfigSchema } from "../src/types.ts";
import type { Databases } from "../src/db/databases.ts";
import type { Clock } from "../src/clock.ts";
import { runSql, runSqlConfig } from "./run_sql.ts";
import {
  sendSlackMessage,
  sendSlackMessageConfig,
} from "./send_slack_message.ts";
import { Pacer } from "./_pacer.ts";
import { httpRequest, httpRequestConfig } from "./http_request.ts";

/** What a built-in action is bound to: its registry's databases and clock. */
export interface BuiltinDeps {
  /** The registry's databases, by URL or configured name. */
  databases: Databases;
  /** The registry's clock: pacing, retries and backoff wait on it. */
  clock: Clock;
}

/** A built-in action bound to a registry: its function and its config schema. */
export interface BuiltinInstance {
  /** The action. */
  run: ActionFn<never>;
  /** Its config schema (zod). */
  config: ConfigSchema;
}

/** A built-in action, before a registry installs it. */
export interface BuiltinAction {
  /** The action's name. */
  readonly name: string;
  /** What it does, for `getInfo` and `triggerkit actions`. */
  readonly description: string;
  /** Binds the action to a registry's databases and clock. */
  create(deps: BuiltinDeps): BuiltinInstance;
}

/** Every built-in action, in the order `listAvailable` would not care about. */
export const BUILTIN_ACTIONS: readonly BuiltinAction[] = [
  {
    name: "run_sql",
    description:
      "Run a SQL statement on SQLite or PostgreSQL, per row or once, in one transaction",
    create: ({ databases, clock }) => ({
      run: runSql(databases, clock),
      config: runSqlConfig(databases),
    }),
  },
  {
    name: "send_slack_message",
    description:
      "Post a message rendered from the rows to Slack (bot token or incoming webhook)",
    create: ({ clock }) => ({
      run: sendSlackMessage({ clock, pacer: new Pacer(clock) }),
      config: sendSlackMessageConfig,
    }),
  },
  {
    name: "http_request",
    description:
      "Call an HTTP API once per run or per row, retrying 429 and 5xx",
    create: ({ clock }) => ({
      run: httpRequest({ clock }),
      config: httpRequestConfig,
    }),
  },
];
