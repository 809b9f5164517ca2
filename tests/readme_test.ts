import assert from "node:assert/strict";
import { runDeno } from "./_cli.ts";

const ROOT = new URL("../", import.meta.url);
const README = await Deno.readTextFile(new URL("README.md", ROOT));
const DENO_JSON = JSON.parse(
  await Deno.readTextFile(new URL("deno.json", ROOT)),
);

/** The first TypeScript block after a heading of the README. */
function blockAfter(heading: string): string {
  const section = README.slice(README.indexOf(`\n## ${heading}\n`));
  const match = /```ts\n([\s\S]*?)```/.exec(section);
  assert.ok(match, `no ts block after "## ${heading}"`);
  return match[1]!;
}

function deno(args: string[], cwd: string) {
  return runDeno(args, { cwd });
}

Deno.test("README: the example runs as pasted into a new project that uses the JSR package", async () => {
  const dir = await Deno.makeTempDir({ prefix: "triggerkit-readme-" });
  try {
    // A new project: its own deno.json, nothing of ours but the package.
    // JSR is out of reach here, so "links" stands in for it: the package is
    // read from this checkout with its own deno.json, as JSR would serve it.
    await Deno.writeTextFile(
      `${dir}/deno.json`,
      JSON.stringify({ links: [decodeURIComponent(ROOT.pathname)] }),
    );
    await Deno.writeTextFile(`${dir}/main.ts`, blockAfter("Example"));
    const checked = await deno(["check", "main.ts"], dir);
    assert.equal(checked.code, 0, checked.stderr);
    const ran = await deno(["run", "main.ts"], dir);
    assert.equal(ran.code, 0, ran.stderr);
    assert.equal(ran.stdout.trim(), "{ flagged: 1 }");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("README: the two set-up commands are deno task demo and deno task test, and both tasks exist", () => {
  const setUp = README.slice(
    README.indexOf("## Set-up"),
    README.indexOf("## Example"),
  );
  assert.match(
    setUp,
    /```sh\ndeno task demo {3}# runs the demo job on an embedded SQLite database\ndeno task test {3}# fmt, lint, type check, tests, JSR publish dry run\n```/,
  );
  assert.ok(DENO_JSON.tasks.demo);
  assert.ok(DENO_JSON.tasks.test);
});

Deno.test("README: deno task demo creates .triggerkit/demo.db where it is run, and a second run finds nothing new", async () => {
  const dir = await Deno.makeTempDir({ prefix: "triggerkit-demo-" });
  try {
    // The demo task's own command, run from another folder.
    const task = (DENO_JSON.tasks.demo as string).split(/\s+/);
    const args = [
      ...task.slice(1, -1),
      `--config=${decodeURIComponent(new URL("deno.json", ROOT).pathname)}`,
      decodeURIComponent(new URL(task.at(-1)!, ROOT).pathname),
    ];
    const first = await deno(args, dir);
    assert.equal(first.code, 0, first.stderr + first.stdout);
    assert.match(first.stdout, /Demo database: \.triggerkit\/demo\.db/);
    assert.match(first.stdout, /Alerts table: 4 rows/);
    assert.ok((await Deno.stat(`${dir}/.triggerkit/demo.db`)).isFile);
    assert.ok((await Deno.stat(`${dir}/.triggerkit/state.db`)).isFile);
    const second = await deno(args, dir);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /0 new/);
    assert.match(second.stdout, /Alerts table: 4 rows/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
