/**
 * A run's dedupe keys become seen all at once: a run that loses its claim
 * while its keys are being recorded (batch by batch: 10,000 a statement)
 * leaves none of them seen, so the run that takes over sees the same new
 * rows — and the same delivery units — and a summary is not posted again
 * for the rows the lost run did not get to record.
 */
import assert from "node:assert/strict";
import { createRegistry } from "../mod.ts";
import { SqlRunStore } from "../src/store/sql.ts";
import { SqliteDatabase } from "../src/db/sqlite.ts";
import { PostgresDatabase } from "../src/db/postgres.ts";
import type { Database } from "../src/db/contract.ts";
import { parseNamedSql } from "../src/db/named_sql.ts";
import { type KvLike, KvRunStore } from "../src/store/kv.ts";
import type { RunStore } from "../src/store/contract.ts";
import { startFakeSlack } from "./_fake_slack.ts";
import { pgTest, uniqueTable } from "./_helpers.ts";

const ROWS = 15_000;

/**
 * A database whose second statement recording dedupe keys comes after
 * another instance took the job over (its claim's epoch moved on).
 */
function takenOverMidway(db: Database, job: string): Database {
  let batches = 0;
  return new Proxy(db, {
    get(target, key) {
      const value = Reflect.get(target, key);
      if (typeof value !== "function") return value;
      return async (...args: Parameters<Database["execute"]>) => {
        if (
          key === "execute" &&
          args[0].sql.includes("INSERT INTO triggerkit_dedupe") &&
          ++batches === 2
        ) {
          await db.execute(
            parseNamedSql(
              "UPDATE triggerkit_claims SET epoch = epoch + 1 WHERE job_name = :job",
            ),
            { params: [{ job }], dryRun: false },
          );
        }
        return await value.apply(target, args);
      };
    },
  });
}

/** The same on Deno KV: its keys are written 500 an atomic operation. */
function kvTakenOverMidway(kv: KvLike, job: string): KvLike {
  let batches = 0;
  return new Proxy(kv, {
    get(target, key) {
      const value = Reflect.get(target, key);
      if (key !== "atomic") {
        return typeof value === "function" ? value.bind(target) : value;
      }
      return () => {
        const atomic = target.atomic();
        let dedupe = false;
        const wrapped = new Proxy(atomic, {
          get(inner, name) {
            const method = Reflect.get(inner, name);
            if (typeof method !== "function") return method;
            return (...args: unknown[]) => {
              if (name === "set" && (args[0] as unknown[])[1] === "dedupe") {
                dedupe = true;
              }
              if (name === "commit") {
                return (async () => {
                  if (dedupe && ++batches === 2) {
                    const claim = ["triggerkit", "claims", job];
                    const { value } = await target.get<{ epoch: number }>(
                      claim,
                    );
                    await target.set(claim, {
                      ...value,
                      epoch: value!.epoch + 1,
                    });
                  }
                  return await method.apply(inner, args);
                })();
              }
              const result = method.apply(inner, args);
              return result === inner ? wrapped : result;
            };
          },
        });
        return wrapped;
      };
    },
  });
}

async function takeover(
  open: () => { store: RunStore; close: () => Promise<void> },
  url: string,
  job: string,
): Promise<string[]> {
  const slack = startFakeSlack();
  const lossy = open();
  const a = createRegistry({ store: lossy.store, serve: { leaseMs: 3_000 } });
  const b = createRegistry({ store: url, serve: { leaseMs: 3_000 } });
  Deno.env.set("SLACK_BOT_TOKEN", "xoxb-test-token");
  try {
    for (const registry of [a, b]) {
      registry.defineView({
        name: "v",
        database: "sqlite::memory:",
        sql:
          `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${ROWS}) SELECT i AS id FROM n`,
      });
      registry.defineJob({
        name: job,
        view: "v",
        dedupe: { key: ["id"] },
        actions: [{
          action: "send_slack_message",
          config: {
            channel: "C0123456",
            text: "{{count}} new rows",
            slackApiUrl: slack.apiUrl,
            minIntervalMs: 0,
          },
        }],
      });
    }
    const lost = await a.runJob(job);
    assert.equal(lost.status, "failed");
    assert.match(lost.error?.message ?? "", /recording dedupe keys/);
    if (url.startsWith("kv:")) {
      // On Deno KV a lease runs out for an instance only once it has seen
      // it unchanged for a whole lease: b looks first (and is refused).
      assert.equal((await b.runJob(job)).status, "skipped");
    }
    // Its lease runs out; another instance runs the job.
    await new Promise((resolve) => setTimeout(resolve, 3_500));
    const next = await b.runJob(job);
    assert.equal(next.status, "succeeded", JSON.stringify(next.error));
    assert.equal(next.newRowCount, ROWS, "the keys of the lost run were seen");
    const again = await b.runJob(job);
    assert.equal(again.newRowCount, 0, "the keys were not kept");
    return slack.delivered.map((message) => message.text);
  } finally {
    await Promise.all([a.close(), b.close()]);
    await lossy.close();
    await slack.close();
  }
}

function sqlStore(db: Database, job: string) {
  return {
    store: new SqlRunStore(takenOverMidway(db, job)),
    close: () => db.close(),
  };
}

Deno.test("kv: a run that loses its claim while recording its dedupe keys leaves none seen: the summary is posted once", async () => {
  const dir = await Deno.makeTempDir({ prefix: "triggerkit-dedupe-atomic-" });
  const path = `${dir}/state.kv`;
  try {
    const texts = await takeover(
      () => {
        const kv = Deno.openKv(path) as unknown as Promise<KvLike>;
        const store = new KvRunStore(
          kv.then((kv) => kvTakenOverMidway(kv, "summary")),
        );
        return { store, close: () => store.close() };
      },
      `kv:${path}`,
      "summary",
    );
    assert.deepEqual(texts, [`${ROWS} new rows`]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sqlite: a run that loses its claim while recording its dedupe keys leaves none seen: the summary is posted once", async () => {
  const dir = await Deno.makeTempDir({ prefix: "triggerkit-dedupe-atomic-" });
  const file = `${dir}/state.db`;
  try {
    const texts = await takeover(
      () => sqlStore(new SqliteDatabase(file, `sqlite:${file}`), "summary"),
      `sqlite:${file}`,
      "summary",
    );
    assert.deepEqual(texts, [`${ROWS} new rows`]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

pgTest(
  "postgres: a run that loses its claim while recording its dedupe keys leaves none seen: the summary is posted once",
  async (pg) => {
    const job = uniqueTable("dedupe_atomic");
    const texts = await takeover(
      () => sqlStore(new PostgresDatabase(pg, "postgres"), job),
      pg,
      job,
    );
    assert.deepEqual(texts, [`${ROWS} new rows`]);
  },
);
