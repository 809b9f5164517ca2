import assert from "node:assert/strict";
import postgres from "postgres";
import { DatabaseSync } from "node:sqlite";

import { realClock } from "../src/clock.ts";
import { runSql } from "../actions/run_sql.ts";
import { Databases } from "../src/db/databases.ts";
import {
  canonicalJson,
  type DeliveryJournal,
  type DeliveryScope,
  deliveryToken,
  MemoryJournal,
  rowHash,
  runKeyText,
  type StepRunOptions,
  unitKeysOf,
} from "../src/delivery/journal.ts";
import type { Row } from "../src/types.ts";
import { partsOf } from "../src/registry/action_registry.ts";
import { sha256Key } from "../sandbox/worker/sha256.ts";
import {
  fixture,
  pgTest,
  rejectsWithCode,
  throwsWithCode,
  uniqueTable,
  withRegistry,
} from "./_helpers.ts";

const scope = (
  extra: Partial<DeliveryScope> = {},
): DeliveryScope => ({
  journal: new MemoryJournal(),
  stepKey: "job@g1/0:x",
  ...extra,
});

Deno.test("unit keys: one per row, stable, equal rows told apart by occurrence", () => {
  const rows = [{ a: 1 }, { a: 2 }, { a: 1 }];
  const keys = unitKeysOf(scope(), rows, true);
  assert.equal(new Set(keys).size, 3);
  assert.equal(keys[2], `${keys[0]}~2`);
  assert.ok(keys.every((key) => key.startsWith("job@g1/0:x:h:")));
  assert.deepEqual(
    unitKeysOf(scope(), [{ a: 1 }, { a: 2 }, { a: 1 }], true),
    keys,
  );
});

Deno.test("unit keys: the engine's row keys (dedupe values) are used when given", () => {
  const keys = unitKeysOf(
    scope({ rowKeys: ["[1]", "[2]"] }),
    [{ id: 1, v: "x" }, { id: 2, v: "y" }],
    true,
  );
  assert.deepEqual(keys, ["job@g1/0:x:[1]", "job@g1/0:x:[2]"]);
  throwsWithCode(
    () => unitKeysOf(scope({ rowKeys: ["[1]"] }), [{}, {}], true),
    "INVALID_DATA",
    /1 row keys for 2 rows/,
  );
});

Deno.test("unit keys: one batch unit, whose key changes with the rows", () => {
  const one = unitKeysOf(scope(), [{ a: 1 }, { a: 2 }], false);
  assert.equal(one.length, 1);
  assert.deepEqual(unitKeysOf(scope(), [{ a: 1 }, { a: 2 }], false), one);
  assert.notDeepEqual(unitKeysOf(scope(), [{ a: 1 }], false), one);
  assert.notDeepEqual(
    unitKeysOf(scope({ stepKey: "job@g2/0:x" }), [{ a: 1 }, { a: 2 }], false),
    one,
  );
});

Deno.test("row hashes compare values: key order, bigint or number, dates", () => {
  assert.equal(rowHash({ a: 1, b: "x" }), rowHash({ b: "x", a: 1 }));
  assert.equal(rowHash({ id: 5n }), rowHash({ id: 5 }));
  assert.notEqual(rowHash({ id: 5 }), rowHash({ id: "5" }));
  assert.equal(
    canonicalJson({ at: new Date(0), big: 2n ** 64n, n: null }),
    '{"at":"1970-01-01T00:00:00.000Z","big":"18446744073709551616","n":null}',
  );
});

Deno.test("delivery tokens are fixed-length base64url and tell nothing of the key", () => {
  const token = deliveryToken('job@g/0:x:["alice@example.com"]');
  assert.match(token, /^[A-Za-z0-9_-]{43}$/);
  assert.ok(!token.includes("alice"));
});

Deno.test(
  "idempotencyKey: a function action gets one per run, the same for the same run id",
  withRegistry(async (registry) => {
    const seen: Array<string | undefined> = [];
    registry.register("probe", ({ idempotencyKey }) => {
      seen.push(idempotencyKey);
      return {};
    });
    await registry.run("probe", [{ a: 1 }], { runId: "r1" });
    await registry.run("probe", [{ a: 2 }], { runId: "r1" });
    await registry.run("probe", [{ a: 1 }], { runId: "r2" });
    assert.match(seen[0]!, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(seen[1], seen[0]);
    assert.notEqual(seen[2], seen[0]);
  }),
);

Deno.test(
  "idempotencyKey: in a job step it is the step's batch unit, stable across retries of the same rows",
  withRegistry(async (registry) => {
    const seen: Array<Record<string, unknown>> = [];
    registry.register("probe", (input) => {
      seen.push({ ...input });
      return {};
    });
    const step = (runId: string): StepRunOptions => ({
      runId,
      delivery: scope({ stepKey: "job@g1/2:probe" }),
    });
    const rows = [{ id: 1 }, { id: 2 }];
    // The engine's way in: the public run() refuses a delivery scope.
    const { actions } = partsOf(registry);
    await actions.run("probe", rows, step("first"));
    await actions.run("probe", rows, step("retry"));
    const [batch] = unitKeysOf(
      scope({ stepKey: "job@g1/2:probe" }),
      rows,
      false,
    );
    assert.equal(seen[0]!.idempotencyKey, deliveryToken(batch!));
    assert.equal(seen[1]!.idempotencyKey, seen[0]!.idempotencyKey);
    assert.ok(!("delivery" in seen[0]!), "a function action saw the journal");
  }),
);

Deno.test(
  "idempotencyKey: a sandboxed action receives it, the same as a function action would",
  withRegistry(async (registry) => {
    registry.register("key", fixture("idempotency_key.ts"));
    const result = await registry.run("key", [{}], { runId: "r1" });
    const again = await registry.run("key", [{}], { runId: "r1" });
    assert.match(String(result.idempotencyKey), /^[A-Za-z0-9_-]{43}$/);
    assert.equal(again.idempotencyKey, result.idempotencyKey);
    // Hashed in the Worker, when read: the host's token all the same.
    assert.equal(result.idempotencyKey, deliveryToken(runKeyText("key", "r1")));
    const step: StepRunOptions = {
      runId: "r2",
      delivery: scope({ stepKey: "job@g1/0:key" }),
    };
    const inStep = await partsOf(registry).actions.run(
      "key",
      [{ id: 1 }],
      step,
    );
    const [batch] = unitKeysOf(
      scope({ stepKey: "job@g1/0:key" }),
      [{ id: 1 }],
      false,
    );
    assert.equal(inStep.idempotencyKey, deliveryToken(batch!));
  }),
);

Deno.test("idempotencyKey: the Worker's SHA-256 gives the host's token for any text", () => {
  const encoder = new TextEncoder();
  for (
    const text of [
      "",
      "run:r1/key",
      "é日本😀".repeat(40),
      ...[55, 56, 63, 64, 65, 1000].map((length) => "x".repeat(length)),
    ]
  ) {
    assert.equal(sha256Key(text, encoder, btoa), deliveryToken(text));
  }
});

/** A SQLite file with a table t (id, v), and the run_sql action bound to it. */
async function withSqlite(
  fn: (run: RunSqlStep, count: () => number) => Promise<void>,
) {
  const dir = await Deno.makeTempDir({ prefix: "triggerkit-delivery-" });
  const path = `${dir}/t.db`;
  const db = new DatabaseSync(path);
  db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
  db.close();
  const databases = new Databases();
  try {
    await fn(
      runSqlStep(databases, `sqlite:${path}`),
      () => {
        const read = new DatabaseSync(path);
        try {
          return Number(
            (read.prepare("SELECT COUNT(*) AS n FROM t").get() as { n: number })
              .n,
          );
        } finally {
          read.close();
        }
      },
    );
  } finally {
    await databases.close();
    await Deno.remove(dir, { recursive: true });
  }
}

type RunSqlStep = (
  rows: Row[],
  config: { sql: string; mode?: "each" | "once" },
  extra?: { journal?: DeliveryJournal; dryRun?: boolean },
) => Promise<Record<string, unknown>>;

function runSqlStep(databases: Databases, database: string): RunSqlStep {
  const action = runSql(databases, realClock);
  const journal = new MemoryJournal();
  return async (rows, config, extra = {}) =>
    await action(
      {
        data: rows,
        config: { database, mode: "each", timeoutMs: 60_000, ...config },
        context: {},
        runId: crypto.randomUUID(),
        dryRun: extra.dryRun ?? false,
        signal: new AbortController().signal,
        delivery: { journal: extra.journal ?? journal, stepKey: "job@g/0:sql" },
      } as Parameters<typeof action>[0],
    );
}

const INSERT = "INSERT INTO t (id, v) VALUES (:id, :v)";

Deno.test("run_sql each: rows already written by an earlier run of the step are left out", async () => {
  await withSqlite(async (run, count) => {
    const rows = [{ id: 1, v: "a" }, { id: 2, v: "b" }, { id: 3, v: "c" }];
    await run(rows, { sql: INSERT });
    const result = await run(
      [...rows, { id: 4, v: "d" }, { id: 5, v: "e" }],
      { sql: INSERT },
    );
    assert.equal(count(), 5);
    assert.deepEqual(
      [result.rowsAffected, result.statements, result.skipped],
      [2, 2, 3],
    );
  });
});

Deno.test("run_sql once: a statement already run for these rows is not run again", async () => {
  await withSqlite(async (run, count) => {
    const sql = "INSERT INTO t (v) VALUES (:count)";
    const rows = [{ id: 1 }, { id: 2 }];
    await run(rows, { sql, mode: "once" });
    const again = await run(rows, { sql, mode: "once" });
    assert.equal(count(), 1);
    assert.deepEqual([again.statements, again.skipped], [0, 1]);
    await run([{ id: 3 }], { sql, mode: "once" });
    assert.equal(count(), 2, "new rows are a new unit");
  });
});

Deno.test("run_sql: a failed transaction records nothing, so the next run does every row", async () => {
  await withSqlite(async (run, count) => {
    // The second row breaks the primary key: the whole transaction rolls back.
    await rejectsWithCode(
      run([{ id: 1, v: "a" }, { id: 1, v: "again" }], { sql: INSERT }),
      "DATABASE_ERROR",
    );
    assert.equal(count(), 0);
    const result = await run([{ id: 1, v: "a" }, { id: 2, v: "b" }], {
      sql: INSERT,
    });
    assert.deepEqual([result.statements, result.skipped], [2, undefined]);
  });
});

Deno.test("run_sql: a dry run leaves out delivered rows and records nothing", async () => {
  await withSqlite(async (run, count) => {
    const journal = new MemoryJournal();
    await run([{ id: 1, v: "a" }], { sql: INSERT }, { journal });
    const dry = await run(
      [{ id: 1, v: "a" }, { id: 2, v: "b" }],
      { sql: INSERT },
      { journal, dryRun: true },
    );
    assert.deepEqual([dry.rowsAffected, dry.skipped], [1, 1]);
    assert.equal(journal.entries.size, 1);
    assert.equal(count(), 1);
  });
});

pgTest(
  "run_sql each on PostgreSQL: rows already written are left out",
  async (url) => {
    const table = uniqueTable("tk_delivery");
    const sql = postgres(url, { onnotice: () => {} });
    const databases = new Databases();
    try {
      await sql.unsafe(`CREATE TABLE ${table} (id int PRIMARY KEY, v text)`);
      const run = runSqlStep(databases, url);
      const insert = `INSERT INTO ${table} (id, v) VALUES (:id, :v)`;
      await run([{ id: 1, v: "a" }, { id: 2, v: "b" }], { sql: insert });
      const result = await run(
        [{ id: 1, v: "a" }, { id: 2, v: "b" }, { id: 3, v: "c" }],
        { sql: insert },
      );
      const counted = await sql.unsafe(
        `SELECT count(*)::int AS n FROM ${table}`,
      );
      assert.equal(counted[0]!.n, 3);
      assert.deepEqual([result.rowsAffected, result.skipped], [1, 2]);
    } finally {
      await sql.unsafe(`DROP TABLE IF EXISTS ${table}`);
      await sql.end();
      await databases.close();
    }
  },
);

Deno.test(
  "registry.run outside a job: built-ins deliver every call (a fresh journal each)",
  withRegistry(async (registry) => {
    const dir = await Deno.makeTempDir();
    try {
      const database = `sqlite:${dir}/x.db`;
      await registry.run("run_sql", [], {
        config: { database, sql: "CREATE TABLE t (v TEXT)", mode: "once" },
      });
      for (let i = 0; i < 2; i++) {
        await registry.run("run_sql", [{ v: "same" }], {
          config: { database, sql: "INSERT INTO t (v) VALUES (:v)" },
        });
      }
      const db = new DatabaseSync(`${dir}/x.db`);
      assert.deepEqual(
        { ...db.prepare("SELECT COUNT(*) AS n FROM t").get() },
        { n: 2 },
      );
      db.close();
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }),
);
