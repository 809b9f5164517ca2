/** The command line's `mute`, `unmute` and `alerts` (SPEC §4.2, §5). */
import assert from "node:assert/strict";
import { main } from "../src/cli/main.ts";
import { createRegistry } from "../mod.ts";
import { FakeClock } from "./_fake_clock.ts";
import { capture } from "./_helpers.ts";
import { runCli } from "./_cli.ts";

async function alertRegistry() {
  const registry = createRegistry({
    store: "sqlite::memory:",
    databases: { db: "sqlite::memory:" },
    clock: new FakeClock(),
  });
  registry.register("notify", () => ({}));
  registry.defineView({
    name: "hot",
    database: "db",
    sql: "SELECT 1 AS id, 'boiler' AS sensor UNION ALL SELECT 2, 'rack'",
  });
  registry.defineJob({
    name: "heat",
    view: "hot",
    actions: ["notify"],
    dedupe: { key: ["sensor", "id"] },
    alert: {},
  });
  await registry.runJob("heat");
  return registry;
}

Deno.test("cli: mute --for with keys (comma-separated or JSON), then alerts shows them muted", async () => {
  const registry = await alertRegistry();
  try {
    const muted = capture();
    assert.equal(
      await main([
        "mute",
        "heat",
        "--for",
        "2h",
        "--key",
        "boiler,1",
        "--key",
        '["rack", 2]',
        "--reason",
        "boiler service",
      ], { io: muted.io, registry }),
      0,
    );
    assert.equal(
      muted.out.join("\n"),
      "Muted 2 keys of heat until 2026-03-01T12:00:00.000Z (boiler service)",
    );
    const listed = capture();
    assert.equal(
      await main(["alerts", "--json"], { io: listed.io, registry }),
      0,
    );
    assert.deepEqual(
      JSON.parse(listed.out.join("\n")),
      [
        {
          jobName: "heat",
          key: ["boiler", 1],
          state: "firing",
          since: "2026-03-01T10:00:00.000Z",
          lastDeliveredAt: "2026-03-01T10:00:00.000Z",
          muted: true,
        },
        {
          jobName: "heat",
          key: ["rack", 2],
          state: "firing",
          since: "2026-03-01T10:00:00.000Z",
          lastDeliveredAt: "2026-03-01T10:00:00.000Z",
          muted: true,
        },
      ],
    );
    const table = capture();
    assert.equal(
      await main(["alerts", "--job", "heat"], { io: table.io, registry }),
      0,
    );
    assert.match(
      table.out.join("\n"),
      /^JOB\s+KEY\s+STATE\s+SINCE\s+LAST DELIVERED\s+MUTED/,
    );
    assert.match(table.out.join("\n"), /heat\s+boiler, 1\s+firing\s+.*yes/);
    const unmuted = capture();
    assert.equal(
      await main(["unmute", "heat", "--json"], { io: unmuted.io, registry }),
      0,
    );
    assert.deepEqual(JSON.parse(unmuted.out.join("\n")), {
      jobName: "heat",
      ended: 1,
    });
  } finally {
    await registry.close();
  }
});

Deno.test("cli: mute without --for, or a key of the wrong width, exits 2", async () => {
  const registry = await alertRegistry();
  try {
    const noFor = capture();
    assert.equal(await main(["mute", "heat"], { io: noFor.io, registry }), 2);
    assert.match(noFor.err.join("\n"), /Missing --for/);
    const badKey = capture();
    assert.equal(
      await main(["mute", "heat", "--for", "1h", "--key", "boiler"], {
        io: badKey.io,
        registry,
      }),
      2,
    );
    assert.match(badKey.err.join("\n"), /must give 2 values/);
    const badFor = capture();
    assert.equal(
      await main(["mute", "heat", "--for", "later", "--json"], {
        io: badFor.io,
        registry,
      }),
      2,
    );
    assert.equal(
      JSON.parse(badFor.err.join("\n")).error.code,
      "INVALID_OPTIONS",
    );
    const unknown = capture();
    assert.equal(
      await main(["unmute", "nope"], { io: unknown.io, registry }),
      2,
    );
    assert.match(unknown.err.join("\n"), /JOB_NOT_FOUND/);
  } finally {
    await registry.close();
  }
});

Deno.test("cli: mute, unmute and alerts have --help; alerts says when there is nothing", async () => {
  for (const command of ["mute", "unmute", "alerts"]) {
    const { io, out } = capture();
    assert.equal(await main([command, "--help"], { io }), 0);
    assert.match(out.join("\n"), new RegExp(`Usage: triggerkit ${command}`));
  }
  const registry = createRegistry({ store: "sqlite::memory:" });
  try {
    const { io, out } = capture();
    assert.equal(await main(["alerts"], { io, registry }), 0);
    assert.equal(out.join("\n"), "No pending or firing alerts.");
  } finally {
    await registry.close();
  }
});

Deno.test("cli: a mute made by one process holds in the next (it is in the store)", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(
    `${dir}/triggerkit.toml`,
    `store = "sqlite:./state.db"
[views.hot]
database = "sqlite:./view.db"
sql = "SELECT 7 AS id"
[jobs.heat]
view = "hot"
actions = [{ action = "http_request", dryRun = true, config = { url = "http://127.0.0.1:9/x" } }]
dedupe = { key = ["id"] }
alert = { repeatEvery = "1h" }
`,
  );
  const cli = (...args: string[]) => runCli(args, { cwd: dir });
  try {
    assert.equal((await cli("run", "heat")).code, 0);
    assert.equal(
      (await cli("mute", "heat", "--for", "2h", "--key", "7")).code,
      0,
    );
    const listed = await cli("alerts", "--json");
    assert.equal(listed.code, 0);
    const [alert] = JSON.parse(listed.stdout);
    assert.deepEqual([alert.key, alert.state, alert.muted], [
      [7],
      "firing",
      true,
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
