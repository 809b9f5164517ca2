/**
 * Read-only SQLite queries run in Workers, each with its own read-only
 * connection to the file. `node:sqlite` is synchronous and has no way to
 * interrupt a statement (no `sqlite3_interrupt`, no progress handler in Deno
 * 2.9), so a long query on the host's thread would block its event loop past
 * any deadline. In a Worker, the host waits asynchronously: a deadline or
 * abort rejects the call on time and terminates that Worker. The statement
 * itself runs on until SQLite returns (nothing can stop it earlier); the
 * Worker's thread then ends.
 *
 * @module
 */

/** A query sent to a reader Worker. */
export interface ReaderCall {
  readonly id: number;
  /** The database file (absolute). */
  readonly path: string;
  /** How long SQLite itself may wait for a lock, in the Worker. */
  readonly busyTimeoutMs: number;
  /** The statement, with `?N` parameters. */
  readonly sql: string;
  readonly values: readonly unknown[];
}

/** A reader Worker's answer to a {@linkcode ReaderCall}. */
export type ReaderAnswer =
  | {
    readonly id: number;
    readonly ok: true;
    readonly names: string[];
    readonly rows: unknown[][];
  }
  | { readonly id: number; readonly ok: false; readonly message: string };

/** Rows as column names and value arrays. */
export interface ReaderRows {
  names: string[];
  rows: unknown[][];
}

/** A query a reader failed: SQLite's message. */
export class ReaderError extends Error {
  override name = "ReaderError";
}

/** Whether this runtime can run reads in Workers (Deno Deploy cannot). */
export const CAN_READ_IN_WORKERS: boolean = typeof Worker === "function";

const WORKER_URL = new URL("./_sqlite_reader_worker.ts", import.meta.url);

interface Reader {
  worker: Worker;
  call?: {
    id: number;
    resolve: (rows: ReaderRows) => void;
    reject: (error: Error) => void;
  } | undefined;
  idle?: ReturnType<typeof setTimeout> | undefined;
}

interface Waiting {
  start: (reader: Reader) => void;
  reject: (error: Error) => void;
}

/** A few reader Workers for one database file, started on demand, ended when idle. */
export class SqliteReaders {
  readonly #path: string;
  readonly #busyTimeoutMs: number;
  readonly #max: number;
  readonly #idleMs: number;
  readonly #idle: Reader[] = [];
  readonly #all = new Set<Reader>();
  readonly #waiting: Waiting[] = [];
  #nextId = 1;

  /**
   * @param path The database file, absolute.
   * @param busyTimeoutMs How long a read may wait for a lock.
   * @param options Workers at most [2]; idle time before a Worker ends [2000 ms].
   */
  constructor(
    path: string,
    busyTimeoutMs: number,
    options: { max?: number; idleMs?: number } = {},
  ) {
    this.#path = path;
    this.#busyTimeoutMs = busyTimeoutMs;
    this.#max = options.max ?? 2;
    this.#idleMs = options.idleMs ?? 2_000;
  }

  /**
   * Runs a read-only statement in a Worker. When `signal` aborts, the call
   * rejects with the signal's reason and its Worker is terminated.
   */
  read(
    sql: string,
    values: readonly unknown[],
    signal: AbortSignal,
  ): Promise<ReaderRows> {
    return new Promise((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      const start = (reader: Reader) => {
        const id = this.#nextId++;
        const onAbort = () => {
          this.#end(reader);
          reject(signal.reason);
        };
        signal.addEventListener("abort", onAbort, { once: true });
        reader.call = {
          id,
          resolve: (rows) => {
            signal.removeEventListener("abort", onAbort);
            resolve(rows);
          },
          reject: (error) => {
            signal.removeEventListener("abort", onAbort);
            reject(error);
          },
        };
        const call: ReaderCall = {
          id,
          path: this.#path,
          busyTimeoutMs: this.#busyTimeoutMs,
          sql,
          values,
        };
        reader.worker.postMessage(call);
      };
      const reader = this.#take();
      if (reader) return start(reader);
      const waiting: Waiting = { start, reject };
      this.#waiting.push(waiting);
      signal.addEventListener("abort", () => {
        const at = this.#waiting.indexOf(waiting);
        if (at >= 0) this.#waiting.splice(at, 1);
        reject(signal.reason);
      }, { once: true });
    });
  }

  /** An idle reader, a new one if there is room, or `undefined`. */
  #take(): Reader | undefined {
    const reader = this.#idle.pop();
    if (reader) {
      clearTimeout(reader.idle);
      return reader;
    }
    if (this.#all.size >= this.#max) return undefined;
    return this.#spawn();
  }

  #spawn(): Reader {
    const worker = new Worker(WORKER_URL, { type: "module" });
    const reader: Reader = { worker };
    this.#all.add(reader);
    worker.onmessage = (event: MessageEvent<ReaderAnswer>) => {
      const answer = event.data;
      const call = reader.call;
      if (!call || call.id !== answer.id) return;
      reader.call = undefined;
      if (answer.ok) call.resolve({ names: answer.names, rows: answer.rows });
      else call.reject(new ReaderError(answer.message));
      this.#release(reader);
    };
    worker.onerror = (event: ErrorEvent) => {
      event.preventDefault();
      const call = reader.call;
      this.#end(reader);
      call?.reject(new ReaderError(`reader Worker failed: ${event.message}`));
    };
    return reader;
  }

  /** A reader done with its call: to the next waiting call, or idle. */
  #release(reader: Reader): void {
    const next = this.#waiting.shift();
    if (next) return next.start(reader);
    this.#idle.push(reader);
    reader.idle = setTimeout(() => this.#end(reader), this.#idleMs);
  }

  /** Terminates a reader; a waiting call gets a new one. */
  #end(reader: Reader): void {
    if (!this.#all.delete(reader)) return;
    clearTimeout(reader.idle);
    reader.call = undefined;
    const at = this.#idle.indexOf(reader);
    if (at >= 0) this.#idle.splice(at, 1);
    reader.worker.terminate();
    const next = this.#waiting.shift();
    if (next) next.start(this.#spawn());
  }

  /** Terminates every reader; calls in flight reject. */
  close(): void {
    for (const waiting of this.#waiting.splice(0)) {
      waiting.reject(new ReaderError("the database was closed"));
    }
    for (const reader of [...this.#all]) {
      const call = reader.call;
      this.#end(reader);
      call?.reject(new ReaderError("the database was closed"));
    }
  }
}
