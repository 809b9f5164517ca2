import assert from "node:assert/strict";
import { rejectsWithCode, throwsWithCode, withRegistry } from "./_helpers.ts";

Deno.test(
  "run_sql: an unknown config key is INVALID_CONFIG naming the closest key",
  withRegistry(async (registry) => {
    await rejectsWithCode(
      registry.run("run_sql", [{}], {
        config: { database: "sqlite::memory:", sql: "SELECT 1", mod: "once" },
      }),
      "INVALID_CONFIG",
      /unknown key "mod" in run_sql config; did you mean "mode"\?/,
    );
  }),
);

Deno.test(
  "strict configs: a registered action's strict zod schema names the closest key too",
  withRegistry(async (registry) => {
    const { z } = await import("zod");
    registry.register("notify", () => ({}), {
      config: z.object({ channel: z.string(), retries: z.number() }).strict(),
    });
    await rejectsWithCode(
      registry.run("notify", [], { config: { chanel: "#a", retries: 1 } }),
      "INVALID_CONFIG",
      /unknown key "chanel" in notify config; did you mean "channel"\?/,
    );
  }),
);

Deno.test(
  "strict configs: a typo in a job step's built-in config is refused when the job is defined",
  withRegistry((registry) => {
    registry.defineView({
      name: "v",
      database: "sqlite::memory:",
      sql: "SELECT 1 AS id",
    });
    throwsWithCode(
      () =>
        registry.defineJob({
          name: "j",
          view: "v",
          actions: [{
            action: "send_slack_message",
            config: { channel: "#a", text: "x", token: "xoxb-oops" },
          }],
        }),
      "INVALID_CONFIG",
      /Invalid job "j": actions\[0\]: .*unknown key "token" in send_slack_message config; did you mean "tokenEnv"\?/,
    );
  }),
);

Deno.test(
  "strict configs: every built-in's JSON Schema allows no other keys",
  withRegistry((registry) => {
    for (const name of ["run_sql", "send_slack_message", "http_request"]) {
      assert.equal(
        registry.getInfo(name).configSchema?.additionalProperties,
        false,
        name,
      );
    }
  }),
);
