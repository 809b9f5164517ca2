/**
 * The status page in a real browser: headless Chromium (Debian's
 * /usr/bin/chromium) driven by playwright-core. Skipped, visibly, only
 * outside CI when Chromium is missing; under CI=true it must run.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import type { Browser, Page } from "playwright-core";
import { demoRegistry, fakeRun, FakeSource } from "./_status_fixtures.ts";
import { RunMetrics } from "../src/observe/run_metrics.ts";
import { startStatusServer } from "../src/observe/status_server.ts";

const CHROMIUM = Deno.env.get("TRIGGERKIT_CHROMIUM") ?? "/usr/bin/chromium";
const IN_CI = Deno.env.get("CI") === "true";
const HAVE_CHROMIUM = (() => {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
})();
if (!HAVE_CHROMIUM && !IN_CI) {
  console.warn(
    `${CHROMIUM} is missing: the status page browser tests are skipped (apt-get install chromium)`,
  );
}
const ARTIFACTS = new URL("../.test-artifacts/", import.meta.url);

// playwright-core asks whether it runs under WSL by probing a /proc/sys path,
// which Deno grants only with --allow-all. It is never WSL here: answer that
// probe, so that the test runs with the suite's usual flags.
const existsSync = fs.existsSync;
fs.existsSync = (path) =>
  String(path).startsWith("/proc/sys/fs/binfmt_misc/")
    ? false
    : existsSync(path);
const { chromium } = await import("playwright-core");

function browserTest(name: string, fn: (browser: Browser) => Promise<void>) {
  Deno.test({
    name: `${name} [chromium]`,
    ignore: !HAVE_CHROMIUM && !IN_CI,
    async fn() {
      if (!HAVE_CHROMIUM) {
        throw new Error(`CI=true but ${CHROMIUM} is missing`);
      }
      const browser = await chromium.launch({
        executablePath: CHROMIUM,
        // Root in a container: Chromium's own sandbox cannot start there.
        args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
      });
      try {
        await fn(browser);
      } finally {
        await browser.close();
      }
    },
  });
}

/** Collects console errors and uncaught page errors. */
function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(message.text());
  });
  page.on("pageerror", (error) => errors.push(error.message));
  return errors;
}

browserTest(
  "the status page lists the jobs, shows a run started through the API without a reload, and opens the run",
  async (browser) => {
    const dir = await Deno.makeTempDir();
    const registry = await demoRegistry(dir);
    const stop = new AbortController();
    let url = "";
    const serving = registry.serve({
      http: "127.0.0.1:0",
      httpToken: "browser-test-token",
      signal: stop.signal,
      handleSignals: false,
      onListen: (address) => url = address.url,
    });
    try {
      await waitFor(() => url !== "");
      const page = await browser.newPage({
        viewport: { width: 1280, height: 900 },
      });
      const errors = watchErrors(page);
      await page.goto(url);
      const names = await page.locator("table.jobs tbody th .job-name")
        .allTextContents();
      assert.deepEqual(names, registry.listJobs().map((job) => job.name));
      assert.equal(
        await page.locator("table.jobs tbody tr").count(),
        registry.listJobs().length,
      );
      await page.locator(".live.on").waitFor({ timeout: 10_000 });
      await page.evaluate(() => {
        (globalThis as unknown as { marker: string }).marker = "no reload";
      });

      const response = await fetch(
        `${url}api/jobs/${encodeURIComponent("billing.backfill")}/run`,
        {
          method: "POST",
          headers: { authorization: "Bearer browser-test-token" },
        },
      );
      assert.equal(response.status, 202);
      const { runId } = await response.json() as { runId: string };
      const link = page.locator(`table.runs a[href="/runs/${runId}"]`);
      await link.waitFor({ timeout: 10_000 });
      assert.equal(
        await page.evaluate(() =>
          (globalThis as unknown as { marker?: string }).marker
        ),
        "no reload",
      );
      await Deno.mkdir(ARTIFACTS, { recursive: true });
      await page.screenshot({
        path: new URL("status_page.png", ARTIFACTS).pathname,
        fullPage: true,
      });

      await link.click();
      await page.waitForURL(`${url}runs/${runId}`);
      assert.equal(
        await page.locator("main h1").textContent(),
        "billing.backfill",
      );
      await page.locator(".steps li").first().waitFor();
      assert.match(
        await page.locator(".facts").textContent() ?? "",
        new RegExp(runId),
      );
      await page.screenshot({
        path: new URL("status_run.png", ARTIFACTS).pathname,
        fullPage: true,
      });
      assert.deepEqual(errors, []);
      await page.close();
    } finally {
      stop.abort();
      await serving;
      await registry.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);

browserTest(
  "names that look like markup are shown as text and never run as script; the page reads without JavaScript",
  async (browser) => {
    const source = new FakeSource();
    const hostile = "<script>alert(1)</script>";
    const quoted = `it's "quoted"\nand <b>bold</b>`;
    source.addJob(hostile, [
      fakeRun({
        status: "failed",
        error: {
          code: "DATABASE_ERROR",
          message: "<img src=x onerror=alert(2)>",
        },
      }),
    ]);
    source.addJob(quoted, [fakeRun()]);
    const server = startStatusServer({
      source,
      metrics: new RunMetrics(),
      address: { hostname: "127.0.0.1", port: 0 },
    });
    try {
      const page = await browser.newPage();
      const errors = watchErrors(page);
      const dialogs: string[] = [];
      page.on("dialog", (dialog) => {
        dialogs.push(dialog.message());
        dialog.dismiss();
      });
      await page.goto(server.address.url);
      const names = await page.locator("table.jobs tbody th .job-name")
        .allTextContents();
      assert.deepEqual(names, [hostile, quoted]);
      assert.equal(
        await page.locator("main script, main img, main b").count(),
        0,
      );
      const runId = source.runList[0]!.runId;
      await page.goto(`${server.address.url}runs/${runId}`);
      assert.equal(await page.locator("main h1").textContent(), hostile);
      assert.deepEqual(dialogs, []);
      assert.deepEqual(errors, []);
      await page.close();

      // Without JavaScript the page is the same, only not live.
      const noScript = await browser.newContext({ javaScriptEnabled: false });
      const plain = await noScript.newPage();
      await plain.goto(server.address.url);
      assert.deepEqual(
        await plain.locator("table.jobs tbody th .job-name").allTextContents(),
        [hostile, quoted],
      );
      assert.match(await plain.locator(".live").textContent() ?? "", /Updated/);
      await noScript.close();
    } finally {
      await server.close();
    }
  },
);

async function waitFor(check: () => boolean, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
