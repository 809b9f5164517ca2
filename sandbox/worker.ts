/**
 * The Worker side of the sandbox: the runtime that loads one action module
 * and serves calls on it over its own lane to the host.
 *
 * {@linkcode workerRuntime} is shipped to the sandbox process as source text
 * (`Function.prototype.toString`), so it must be self-contained: it may use
 * only globals, its parameter, and what it imports dynamically.
 *
 * @module
 */
import type { Lane, OpenLane } from "./_lane.ts";
import type {
  CallPayload,
  FromWorker,
  LogLevel,
  ToWorker,
  WireError,
  WorkerInit,
} from "./_protocol.ts";

/**
 * Runs inside a permission-restricted Worker, before any action code: dials
 * its lane to the host, loads the action module, then serves calls.
 *
 * @param openLane The lane implementation.
 */
export async function workerRuntime(openLane: OpenLane): Promise<void> {
  const { serialize, deserialize } = await import("node:v8");
  const { AsyncLocalStorage } = await import("node:async_hooks");

  // An action must not end its Worker behind the host's back: a Worker that
  // calls Deno.exit() or close() vanishes without an event. (Were it to find
  // another way out, its lane would close and its calls fail at once.)
  const closeWorker = globalThis.close.bind(globalThis);
  const forbid = (what: string) => () => {
    throw new Error(`${what} is not allowed in a sandboxed action`);
  };
  const lock = (target: object, key: string, value: unknown) =>
    Object.defineProperty(target, key, {
      value,
      writable: false,
      configurable: false,
    });
  lock(Deno, "exit", forbid("Deno.exit()"));
  for (
    let scope: object | null = globalThis;
    scope;
    scope = Object.getPrototypeOf(scope)
  ) {
    if (Object.hasOwn(scope, "close")) lock(scope, "close", forbid("close()"));
  }

  const scope = globalThis as unknown as {
    onmessage: ((event: MessageEvent<WorkerInit>) => void) | null;
  };
  const init = await new Promise<WorkerInit>((resolve) => {
    scope.onmessage = (event) => {
      scope.onmessage = null;
      resolve(event.data);
    };
  });

  let serve: (id: number, max: number, bytes: Uint8Array) => void = () => {};
  let control: (message: ToWorker) => void = () => {};
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: init.port });
  conn.setNoDelay(true);
  // Connected: the action itself gets no way back to the host's port.
  if (init.revokeNet) {
    Deno.permissions.revokeSync({ name: "net", host: init.revokeNet });
  }
  const lane: Lane = openLane(conn, {
    onJson: (message) => control(message as unknown as ToWorker),
    onCall: (id, max, bytes) => serve(id, max, bytes),
    // The host dropped this Worker, or is gone.
    onClose: () => closeWorker(),
  });
  const send = (message: FromWorker) => {
    lane.json(message as unknown as Record<string, unknown>).catch(() => {});
  };
  send({ t: "hello", token: init.token });

  const currentRun = new AsyncLocalStorage<string>();
  const format = (args: unknown[]) =>
    args.map((arg) =>
      typeof arg === "string" ? arg : Deno.inspect(arg, { depth: 4 })
    ).join(" ");
  const levels: Record<string, LogLevel> = {
    log: "info",
    info: "info",
    debug: "debug",
    trace: "debug",
    warn: "warning",
    error: "error",
  };
  for (const [method, level] of Object.entries(levels)) {
    (console as unknown as Record<string, unknown>)[method] = (
      ...args: unknown[]
    ) =>
      send({
        t: "log",
        runId: currentRun.getStore() ?? null,
        level,
        message: format(args).slice(0, 65_536),
      });
  }
  const logStray = (what: string, error: unknown) =>
    send({
      t: "log",
      runId: currentRun.getStore() ?? null,
      level: "error",
      message: `${what}: ${
        error instanceof Error ? error.stack ?? error.message : String(error)
      }`,
    });
  // A stray rejection or timer error would otherwise end the Worker.
  globalThis.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    logStray("Unhandled rejection in action", event.reason);
  });
  globalThis.addEventListener("error", (event) => {
    event.preventDefault();
    logStray("Uncaught error in action", event.error);
  });

  const DENIED =
    /^Requires (\w+) access to (.+?), run again with the --allow-\w+ flag/;
  const NO_REMOTE =
    /A remote specifier was requested: "(.+?)", but --no-remote is specified/;
  const toWire = (error: unknown): WireError => {
    for (
      let e: unknown = error, depth = 0;
      e instanceof Error && depth < 4;
      e = e.cause, depth++
    ) {
      const denied = DENIED.exec(e.message);
      if (denied && (e.name === "NotCapable" || e.name === "TypeError")) {
        const wire: WireError = {
          code: "PERMISSION_DENIED",
          name: e.name,
          message: e.message,
          permission: denied[1]!,
          target: denied[2]!,
        };
        if (e.stack) wire.stack = e.stack;
        return wire;
      }
      const remote = NO_REMOTE.exec(e.message);
      if (remote) {
        return {
          code: "PERMISSION_DENIED",
          name: e.name,
          message: e.message,
          permission: "import",
          target: `"${remote[1]}"`,
        };
      }
    }
    if (error instanceof Error) {
      const coded = (error as { code?: unknown }).code;
      const wire: WireError = {
        code: coded === "INVALID_ACTION" || coded === "INVALID_RESULT"
          ? coded
          : "ACTION_FAILED",
        name: error.name,
        message: error.message,
      };
      if (error.stack) wire.stack = error.stack;
      return wire;
    }
    return { code: "ACTION_FAILED", name: "Error", message: String(error) };
  };
  const coded = (code: string, message: string) =>
    Object.assign(new Error(message), { code });

  let action: (input: unknown) => unknown;
  try {
    // A computed specifier: Deno checks every module of this graph, its
    // literal imports included, against the Worker's read permission.
    const specifier = String(init.module);
    const module = await import(specifier);
    if (typeof module.default !== "function") {
      throw coded(
        "INVALID_ACTION",
        `The module ${specifier} has no default export that is a function (found ${typeof module
          .default})`,
      );
    }
    action = module.default;
  } catch (error) {
    send({ t: "loadFailed", error: toWire(error) });
    return;
  } finally {
    if (init.revokeRead) {
      Deno.permissions.revokeSync({ name: "read", path: init.revokeRead });
    }
  }

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
      ? `${
        Object.getPrototypeOf(value)?.constructor?.name ?? "object"
      } instance`
      : typeof value;
  const controllers = new Map<number, AbortController>();

  const runCall = async (id: number, max: number, bytes: Uint8Array) => {
    const controller = new AbortController();
    controllers.set(id, controller);
    try {
      const input = deserialize(bytes) as CallPayload;
      const actionInput: Record<string, unknown> = {
        data: input.data,
        context: input.context,
        config: input.config,
        runId: input.runId,
        dryRun: input.dryRun,
        idempotencyKey: input.idempotencyKey,
        signal: controller.signal,
      };
      if (input.jobName !== null) actionInput.jobName = input.jobName;
      const result = await currentRun.run(
        input.runId,
        () => action(actionInput),
      );
      if (!isPlain(result)) {
        throw coded(
          "INVALID_RESULT",
          `returned ${kind(result)}; a plain object is required`,
        );
      }
      let reply: Uint8Array;
      try {
        reply = serialize({ result, context: input.context });
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
          `returned ${reply.byteLength} bytes serialized, over the cap of ${max} bytes`,
        );
      }
      await lane.reply(id, reply);
    } catch (error) {
      send({ t: "fail", id, error: toWire(error) });
    } finally {
      controllers.delete(id);
    }
  };

  control = (message) => {
    if (message.t === "abort") {
      controllers.get(message.id)?.abort(
        new DOMException("The action ran past its time limit", "TimeoutError"),
      );
    } else if (message.t === "ping") {
      send({ t: "pong", id: message.id });
    }
  };
  serve = (id, max, bytes) => void runCall(id, max, bytes);
  send({ t: "loaded" });
}
