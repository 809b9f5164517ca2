/**
 * Values are never silently changed (SPEC §3, issue 12): every value either
 * reads back equal through `run_sql` and a view, or is refused with
 * `INVALID_DATA` naming the row and the field — on SQLite and PostgreSQL.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { createRegistry, type Registry, type Row } from "../mod.ts";
import { canonicalKey } from "../src/_key.ts";
import { pgTest, rejectsWithCode, uniqueTable } from "./_helpers.ts";

type Case = readonly [column: string, value: unknown, readBack: unknown];
type Refusal = readonly [column: string, value: unknown, reason: RegExp];

const SQLITE_TABLE = (table: string) =>
  `CREATE TABLE ${table} (id INTEGER PRIMARY KEY, t TEXT, i INTEGER, r REAL, n NUMERIC, j JSON, b BOOLEAN, bin BLOB, x)`;
const SQLITE_COLUMNS = ["t", "i", "r", "n", "j", "b", "bin", "x"];

const PG_TABLE = (table: string) =>
  `CREATE TABLE ${table} (id int PRIMARY KEY, t text, i int8, i4 int4, r float8, f4 float4, n numeric, j jsonb, b boolean, d timestamptz, day date, bin bytea)`;
const PG_COLUMNS = [
  "t",
  "i",
  "i4",
  "r",
  "f4",
  "n",
  "j",
  "b",
  "d",
  "day",
  "bin",
];

const DATE = new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 678));
const BYTES = new Uint8Array([0, 1, 2, 255]);
const TEXTS = [
  "plain",
  "",
  "emoji 😀 and 中文",
  "O'Reilly'); DROP TABLE x; --",
];

/** Values that round-trip on SQLite, with what a view reads back. */
const SQLITE_CASES: Case[] = [
  ...TEXTS.map((text): Case => ["t", text, text]),
  ["t", 5, "5"],
  ["t", 1.5, "1.5"],
  ["t", 9007199254740993n, "9007199254740993"],
  ["t", DATE, DATE.toISOString()],
  [
    "t",
    { a: [1, "x", null], b: { c: true } },
    '{"a":[1,"x",null],"b":{"c":true}}',
  ],
  ["t", BYTES, BYTES],
  ["i", 5, 5],
  ["i", -7, -7],
  ["i", "42", 42],
  ["i", true, 1],
  ["i", false, 0],
  ["i", 9007199254740993n, 9007199254740993n],
  ["i", "9007199254740993", 9007199254740993n],
  ["i", -(2n ** 63n), -(2n ** 63n)],
  ["i", Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  ["r", 1.5, 1.5],
  ["r", 0.1, 0.1],
  ["r", 1e300, 1e300],
  ["r", 5n, 5],
  ["r", "2.5", 2.5],
  ["n", 1.5, 1.5],
  ["n", 12, 12],
  ["n", "2026-01-02", "2026-01-02"],
  ["n", "hello", "hello"],
  ["n", "42", 42],
  ["n", DATE, DATE.toISOString()],
  [
    "j",
    { nested: { list: [1, 2, { deep: "x" }] } },
    '{"nested":{"list":[1,2,{"deep":"x"}]}}',
  ],
  [
    "j",
    { big: 9007199254740993n, at: DATE },
    `{"big":"9007199254740993","at":"${DATE.toISOString()}"}`,
  ],
  ["b", true, 1],
  ["bin", BYTES, BYTES],
  ["x", "007", "007"],
  ["x", 5, 5],
  ["x", 2.5, 2.5],
  ["x", null, null],
  ["x", undefined, null],
];

/** Values SQLite would change: refused, with the reason. */
const SQLITE_REFUSALS: Refusal[] = [
  ["t", "a\0b", /NUL/],
  ["t", "lone \ud800 surrogate", /surrogate/],
  ["t", "lone \udc00", /surrogate/],
  ["t", true, /boolean into a text column/],
  ["i", "12abc", /not an integer/],
  ["i", "1.0", /not an integer/],
  ["i", " 12", /not an integer/],
  ["i", "-0", /not an integer/],
  ["n", "-0", /number it spells/],
  ["i", 1.5, /fractional/],
  ["i", 2 ** 53 + 2, /past 2\^53/],
  ["i", 2n ** 63n, /range/],
  ["i", DATE, /date into an integer column/],
  ["i", { a: 1 }, /object into an integer column/],
  ["r", NaN, /NaN/],
  ["r", Infinity, /Infinity/],
  ["r", -Infinity, /Infinity/],
  ["x", NaN, /NaN/],
  ["r", 9007199254740993n, /round/],
  ["r", "1.50", /as JavaScript writes it/],
  ["r", true, /boolean/],
  ["n", "007", /number it spells/],
  ["n", "1.50", /number it spells/],
  ["n", " 5", /number it spells/],
  ["x", 2n ** 64n, /64-bit/],
  ["j", { a: NaN }, /at key "a" is NaN/],
  ["j", { m: new Map([[1, 2]]) }, /Map at key "m"/],
  ["j", { bytes: new Uint8Array(2) }, /Uint8Array at key "bytes"/],
  ["j", { when: new Date(NaN) }, /date at key "when" is invalid/],
  ["j", { f: () => 1 }, /function at key "f"/],
  ["x", new Date(NaN), /invalid date/],
  ["x", () => 1, /function/],
  ["x", Symbol("s"), /symbol/],
];

/** Values that round-trip on PostgreSQL (int8 reads back as a digit string, as npm:postgres returns it). */
const PG_CASES: Case[] = [
  ...TEXTS.map((text): Case => ["t", text, text]),
  ["t", 5, "5"],
  ["t", 1.5, "1.5"],
  ["t", 9007199254740993n, "9007199254740993"],
  ["t", DATE, DATE.toISOString()],
  ["t", { a: [1, "x"] }, '{"a":[1,"x"]}'],
  ["i", 5, "5"],
  ["i", "42", "42"],
  ["i", 9007199254740993n, "9007199254740993"],
  ["i", -(2n ** 63n), (-(2n ** 63n)).toString()],
  ["i4", 2 ** 31 - 1, 2 ** 31 - 1],
  ["i4", "-12", -12],
  ["r", 1.5, 1.5],
  ["r", 0.1, 0.1],
  ["r", 1e300, 1e300],
  ["r", 5n, 5],
  ["f4", 0.5, 0.5],
  ["f4", 0.1, 0.1],
  ["n", "1.50", "1.50"],
  ["n", "0.10", "0.10"],
  ["n", "-7.25", "-7.25"],
  ["n", "NaN", "NaN"],
  ["n", 1.5, "1.5"],
  ["n", 10n ** 30n, (10n ** 30n).toString()],
  ["j", { nested: { list: [1, 2, { deep: "x" }] } }, {
    nested: { list: [1, 2, { deep: "x" }] },
  }],
  ["j", "a string", "a string"],
  ["j", "123", "123"],
  ["j", 5, 5],
  ["j", true, true],
  ["j", [1, "two"], [1, "two"]],
  ["j", { big: 9007199254740993n }, { big: "9007199254740993" }],
  ["b", true, true],
  ["b", false, false],
  ["d", DATE, DATE],
  ["d", "2026-01-02T03:04:05.678Z", DATE],
  ["d", "2026-01-02 05:04:05.678+02", DATE],
  ["day", new Date(Date.UTC(2026, 0, 2)), new Date(Date.UTC(2026, 0, 2))],
  ["bin", BYTES, BYTES],
  ["t", null, null],
];

/** Values PostgreSQL (or npm:postgres) would change or refuse with a less precise error. */
const PG_REFUSALS: Refusal[] = [
  ["t", "a\0b", /NUL/],
  ["t", "lone \ud800 surrogate", /surrogate/],
  ["t", true, /boolean into a text column/],
  ["b", "true", /string into a boolean column/],
  ["b", 1, /number into a boolean column/],
  ["i", "12abc", /not an integer/],
  ["i", 1.5, /fractional/],
  ["i", 2 ** 53 + 2, /past 2\^53/],
  ["i4", 2 ** 31, /range/],
  ["i4", "1e3", /not an integer/],
  ["i", "-0", /not an integer/],
  ...[" 12", "1e3", "+3", "007", ".5", "-0.0"].map((text): Refusal => [
    "n",
    text,
    /PostgreSQL would store the number it spells/,
  ]),
  ["r", NaN, /NaN/],
  ["f4", 0.123456789, /float4/],
  ["d", 1767322800000, /number into a timestamp column/],
  ["day", DATE, /time of day/],
  ["bin", "abc", /Uint8Array/],
  ["j", { a: Infinity }, /at key "a" is Infinity/],
  ["t", BYTES, /bytea/],
];

function row(
  id: number,
  columns: string[],
  column: string,
  value: unknown,
): Row {
  const out: Row = { id };
  for (const name of columns) out[name] = null;
  out[column] = value;
  return out;
}

function insertSql(table: string, columns: string[]): string {
  return `INSERT INTO ${table} (id, ${columns.join(", ")}) VALUES (:id, ${
    columns.map((c) => `:${c}`).join(", ")
  })`;
}

let views = 0;

/** The rows of `sql` as a job's action receives them from its view. */
async function readView(
  registry: Registry,
  database: string,
  sql: string,
): Promise<Row[]> {
  const name = `values_${views++}`;
  let rows: Row[] = [];
  registry.register(`${name}_grab`, ({ data }) => {
    rows = [...data];
    return {};
  });
  registry.defineView({ name, database, sql });
  registry.defineJob({
    name,
    view: name,
    actions: [`${name}_grab`],
    when: "always",
  });
  const report = await registry.runJob(name);
  assert.equal(report.status, "succeeded", JSON.stringify(report.actions));
  return rows;
}

function normalize(value: unknown): unknown {
  // npm:postgres reads bytea as a Buffer: compare its bytes.
  return value instanceof Uint8Array ? [...value] : value;
}

async function checkRoundTrips(
  registry: Registry,
  database: string,
  table: string,
  columns: string[],
  cases: Case[],
) {
  const rows = cases.map(([column, value], id) =>
    row(id, columns, column, value)
  );
  await registry.run("run_sql", rows, {
    config: { database, sql: insertSql(table, columns) },
  });
  const back = await readView(
    registry,
    database,
    `SELECT * FROM ${table} ORDER BY id`,
  );
  assert.equal(back.length, cases.length);
  cases.forEach(([column, value, expected], id) => {
    assert.deepEqual(
      normalize(back[id]![column]),
      normalize(expected),
      `${column} ← ${typeof value} ${String(value).slice(0, 40)}`,
    );
  });
}

async function checkRefusals(
  registry: Registry,
  database: string,
  table: string,
  columns: string[],
  refusals: Refusal[],
) {
  for (const [column, value, reason] of refusals) {
    // Row 0 is fine, row 1 is refused: the error names row 1 and the field.
    const error = await rejectsWithCode(
      registry.run("run_sql", [
        row(1000, columns, column, null),
        row(1001, columns, column, value),
      ], { config: { database, sql: insertSql(table, columns) } }),
      "INVALID_DATA",
      new RegExp(`^Row 1, field "${column}": `),
    );
    assert.match(error.message, reason, `${column} ← ${String(value)}`);
  }
  const left = await readView(
    registry,
    database,
    `SELECT id FROM ${table} WHERE id >= 1000`,
  );
  assert.deepEqual(left, [], "a refused value writes nothing");
}

async function withSqlite(
  fn: (registry: Registry, database: string, table: string) => Promise<void>,
) {
  const dir = await Deno.makeTempDir({ prefix: "triggerkit-values-" });
  const registry = createRegistry({ store: "sqlite::memory:" });
  const database = `sqlite:${dir}/values.db`;
  try {
    await registry.run("run_sql", [{}], {
      config: { database, sql: SQLITE_TABLE("v") },
    });
    await fn(registry, database, "v");
  } finally {
    await registry.close();
    await Deno.remove(dir, { recursive: true });
  }
}

async function withPostgres(
  url: string,
  fn: (registry: Registry, table: string) => Promise<void>,
) {
  const table = uniqueTable("tk_values");
  const sql = postgres(url, { onnotice: () => {} });
  await sql.unsafe(PG_TABLE(table));
  const registry = createRegistry({ store: "sqlite::memory:" });
  try {
    await fn(registry, table);
  } finally {
    await registry.close();
    await sql.unsafe(`DROP TABLE ${table}`);
    await sql.end();
  }
}

Deno.test("SQLite: every accepted value reads back through a view as documented", async () => {
  await withSqlite((registry, database, table) =>
    checkRoundTrips(registry, database, table, SQLITE_COLUMNS, SQLITE_CASES)
  );
});

Deno.test("SQLite: a value the column would change is INVALID_DATA naming row and field, and nothing is written", async () => {
  await withSqlite((registry, database, table) =>
    checkRefusals(registry, database, table, SQLITE_COLUMNS, SQLITE_REFUSALS)
  );
});

Deno.test("SQLite: UPDATE … SET col = :p and INSERT without a column list check the column too", async () => {
  await withSqlite(async (registry, database) => {
    await registry.run("run_sql", [{ id: 1, i: 5 }], {
      config: { database, sql: "INSERT INTO v (id, i) VALUES (:id, :i)" },
    });
    await rejectsWithCode(
      registry.run("run_sql", [{ id: 1, i: "12abc" }], {
        config: { database, sql: "UPDATE v SET i = :i WHERE id = :id" },
      }),
      "INVALID_DATA",
      /Row 0, field "i": a string into an integer column/,
    );
    await rejectsWithCode(
      registry.run("run_sql", [{ id: 2, t: true }], {
        config: {
          database,
          sql:
            "INSERT INTO v VALUES (:id, :t, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
        },
      }),
      "INVALID_DATA",
      /Row 0, field "t": a boolean into a text column/,
    );
    await rejectsWithCode(
      registry.run("run_sql", [{ id: 1, x: "007" }], {
        config: {
          database,
          sql:
            "INSERT INTO v (id, n) VALUES (:id, :x) ON CONFLICT (id) DO UPDATE SET n = :x",
        },
      }),
      "INVALID_DATA",
      /field "x": .*numeric column/,
    );
  });
});

Deno.test("SQLite: integers in a view are numbers when safe and bigints past 2^53, row by row", async () => {
  await withSqlite(async (registry, database) => {
    await registry.run("run_sql", [
      { id: 1, i: 1 },
      { id: 2, i: 9007199254740993n },
    ], { config: { database, sql: "INSERT INTO v (id, i) VALUES (:id, :i)" } });
    const rows = await readView(
      registry,
      database,
      "SELECT id, i FROM v ORDER BY id",
    );
    assert.deepEqual(rows, [{ id: 1, i: 1 }, { id: 2, i: 9007199254740993n }]);
  });
});

pgTest(
  "PostgreSQL: every accepted value reads back through a view as documented",
  async (url) => {
    await withPostgres(
      url,
      (registry, table) =>
        checkRoundTrips(registry, url, table, PG_COLUMNS, PG_CASES),
    );
  },
);

pgTest(
  "PostgreSQL: a value the column would change is INVALID_DATA naming row and field, and nothing is written",
  async (url) => {
    await withPostgres(
      url,
      (registry, table) =>
        checkRefusals(registry, url, table, PG_COLUMNS, PG_REFUSALS),
    );
  },
);

pgTest(
  "PostgreSQL: a failing row of a multi-row INSERT is named by its own number",
  async (url) => {
    await withPostgres(url, async (registry, table) => {
      const sql = `INSERT INTO ${table} (id, t) VALUES (:id, :t)`;
      await rejectsWithCode(
        registry.run("run_sql", [
          { id: 1, t: "a" },
          { id: 2, t: "b" },
          { id: 1, t: "duplicate of row 0" },
        ], { config: { database: url, sql } }),
        "DATABASE_ERROR",
        /on row 2 .*duplicate key/,
      );
      const rows = Array.from(
        { length: 2500 },
        (_, id) => ({ id, t: `r${id}` }),
      );
      rows[1500] = { id: 7, t: "duplicate of row 7" };
      await rejectsWithCode(
        registry.run("run_sql", rows, { config: { database: url, sql } }),
        "DATABASE_ERROR",
        /on row 1500 .*duplicate key/,
      );
      assert.deepEqual(
        await readView(
          registry,
          url,
          `SELECT count(*)::int AS n FROM ${table}`,
        ),
        [{ n: 0 }],
      );
    });
  },
);

pgTest(
  "PostgreSQL: a refused value in a later batch names its row",
  async (url) => {
    await withPostgres(url, async (registry, table) => {
      const rows = Array.from({ length: 1500 }, (_, id) => ({ id, b: true }));
      rows[1234] = { id: 1234, b: "yes" as never };
      await rejectsWithCode(
        registry.run("run_sql", rows, {
          config: {
            database: url,
            sql: `INSERT INTO ${table} (id, b) VALUES (:id, :b)`,
          },
        }),
        "INVALID_DATA",
        /^Row 1234, field "b": a string into a boolean column/,
      );
    });
  },
);

Deno.test("SQLite: -0 reads back as -0 in a column without a type, and is INVALID_DATA naming row and field wherever it would read back as 0", async () => {
  await withSqlite(async (registry, database, table) => {
    await checkRoundTrips(registry, database, table, SQLITE_COLUMNS, [
      ["x", -0, -0],
      ["bin", -0, -0],
    ]);
    await checkRefusals(registry, database, table, SQLITE_COLUMNS, [
      [
        "r",
        -0,
        /-0 into a floating-point column: SQLite keeps the sign of zero only in a column without a type/,
      ],
      ["i", -0, /-0 into an integer column/],
      ["n", -0, /-0 into a numeric column/],
      ["b", -0, /-0 into a numeric column/],
      ["t", -0, /-0 into a text column/],
      ["j", { a: -0 }, /at key "a" is -0, which JSON writes as 0/],
    ]);
  });
});

pgTest(
  "PostgreSQL: -0 reads back as -0 from float8 and float4, and is INVALID_DATA naming row and field wherever it would read back as 0",
  async (url) => {
    await withPostgres(url, async (registry, table) => {
      await checkRoundTrips(registry, url, table, PG_COLUMNS, [
        ["r", -0, -0],
        ["f4", -0, -0],
        ["r", 0, 0],
      ]);
      await checkRefusals(registry, url, table, PG_COLUMNS, [
        [
          "i",
          -0,
          /-0 into an integer column: PostgreSQL keeps the sign of zero only in float8 and float4/,
        ],
        ["i4", -0, /-0 into an integer column/],
        ["n", -0, /-0 into a numeric column/],
        ["t", -0, /-0 into a text column/],
        ["j", -0, /-0 into a JSON column/],
        ["j", { a: [-0] }, /at key "0" is -0/],
        ["b", -0, /number into a boolean column/],
      ]);
    });
  },
);

pgTest(
  "PostgreSQL: a string no timestamp reads is INVALID_DATA naming row and field, also in a multi-row INSERT",
  async (url) => {
    await withPostgres(url, async (registry, table) => {
      const sql = `INSERT INTO ${table} (id, t, d) VALUES (:id, :t, :d)`;
      await rejectsWithCode(
        registry.run("run_sql", [
          { id: 1, t: "a", d: "2026-01-02T03:04:05Z" },
          { id: 2, t: "b", d: "not a date" },
          { id: 3, t: "c", d: null },
        ], { config: { database: url, sql } }),
        "INVALID_DATA",
        /^Row 1, field "d": a string into a timestamp column: it is not a date and time/,
      );
      await rejectsWithCode(
        registry.run("run_sql", [
          { id: 1, day: "2026-01-02" },
          { id: 2, day: "2026-01-02T10:00:00Z" },
        ], {
          config: {
            database: url,
            sql: `INSERT INTO ${table} (id, day) VALUES (:id, :day)`,
          },
        }),
        "INVALID_DATA",
        /^Row 1, field "day": a date with a time of day into a date column/,
      );
    });
  },
);

pgTest(
  "PostgreSQL: a value the server cannot read names its row and field, in multi-row INSERTs of any batch and in per-row statements",
  async (url) => {
    const table = uniqueTable("tk_typed");
    const admin = postgres(url, { onnotice: () => {} });
    await admin.unsafe(
      `CREATE TABLE ${table} (id int PRIMARY KEY, label text, u uuid, span interval)`,
    );
    const registry = createRegistry({ store: "sqlite::memory:" });
    const uuid = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11";
    try {
      const insert =
        `INSERT INTO ${table} (id, label, u, span) VALUES (:id, :label, :u, :span)`;
      await rejectsWithCode(
        registry.run("run_sql", [
          { id: 1, label: "a", u: uuid, span: "1 day" },
          { id: 2, label: "b", u: uuid, span: "1 day" },
          { id: 3, label: "c", u: "not-a-uuid", span: "1 day" },
          { id: 4, label: "d", u: uuid, span: "1 day" },
        ], { config: { database: url, sql: insert } }),
        "DATABASE_ERROR",
        /on row 2, field "u" .*invalid input syntax for type uuid/,
      );
      const many = Array.from(
        { length: 1500 },
        (_, id) => ({ id, label: `r${id}`, u: uuid, span: "2 hours" }),
      );
      many[1234] = { ...many[1234]!, span: "two hours" };
      await rejectsWithCode(
        registry.run("run_sql", many, {
          config: { database: url, sql: insert },
        }),
        "DATABASE_ERROR",
        /on row 1234, field "span" .*interval/,
      );
      await rejectsWithCode(
        registry.run("run_sql", [{ id: 1, u: uuid }, { id: 2, u: "nope" }], {
          config: {
            database: url,
            sql: `UPDATE ${table} SET u = :u WHERE id = :id`,
          },
        }),
        "DATABASE_ERROR",
        /on row 1, field "u" .*uuid/,
      );
      const [counted] = await admin.unsafe(
        `SELECT count(*)::int AS n FROM ${table}`,
      );
      assert.equal(counted!.n, 0, "nothing was written");
    } finally {
      await registry.close();
      await admin.unsafe(`DROP TABLE ${table}`);
      await admin.end();
    }
  },
);

Deno.test("canonicalKey: an integer is one key as a number, a bigint or a digit string", () => {
  const forms = [[1], [1n], ["1"]];
  assert.equal(new Set(forms.map(canonicalKey)).size, 1);
  assert.equal(canonicalKey([1]), "[1]", "unchanged for keys stored before");
  assert.equal(
    canonicalKey([9007199254740993n]),
    canonicalKey(["9007199254740993"]),
  );
  assert.equal(canonicalKey([-7n]), canonicalKey(["-7"]));
  assert.equal(canonicalKey([2 ** 60]), canonicalKey([2n ** 60n]));
});

Deno.test("canonicalKey: text that is not a plain integer stays text", () => {
  for (const text of ["01", "+1", "1.0", " 1", "-0", "1e3", "abc", ""]) {
    assert.notEqual(canonicalKey([text]), canonicalKey([Number(text)]), text);
    assert.equal(canonicalKey([text]), JSON.stringify([text]));
  }
  assert.equal(canonicalKey(["a", 2]), JSON.stringify(["a", 2]));
});

Deno.test("canonicalKey: keys of several values keep their order and their boundaries", () => {
  assert.notEqual(canonicalKey([1, 23]), canonicalKey([12, 3]));
  assert.notEqual(canonicalKey(["1,2"]), canonicalKey([1, 2]));
  assert.equal(
    canonicalKey([1n, "x", null]),
    canonicalKey(["1", "x", undefined]),
  );
  const date = new Date(Date.UTC(2026, 0, 1));
  assert.equal(canonicalKey([date]), canonicalKey([date.toISOString()]));
  assert.equal(canonicalKey([1.5]), "[1.5]");
});

Deno.test("canonicalKey: a SQLite view's integers give the same keys before and after one passes 2^53", async () => {
  await withSqlite(async (registry, database) => {
    await registry.run("run_sql", [{ id: 1, i: 1 }], {
      config: { database, sql: "INSERT INTO v (id, i) VALUES (:id, :i)" },
    });
    const sql = "SELECT id, i FROM v ORDER BY id";
    const before = (await readView(registry, database, sql)).map((row) =>
      canonicalKey([row.id, row.i])
    );
    await registry.run("run_sql", [{ id: 2, i: 9007199254740993n }], {
      config: { database, sql: "INSERT INTO v (id, i) VALUES (:id, :i)" },
    });
    const after = (await readView(registry, database, sql)).map((row) =>
      canonicalKey([row.id, row.i])
    );
    assert.deepEqual(after, [...before, "[2,9007199254740993]"]);
  });
});

pgTest(
  "canonicalKey: a PostgreSQL int8 digit string gives the key of the same integer from SQLite",
  async (url) => {
    await withPostgres(url, async (registry, table) => {
      await registry.run("run_sql", [{ i: 9007199254740993n, id: 1 }], {
        config: {
          database: url,
          sql: `INSERT INTO ${table} (id, i) VALUES (:id, :i)`,
        },
      });
      const [row] = await readView(registry, url, `SELECT id, i FROM ${table}`);
      assert.equal(typeof row!.i, "string");
      assert.equal(
        canonicalKey([row!.id, row!.i]),
        canonicalKey([1, 9007199254740993n]),
      );
    });
  },
);
