/**
 * `serve`: the scheduler until SIGINT or SIGTERM, with the status page beside
 * it when `--http` is given.
 *
 * @module
 */
import { type Command, required, UsageError } from "./_command.ts";
import { formatRunLine, when } from "./_format.ts";
import { isTriggerKitError } from "../errors.ts";
import { redact } from "../redact.ts";

/** `serve --http HOST:PORT --http-token-env VAR --http-allowed-hosts A,B` as `serve()` options. */
function httpOptions(
  values: Record<string, string | boolean | undefined>,
  say: (line: string) => void,
): {
  http?: string;
  httpToken?: string;
  httpAllowedHosts?: string[];
  onListen?: (address: { url: string }) => void;
} {
  const http = values.http as string | undefined;
  const tokenEnv = values["http-token-env"] as string | undefined;
  const hosts = values["http-allowed-hosts"] as string | undefined;
  if (http === undefined) {
    const stray = tokenEnv !== undefined
      ? "--http-token-env"
      : hosts !== undefined
      ? "--http-allowed-hosts"
      : undefined;
    if (stray) throw new UsageError(`${stray} needs --http HOST:PORT`);
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
    ...(hosts === undefined ? {} : {
      httpAllowedHosts: required(hosts, "a list of host names").split(",")
        .map((host) => host.trim()).filter(Boolean),
    }),
    onListen: ({ url }) =>
      say(
        `Status page on ${url}${
          httpToken ? " (runs can be started with the token)" : " (read-only)"
        }`,
      ),
  };
}

/** `serve`: the scheduler, until SIGINT or SIGTERM; one line per run, and why it stopped. */
export const serveCommand: Command = {
  summary: "Run every enabled job on its schedule until SIGINT or SIGTERM",
  usage:
    "serve [--http HOST:PORT [--http-token-env VAR] [--http-allowed-hosts A,B]] [--json] [--config FILE]",
  options: {
    http: { type: "string" },
    "http-token-env": { type: "string" },
    "http-allowed-hosts": { type: "string" },
  },
  needsConfig: true,
  printsRuns: true,
  async run({ registry, io, json: asJson, paint, values, clock, signal }) {
    const say = (text: string) =>
      io.err(
        `${paint.dim(when(new Date(clock.now()).toISOString()))}  ${text}`,
      );
    const http = httpOptions(values, say);
    const loaded = await registry();
    const jobs = loaded.listJobs().filter((job) =>
      job.schedule && job.enabled !== false
    );
    say(
      `Serving ${jobs.length} scheduled job${jobs.length === 1 ? "" : "s"}: ${
        jobs.map((job) => job.name).join(", ") || "(none)"
      }`,
    );
    const stop = new AbortController();
    let why: string | undefined;
    const stopFor = (reason: string) => {
      if (stop.signal.aborted) return;
      why = reason;
      say(`Stopping (${reason}): running jobs may finish`);
      stop.abort();
    };
    const onSignal = SIGNALS.map((name) => {
      const listener = () => stopFor(`${name} received`);
      Deno.addSignalListener(name, listener);
      return () => Deno.removeSignalListener(name, listener);
    });
    const onAbort = () => stopFor("aborted");
    if (signal?.aborted) onAbort();
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      await loaded.serve({
        ...http,
        signal: stop.signal,
        handleSignals: false,
        onRun: (report) =>
          io.out(
            asJson ? JSON.stringify(report) : formatRunLine(report, paint),
          ),
      });
      say(
        `Stopped: ${
          why ?? (jobs.length === 0 && !http.http
            ? "no enabled job has a schedule"
            : "the scheduler ended")
        }`,
      );
      return 0;
    } catch (error) {
      say(`Stopped: ${redact(errorText(error))}`);
      throw error;
    } finally {
      for (const remove of onSignal) remove();
      signal?.removeEventListener("abort", onAbort);
    }
  },
};

/** The signals `serve` stops on (Windows has no SIGTERM listener). */
const SIGNALS: Deno.Signal[] = Deno.build.os === "windows"
  ? ["SIGINT"]
  : ["SIGINT", "SIGTERM"];

function errorText(error: unknown): string {
  return isTriggerKitError(error)
    ? `error[${error.code}]`
    : error instanceof Error
    ? error.name
    : "an error";
}
