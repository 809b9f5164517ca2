import assert from "node:assert/strict";
import postgres from "postgres";
import { DatabaseSync } from "node:sqlite";
import { createRegistry, type Registry } from "../mod.ts";
import { pgTest, rejectsWithCode, uniqueTable } from "./_helpers.ts";
import { startHungServer } from "./_hung_server.ts";

async function withSqliteFile(
  fn: (url: string, path: string) => Promise<void>,
) {
  const dir = await Deno.makeTempDir({ prefix: "triggerkit-sql-" });
  const path = `${dir}/test.db`;
  const db = new DatabaseSync(path);
  db.exec(
    "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL, meta TEXT, at TEXT, flag INTEGER, big INTEGER)",
  );
  db.close();
  try {
    await fn(`sqlite:${path}`, path);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function readAll(
  path: string,
  sql =
    "SELECT id, name, meta, at, flag, CAST(big AS TEXT) AS big FROM t ORDER BY id",
): Record<string, unknown>[] {
  const db = new DatabaseSync(path);
  try {
    return db.prepare(sql).all().map((row) => ({ ...row }));
  } finally {
    db.close();
  }
}

async function withRegistry(fn: (registry: Registry) => Promise<void>) {
  const registry = createRegistry();
  try {
    await fn(registry);
  } finally {
    await registry.close();
  }
}

const INSERT =
  "INSERT INTO t (id, name, meta, at, flag, big) VALUES (:id, :name, :meta, :at, :flag, :big)";
const ROWS = [
  {
    id: 1,
    name: "one",
    meta: { tags: ["a"] },
    at: new Date(Date.UTC(2026, 0, 1)),
    flag: true,
    big: 9007199254740993n,
  },
  { id: 2, name: "two", meta: null, at: null, flag: false, big: 2n },
];

Deno.test("run_sql: inserts each row into a SQLite file with typed bindings", async () => {
  await withSqliteFile((url, path) =>
    withRegistry(async (registry) => {
      const result = await registry.run("run_sql", ROWS, {
        config: { database: url, sql: INSERT },
      });
      assert.equal(result.rowsAffected, 2);
      assert.equal(result.statements, 2);
      assert.equal(typeof result.durationMs, "number");
      assert.deepEqual(readAll(path), [
        {
          id: 1,
          name: "one",
          meta: '{"tags":["a"]}',
          at: "2026-01-01T00:00:00.000Z",
          flag: 1,
          big: "9007199254740993",
        },
        { id: 2, name: "two", meta: null, at: null, flag: 0, big: "2" },
      ]);
    })
  );
});

Deno.test("run_sql: mode once runs one statement with :rows and :count", async () => {
  await withSqliteFile((url, path) =>
    withRegistry(async (registry) => {
      const result = await registry.run("run_sql", [{ a: 1 }, { a: 2 }, {
        a: 3,
      }], {
        config: {
          database: url,
          sql:
            "INSERT INTO t (id, name) SELECT :count, json_array_length(:rows)",
          mode: "once",
        },
      });
      assert.deepEqual([result.rowsAffected, result.statements], [1, 1]);
      assert.deepEqual(readAll(path, "SELECT id, name FROM t"), [{
        id: 3,
        name: "3",
      }]);
    })
  );
});

Deno.test("run_sql: sqlite::memory: is shared by the actions of one registry", async () => {
  await withRegistry(async (registry) => {
    const database = "sqlite::memory:";
    await registry.run("run_sql", [{}], {
      config: { database, sql: "CREATE TABLE m (v TEXT)" },
    });
    await registry.run("run_sql", [{ v: "x" }, { v: "y" }], {
      config: { database, sql: "INSERT INTO m (v) VALUES (:v)" },
    });
    const result = await registry.run("run_sql", [{}], {
      config: { database, sql: "DELETE FROM m" },
    });
    assert.equal(result.rowsAffected, 2);
  });
});

Deno.test("run_sql: a row missing a referenced field is INVALID_DATA naming row and field, and nothing is written", async () => {
  await withSqliteFile((url, path) =>
    withRegistry(async (registry) => {
      await rejectsWithCode(
        registry.run("run_sql", [{ id: 1, name: "ok" }, { id: 2 }], {
          config: {
            database: url,
            sql: "INSERT INTO t (id, name) VALUES (:id, :name)",
          },
        }),
        "INVALID_DATA",
        /Row 1 has no field "name"/,
      );
      assert.deepEqual(readAll(path), []);
    })
  );
});

Deno.test("run_sql: a failing statement is DATABASE_ERROR with the row index, and the transaction is rolled back", async () => {
  await withSqliteFile((url, path) =>
    withRegistry(async (registry) => {
      await rejectsWithCode(
        registry.run(
          "run_sql",
          [{ id: 1, name: "a" }, { id: 1, name: "dup" }],
          {
            config: {
              database: url,
              sql: "INSERT INTO t (id, name) VALUES (:id, :name)",
            },
          },
        ),
        "DATABASE_ERROR",
        /on row 1 .*UNIQUE constraint failed/,
      );
      assert.deepEqual(readAll(path), []);
    })
  );
});

Deno.test("run_sql: a dry run reports what would change and changes nothing", async () => {
  await withSqliteFile((url, path) =>
    withRegistry(async (registry) => {
      const result = await registry.run("run_sql", ROWS, {
        config: { database: url, sql: INSERT },
        dryRun: true,
      });
      assert.deepEqual([result.rowsAffected, result.dryRun], [2, true]);
      assert.deepEqual(readAll(path), []);
    })
  );
});

Deno.test("run_sql: SQL injection through row values changes nothing but the intended rows", async () => {
  await withSqliteFile((url, path) =>
    withRegistry(async (registry) => {
      const evil = [
        { id: 1, name: "'); DROP TABLE t; --" },
        { id: 2, name: "x', 'y'); DELETE FROM t; --" },
        { id: 3, name: ":name" },
      ];
      await registry.run("run_sql", evil, {
        config: {
          database: url,
          sql: "INSERT INTO t (id, name) VALUES (:id, :name)",
        },
      });
      assert.deepEqual(
        readAll(path, "SELECT id, name FROM t ORDER BY id"),
        evil,
      );
    })
  );
});

Deno.test("run_sql: invalid config is INVALID_CONFIG naming the keys", async () => {
  await withRegistry(async (registry) => {
    await rejectsWithCode(
      registry.run("run_sql", [], {
        config: { database: "mysql://x", sql: "", mode: "many" },
      }),
      "INVALID_CONFIG",
      /database: Expected a database URL.*sql:.*mode:/,
    );
  });
});

Deno.test("run_sql: parameters inside strings, comments and casts are not bound", async () => {
  await withRegistry(async (registry) => {
    const database = "sqlite::memory:";
    await registry.run("run_sql", [{}], {
      config: { database, sql: "CREATE TABLE s (a TEXT, b TEXT)" },
    });
    const result = await registry.run("run_sql", [{ b: "bound" }], {
      config: {
        database,
        sql: "INSERT INTO s (a, b) VALUES (':not_a_param', :b) -- :nor_this",
      },
    });
    assert.equal(result.rowsAffected, 1);
  });
});

pgTest(
  "run_sql: inserts 2,500 rows in multi-row batches in one transaction",
  async (url) => {
    const table = uniqueTable("tk_insert");
    const sql = postgres(url, { onnotice: () => {} });
    await sql.unsafe(
      `CREATE TABLE ${table} (id int PRIMARY KEY, name text, meta jsonb, at timestamptz, big bigint)`,
    );
    try {
      await withRegistry(async (registry) => {
        const rows = Array.from({ length: 2500 }, (_, i) => ({
          id: i,
          name: i === 7 ? "'); DROP TABLE x; --" : `n${i}`,
          meta: { i },
          at: new Date(Date.UTC(2026, 0, 1)),
          big: 9007199254740993n,
        }));
        const result = await registry.run("run_sql", rows, {
          config: {
            database: url,
            sql:
              `INSERT INTO ${table} (id, name, meta, at, big) VALUES (:id, :name, :meta, :at, :big)`,
          },
        });
        assert.equal(result.rowsAffected, 2500);
        assert.equal(result.statements, 3);
        const [row] = await sql.unsafe(
          `SELECT name, meta, at, big FROM ${table} WHERE id = 7`,
        );
        assert.deepEqual({ ...row }, {
          name: "'); DROP TABLE x; --",
          meta: { i: 7 },
          at: new Date(Date.UTC(2026, 0, 1)),
          big: "9007199254740993",
        });
      });
    } finally {
      await sql.unsafe(`DROP TABLE ${table}`);
      await sql.end();
    }
  },
);

pgTest(
  "run_sql: updates per row, rolls back on error with the row index",
  async (url) => {
    const table = uniqueTable("tk_update");
    const sql = postgres(url, { onnotice: () => {} });
    await sql.unsafe(
      `CREATE TABLE ${table} (id int PRIMARY KEY, n int NOT NULL)`,
    );
    await sql.unsafe(`INSERT INTO ${table} VALUES (1, 0), (2, 0)`);
    try {
      await withRegistry(async (registry) => {
        const update = `UPDATE ${table} SET n = :n WHERE id = :id`;
        const ok = await registry.run("run_sql", [{ id: 1, n: 5 }, {
          id: 2,
          n: 6,
        }], {
          config: { database: url, sql: update },
        });
        assert.deepEqual([ok.rowsAffected, ok.statements], [2, 2]);
        await rejectsWithCode(
          registry.run("run_sql", [{ id: 1, n: 50 }, { id: 2, n: null }], {
            config: { database: url, sql: update },
          }),
          "DATABASE_ERROR",
          /on row 1 .*null value/,
        );
        const rows = await sql.unsafe(`SELECT id, n FROM ${table} ORDER BY id`);
        assert.deepEqual(rows.map((r) => ({ ...r })), [{ id: 1, n: 5 }, {
          id: 2,
          n: 6,
        }]);
      });
    } finally {
      await sql.unsafe(`DROP TABLE ${table}`);
      await sql.end();
    }
  },
);

pgTest(
  "run_sql: a dry run on PostgreSQL reports and rolls back",
  async (url) => {
    const table = uniqueTable("tk_dry");
    const sql = postgres(url, { onnotice: () => {} });
    await sql.unsafe(`CREATE TABLE ${table} (id int)`);
    try {
      await withRegistry(async (registry) => {
        const result = await registry.run("run_sql", [{ id: 1 }, { id: 2 }], {
          config: {
            database: url,
            sql: `INSERT INTO ${table} (id) VALUES (:id)`,
          },
          dryRun: true,
        });
        assert.deepEqual([result.rowsAffected, result.dryRun], [2, true]);
        assert.equal(
          (await sql.unsafe(`SELECT count(*)::int AS n FROM ${table}`))[0]!.n,
          0,
        );
      });
    } finally {
      await sql.unsafe(`DROP TABLE ${table}`);
      await sql.end();
    }
  },
);

pgTest("run_sql: a password never appears in a DATABASE_ERROR", async (url) => {
  const withPassword = new URL(url);
  withPassword.password = "s3cret-pass";
  withPassword.username = "no_such_user_tk";
  await withRegistry(async (registry) => {
    const error = await rejectsWithCode(
      registry.run("run_sql", [{}], {
        config: { database: withPassword.href, sql: "SELECT 1" },
      }),
      "DATABASE_ERROR",
    );
    assert.ok(!error.message.includes("s3cret-pass"), error.message);
    assert.match(error.message, /\*\*\*/);
  });
});

Deno.test("run_sql: timeoutMs ends a transaction on a database that never answers with DATABASE_ERROR, on time", async () => {
  const server = startHungServer();
  const registry = createRegistry({ store: "sqlite::memory:" });
  try {
    const started = performance.now();
    await rejectsWithCode(
      registry.run("run_sql", [{ id: 1 }], {
        config: {
          database: server.postgresUrl,
          sql: "INSERT INTO t (id) VALUES (:id)",
          timeoutMs: 300,
        },
      }),
      "DATABASE_ERROR",
      /timed out after 300 ms/,
    );
    assert.ok(performance.now() - started < 2_000, "it gave up on time");
  } finally {
    await registry.close();
    await server.close();
  }
});

Deno.test("run_sql: timeoutMs must be a whole number of ms above 0 (INVALID_CONFIG); it defaults to 5 minutes", async () => {
  const registry = createRegistry({ store: "sqlite::memory:" });
  try {
    for (const timeoutMs of [0, -1, 1.5, "5"]) {
      await rejectsWithCode(
        registry.run("run_sql", [], {
          config: { database: "sqlite::memory:", sql: "SELECT 1", timeoutMs },
        }),
        "INVALID_CONFIG",
      );
    }
    const schema = registry.getInfo("run_sql").configSchema as {
      properties: { timeoutMs: { default: number } };
    };
    assert.equal(schema.properties.timeoutMs.default, 300_000);
  } finally {
    await registry.close();
  }
});
