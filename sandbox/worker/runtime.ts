/**
 * The Worker side of the sandbox: the runtime that locks down the Worker,
 * dials its lane to the host, loads one action module and serves calls.
 *
 * These functions are shipped into the sandbox process as source text (see
 * `host/entry.ts`), so each must be self-contained: it may use only globals,
 * its parameters, the lane functions (`_lane.ts`) and the other functions of
 * this file.
 *
 * @module
 */
import type { Lane, OpenLane } from "../_lane.ts";
import type {
  CallPayload,
  FromWorker,
  ToWorker,
  WireError,
  WorkerInit,
} from "../_protocol.ts";
import { sha256Key } from "./sha256.ts";

/** What the runtime keeps from before any action code ran. */
export interface Captured {
  /** Deno's own denial class. */
  NotCapable: typeof Deno.errors.NotCapable;
  /** Whether a permission is granted to this Worker now. */
  granted: (descriptor: Deno.PermissionDescriptor) => boolean;
  /** Ends this Worker (the action cannot: see {@linkcode lockDown}). */
  closeWorker: () => void;
  /** V8's serializer (the structured clone wire format), when Deno exposes it. */
  codec: Codec | undefined;
  /** The idempotency key of a text ({@linkcode sha256Key}). */
  keyOf: (text: string) => string;
}

/** Values to bytes and back, in V8's structured clone format. */
export interface Codec {
  serialize: (value: unknown) => Uint8Array;
  deserialize: (bytes: Uint8Array) => unknown;
}

/**
 * Runs before any action code: keeps what the runtime relies on, and takes
 * away what an action must not have: ending its Worker behind the host's
 * back (`Deno.exit()`, `close()`), Deno's internals (which reach the Worker's
 * own sockets), and CacheStorage (which would persist on disk).
 */
export function lockDown(): Captured {
  const permissions = Deno.permissions;
  const querySync = permissions.querySync.bind(permissions);
  const internal = (Deno as unknown as { internal?: symbol }).internal;
  const internals = internal === undefined
    ? undefined
    : (Deno as unknown as Record<symbol, { core?: Partial<Codec> }>)[internal];
  const core = internals?.core;
  const captured: Captured = {
    NotCapable: Deno.errors.NotCapable,
    granted: (descriptor) => {
      try {
        return querySync(descriptor).state === "granted";
      } catch {
        return false;
      }
    },
    closeWorker: globalThis.close.bind(globalThis),
    keyOf:
      ((encoder, toBase64) => (text: string) =>
        sha256Key(text, encoder, toBase64))(new TextEncoder(), btoa),
    codec: typeof core?.serialize === "function" &&
        typeof core.deserialize === "function"
      ? {
        serialize: core.serialize.bind(core),
        deserialize: core.deserialize.bind(core),
      }
      : undefined,
  };
  const forbid = (what: string) => () => {
    throw new Error(`${what} is not allowed in a sandboxed action`);
  };
  const lock = (target: object, key: PropertyKey, value: unknown) =>
    Object.defineProperty(target, key, {
      value,
      writable: false,
      configurable: false,
    });
  lock(Deno, "exit", forbid("Deno.exit()"));
  // The Worker's name held its setup (its lane's token, spent by then).
  lock(globalThis, "name", "triggerkit-action");
  for (
    let scope: object | null = globalThis;
    scope;
    scope = Object.getPrototypeOf(scope)
  ) {
    if (Object.hasOwn(scope, "close")) lock(scope, "close", forbid("close()"));
    if (Object.hasOwn(scope, "caches")) {
      Object.defineProperty(scope, "caches", {
        get: forbid("caches (CacheStorage, which persists on disk)"),
        configurable: false,
      });
    }
  }
  if (internal !== undefined) {
    delete (Deno as unknown as Record<symbol, unknown>)[internal];
  }
  return captured;
}

/**
 * Turns what an action threw into a wire error. `PERMISSION_DENIED` only
 * from facts: an instance of Deno's own `NotCapable` class (or the
 * `TypeError` Deno's module loader raises for a denied import), naming a
 * permission that this Worker indeed does not hold.
 */
export function describeFailure(
  error: unknown,
  captured: Captured,
): WireError {
  const DENIED = /^Requires (\w+) access(?: to (.+?))?, run again with/;
  const NO_REMOTE = /^A remote specifier was requested: "(.+?)", but --no-/;
  const NO_NPM = /^npm specifiers were requested; but --no-npm is specified/;
  const unquote = (text: string | undefined) =>
    text === undefined ? undefined : text.replace(/^"(.*)"$/, "$1");
  const descriptor = (
    permission: string,
    target: string | undefined,
  ): Deno.PermissionDescriptor | undefined => {
    switch (permission) {
      case "read":
      case "write":
      case "ffi":
        return { name: permission, ...(target ? { path: target } : {}) };
      case "net":
      case "import":
        return { name: permission, ...(target ? { host: target } : {}) };
      case "env":
        return { name: "env", ...(target ? { variable: target } : {}) };
      case "sys":
        return {
          name: "sys",
          ...(target ? { kind: target as "hostname" } : {}),
        };
      case "run":
        return { name: "run", ...(target ? { command: target } : {}) };
      default:
        return undefined;
    }
  };
  const denial = (e: Error): WireError | undefined => {
    let permission: string | undefined;
    let target: string | undefined;
    const denied = DENIED.exec(e.message);
    const remote = NO_REMOTE.exec(e.message) ??
      (NO_NPM.test(e.message)
        ? [e.message, "https://registry.npmjs.org"]
        : null);
    if (denied && e instanceof captured.NotCapable) {
      permission = denied[1]!;
      target = unquote(denied[2]);
    } else if (e instanceof TypeError && (denied || remote)) {
      // Denied imports surface as a TypeError from Deno's module loader.
      permission = denied ? denied[1]! : "import";
      target = denied ? unquote(denied[2]) : (() => {
        try {
          return new URL(remote![1]!).host;
        } catch {
          return remote![1]!;
        }
      })();
      if (denied && !["read", "import", "net"].includes(permission)) {
        return undefined;
      }
    } else {
      return undefined;
    }
    const asked = descriptor(permission, target);
    // A denial of something this Worker holds is not Deno's: refused.
    if (permission !== "all" && (!asked || captured.granted(asked))) {
      return undefined;
    }
    const wire: WireError = {
      code: "PERMISSION_DENIED",
      name: e.name,
      message: e.message,
      permission,
    };
    if (target !== undefined) wire.target = target;
    if (e.stack) wire.stack = e.stack;
    return wire;
  };
  for (
    let e: unknown = error, depth = 0;
    e instanceof Error && depth < 4;
    e = e.cause, depth++
  ) {
    const wire = denial(e);
    if (wire) return wire;
  }
  if (error instanceof Error) {
    const coded = (error as { code?: unknown }).code;
    const internal = (error as { triggerkit?: unknown }).triggerkit === true;
    const wire: WireError = {
      code:
        internal && (coded === "INVALID_ACTION" || coded === "INVALID_RESULT")
          ? coded
          : "ACTION_FAILED",
      name: String(error.name),
      message: String(error.message),
    };
    if (error.stack) wire.stack = String(error.stack);
    return wire;
  }
  return { code: "ACTION_FAILED", name: "Error", message: String(error) };
}

/**
 * {@linkcode describeFailure}, whatever the action threw: a value whose
 * properties throw when read is still a failure, and long texts are cut
 * (the host cuts them too; this keeps a legitimate long message from
 * breaking the lane's frame limit).
 */
export function failureOf(error: unknown, captured: Captured): WireError {
  const cut = (text: string, max: number) =>
    text.length > max
      ? `${text.slice(0, max)} … (cut at ${max} characters)`
      : text;
  let wire: WireError;
  try {
    wire = describeFailure(error, captured);
  } catch {
    wire = {
      code: "ACTION_FAILED",
      name: "Error",
      message: "the action threw a value that cannot be read",
    };
  }
  wire.name = cut(wire.name, 200);
  wire.message = cut(wire.message, 16 * 1024);
  if (wire.stack !== undefined) wire.stack = cut(wire.stack, 64 * 1024);
  if (wire.target !== undefined) wire.target = cut(wire.target, 4096);
  return wire;
}

/** Loads the action module; rejects with a runtime error when it is not one. */
export async function loadAction(
  specifier: string,
): Promise<(input: unknown) => unknown> {
  // A computed specifier: Deno checks every module of this graph, its
  // literal imports included, against the Worker's read permission.
  const module = await import(String(specifier));
  if (typeof module.default !== "function") {
    throw Object.assign(
      new Error(
        `The module ${specifier} has no default export that is a function (found ${typeof module
          .default})`,
      ),
      { code: "INVALID_ACTION", triggerkit: true },
    );
  }
  return module.default;
}

/**
 * Serves calls on a lane: each runs the action on its payload and answers
 * with a reply (v8-serialized result and context) or a failure.
 */
export function serveCalls(
  lane: Lane<FromWorker>,
  action: (input: unknown) => unknown,
  captured: Captured,
  codec: Codec,
): (message: ToWorker) => void {
  const controllers = new Map<number, AbortController>();
  const coded = (code: string, message: string) =>
    Object.assign(new Error(message), { code, triggerkit: true });
  const isPlain = (value: unknown) => {
    if (typeof value !== "object" || value === null) return false;
    const proto = Object.getPrototypeOf(value);
    return proto === Object.prototype || proto === null;
  };
  const kind = (value: unknown) =>
    value === null
      ? "null"
      : Array.isArray(value)
      ? "array"
      : typeof value === "object"
      ? "an object that is not plain"
      : typeof value;
  const run = async (id: number, max: number, bytes: Uint8Array) => {
    const controller = new AbortController();
    controllers.set(id, controller);
    try {
      const input = codec.deserialize(bytes) as CallPayload;
      const { keyText } = input;
      let key: string | undefined;
      const actionInput: Record<string, unknown> = {
        data: input.data,
        context: input.context,
        config: input.config,
        runId: input.runId,
        dryRun: input.dryRun,
        get idempotencyKey(): string {
          return key ??= keyText === null
            ? input.idempotencyKey
            : captured.keyOf(keyText);
        },
        signal: controller.signal,
      };
      if (input.jobName !== null) actionInput.jobName = input.jobName;
      const result = await action(actionInput);
      if (!isPlain(result)) {
        throw coded(
          "INVALID_RESULT",
          `returned ${kind(result)}; a plain object is required`,
        );
      }
      let reply: Uint8Array;
      try {
        reply = codec.serialize({ result, context: input.context });
      } catch (error) {
        throw coded(
          "INVALID_RESULT",
          `returned a result or context that cannot be cloned: ${
            (error as Error).message
          }`,
        );
      }
      if (reply.byteLength > max) {
        throw coded(
          "INVALID_RESULT",
          `returned a result and context of ${reply.byteLength} bytes serialized, over the cap of ${max} bytes (maxResultBytes)`,
        );
      }
      await lane.send({ t: "reply", id, payload: reply });
    } catch (error) {
      lane.send({ t: "fail", id, error: failureOf(error, captured) })
        .catch(() => {});
    } finally {
      controllers.delete(id);
    }
  };
  return (message) => {
    if (message.t === "call") {
      void run(message.id, message.max, message.payload);
    } else if (message.t === "abort") {
      controllers.get(message.id)?.abort(
        new DOMException("The action ran past its time limit", "TimeoutError"),
      );
    }
  };
}

/**
 * The Worker's main: reads its setup (from its name), locks the Worker
 * down, dials its lane (and gives the lane's grant back), loads the action,
 * serves calls.
 */
export async function workerMain(openLane: OpenLane): Promise<void> {
  const init = JSON.parse(
    String((globalThis as { name?: unknown }).name),
  ) as WorkerInit;
  const captured = lockDown();
  const conn = await Deno.connect({ transport: "unix", path: init.socket });
  // Connected: the action itself gets no way back to the socket.
  Deno.permissions.revokeSync({ name: "net", host: `unix:${init.socket}` });
  Deno.permissions.revokeSync({ name: "read", path: init.socket });
  Deno.permissions.revokeSync({ name: "write", path: init.socket });
  let serve: (message: ToWorker) => void = () => {};
  const lane = openLane<FromWorker, ToWorker>(conn, {
    onMessage: (message) => serve(message),
    // The host dropped this Worker, or is gone.
    onClose: () => captured.closeWorker(),
  });
  const send = (message: FromWorker) => lane.send(message).catch(() => {});
  send({ t: "hello", token: init.token });
  // A stray rejection or timer error would otherwise end the Worker; what
  // it says goes to stderr, which the host logs as the action's output.
  globalThis.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    console.error("Unhandled rejection in action:", event.reason);
  });
  globalThis.addEventListener("error", (event) => {
    event.preventDefault();
    console.error("Uncaught error in action:", event.error);
  });
  let action: (input: unknown) => unknown;
  try {
    action = await loadAction(init.module);
  } catch (error) {
    send({ t: "loadFailed", error: failureOf(error, captured) });
    return;
  }
  serve = serveCalls(
    lane,
    action,
    captured,
    captured.codec ?? await import("node:v8"),
  );
  send({ t: "loaded" });
}

/** The runtime's functions as source text, in the order they must be defined. */
export const WORKER_FUNCTIONS: ReadonlyArray<(...args: never[]) => unknown> = [
  sha256Key,
  lockDown,
  describeFailure,
  failureOf,
  loadAction,
  serveCalls,
  workerMain,
];
