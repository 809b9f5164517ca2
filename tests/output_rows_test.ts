import assert from "node:assert/strict";
import { createRegistry, type Registry, type Row } from "../mod.ts";
import { fixture, throwsWithCode } from "./_helpers.ts";

const DB = "sqlite::memory:";

async function withOrders(fn: (registry: Registry) => Promise<void>) {
  const registry = createRegistry({ store: DB });
  try {
    registry.defineView({
      name: "orders",
      database: DB,
      sql:
        "SELECT 1 AS id, 'ada' AS customer UNION ALL SELECT 2, 'grace' ORDER BY id",
    });
    await fn(registry);
  } finally {
    await registry.close();
  }
}

Deno.test('output: "rows": a step\'s result rows become the rows of the following steps', async () => {
  await withOrders(async (registry) => {
    const seen: Row[][] = [];
    registry.register("enrich", ({ data, context }) => {
      const rows = data.map((row) => ({
        ...row,
        tier: row.customer === "ada" ? "vip" : "standard",
      }));
      context.vipCount = rows.filter((row) => row.tier === "vip").length;
      return { rows };
    });
    registry.register("look", ({ data }) => {
      seen.push(data.map((row) => ({ ...row })));
      return { n: data.length };
    });
    registry.defineJob({
      name: "j",
      view: "orders",
      dedupe: { key: ["id"] },
      actions: ["look", { action: "enrich", output: "rows" }, "look", "look"],
    });
    const report = await registry.runJob("j");
    assert.equal(report.status, "succeeded");
    assert.deepEqual(seen[0], [
      { id: 1, customer: "ada" },
      { id: 2, customer: "grace" },
    ]);
    const enriched = [
      { id: 1, customer: "ada", tier: "vip" },
      { id: 2, customer: "grace", tier: "standard" },
    ];
    assert.deepEqual(seen[1], enriched);
    assert.deepEqual(seen[2], enriched, "later steps keep the enriched rows");
    const again = await registry.runJob("j");
    assert.equal(
      again.newRowCount,
      0,
      "dedupe keys come from the view's rows, not the enriched ones",
    );
  });
});

Deno.test('output: "rows": the enriched rows are frozen like the view\'s', async () => {
  await withOrders(async (registry) => {
    registry.register("enrich", ({ data }) => ({
      rows: data.map((row) => ({ ...row, extra: true })),
    }));
    registry.register("vandal", ({ data }) => {
      (data[0] as Record<string, unknown>).extra = false;
      return {};
    });
    registry.defineJob({
      name: "j",
      view: "orders",
      actions: [{ action: "enrich", output: "rows" }, "vandal"],
    });
    const report = await registry.runJob("j");
    assert.equal(report.actions[1]!.status, "failed");
  });
});

Deno.test('output: "rows": a result without a list of plain objects fails the step with INVALID_RESULT naming it', async () => {
  await withOrders(async (registry) => {
    let laterRan = false;
    registry.register("bad", () => ({ rows: [1, 2] }));
    registry.register("missing", () => ({ count: 2 }));
    registry.register("later", () => {
      laterRan = true;
      return {};
    });
    registry.defineJob({
      name: "j",
      view: "orders",
      actions: [{ action: "bad", output: "rows" }, "later"],
    });
    const report = await registry.runJob("j");
    assert.equal(report.status, "failed");
    assert.equal(report.actions[0]!.error!.code, "INVALID_RESULT");
    assert.match(
      report.actions[0]!.error!.message,
      /Step actions\[0\] \(bad\) declares output: "rows", but its result's rows is array/,
    );
    assert.equal(report.actions[1]!.status, "skipped");
    assert.equal(laterRan, false);
    registry.defineJob({
      name: "k",
      view: "orders",
      actions: [{ action: "missing", output: "rows" }, "later"],
    });
    const other = await registry.runJob("k");
    assert.match(other.actions[0]!.error!.message, /rows is undefined/);
  });
});

Deno.test("output: a sandboxed action's rows feed the next steps too", async () => {
  await withOrders(async (registry) => {
    registry.register("tag", fixture("tag_rows.ts"));
    let seen: Row[] = [];
    registry.register("look", ({ data }) => {
      seen = data.map((row) => ({ ...row }));
      return {};
    });
    registry.defineJob({
      name: "j",
      view: "orders",
      actions: [{ action: "tag", output: "rows" }, "look"],
    });
    const report = await registry.runJob("j");
    assert.equal(report.status, "succeeded", JSON.stringify(report));
    assert.deepEqual(seen, [
      { id: 1, customer: "ada", tagged: true },
      { id: 2, customer: "grace", tagged: true },
    ]);
  });
});

Deno.test('output: anything but "rows" is refused when the job is defined', async () => {
  await withOrders((registry) => {
    registry.register("enrich", () => ({}));
    throwsWithCode(
      () =>
        registry.defineJob({
          name: "j",
          view: "orders",
          actions: [{ action: "enrich", output: "row" as "rows" }],
        }),
      "INVALID_JOB",
      /actions\[0\]\.output must be "rows"/,
    );
    return Promise.resolve();
  });
});
