/**
 * `serve`: the scheduler until SIGINT or SIGTERM, with the status page beside
 * it when `--http` is given.
 *
 * @module
 */
import { type CliIo, type Command, required, UsageError } from "./_command.ts";
import { formatReport } from "./_format.ts";

/** `serve --http HOST:PORT --http-token-env VAR` as `serve()` options. */
function httpOptions(
  values: Record<string, string | boolean | undefined>,
  io: CliIo,
): {
  http?: string;
  httpToken?: string;
  onListen?: (address: { url: string }) => void;
} {
  const http = values.http as string | undefined;
  const tokenEnv = values["http-token-env"] as string | undefined;
  if (http === undefined) {
    if (tokenEnv !== undefined) {
      throw new UsageError("--http-token-env needs --http HOST:PORT");
    }
    return {};
  }
  let httpToken: string | undefined;
  if (tokenEnv !== undefined) {
    httpToken = Deno.env.get(required(tokenEnv, "a variable name"));
    if (!httpToken) {
      throw new UsageError(
        `--http-token-env names ${tokenEnv}, which is not set or empty`,
      );
    }
  }
  return {
    http,
    ...(httpToken ? { httpToken } : {}),
    onListen: ({ url }) =>
      io.err(
        `Status page on ${url}${
          httpToken ? " (runs can be started with the token)" : " (read-only)"
        }`,
      ),
  };
}

/** `serve`: the scheduler, until SIGINT or SIGTERM. */
export const serveCommand: Command = {
  summary: "Run every enabled job on its schedule until SIGINT or SIGTERM",
  usage:
    "serve [--http HOST:PORT [--http-token-env VAR]] [--json] [--config FILE]",
  options: {
    http: { type: "string" },
    "http-token-env": { type: "string" },
  },
  needsConfig: true,
  async run({ registry, io, json: asJson, paint, values }) {
    const http = httpOptions(values, io);
    const jobs = (await registry()).listJobs().filter((job) =>
      job.schedule && job.enabled !== false
    );
    io.err(
      `Serving ${jobs.length} scheduled jobs: ${
        jobs.map((job) => job.name).join(", ") || "(none)"
      }`,
    );
    await (await registry()).serve({
      ...http,
      onRun: (report) =>
        io.out(asJson ? JSON.stringify(report) : formatReport(report, paint)),
    });
    return 0;
  },
};
