/**
 * The pieces the status pages are made of: badges, times, durations, the
 * sparkline. Every value goes through the `html` tag, which escapes it.
 *
 * @module
 */
import type { RunRecord, RunSummary } from "../store/contract.ts";
import { html, type SafeHtml } from "./_escape.ts";
import { redact } from "../redact.ts";

/** How many runs a job's sparkline shows. */
export const SPARKLINE_RUNS = 20;

export function fact(label: string, value: unknown): SafeHtml {
  return html`
    <div>
      <dt>${label}</dt>
      <dd>${value}</dd>
    </div>
  `;
}

const STATUS_LABEL: Record<string, string> = {
  succeeded: "succeeded",
  failed: "failed",
  skipped: "skipped",
  running: "running",
  interrupted: "interrupted",
};

export function badge(status: string): SafeHtml {
  return html`<span class="badge ${
    STATUS_LABEL[status] ?? "unknown"
  }">${status}</span>`;
}

/**
 * The recent runs as an inline SVG bar chart, oldest on the left: a bar's
 * height is its rows (square-root scale), failed runs are full red bars,
 * skipped ones a grey stub.
 */
export function sparkline(runs: readonly RunSummary[]): SafeHtml {
  const shown = runs.slice(0, SPARKLINE_RUNS).reverse();
  if (shown.length === 0) return html`<span class="muted">no runs yet</span>`;
  const height = 26;
  const step = 7;
  const max = Math.max(1, ...shown.map((run) => run.rowCount));
  const offset = (SPARKLINE_RUNS - shown.length) * step;
  const counts = { succeeded: 0, failed: 0, other: 0 };
  const bars = shown.map((run, i) => {
    const failed = run.status === "failed" || run.status === "interrupted";
    if (failed) counts.failed++;
    else if (run.status === "succeeded") counts.succeeded++;
    else counts.other++;
    const h = failed
      ? height
      : run.status === "skipped" || run.rowCount === 0
      ? 3
      : Math.max(
        4,
        Math.round(4 + (height - 4) * Math.sqrt(run.rowCount / max)),
      );
    return html`
      <rect x="${offset + i * step}" y="${height -
        h}" width="5" height="${h}" rx="1"
        class="bar ${STATUS_LABEL[run.status] ?? "unknown"}">
        <title>${run.startedAt.slice(0, 16).replace("T", " ")} UTC: ${run
          .status}, ${rowsText(run)}</title>
      </rect>
    `;
  });
  const label =
    `Last ${shown.length} runs: ${counts.succeeded} succeeded, ${counts.failed} failed, ${counts.other} skipped or running; at most ${max} rows`;
  return html`
    <svg class="spark" role="img" aria-label="${label}"
      viewBox="0 0 ${SPARKLINE_RUNS * step} ${height}" width="${SPARKLINE_RUNS *
        step}"
      height="${height}">${bars}</svg>
  `;
}

export function rowsText(run: RunSummary): string {
  if (run.status === "running" && run.rowCount === 0) return "…";
  const rows = `${run.rowCount} ${run.rowCount === 1 ? "row" : "rows"}`;
  return run.newRowCount !== run.rowCount
    ? `${rows} (${run.newRowCount} new)`
    : rows;
}

export function why(run: RunRecord): SafeHtml {
  if (run.error) {
    return html`<code>${run.error.code}</code> ${
      redact(run.reason ?? run.error.message)
    }`;
  }
  const failed = run.actions.find((action) => action.status === "failed");
  if (failed?.error) {
    return html`${failed.action}: <code>${failed.error.code}</code> ${
      redact(clip(failed.error.message, 160))
    }`;
  }
  return html`${run.reason ? redact(run.reason) : ""}`;
}

export function runDuration(run: RunRecord, now: number): number | undefined {
  const started = Date.parse(run.startedAt);
  if (!Number.isFinite(started)) return undefined;
  if (!run.finishedAt) {
    return run.status === "running" ? now - started : undefined;
  }
  const finished = Date.parse(run.finishedAt);
  return Number.isFinite(finished) ? finished - started : undefined;
}

/** A duration for people: `850 ms`, `12.3 s`, `4 min 12 s`, `2 h 5 min`. */
export function formatDuration(ms: number): string {
  if (ms < 1) return "< 1 ms";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 60) return `${minutes} min ${Math.floor(ms / 1000) % 60} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** A moment relative to now: `in 4 min`, `3 h ago`, `just now`. */
export function formatRelative(iso: string, now: number): string {
  const at = Date.parse(iso);
  if (!Number.isFinite(at)) return iso;
  const delta = at - now;
  const abs = Math.abs(delta);
  if (abs < 5000) return delta > 0 ? "in a few seconds" : "just now";
  const units: Array<[number, string]> = [
    [86_400_000, "d"],
    [3_600_000, "h"],
    [60_000, "min"],
    [1000, "s"],
  ];
  const [size, unit] = units.find(([size]) => abs >= size)!;
  const amount = Math.floor(abs / size);
  return delta > 0 ? `in ${amount} ${unit}` : `${amount} ${unit} ago`;
}

export function timeRelative(iso: string, now: number): SafeHtml {
  return html`<time datetime="${iso}" title="${absolute(iso)}">${
    formatRelative(iso, now)
  }</time>`;
}

export function timeAbsolute(iso: string): SafeHtml {
  return html`<time datetime="${iso}" data-absolute>${absolute(iso)}</time>`;
}

export function absolute(iso: string): string {
  const at = Date.parse(iso);
  return Number.isFinite(at)
    ? `${new Date(at).toISOString().slice(0, 19).replace("T", " ")} UTC`
    : iso;
}

export function shortId(runId: string): string {
  return runId.slice(0, 8);
}

export function clip(text: string, max: number): string {
  return text.length > max
    ? `${text.slice(0, max)}… (${text.length - max} more characters)`
    : text;
}
