/**
 * How the command line shows things: aligned tables, run reports, colours
 * only on a terminal (and never with NO_COLOR).
 *
 * @module
 */
import type { ActionOutcome, RunRecord, RunReport } from "../store/contract.ts";
import { toJson } from "../_json.ts";

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

/** History as a table. */
export function formatHistory(records: RunRecord[], p: Paint): string {
  if (records.length === 0) return "No runs recorded yet.";
  return table(
    ["STARTED", "JOB", "STATUS", "ROWS", "NEW", "DRY", "ACTIONS"],
    records.map((run) => [
      run.startedAt.replace("T", " ").replace(/\.\d+Z$/, "Z"),
      run.jobName,
      status(run.status, p),
      String(run.rowCount),
      String(run.newRowCount),
      run.dryRun ? "yes" : "",
      run.actions.map((a) => `${a.action}:${a.status}`).join(" "),
    ]),
  );
}

function summarize(result: unknown): string {
  if (result === undefined) return "";
  const text = toJson(result);
  return text.length > 80 ? `${text.slice(0, 79)}…` : text;
}
