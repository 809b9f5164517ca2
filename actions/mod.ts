/**
 * The built-in actions, registered on every registry.
 *
 * @module
 */
import type { Registry } from "../src/registry.ts";
import type { Databases } from "../src/databases.ts";
import { runSql, runSqlConfig } from "./run_sql.ts";
import {
  sendSlackMessage,
  sendSlackMessageConfig,
} from "./send_slack_message.ts";
import { httpRequest, httpRequestConfig } from "./http_request.ts";

/** Registers the built-in actions on a registry. */
export function registerBuiltins(
  registry: Registry,
  databases: Databases,
): void {
  registry.registerBuiltin("run_sql", runSql(databases), {
    description:
      "Run a SQL statement on SQLite or PostgreSQL, per row or once, in one transaction",
    config: runSqlConfig,
  });
  registry.registerBuiltin("send_slack_message", sendSlackMessage(), {
    description:
      "Post a message rendered from the rows to Slack (bot token or incoming webhook)",
    config: sendSlackMessageConfig,
  });
  registry.registerBuiltin("http_request", httpRequest(), {
    description:
      "Call an HTTP API once per run or per row, retrying 429 and 5xx",
    config: httpRequestConfig,
  });
}
