/**
 * Database calls never wait forever (SPEC §4.1, issue 11): call deadlines
 * and aborts, PostgreSQL's connect deadline and cancel, SQLite's lock wait
 * across processes. Tests leave no timer or connection behind (Deno's
 * sanitizers check it) and no password in any message.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import postgres from "postgres";
import { SqliteDatabase } from "../src/db/sqlite.ts";
import { PostgresDatabase } from "../src/db/postgres.ts";
import { redactUrl } from "../src/db/url.ts";
import { parseNamedSql } from "../src/db/named_sql.ts";
import type { Database } from "../src/db/contract.ts";
import { pgTest, rejectsWithCode, runScript, TEST_PG } from "./_helpers.ts";
import { startHungServer } from "./_hung_server.ts";
import { type PgCluster, startPgCluster } from "./_pg_cluster.ts";

const SELECT_1 = parseNamedSql("SELECT 1 AS one");

function postgresDb(url: string, connectTimeoutMs?: number): PostgresDatabase {
  return new PostgresDatabase(
    url,
    redactUrl(url),
    connectTimeoutMs === undefined ? {} : { connectTimeoutMs },
  );
}

/** Awaits `promise`, which must fail with DATABASE_ERROR within `withinMs`. */
async function failsWithin(
  promise: Promise<unknown>,
  withinMs: number,
  message: RegExp,
): Promise<Error> {
  const started = performance.now();
  const error = await rejectsWithCode(promise, "DATABASE_ERROR", message);
  const took = performance.now() - started;
  assert.ok(took < withinMs, `took ${Math.round(took)} ms`);
  return error;
}

async function withDb<T extends Database>(
  db: T,
  fn: (db: T) => Promise<void>,
): Promise<void> {
  try {
    await fn(db);
  } finally {
    await db.close();
  }
}

/**
 * A PostgreSQL database on a host that accepts connections and never
 * answers; after `fn`, every connection it opened must be closed already.
 */
async function withHungPostgres(
  fn: (db: PostgresDatabase) => Promise<void>,
  connectTimeoutMs?: number,
): Promise<void> {
  const server = startHungServer();
  try {
    await withDb(
      postgresDb(server.postgresUrl, connectTimeoutMs),
      async (db) => {
        await fn(db);
        assert.ok(server.accepted >= 1, "it did connect");
        // Closed by the failed call itself, before close().
        await server.allClosed();
      },
    );
  } finally {
    await server.close();
  }
}

Deno.test("PostgreSQL: a query to a host that accepts and never answers fails at its deadline, leaving no connection", async () => {
  await withHungPostgres(async (db) => {
    const error = await failsWithin(
      db.query(SELECT_1, {}, { timeoutMs: 300 }),
      2_000,
      /timed out after 300 ms/,
    );
    assert.ok(!error.message.includes("hung-secret-pw"), error.message);
  });
});

Deno.test("PostgreSQL: without a call deadline, connecting gives up after connectTimeoutMs", async () => {
  await withHungPostgres(async (db) => {
    const error = await failsWithin(
      db.execute(SELECT_1, { params: [{}], dryRun: false }),
      2_000,
      /did not answer within 300 ms of connecting/,
    );
    assert.ok(!error.message.includes("hung-secret-pw"), error.message);
    assert.match(error.message, /\*\*\*/);
  }, 300);
});

Deno.test("PostgreSQL: a transaction on a host that never answers fails at its deadline, leaving no connection", async () => {
  await withHungPostgres(async (db) => {
    await failsWithin(
      db.execute(parseNamedSql("INSERT INTO t (x) VALUES (:x)"), {
        params: [{ x: 1 }, { x: 2 }],
        dryRun: false,
        timeoutMs: 300,
      }),
      2_000,
      /timed out after 300 ms/,
    );
  });
});

Deno.test("PostgreSQL: an aborted signal ends a hung call at once", async () => {
  await withHungPostgres(async (db) => {
    const controller = new AbortController();
    const pending = db.query(SELECT_1, {}, { signal: controller.signal });
    setTimeout(() => controller.abort(new Error("run cancelled")), 100);
    await failsWithin(pending, 1_000, /aborted/);
    await rejectsWithCode(
      db.query(SELECT_1, {}, { signal: controller.signal }),
      "DATABASE_ERROR",
      /aborted/,
    );
  });
});

pgTest(
  "PostgreSQL: a slow query past its deadline is cancelled on the server, and the pool works after",
  async (url) => {
    await withDb(postgresDb(url), async (db) => {
      const marker = `tk_sleep_${crypto.randomUUID().slice(0, 8)}`;
      await failsWithin(
        db.query(
          parseNamedSql(`SELECT pg_sleep(30) AS "${marker}"`),
          {},
          { timeoutMs: 300 },
        ),
        3_000,
        /timed out after 300 ms/,
      );
      assert.deepEqual(await db.query(SELECT_1), [{ one: 1 }]);
      const admin = postgres(url, { onnotice: () => {}, max: 1 });
      try {
        const running = await admin.unsafe(
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE query LIKE $1 AND state = 'active' AND pid <> pg_backend_pid()",
          [`%${marker}%`],
        );
        assert.equal(running[0]!.n, 0, "the query still runs on the server");
      } finally {
        await admin.end();
      }
    });
  },
);

pgTest(
  "PostgreSQL: execute past its deadline rolls back and the pool works after",
  async (url) => {
    const table = `tk_deadline_${crypto.randomUUID().slice(0, 8)}`;
    await withDb(postgresDb(url), async (db) => {
      await db.execute(parseNamedSql(`CREATE TABLE ${table} (id int)`), {
        params: [{}],
        dryRun: false,
      });
      try {
        await failsWithin(
          db.execute(
            parseNamedSql(
              `INSERT INTO ${table} (id) SELECT :id FROM pg_sleep(CASE WHEN :id = 3 THEN 30 ELSE 0 END)`,
            ),
            {
              params: [{ id: 1 }, { id: 2 }, { id: 3 }],
              dryRun: false,
              timeoutMs: 400,
            },
          ),
          3_000,
          /timed out after 400 ms/,
        );
        assert.deepEqual(
          await db.query(
            parseNamedSql(`SELECT count(*)::int AS n FROM ${table}`),
          ),
          [{ n: 0 }],
        );
      } finally {
        await db.execute(parseNamedSql(`DROP TABLE ${table}`), {
          params: [{}],
          dryRun: false,
        });
      }
    });
  },
);

/** A test on a private PostgreSQL cluster (tests/_pg_cluster.ts), dropped afterwards. */
function clusterTest(name: string, fn: (cluster: PgCluster) => Promise<void>) {
  Deno.test({
    name: `${name} [private cluster]`,
    ignore: !TEST_PG && Deno.env.get("CI") !== "true",
    fn: async () => {
      const cluster = await startPgCluster();
      try {
        await fn(cluster);
      } finally {
        await cluster.drop();
      }
      const listed = new TextDecoder().decode(
        (await new Deno.Command("pg_lsclusters", { stdout: "piped" }).output())
          .stdout,
      );
      assert.ok(!listed.includes(cluster.name), "the cluster was dropped");
    },
  });
}

clusterTest(
  "PostgreSQL: a server that goes down fails calls with DATABASE_ERROR, and the pool reconnects when it is back",
  async (cluster) => {
    assert.ok(cluster.port >= 20_000 && cluster.port <= 60_000);
    assert.notEqual(cluster.port, 5432);
    await withDb(postgresDb(cluster.url, 2_000), async (db) => {
      assert.deepEqual(await db.query(SELECT_1), [{ one: 1 }]);
      await cluster.stop();
      await failsWithin(
        db.query(SELECT_1, {}, { timeoutMs: 5_000 }),
        5_000,
        /Statement failed|ECONNREFUSED|terminat|closed/i,
      );
      await cluster.start();
      assert.deepEqual(
        await db.query(SELECT_1, {}, { timeoutMs: 5_000 }),
        [{ one: 1 }],
      );
    });
  },
);

clusterTest(
  "PostgreSQL: a server that hangs with connections open fails calls at their deadline, and the pool recovers",
  async (cluster) => {
    await withDb(postgresDb(cluster.url, 1_000), async (db) => {
      assert.deepEqual(await db.query(SELECT_1), [{ one: 1 }]);
      cluster.pause();
      try {
        await failsWithin(
          db.query(SELECT_1, {}, { timeoutMs: 300 }),
          1_000,
          /timed out after 300 ms/,
        );
        await failsWithin(
          db.execute(SELECT_1, { params: [{}], dryRun: false, timeoutMs: 300 }),
          1_000,
          /timed out after 300 ms/,
        );
      } finally {
        cluster.resume();
      }
      assert.deepEqual(
        await db.query(SELECT_1, {}, { timeoutMs: 5_000 }),
        [{ one: 1 }],
      );
    });
  },
);

async function withSqliteFile(
  fn: (path: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "triggerkit-deadline-" });
  try {
    await fn(`${dir}/db.sqlite`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Holds SQLite's write lock on `path` from another connection until released. */
function holdLock(path: string): () => void {
  const other = new DatabaseSync(path);
  other.exec("PRAGMA journal_mode = WAL");
  other.exec("BEGIN IMMEDIATE");
  other.exec("CREATE TABLE IF NOT EXISTS held (x)");
  return () => {
    other.exec("ROLLBACK");
    other.close();
  };
}

Deno.test("SQLite: waiting for another connection's lock ends at the call deadline, and the event loop runs meanwhile", async () => {
  await withSqliteFile(async (path) => {
    await withDb(new SqliteDatabase(path, `sqlite:${path}`), async (db) => {
      await db.execute(parseNamedSql("CREATE TABLE t (id INTEGER)"), {
        params: [{}],
        dryRun: false,
      });
      const release = holdLock(path);
      let ticks = 0;
      const ticker = setInterval(() => ticks++, 10);
      try {
        await failsWithin(
          db.execute(parseNamedSql("INSERT INTO t (id) VALUES (:id)"), {
            params: [{ id: 1 }],
            dryRun: false,
            timeoutMs: 300,
          }),
          1_000,
          /timed out after 300 ms/,
        );
        assert.ok(ticks >= 10, `the event loop ran only ${ticks} times`);
      } finally {
        clearInterval(ticker);
        release();
      }
      await db.execute(parseNamedSql("INSERT INTO t (id) VALUES (:id)"), {
        params: [{ id: 2 }],
        dryRun: false,
      });
      assert.deepEqual(await db.query(parseNamedSql("SELECT id FROM t")), [{
        id: 2,
      }]);
    });
  });
});

Deno.test("SQLite: a lock held longer than busyTimeoutMs is DATABASE_ERROR naming the wait", async () => {
  await withSqliteFile(async (path) => {
    const db = new SqliteDatabase(path, `sqlite:${path}`, {
      busyTimeoutMs: 200,
    });
    await withDb(db, async (db) => {
      await db.query(SELECT_1);
      const release = holdLock(path);
      try {
        await failsWithin(
          db.execute(parseNamedSql("CREATE TABLE u (x)"), {
            params: [{}],
            dryRun: false,
          }),
          1_000,
          /database is locked: another connection held the lock for longer than busyTimeoutMs \(200 ms\)/,
        );
      } finally {
        release();
      }
    });
  });
});

Deno.test("SQLite: an aborted signal ends a call waiting for a lock", async () => {
  await withSqliteFile(async (path) => {
    await withDb(new SqliteDatabase(path, `sqlite:${path}`), async (db) => {
      await db.query(SELECT_1);
      const release = holdLock(path);
      try {
        const controller = new AbortController();
        setTimeout(() => controller.abort(), 100);
        await failsWithin(
          db.execute(parseNamedSql("CREATE TABLE u (x)"), {
            params: [{}],
            dryRun: false,
            signal: controller.signal,
          }),
          1_000,
          /aborted/,
        );
      } finally {
        release();
      }
    });
  });
});

/** A read-only statement that keeps SQLite busy for about `seconds` on this machine. */
function slowQuery(seconds: number) {
  return parseNamedSql(
    `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ${
      Math.round(seconds * 3_000_000)
    }) SELECT count(*) AS n FROM c`,
  );
}

Deno.test("SQLite: a long query ends at its deadline, and the event loop runs meanwhile", async () => {
  await withSqliteFile(async (path) => {
    await withDb(new SqliteDatabase(path, `sqlite:${path}`), async (db) => {
      await db.query(SELECT_1);
      let ticks = 0;
      const ticker = setInterval(() => ticks++, 10);
      try {
        await failsWithin(
          db.query(slowQuery(2), {}, { timeoutMs: 300 }),
          1_000,
          /timed out after 300 ms/,
        );
        assert.ok(ticks >= 15, `the event loop ran only ${ticks} times`);
      } finally {
        clearInterval(ticker);
      }
      assert.deepEqual(
        await db.query(SELECT_1, {}, { timeoutMs: 5_000 }),
        [{ one: 1 }],
      );
    });
  });
});

Deno.test("SQLite: an aborted signal ends a long query", async () => {
  await withSqliteFile(async (path) => {
    await withDb(new SqliteDatabase(path, `sqlite:${path}`), async (db) => {
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 150);
      await failsWithin(
        db.query(slowQuery(2), {}, { signal: controller.signal }),
        1_000,
        /aborted/,
      );
    });
  });
});

Deno.test("SQLite: a query with a deadline reads the same rows as one without", async () => {
  await withSqliteFile(async (path) => {
    await withDb(new SqliteDatabase(path, `sqlite:${path}`), async (db) => {
      await db.execute(
        parseNamedSql("CREATE TABLE n (id INTEGER, i INTEGER, t TEXT, b BLOB)"),
        { params: [{}], dryRun: false },
      );
      await db.execute(
        parseNamedSql("INSERT INTO n VALUES (:id, :i, :t, :b)"),
        {
          params: [
            { id: 1, i: 1, t: "one", b: new Uint8Array([1]) },
            { id: 2, i: 9007199254740993n, t: null, b: null },
          ],
          dryRun: false,
        },
      );
      const select = parseNamedSql(
        "SELECT * FROM n WHERE id >= :min ORDER BY id",
      );
      const plain = await db.query(select, { min: 1 });
      assert.deepEqual(plain, [
        { id: 1, i: 1, t: "one", b: new Uint8Array([1]) },
        { id: 2, i: 9007199254740993n, t: null, b: null },
      ]);
      assert.deepEqual(
        await db.query(select, { min: 1 }, { timeoutMs: 5_000 }),
        plain,
      );
    });
  });
});

Deno.test("SQLite: a statement with a deadline that writes runs on the host's connection", async () => {
  await withSqliteFile(async (path) => {
    await withDb(new SqliteDatabase(path, `sqlite:${path}`), async (db) => {
      await db.execute(parseNamedSql("CREATE TABLE w1 (x INTEGER)"), {
        params: [{}],
        dryRun: false,
      });
      const rows = await db.query(
        parseNamedSql(
          "WITH v(x) AS (SELECT :x) INSERT INTO w1 SELECT x FROM v RETURNING x",
        ),
        { x: 7 },
        { timeoutMs: 5_000 },
      );
      assert.deepEqual(rows, [{ x: 7 }]);
      assert.deepEqual(await db.query(parseNamedSql("SELECT x FROM w1")), [{
        x: 7,
      }]);
    });
  });
});

Deno.test("A deadline longer than a timer can hold is no deadline; a non-positive one is refused", async () => {
  await withDb(
    new SqliteDatabase(":memory:", "sqlite::memory:"),
    async (db) => {
      assert.deepEqual(
        await db.query(SELECT_1, {}, { timeoutMs: 1e12 }),
        [{ one: 1 }],
      );
      assert.deepEqual(
        await db.query(SELECT_1, {}, { timeoutMs: Infinity }),
        [{ one: 1 }],
      );
      for (const timeoutMs of [0, -1, NaN]) {
        await rejectsWithCode(
          db.query(SELECT_1, {}, { timeoutMs }),
          "DATABASE_ERROR",
          /Invalid timeoutMs/,
        );
      }
    },
  );
});

Deno.test("SQLite: every connection opens in WAL mode", async () => {
  await withSqliteFile(async (path) => {
    await withDb(new SqliteDatabase(path, `sqlite:${path}`), async (db) => {
      assert.deepEqual(
        await db.query(parseNamedSql("PRAGMA journal_mode")),
        [{ journal_mode: "wal" }],
      );
    });
  });
});

Deno.test("SQLite: 3 processes writing one file at once never see 'database is locked'", async () => {
  await withSqliteFile(async (path) => {
    const setup = new DatabaseSync(path);
    setup.exec("CREATE TABLE w (process INTEGER, n INTEGER)");
    setup.close();
    const module = new URL("../src/db/sqlite.ts", import.meta.url).href;
    const named = new URL("../src/db/named_sql.ts", import.meta.url).href;
    const startAt = Date.now() + 1_500;
    const script = (process: number) => `
      const { SqliteDatabase } = await import(${JSON.stringify(module)});
      const { parseNamedSql } = await import(${JSON.stringify(named)});
      const db = new SqliteDatabase(${JSON.stringify(path)}, "sqlite:test");
      const insert = parseNamedSql("INSERT INTO w (process, n) VALUES (:process, :n)");
      const count = parseNamedSql("SELECT count(*) AS n FROM w");
      while (Date.now() < ${startAt}) await new Promise((r) => setTimeout(r, 5));
      for (let n = 0; n < 150; n++) {
        const params = Array.from({ length: 20 }, (_, i) => ({ process: ${process}, n: n * 20 + i }));
        await db.execute(insert, { params, dryRun: false });
        await db.query(count);
      }
      await db.close();
      console.log("done");
    `;
    const results = await Promise.all(
      [1, 2, 3].map((process) =>
        runScript(script(process), ["--allow-read", "--allow-write"])
      ),
    );
    for (const result of results) {
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout.trim(), "done");
    }
    const check = new DatabaseSync(path);
    try {
      assert.deepEqual(
        check.prepare(
          "SELECT process, count(*) AS rows FROM w GROUP BY process ORDER BY process",
        ).all().map((row) => ({ ...row })),
        [1, 2, 3].map((process) => ({ process, rows: 3_000 })),
      );
    } finally {
      check.close();
    }
  });
});
