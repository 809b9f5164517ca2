/**
 * How the command line shows things: aligned tables, run reports, colours
 * only on a terminal (and never with NO_COLOR).
 *
 * @module
 */
import type { ActionOutcome, RunRecord, RunReport } from "../store/contract.ts";
import { toJson } from "../_json.ts";
import { redact } from "../redact.ts";

/** Colours for a stream: codes on a terminal, plain text elsewhere. */
export interface Paint {
  ok(text: string): string;
  bad(text: string): string;
  warn(text: string): string;
  dim(text: string): string;
  bold(text: string): string;
}

/** Paint for a stream that is, or is not, a terminal. */
export function paint(enabled: boolean): Paint {
  const wrap = (code: number) => (text: string) =>
    enabled ? `\x1b[${code}m${text}\x1b[0m` : text;
  return {
    ok: wrap(32),
    bad: wrap(31),
    warn: wrap(33),
    dim: wrap(2),
    bold: wrap(1),
  };
}

/** Whether stdout is a terminal that may get colours. */
export function colourful(): boolean {
  try {
    return Deno.stdout.isTerminal() && !Deno.env.get("NO_COLOR");
  } catch {
    return false;
  }
}

// C0 controls but tab and line feed, DEL, C1 controls, the line and
// paragraph separators and the bidirectional overrides and isolates: what
// could move the cursor, clear the screen, retitle the terminal or reorder a
// line when a run's error (a remote server's answer) is printed.
const UNPRINTABLE =
  // deno-lint-ignore no-control-regex
  /\r\n|[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
// The same, but the colour codes `paint` writes pass.
const UNPRINTABLE_BUT_COLOURS = new RegExp(
  `${String.fromCharCode(27)}\\[(?:[0-2]|3[1-3])m|${UNPRINTABLE.source}`,
  "g",
);

/**
 * Text safe to print on a terminal: every control character but tab and line
 * feed is written as its `\uXXXX` escape (which also keeps JSON valid and
 * exact), `\r\n` becomes `\n`, and only `paint`'s own colour codes pass
 * when `colours` is on.
 *
 * @param text A line about to be printed.
 * @param colours Whether the colour codes of {@linkcode paint} may pass.
 * @returns The text, with nothing a terminal would act on.
 */
export function printable(text: string, colours = false): string {
  return text.replace(
    colours ? UNPRINTABLE_BUT_COLOURS : UNPRINTABLE,
    (match) =>
      match === "\r\n"
        ? "\n"
        : match.length > 1
        ? match
        : `\\u${match.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/** Renders rows as an aligned text table. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((header, i) =>
    Math.max(header.length, ...rows.map((row) => visible(row[i] ?? "").length))
  );
  const line = (cells: string[]) =>
    cells.map((cell, i) =>
      cell + " ".repeat(Math.max(0, widths[i]! - visible(cell).length))
    ).join("  ").trimEnd();
  return [line(headers), ...rows.map(line)].join("\n");
}

const ESCAPE = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, "g");

/** Text as it shows, without colour codes. */
function visible(text: string): string {
  return text.replace(ESCAPE, "");
}

/** A status, coloured by what it means. */
export function status(text: string, p: Paint): string {
  if (text === "succeeded") return p.ok(text);
  if (text === "failed" || text === "interrupted") return p.bad(text);
  if (text === "skipped" || text === "running") return p.warn(text);
  return text;
}

/** A run report for people. */
export function formatReport(report: RunReport, p: Paint): string {
  const lines = [
    `${p.bold(report.jobName)} ${status(report.status, p)}${
      report.dryRun ? p.dim(" (dry run)") : ""
    }  ${p.dim(`run ${report.runId}`)}`,
    `rows: ${report.rowCount} from the view, ${report.newRowCount} new`,
  ];
  if (report.reason) lines.push(`reason: ${report.reason}`);
  if (report.error) {
    lines.push(p.bad(`error[${report.error.code}]: ${report.error.message}`));
  }
  if (report.actions.length > 0) lines.push(outcomes(report.actions, p));
  // alerts (issue 14): resolved and summary steps, notices — when they ran.
  const ran = (list: ActionOutcome[] | undefined): list is ActionOutcome[] =>
    list?.some((outcome) => outcome.status !== "skipped") ?? false;
  const more: Array<[string, ActionOutcome[] | undefined]> = [
    ["resolved", report.resolvedActions],
    ["summary", report.summaryActions],
    ...(report.notices ?? []).map((notice) =>
      [`notice ${notice.kind}`, notice.actions] as [string, ActionOutcome[]]
    ),
  ];
  for (const [title, list] of more) {
    if (ran(list)) lines.push(`${p.bold(title)}:`, outcomes(list, p));
  }
  return lines.join("\n");
}

function outcomes(list: ActionOutcome[], p: Paint): string {
  return table(
    ["ACTION", "STATUS", "MS", "RESULT"],
    list.map((action) => [
      action.action,
      status(action.status, p),
      String(Math.round(action.durationMs)),
      action.error
        ? p.bad(`${action.error.code}: ${action.error.message}`)
        : summarize(action.result),
    ]),
  );
}

/** How many characters of a run id the tables show; `show` takes them back. */
export const SHORT_ID = 8;

/** A run id as the tables show it. */
export function shortId(runId: string): string {
  return runId.slice(0, SHORT_ID);
}

/** An ISO time to the second: `2026-03-01 10:00:05Z`. */
export function when(iso: string): string {
  return iso.replace("T", " ").replace(/(\.\d+)?Z$/, "Z");
}

/** A duration for people: `850ms`, `12.3s`, `4m05s`, `2h03m`, `3d04h`. */
export function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(Math.floor(ms / 100) / 10).toFixed(1)}s`;
  const pad = (n: number) => String(n).padStart(2, "0");
  const s = Math.floor(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m${pad(s % 60)}s`;
  if (s < 86_400) {
    return `${Math.floor(s / 3600)}h${pad(Math.floor(s / 60) % 60)}m`;
  }
  return `${Math.floor(s / 86_400)}d${pad(Math.floor(s / 3600) % 24)}h`;
}

/** How long a run took, or undefined while it runs (or when it has no end). */
export function runDuration(run: RunRecord): number | undefined {
  if (!run.finishedAt) return undefined;
  return Date.parse(run.finishedAt) - Date.parse(run.startedAt);
}

/** `rows/new`: what the view yielded, what was left after dedupe. */
function rows(run: RunRecord): string {
  return `${run.rowCount}/${run.newRowCount}`;
}

/**
 * Why a run failed, was skipped or was cut short, in one line: its reason,
 * the view's error, the first failed action's error. Empty for a success.
 */
export function why(run: RunRecord, limit = 100): string {
  const failed = run.actions.find((action) => action.status === "failed");
  const parts = [
    run.reason,
    run.error && `${run.error.code}: ${run.error.message}`,
    failed?.error &&
    `${failed.action}: ${failed.error.code}: ${failed.error.message}`,
  ];
  if (run.status === "interrupted" && !run.reason) {
    parts.unshift("its instance stopped before it finished");
  }
  const text = redact(
    parts.filter(Boolean).join("; ").replace(/\s+/g, " ").trim(),
  );
  return text.length > limit ? `${text.slice(0, limit - 1)}…` : text;
}

/** A status with `(dry run)` after it when it was one. */
function runStatus(run: RunRecord, p: Paint): string {
  return `${status(run.status, p)}${run.dryRun ? p.dim(" (dry run)") : ""}`;
}

/** History as a table: short id, start, job, status, duration, rows/new, why. */
export function formatHistory(records: RunRecord[], p: Paint): string {
  if (records.length === 0) return "No runs recorded yet.";
  return table(
    ["RUN", "STARTED", "JOB", "STATUS", "TOOK", "ROWS/NEW", "WHY"],
    records.map((run) => {
      const took = runDuration(run);
      return [
        p.dim(shortId(run.runId)),
        when(run.startedAt),
        run.jobName,
        runStatus(run, p),
        took === undefined ? "-" : duration(took),
        rows(run),
        why(run),
      ];
    }),
  );
}

/** One line per run, for `serve`: when it ended, job, status, rows, duration, run id, why. */
export function formatRunLine(report: RunReport, p: Paint): string {
  const reason = why(report);
  return [
    p.dim(when(report.finishedAt || report.startedAt)),
    p.bold(report.jobName),
    runStatus(report, p),
    `rows ${rows(report)}`,
    duration(runDuration(report) ?? 0),
    p.dim(`run ${shortId(report.runId)}`),
    ...(reason ? [`— ${reason}`] : []),
  ].join("  ");
}

/** One run in full, for `show`: every action's status, duration, attempts, result or error. */
export function formatRun(run: RunRecord, p: Paint): string {
  const took = runDuration(run);
  const fields: Array<[string, string | undefined]> = [
    ["run", run.runId],
    ["job", run.jobName],
    ["status", runStatus(run, p)],
    ["started", when(run.startedAt)],
    ["finished", run.finishedAt ? when(run.finishedAt) : undefined],
    ["took", took === undefined ? undefined : duration(took)],
    ["slot", run.slot && when(run.slot)],
    ["attempt", run.attempt ? String(run.attempt) : undefined],
    ["rows", `${run.rowCount} from the view, ${run.newRowCount} new`],
    ["reason", run.reason && redact(run.reason)],
    [
      "error",
      run.error && p.bad(`${run.error.code}: ${redact(run.error.message)}`),
    ],
  ];
  const lines = fields.filter(([, value]) => value !== undefined).map((
    [name, value],
  ) => `${p.dim(name.padEnd(9))}${value}`);
  if (run.actions.length > 0) lines.push("", "actions:");
  run.actions.forEach((action, i) => lines.push(...formatAction(action, i, p)));
  return lines.join("\n");
}

function formatAction(action: ActionOutcome, i: number, p: Paint): string[] {
  const attempts = action.attempts ?? (action.status === "skipped" ? 0 : 1);
  const head = `${i + 1}. ${p.bold(action.action)}  ${
    status(action.status, p)
  }${
    action.status === "skipped"
      ? ""
      : `  ${duration(action.durationMs)}  ${attempts} attempt${
        attempts === 1 ? "" : "s"
      }`
  }`;
  const body = action.error
    ? [p.bad(`error[${action.error.code}]: ${redact(action.error.message)}`)]
    : action.result === undefined
    ? []
    : redact(toJson(action.result, 2)).split("\n");
  return [head, ...body.map((line) => `   ${line}`)];
}

function summarize(result: unknown): string {
  if (result === undefined) return "";
  const text = toJson(result);
  return text.length > 80 ? `${text.slice(0, 79)}…` : text;
}
