/**
 * The status page, rendered on the server as plain HTML: it reads fully
 * without JavaScript; `status.js` only refreshes it in place. Every value
 * goes through the `html` tag, which escapes it.
 *
 * @module
 */
import type { RunRecord } from "../store.ts";
import type { AlertStatus, JobStatus } from "./_source.ts";
import type { HealthCheck } from "./health.ts";
import { html, redactText, type SafeHtml } from "./_escape.ts";
import { toJson } from "../_json.ts";

/** What the jobs page shows. */
export interface JobsPageData {
  /** Every job, with its recent runs. */
  jobs: JobStatus[];
  /** The latest runs of every job, newest first. */
  recentRuns: RunRecord[];
  /** Pending and firing alert keys; undefined when the registry has no alerts. */
  alerts: AlertStatus[] | undefined;
  /** The scheduler's health. */
  scheduler: HealthCheck;
  /** Whether runs can be started through the API (a token is set). */
  writable: boolean;
  /** Now, in ms. */
  now: number;
}

/** How many runs a job's sparkline shows. */
export const SPARKLINE_RUNS = 20;

/** The jobs page: every job, firing alerts, the latest runs. */
export function renderJobsPage(data: JobsPageData): string {
  const { jobs, now } = data;
  const failing = jobs.filter((job) => job.lastRun?.status === "failed").length;
  const firing = data.alerts?.filter((alert) => alert.state === "firing") ??
    [];
  const running = jobs.filter((job) => job.lastRun?.status === "running")
    .length;
  const body = html`
    <h1 class="visually-hidden">Status</h1>
    <section class="tiles" aria-label="Summary">
      ${tile("Jobs", String(jobs.length), `${scheduledCount(jobs)} scheduled`)}
      ${tile(
        "Running",
        String(running),
        running === 1 ? "run now" : "runs now",
      )}
      ${tile(
        "Failing",
        String(failing),
        "jobs whose last run failed",
        failing > 0 ? "bad" : "good",
      )}
      ${tile(
        "Firing alerts",
        String(firing.length),
        data.alerts ? "keys firing now" : "no alerts defined",
        firing.length > 0 ? "bad" : "good",
      )}
      ${tile(
        "Scheduler",
        data.scheduler.ok ? "Running" : "Stalled",
        data.scheduler.detail.replace(/^the scheduler /, ""),
        data.scheduler.ok ? "good" : "bad",
      )}
    </section>
    <section aria-labelledby="jobs-title">
      <h2 id="jobs-title">Jobs</h2>
      ${jobs.length === 0 ? emptyJobs() : jobsTable(jobs, now)}
    </section>
    <section aria-labelledby="alerts-title">
      <h2 id="alerts-title">Firing alerts</h2>
      ${alertsSection(data.alerts, now)}
    </section>
    <section aria-labelledby="runs-title">
      <h2 id="runs-title">Latest runs</h2>
      ${runsTable(data.recentRuns, now)}
    </section>
  `;
  return page("TriggerKit status", body, footer(data.writable), now);
}

/** One run in full: its facts, then each action. */
export function renderRunPage(
  run: RunRecord,
  now: number,
  writable = false,
): string {
  const duration = runDuration(run, now);
  const body = html`
    <nav class="crumbs" aria-label="Breadcrumb">
      <a href="/">Jobs</a><span aria-hidden="true">/</span><span>${run
        .jobName}</span><span aria-hidden="true">/</span><span aria-current="page">run ${shortId(
          run.runId,
        )}</span>
    </nav>
    <div class="run-head">
      <h1>${run.jobName}</h1>
      ${badge(run.status)}
      ${run.dryRun ? html`<span class="tag">dry run</span>` : ""}
    </div>
    ${run.reason || run.error
      ? html`<div class="callout ${run.status === "failed" ? "bad" : ""}">
  ${run.reason ? html`<p>${redactText(run.reason)}</p>` : ""}
  ${
        run.error
          ? html`<p><code>${run.error.code}</code> ${
            redactText(run.error.message)
          }</p>`
          : ""
      }
</div>`
      : ""}
    <dl class="facts">
      ${fact("Run id", html`<code>${run.runId}</code>`)}
      ${fact("Started", timeAbsolute(run.startedAt))}
      ${fact(
        "Finished",
        run.finishedAt
          ? timeAbsolute(run.finishedAt)
          : html`<span class="muted">not yet</span>`,
      )}
      ${fact(
        "Duration",
        duration === undefined ? "—" : formatDuration(duration),
      )}
      ${fact("Rows", `${run.rowCount} fetched, ${run.newRowCount} new`)}
      ${run.slot ? fact("Scheduled slot", timeAbsolute(run.slot)) : ""}
      ${run.attempt ? fact("Attempt", String(run.attempt)) : ""}
    </dl>
    <section aria-labelledby="steps-title">
      <h2 id="steps-title">Actions</h2>
      ${run.actions.length === 0
        ? html`<p class="empty">${
          run.status === "running"
            ? "No action has finished yet."
            : "No action ran."
        }</p>`
        : html`<ol class="steps">${run.actions.map(stepItem)}</ol>`}
    </section>
  `;
  return page(
    `${run.jobName} · run ${shortId(run.runId)} · TriggerKit`,
    body,
    footer(writable),
    now,
  );
}

/** A page that says what was not found or went wrong. */
export function renderMessagePage(
  title: string,
  message: string,
  now: number = Date.now(),
): string {
  return page(
    `${title} · TriggerKit`,
    html`
      <div class="notice">
        <h1>${title}</h1>
        <p>${message}</p>
        <p><a href="/">Back to the jobs</a></p>
      </div>
    `,
    footer(false),
    now,
  );
}

function page(
  title: string,
  body: SafeHtml,
  foot: SafeHtml,
  now: number,
): string {
  const rendered = new Date(now).toISOString();
  return html`
    <!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <meta name="color-scheme" content="light dark">
        <title>${title}</title>
        <link rel="stylesheet" href="/assets/status.css">
        <link rel="icon" href="/assets/icon.svg" type="image/svg+xml">
        <script src="/assets/status.js" defer></script>
        <noscript><meta http-equiv="refresh" content="30"></noscript>
      </head>
      <body>
    <a class="skip" href="#content">Skip to content</a>
    <header class="top">
      <a class="brand" href="/"><svg aria-hidden="true" viewBox="0 0 16 16" width="18" height="18"><path d="M9 1 3 9h4l-1 6 6-8H8z"/></svg>TriggerKit</a>
      <p class="live" data-live role="status">Updated <time datetime="${rendered}">${rendered
        .slice(11, 19)} UTC</time></p>
    </header>
    <main id="content">${body}</main>
    ${foot}
      </body>
    </html>
  `.value.trimStart();
}

function footer(writable: boolean): SafeHtml {
  return html`<footer class="foot">
  <p>JSON: <a href="/api/jobs">/api/jobs</a> · <a href="/api/runs">/api/runs</a> · <a href="/metrics">/metrics</a> · <a href="/healthz">/healthz</a></p>
  <p>${
    writable
      ? html`Start a run: <code>POST /api/jobs/&lt;name&gt;/run</code> with a Bearer token.`
      : "Read-only: no run can be started from here."
  }</p>
</footer>`;
}

function tile(
  label: string,
  value: string,
  note: string,
  tone = "",
): SafeHtml {
  return html`
    <div class="tile ${tone}">
      <p class="tile-label">${label}</p>
      <p class="tile-value">${value}</p>
      <p class="tile-note">${note}</p>
    </div>
  `;
}

function scheduledCount(jobs: JobStatus[]): number {
  return jobs.filter((job) => job.schedule && job.enabled).length;
}

function emptyJobs(): SafeHtml {
  return html`
    <p
      class="empty">No job is defined. Jobs come from <code>triggerkit.config.ts</code> or <code>defineJob()</code>.</p>
  `;
}

function jobsTable(jobs: JobStatus[], now: number): SafeHtml {
  return html`
    <div class="table-wrap">
      <table class="jobs">
        <thead>
          <tr>
            <th scope="col">Job</th>
            <th scope="col">Schedule</th>
            <th scope="col">Next run</th>
            <th scope="col">Last run</th>
            <th scope="col">Recent runs</th>
            <th scope="col" class="num">Alerts</th>
          </tr>
        </thead>
        <tbody>${jobs.map((job) => jobRow(job, now))}</tbody>
      </table>
    </div>
  `;
}

function jobRow(job: JobStatus, now: number): SafeHtml {
  const last = job.lastRun;
  return html`
    <tr>
      <th scope="row"><span class="job-name">${job.name}</span>${job.enabled
        ? ""
        : html`
          <span class="tag">disabled</span>
        `}</th>
      <td data-label="Schedule">${job.schedule
        ? html`${job.schedule}${
          job.timezone
            ? html`
              <span class="muted">${job.timezone}</span>
            `
            : ""
        }`
        : html`<span class="muted">by hand</span>`}</td>
      <td data-label="Next run">${job.nextRunAt
        ? timeRelative(job.nextRunAt, now)
        : html`<span class="muted">—</span>`}</td>
      <td data-label="Last run">${last
        ? html`
          <a class="run-link" href="/runs/${encodeURIComponent(
            last.runId,
          )}">${badge(last.status)}</a> ${timeRelative(
            last.startedAt,
            now,
          )}<span
            class="muted"> · ${rowsText(last)}</span>
        `
        : html`<span class="muted">never run</span>`}</td>
      <td data-label="Recent runs">${sparkline(job.recentRuns)}</td>
      <td data-label="Alerts" class="num">${job.alertsFiring > 0
        ? html`<span class="count bad">${job.alertsFiring}</span>`
        : html`<span class="muted">0</span>`}</td>
    </tr>
  `;
}

function alertsSection(
  alerts: AlertStatus[] | undefined,
  now: number,
): SafeHtml {
  const shown = (alerts ?? []).filter((alert) => alert.state === "firing");
  if (shown.length === 0) {
    return html`<p class="empty">No alert is firing.</p>`;
  }
  return html`
    <div class="table-wrap">
      <table>
        <thead>
          <tr>
            <th scope="col">Job</th>
            <th scope="col">Key</th>
            <th scope="col">Firing since</th>
            <th scope="col">Last delivered</th>
            <th scope="col">Muted</th>
          </tr>
        </thead>
        <tbody>${shown.map((alert) =>
          html`
            <tr>
              <th scope="row">${alert.jobName}</th>
              <td><code>${redactText(toJson(alert.key))}</code></td>
              <td>${timeRelative(alert.since, now)}</td>
              <td>${alert.lastDeliveredAt
                ? timeRelative(alert.lastDeliveredAt, now)
                : "—"}</td>
              <td>${alert.muted ? "muted" : "no"}</td>
            </tr>
          `
        )}</tbody>
      </table>
    </div>
  `;
}

function runsTable(runs: RunRecord[], now: number): SafeHtml {
  if (runs.length === 0) return html`<p class="empty">No run yet.</p>`;
  return html`
    <div class="table-wrap">
      <table class="runs">
        <thead>
          <tr>
            <th scope="col">Run</th>
            <th scope="col">Job</th>
            <th scope="col">Status</th>
            <th scope="col">Started</th>
            <th scope="col" class="num">Duration</th>
            <th scope="col" class="num">Rows</th>
            <th scope="col">Why</th>
          </tr>
        </thead>
        <tbody>${runs.map((run) => {
          const duration = runDuration(run, now);
          return html`
            <tr>
              <td><a href="/runs/${encodeURIComponent(
                run.runId,
              )}"><code>${shortId(run.runId)}</code></a></td>
              <td>${run.jobName}</td>
              <td>${badge(run.status)}${run.dryRun
                ? html`
                  <span class="tag">dry run</span>
                `
                : ""}</td>
              <td>${timeRelative(run.startedAt, now)}</td>
              <td class="num">${duration === undefined
                ? "—"
                : formatDuration(duration)}</td>
              <td class="num">${rowsText(run)}</td>
              <td class="why">${why(run)}</td>
            </tr>
          `;
        })}</tbody>
      </table>
    </div>
  `;
}

function stepItem(step: RunRecord["actions"][number], index: number): SafeHtml {
  const result = step.result === undefined ? "" : html`
    <details id="result-${index}">
      <summary>Result</summary>
      <pre>${redactText(clip(toJson(step.result, 2) ?? "", 16_384))}</pre>
    </details>
  `;
  return html`<li class="step ${step.status}">
<div class="step-head">${
    badge(step.status)
  } <strong>${step.action}</strong><span class="muted">${
    step.status === "skipped" ? "" : formatDuration(step.durationMs)
  }${step.attempts ? ` · ${step.attempts} attempts` : ""}</span></div>
${
    step.error
      ? html`<p class="step-error"><code>${step.error.code}</code> ${
        redactText(step.error.message)
      }</p>`
      : ""
  }
${result}
</li>`;
}

function fact(label: string, value: unknown): SafeHtml {
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

function badge(status: string): SafeHtml {
  return html`<span class="badge ${
    STATUS_LABEL[status] ?? "unknown"
  }">${status}</span>`;
}

/**
 * The recent runs as an inline SVG bar chart, oldest on the left: a bar's
 * height is its rows (square-root scale), failed runs are full red bars,
 * skipped ones a grey stub.
 */
export function sparkline(runs: readonly RunRecord[]): SafeHtml {
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

function rowsText(run: RunRecord): string {
  if (run.status === "running" && run.rowCount === 0) return "…";
  const rows = `${run.rowCount} ${run.rowCount === 1 ? "row" : "rows"}`;
  return run.newRowCount !== run.rowCount
    ? `${rows} (${run.newRowCount} new)`
    : rows;
}

function why(run: RunRecord): SafeHtml {
  if (run.error) {
    return html`<code>${run.error.code}</code> ${
      redactText(run.reason ?? run.error.message)
    }`;
  }
  const failed = run.actions.find((action) => action.status === "failed");
  if (failed?.error) {
    return html`${failed.action}: <code>${failed.error.code}</code> ${
      redactText(clip(failed.error.message, 160))
    }`;
  }
  return html`${run.reason ? redactText(run.reason) : ""}`;
}

function runDuration(run: RunRecord, now: number): number | undefined {
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

function timeRelative(iso: string, now: number): SafeHtml {
  return html`<time datetime="${iso}" title="${absolute(iso)}">${
    formatRelative(iso, now)
  }</time>`;
}

function timeAbsolute(iso: string): SafeHtml {
  return html`<time datetime="${iso}" data-absolute>${absolute(iso)}</time>`;
}

function absolute(iso: string): string {
  const at = Date.parse(iso);
  return Number.isFinite(at)
    ? `${new Date(at).toISOString().slice(0, 19).replace("T", " ")} UTC`
    : iso;
}

function shortId(runId: string): string {
  return runId.slice(0, 8);
}

function clip(text: string, max: number): string {
  return text.length > max
    ? `${text.slice(0, max)}… (${text.length - max} more characters)`
    : text;
}
