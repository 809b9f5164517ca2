/**
 * The Worker side of {@linkcode SqliteReaders}: runs one read-only query at
 * a time on its own read-only connection and answers with the column names
 * and the rows as arrays (`setReturnArrays`: cheaper to build and to clone
 * than objects). Integers come as bigints; the host makes safe ones numbers.
 *
 * @module
 */
import { DatabaseSync, type StatementSync } from "node:sqlite";
import type { ReaderAnswer, ReaderCall } from "./_sqlite_readers.ts";

let db: DatabaseSync | undefined;

function answer(call: ReaderCall): ReaderAnswer {
  try {
    if (!db) {
      db = new DatabaseSync(call.path, { readOnly: true });
      // This thread may block: the host's event loop does not wait on it.
      db.exec(`PRAGMA busy_timeout = ${Math.max(0, call.busyTimeoutMs)}`);
    }
    const statement = db.prepare(call.sql) as StatementSync & {
      setReturnArrays(enabled: boolean): void;
    };
    statement.setReadBigInts(true);
    statement.setReturnArrays(true);
    const rows = statement.all(
      ...call.values as never[],
    ) as unknown as unknown[][];
    const names = statement.columns().map((column) => column.name);
    return { id: call.id, ok: true, names, rows };
  } catch (error) {
    return {
      id: call.id,
      ok: false,
      message: error instanceof Error ? error.message : String(error),
    };
  }
}

/** The Worker's global scope, as far as this file uses it. */
const scope = self as unknown as {
  onmessage: ((event: MessageEvent<ReaderCall>) => void) | null;
  postMessage(message: ReaderAnswer): void;
};
scope.onmessage = (event) => scope.postMessage(answer(event.data));
