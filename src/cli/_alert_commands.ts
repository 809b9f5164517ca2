/**
 * The commands about alerts: `mute`, `unmute`, `alerts`.
 *
 * @module
 */
import { table } from "./_format.ts";
import { toJson } from "../_json.ts";
import { type Command, json, required, UsageError } from "./_command.ts";

/**
 * A `--key` value as the key's values: a JSON array (`'["boiler",42]'`),
 * values separated by commas when the key has several columns
 * (`boiler,42`), or the one value of a one-column key.
 */
function parseKey(text: string, width: number): unknown[] {
  if (text.trimStart().startsWith("[")) {
    try {
      const parsed = JSON.parse(text);
      if (Array.isArray(parsed)) return parsed;
    } catch {
      // Not JSON: read as text below.
    }
  }
  if (width === 1) return [text];
  const parts = text.split(",");
  if (parts.length !== width) {
    throw new UsageError(
      `--key "${text}" must give ${width} values, separated by commas or as a JSON array`,
    );
  }
  return parts;
}

// Controls and bidirectional overrides: a key's value comes from the
// database and must not drive the terminal or reorder what it shows.
const UNPRINTABLE =
  // deno-lint-ignore no-control-regex
  /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u2028-\u202e\u2066-\u2069]/g;

/** A key's value as the `alerts` table shows it: objects as JSON, no control characters. */
function keyText(value: unknown): string {
  const text = typeof value === "object" && value !== null
    ? toJson(value)
    : String(value);
  return text.replace(
    UNPRINTABLE,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/** `mute`: a job's alerts muted for a while. */
export const muteCommand: Command = {
  summary: "Mute a job's alerts for a while (all keys, or some)",
  usage:
    "mute <job> --for DURATION [--key KEY]... [--reason TEXT] [--json] [--config FILE]",
  options: {
    for: { type: "string" },
    key: { type: "string", multiple: true },
    reason: { type: "string" },
  },
  needsConfig: true,
  async run({ registry, positionals, values, json: asJson, io }) {
    const name = required(positionals[0], "a job name");
    const duration = required(values.for as string | undefined, "--for");
    const loaded = await registry();
    const width = loaded.listJobs().find((job) => job.name === name)?.dedupe
      ?.key.length ?? 1;
    const keys = (values.key as unknown as string[] | undefined)?.map((key) =>
      parseKey(key, width)
    );
    const mute = await loaded.mute(name, {
      for: duration,
      ...(keys ? { keys } : {}),
      ...(typeof values.reason === "string" ? { reason: values.reason } : {}),
    });
    io.out(
      asJson
        ? json(mute)
        : `Muted ${
          mute.keys
            ? `${mute.keys.length} key${mute.keys.length === 1 ? "" : "s"} of`
            : "every key of"
        } ${name} until ${mute.until}${mute.reason ? ` (${mute.reason})` : ""}`,
    );
    return 0;
  },
};

/** `unmute`: a job's mutes ended. */
export const unmuteCommand: Command = {
  summary: "End a job's mutes",
  usage: "unmute <job> [--json] [--config FILE]",
  options: {},
  needsConfig: true,
  async run({ registry, positionals, json: asJson, io }) {
    const name = required(positionals[0], "a job name");
    const ended = await (await registry()).unmute(name);
    io.out(
      asJson
        ? json({ jobName: name, ended })
        : `Unmuted ${name} (${ended} mute${ended === 1 ? "" : "s"} ended)`,
    );
    return 0;
  },
};

/** `alerts`: pending and firing keys, and the mutes in force. */
export const alertsCommand: Command = {
  summary:
    "List pending and firing alert keys: since when, last delivered, muted",
  usage: "alerts [--job NAME] [--json] [--config FILE]",
  options: { job: { type: "string" } },
  needsConfig: true,
  async run({ registry, values, json: asJson, io }) {
    const job = typeof values.job === "string" ? values.job : undefined;
    const alerts = await (await registry()).alerts(job);
    if (asJson) {
      io.out(json(alerts));
      return 0;
    }
    io.out(
      alerts.length === 0 ? "No pending or firing alerts." : table(
        ["JOB", "KEY", "STATE", "SINCE", "LAST DELIVERED", "MUTED"],
        alerts.map((alert) => [
          alert.jobName,
          alert.key.map(keyText).join(", "),
          alert.state,
          alert.since,
          alert.lastDeliveredAt ?? "-",
          alert.muted ? "yes" : "",
        ]),
      ),
    );
    return 0;
  },
};
