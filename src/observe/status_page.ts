/**
 * The status page, rendered on the server as plain HTML: it reads fully
 * without JavaScript; `status.js` only refreshes it in place. Every value
 * goes through the `html` tag, which escapes it.
 *
 * @module
 */
import type { RunRecord } from "../store/contract.ts";
import type { AlertStatus, JobStatus } from "./_source.ts";
import type { HealthCheck } from "./health.ts";
import { html, type SafeHtml } from "./_escape.ts";
import { redact } from "../redact.ts";
import { toJson } from "../_json.ts";
import {
  badge,
  clip,
  fact,
  formatDuration,
  rowsText,
  runDuration,
  shortId,
  sparkline,
  timeAbsolute,
  timeRelative,
  why,
} from "./_page_parts.ts";

export { SPARKLINE_RUNS } from "./_page_parts.ts";

/** What the jobs page shows. */
export interface JobsPageData {
  /** Every job, with its recent runs. */
  jobs: JobStatus[];
  /** The latest runs of every job, newest first. */
  recentRuns: RunRecord[];
  /** Pending and firing alert keys (at least the firing ones shown); undefined when the registry has no alerts. */
  alerts: AlertStatus[] | undefined;
  /** How many keys fire in all, when `alerts` holds only some of them (default: counted in `alerts`). */
  firingTotal?: number;
  /** The scheduler's health. */
  scheduler: HealthCheck;
  /** Whether runs can be started through the API (a token is set). */
  writable: boolean;
  /** Now, in ms. */
  now: number;
}

/** The most firing keys the jobs page lists. */
export const SHOWN_ALERTS = 100;

/** The jobs page: every job, firing alerts, the latest runs. */
export function renderJobsPage(data: JobsPageData): string {
  const { jobs, now } = data;
  const failing = jobs.filter((job) => job.lastRun?.status === "failed").length;
  const firing = data.firingTotal ??
    data.alerts?.filter((alert) => alert.state === "firing").length ?? 0;
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
        String(firing),
        data.alerts ? "keys firing now" : "no alerts defined",
        firing > 0 ? "bad" : "good",
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
      ${alertsSection(data.alerts, firing, now)}
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
  ${run.reason ? html`<p>${redact(run.reason)}</p>` : ""}
  ${
        run.error
          ? html`<p><code>${run.error.code}</code> ${
            redact(run.error.message)
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
  now: number,
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

function moreAlerts(more: number): SafeHtml {
  const list = html`<code>triggerkit alerts</code>`;
  return html`<p class="muted">… and ${
    String(more)
  } more: ${list} lists them all.</p>`;
}

function alertsSection(
  alerts: AlertStatus[] | undefined,
  total: number,
  now: number,
): SafeHtml {
  const firing = (alerts ?? []).filter((alert) => alert.state === "firing");
  if (firing.length === 0 && total === 0) {
    return html`<p class="empty">No alert is firing.</p>`;
  }
  // A page stays a page: thousands of keys are the command line's to list.
  const shown = firing.slice(0, SHOWN_ALERTS);
  const more = Math.max(0, total - shown.length);
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
              <td><code>${redact(toJson(alert.key))}</code></td>
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
    ${more > 0 ? moreAlerts(more) : ""}
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
      <pre>${redact(clip(toJson(step.result, 2) ?? "", 16_384))}</pre>
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
        redact(step.error.message)
      }</p>`
      : ""
  }
${result}
</li>`;
}
