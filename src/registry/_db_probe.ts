/**
 * What `validate` asks of a database without changing it: does it answer
 * (within a deadline), and what columns would a query return (prepared,
 * never run). A SQLite file is opened read-only, so a wrong path is reported
 * instead of creating an empty database.
 *
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import postgres from "postgres";
import { TriggerKitError } from "../errors.ts";
import { redact, redactUrl } from "../redact.ts";
import { parseNamedSql, toNumbered } from "../db/named_sql.ts";

/** An open probe of one database. */
export interface DatabaseProbe {
  /** The column names a query would return; `DATABASE_ERROR` when it does not prepare. */
  columns(sql: string): Promise<string[]>;
  /**
   * Prepares a `run_sql` statement (`:field` parameters) as a run would,
   * without running it; `DATABASE_ERROR` when it does not prepare.
   */
  prepare(sql: string): Promise<void>;
  /** Closes the probe's connection. */
  close(): Promise<void>;
}

function failure(url: string, message: string, cause?: unknown) {
  return new TriggerKitError(
    "DATABASE_ERROR",
    redact(`${redactUrl(url)}: ${message}`, secretsOf(url)),
    { cause },
  );
}

function secretsOf(url: string): string[] {
  try {
    const { password } = new URL(url);
    return password ? [password, decodeURIComponent(password)] : [];
  } catch {
    return [];
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Settles with `work`, or fails when `timeoutMs` passes first. */
async function within<T>(
  url: string,
  timeoutMs: number,
  work: Promise<T>,
  onTimeout: () => void,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onTimeout();
      reject(failure(url, `did not answer within ${timeoutMs} ms`));
    }, timeoutMs);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Opens a probe: a SQLite file (read-only; it must exist) or a PostgreSQL
 * connection that has answered within `timeoutMs`.
 *
 * @throws {TriggerKitError} `DATABASE_ERROR` naming the database (password masked).
 */
export async function openProbe(
  url: string,
  timeoutMs: number,
): Promise<DatabaseProbe> {
  return url.startsWith("sqlite:")
    ? sqliteProbe(url)
    : await postgresProbe(url, timeoutMs);
}

function sqliteProbe(url: string): DatabaseProbe {
  const path = url.slice("sqlite:".length);
  const memory = path === "" || path === ":memory:";
  let db: DatabaseSync;
  try {
    db = memory
      ? new DatabaseSync(":memory:")
      : new DatabaseSync(path, { readOnly: true });
  } catch (error) {
    let missing = false;
    try {
      Deno.statSync(path);
    } catch (stat) {
      missing = stat instanceof Deno.errors.NotFound;
    }
    throw failure(
      url,
      missing
        ? `the SQLite file ${path} does not exist (a run would create an empty database there)`
        : messageOf(error),
      error,
    );
  }
  return {
    columns(sql) {
      try {
        return Promise.resolve(
          db.prepare(sql).columns().map((column) => column.name),
        );
      } catch (error) {
        return Promise.reject(failure(url, messageOf(error), error));
      }
    },
    prepare(sql) {
      try {
        db.prepare(toNumbered(parseNamedSql(sql), 0, "?"));
        return Promise.resolve();
      } catch (error) {
        return Promise.reject(failure(url, messageOf(error), error));
      }
    },
    close() {
      if (db.isOpen) db.close();
      return Promise.resolve();
    },
  };
}

async function postgresProbe(
  url: string,
  timeoutMs: number,
): Promise<DatabaseProbe> {
  let sql: postgres.Sql;
  try {
    sql = postgres(url, {
      max: 1,
      onnotice: () => {},
      connect_timeout: Math.max(1, Math.ceil(timeoutMs / 1000)),
      idle_timeout: 1,
    });
  } catch (error) {
    throw failure(url, messageOf(error), error);
  }
  const stop = () => void sql.end({ timeout: 0 }).catch(() => {});
  try {
    await within(url, timeoutMs, sql`SELECT 1`, stop);
  } catch (error) {
    stop();
    throw error instanceof TriggerKitError
      ? error
      : failure(url, messageOf(error), error);
  }
  // Parsed and described by the server (as a run's statement is), never executed.
  const describe = async (text: string) => {
    try {
      return await within(
        url,
        timeoutMs,
        sql.unsafe(toNumbered(parseNamedSql(text))).describe(),
        stop,
      );
    } catch (error) {
      throw error instanceof TriggerKitError
        ? error
        : failure(url, messageOf(error), error);
    }
  };
  return {
    async columns(text) {
      const described = await describe(text);
      return (described.columns ?? []).map((column) => column.name);
    },
    async prepare(text) {
      await describe(text);
    },
    async close() {
      await sql.end({ timeout: 1 }).catch(() => {});
    },
  };
}
