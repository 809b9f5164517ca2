/**
 * The status page's stylesheet, script and icon, served from the module
 * itself (no build step, no CDN). The script is progressive: the page is
 * complete without it; with it, the page refreshes in place when a run
 * starts or finishes (server-sent events) and every 30 s.
 *
 * @module
 */

/** `/assets/status.css`. */
export const STATUS_CSS = `
:root {
  color-scheme: light dark;
  --bg: #f6f7f9; --panel: #ffffff; --text: #1b1f24; --muted: #5b6470;
  --line: #e2e5ea; --head: #f0f2f5; --accent: #3454d1; --focus: #3454d1;
  --ok: #1a7f37; --ok-bg: #dcf5e3; --bad: #c62828; --bad-bg: #fde4e4;
  --warn: #9a6700; --warn-bg: #fff1c7; --run: #0b6bcb; --run-bg: #dcecfd;
  --skip: #6e7781; --skip-bg: #eceef1;
  --bar-ok: #2e9e54; --bar-bad: #d64545; --bar-skip: #b6bcc4; --bar-run: #3b8ee8;
  --mono: ui-monospace, "SFMono-Regular", "DejaVu Sans Mono", Menlo, Consolas, monospace;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0f1216; --panel: #171b21; --text: #e6e9ee; --muted: #9aa4b1;
    --line: #2a3038; --head: #1d2229; --accent: #8aa4ff; --focus: #8aa4ff;
    --ok: #6fdc8c; --ok-bg: #173b24; --bad: #ff8a80; --bad-bg: #4a1c1c;
    --warn: #f2cc60; --warn-bg: #3d3112; --run: #79b8ff; --run-bg: #132d4a;
    --skip: #a3acb9; --skip-bg: #262c34;
    --bar-ok: #4cc47a; --bar-bad: #ff6b6b; --bar-skip: #4a525c; --bar-run: #5aa2f0;
  }
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body {
  margin: 0; background: var(--bg); color: var(--text);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "Liberation Sans", Arial, sans-serif;
}
a { color: var(--accent); text-decoration-thickness: 1px; text-underline-offset: 2px; }
a:focus-visible, summary:focus-visible { outline: 2px solid var(--focus); outline-offset: 2px; border-radius: 4px; }
code, pre { font-family: var(--mono); font-size: 0.88em; }
.skip { position: absolute; left: -999px; top: 0; background: var(--panel); padding: 8px 12px; z-index: 1; }
.skip:focus { left: 8px; top: 8px; }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
.top {
  display: flex; align-items: center; justify-content: space-between; gap: 16px;
  padding: 12px max(16px, calc((100% - 1200px) / 2)); background: var(--panel);
  border-bottom: 1px solid var(--line);
}
.brand { display: inline-flex; align-items: center; gap: 8px; font-weight: 650; font-size: 17px; color: var(--text); text-decoration: none; }
.brand svg { fill: var(--accent); }
.live { margin: 0; color: var(--muted); font-size: 13px; display: inline-flex; align-items: center; gap: 6px; }
.live::before { content: ""; width: 8px; height: 8px; border-radius: 50%; background: var(--skip); }
.live.on::before { background: var(--ok); box-shadow: 0 0 0 3px var(--ok-bg); }
.live.stale::before { background: var(--warn); }
main { max-width: 1200px; margin: 0 auto; padding: 24px 16px 8px; }
h1 { font-size: 24px; margin: 0; line-height: 1.25; overflow-wrap: anywhere; }
h2 { font-size: 16px; margin: 28px 0 10px; }
.tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(170px, 1fr)); gap: 12px; }
.tile { background: var(--panel); border: 1px solid var(--line); border-radius: 10px; padding: 12px 14px; border-top: 3px solid var(--line); }
.tile.good { border-top-color: var(--ok); }
.tile.bad { border-top-color: var(--bad); }
.tile p { margin: 0; }
.tile-label { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; font-weight: 600; }
.tile-value { font-size: 26px; font-weight: 650; font-variant-numeric: tabular-nums; }
.tile.bad .tile-value { color: var(--bad); }
.tile-note { color: var(--muted); font-size: 12.5px; overflow-wrap: anywhere; }
.table-wrap { overflow-x: auto; background: var(--panel); border: 1px solid var(--line); border-radius: 10px; }
table { width: 100%; border-collapse: collapse; }
th, td { text-align: left; padding: 9px 12px; border-bottom: 1px solid var(--line); vertical-align: middle; }
thead th { background: var(--head); color: var(--muted); font-size: 12px; font-weight: 600; text-transform: uppercase; letter-spacing: .04em; white-space: nowrap; }
tbody tr:last-child > * { border-bottom: 0; }
tbody tr:hover { background: color-mix(in srgb, var(--head) 60%, transparent); }
tbody th { font-weight: 600; }
.job-name { overflow-wrap: anywhere; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
.why { color: var(--muted); max-width: 420px; overflow-wrap: anywhere; }
.muted { color: var(--muted); }
.empty { margin: 0; padding: 16px; background: var(--panel); border: 1px dashed var(--line); border-radius: 10px; color: var(--muted); }
.badge {
  display: inline-flex; align-items: center; gap: 5px; padding: 1px 9px; border-radius: 999px;
  font-size: 12.5px; font-weight: 600; white-space: nowrap; background: var(--skip-bg); color: var(--skip);
}
.badge::before { content: ""; width: 6px; height: 6px; border-radius: 50%; background: currentColor; }
.badge.succeeded { background: var(--ok-bg); color: var(--ok); }
.badge.failed { background: var(--bad-bg); color: var(--bad); }
.badge.running { background: var(--run-bg); color: var(--run); }
.badge.interrupted { background: var(--warn-bg); color: var(--warn); }
.run-link { text-decoration: none; }
.tag { display: inline-block; padding: 0 7px; border: 1px solid var(--line); border-radius: 6px; font-size: 12px; color: var(--muted); font-weight: 500; }
.count.bad { display: inline-block; min-width: 22px; text-align: center; padding: 0 6px; border-radius: 999px; background: var(--bad-bg); color: var(--bad); font-weight: 650; }
.spark { display: block; }
.spark .bar { fill: var(--bar-ok); }
.spark .bar.failed, .spark .bar.interrupted { fill: var(--bar-bad); }
.spark .bar.skipped { fill: var(--bar-skip); }
.spark .bar.running { fill: var(--bar-run); }
.crumbs { display: flex; flex-wrap: wrap; gap: 6px; color: var(--muted); font-size: 13.5px; margin-bottom: 10px; }
.crumbs span { overflow-wrap: anywhere; }
.run-head { display: flex; flex-wrap: wrap; align-items: center; gap: 10px; margin-bottom: 14px; }
.callout { background: var(--panel); border: 1px solid var(--line); border-left: 4px solid var(--skip); border-radius: 8px; padding: 10px 14px; margin: 0 0 16px; overflow-wrap: anywhere; }
.callout.bad { border-left-color: var(--bad); }
.callout p { margin: 4px 0; }
.facts { display: grid; grid-template-columns: repeat(auto-fit, minmax(210px, 1fr)); gap: 1px; margin: 0; background: var(--line); border: 1px solid var(--line); border-radius: 10px; overflow: hidden; }
.facts div { background: var(--panel); padding: 10px 14px; }
.facts dt { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; font-weight: 600; }
.facts dd { margin: 2px 0 0; overflow-wrap: anywhere; }
.steps { list-style: none; margin: 0; padding: 0; display: grid; gap: 10px; counter-reset: step; }
.step { background: var(--panel); border: 1px solid var(--line); border-left: 4px solid var(--skip); border-radius: 8px; padding: 10px 14px; counter-increment: step; }
.step.succeeded { border-left-color: var(--ok); }
.step.failed { border-left-color: var(--bad); }
.step-head { display: flex; flex-wrap: wrap; align-items: center; gap: 10px; }
.step-head::before { content: counter(step); color: var(--muted); font-variant-numeric: tabular-nums; min-width: 1.2em; }
.step-head strong { overflow-wrap: anywhere; }
.step-error { margin: 8px 0 0; color: var(--bad); overflow-wrap: anywhere; }
details { margin-top: 8px; }
summary { cursor: pointer; color: var(--muted); font-size: 13.5px; }
pre { margin: 8px 0 0; padding: 10px 12px; background: var(--head); border-radius: 6px; overflow: auto; max-height: 360px; }
.notice { background: var(--panel); border: 1px solid var(--line); border-radius: 10px; padding: 24px; max-width: 640px; }
.notice p { color: var(--muted); }
.foot { max-width: 1200px; margin: 0 auto; padding: 12px 16px 32px; color: var(--muted); font-size: 13px; }
.foot p { margin: 4px 0; }
@media (max-width: 700px) {
  .jobs thead { display: none; }
  .jobs tr { display: grid; grid-template-columns: 1fr 1fr; gap: 2px 12px; padding: 10px 12px; border-bottom: 1px solid var(--line); }
  .jobs th, .jobs td { padding: 0; border: 0; }
  .jobs th { grid-column: 1 / -1; }
  .jobs .num { text-align: left; }
  .jobs td[data-label]::before {
    content: attr(data-label); display: block; color: var(--muted); font-size: 11px;
    font-weight: 600; text-transform: uppercase; letter-spacing: .04em; margin-top: 4px;
  }
}
@media (prefers-reduced-motion: no-preference) {
  .badge.running::before { animation: pulse 1.4s ease-in-out infinite; }
  @keyframes pulse { 50% { opacity: .3; } }
}
`;

/** `/assets/status.js`: refreshes the page in place, keeps focus and open details. */
export const STATUS_JS = `"use strict";
(() => {
  const live = document.querySelector("[data-live]");
  // At most one refresh every 2 s, however many runs start and finish.
  const MIN_GAP_MS = 2000;
  let timer = 0;
  let busy = false;
  let again = false;
  let last = 0;

  function say(text, state) {
    if (!live) return;
    live.textContent = text;
    live.classList.toggle("on", state === "on");
    live.classList.toggle("stale", state === "stale");
  }

  function localize(root) {
    for (const time of root.querySelectorAll("time[datetime]")) {
      const date = new Date(time.dateTime);
      if (Number.isNaN(date.getTime())) continue;
      const local = date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
      if (time.hasAttribute("data-absolute")) time.textContent = local;
      else time.title = local;
    }
  }

  async function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    last = Date.now();
    try {
      const response = await fetch(location.pathname + location.search, {
        headers: { accept: "text/html" },
        cache: "no-store",
      });
      const text = await response.text();
      const next = new DOMParser().parseFromString(text, "text/html");
      const fresh = next.querySelector("main");
      const current = document.querySelector("main");
      if (!fresh || !current) throw new Error("no content");
      const open = new Set([...current.querySelectorAll("details[open][id]")].map((d) => d.id));
      for (const details of fresh.querySelectorAll("details[id]")) {
        if (open.has(details.id)) details.open = true;
      }
      const focused = current.contains(document.activeElement) ? document.activeElement.getAttribute("href") : null;
      const adopted = document.adoptNode(fresh);
      current.replaceWith(adopted);
      if (focused) {
        const target = [...adopted.querySelectorAll("a[href]")].find((a) => a.getAttribute("href") === focused);
        target?.focus({ preventScroll: true });
      }
      localize(adopted);
      document.title = next.title;
      say(response.ok ? "Live · updated " + new Date().toLocaleTimeString() : "Live · the server answered " + response.status, response.ok ? "on" : "stale");
    } catch {
      say("Offline · retrying", "stale");
    } finally {
      busy = false;
      if (again) { again = false; soon(); }
    }
  }

  function soon() {
    if (timer) return;
    const delay = Math.max(120, last + MIN_GAP_MS - Date.now());
    timer = setTimeout(() => { timer = 0; refresh(); }, delay);
  }

  localize(document);
  if ("EventSource" in window) {
    const events = new EventSource("/events");
    events.addEventListener("open", () => say("Live", "on"));
    events.addEventListener("run", () => soon());
    events.addEventListener("error", () => say("Reconnecting…", "stale"));
  }
  setInterval(() => { if (!document.hidden) refresh(); }, 30000);
  document.addEventListener("visibilitychange", () => { if (!document.hidden) soon(); });
})();
`;

/** `/assets/icon.svg`. */
export const ICON_SVG =
  `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#3454d1"/><path d="M9 2 4 9h3.5l-1 5L12 7H8.5z" fill="#fff"/></svg>`;
