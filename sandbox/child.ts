/**
 * The child-process side of the sandbox: the supervisor that hosts Workers.
 *
 * {@linkcode childMain} is shipped as source text (`Function.prototype.toString`)
 * in a `data:` URL entrypoint, so it must be self-contained. It talks to the
 * host over the Node-style IPC channel, a private file descriptor that code in
 * its Workers cannot reach (unlike stdin/stdout, which any action can use).
 * It relays payloads as bytes and never deserializes them.
 *
 * @module
 */
import type {
  ChildMessage,
  FromWorker,
  HostMessage,
  ToWorker,
  WorkerInit,
} from "./_protocol.ts";

/** Runs in the sandbox child process. `workerSource` is the Worker runtime's JS. */
export async function childMain(workerSource: string): Promise<void> {
  const workerUrl = `data:application/javascript,${
    encodeURIComponent(`(${workerSource})();`)
  }`;
  const { default: process } = await import("node:process");

  interface Slot {
    worker: Worker;
    port: MessagePort;
    calls: Set<number>;
  }
  const slots = new Map<number, Slot>();
  const send = (message: ChildMessage) => process.send!(message);

  const died = (wid: number, message: string) => {
    const slot = slots.get(wid);
    if (!slot) return;
    slots.delete(wid);
    slot.port.close();
    slot.worker.terminate();
    send({
      t: "died",
      wid,
      error: { code: "ACTION_FAILED", name: "Error", message },
    });
  };

  const load = (message: Extract<HostMessage, { t: "load" }>) => {
    const { wid } = message;
    let worker: Worker;
    try {
      worker = new Worker(workerUrl, {
        type: "module",
        name: `triggerkit-action-${wid}`,
        deno: { permissions: message.grant },
      } as WorkerOptions);
    } catch (error) {
      send({
        t: "loadFailed",
        wid,
        error: {
          code: "SANDBOX_UNAVAILABLE",
          name: "Error",
          message: String(error),
        },
      });
      return;
    }
    const channel = new MessageChannel();
    const slot: Slot = { worker, port: channel.port1, calls: new Set() };
    slots.set(wid, slot);
    // Messages an action posts on its global channel are not the protocol's:
    // the protocol runs on the private port. They are dropped.
    worker.onmessage = () => {};
    worker.onmessageerror = () => {};
    worker.onerror = (event) => {
      event.preventDefault();
      died(wid, `The action's Worker stopped: ${event.message}`);
    };
    channel.port1.onmessage = (event: MessageEvent<FromWorker>) => {
      const reply = event.data;
      switch (reply.t) {
        case "loaded":
          send({ t: "loaded", wid });
          break;
        case "loadFailed":
          send({ t: "loadFailed", wid, error: reply.error });
          slots.delete(wid);
          channel.port1.close();
          worker.terminate();
          break;
        case "done":
          slot.calls.delete(reply.id);
          send({
            t: "done",
            id: reply.id,
            p: new Uint8Array(reply.p).toBase64(),
          });
          break;
        case "fail":
          slot.calls.delete(reply.id);
          send({ t: "fail", id: reply.id, error: reply.error });
          break;
        case "log":
          send({
            t: "log",
            wid,
            runId: reply.runId,
            level: reply.level,
            message: reply.message,
          });
          break;
        case "pong":
          send({ t: "pong", id: reply.id });
          break;
      }
    };
    const init: WorkerInit = {
      port: channel.port2,
      module: message.module,
      revokeRead: message.revokeRead,
    };
    worker.postMessage(init, [channel.port2]);
  };

  const post = (
    wid: number,
    message: ToWorker,
    transfer: Transferable[] = [],
  ) => {
    const slot = slots.get(wid);
    if (!slot) return false;
    slot.port.postMessage(message, transfer);
    return true;
  };

  process.on("message", (message: HostMessage) => {
    switch (message.t) {
      case "load":
        load(message);
        break;
      case "call": {
        const buffer = Uint8Array.fromBase64(message.p).buffer;
        if (
          post(message.wid, {
            t: "call",
            id: message.id,
            max: message.max,
            p: buffer,
          }, [buffer])
        ) {
          slots.get(message.wid)!.calls.add(message.id);
        } else {
          send({
            t: "fail",
            id: message.id,
            error: {
              code: "ACTION_FAILED",
              name: "Error",
              message: "The action's Worker is gone",
            },
          });
        }
        break;
      }
      case "abort":
        post(message.wid, { t: "abort", id: message.id });
        break;
      case "ping":
        post(message.wid, { t: "ping", id: message.id });
        break;
      case "drop":
        died(message.wid, "The action's Worker was stopped by the host");
        break;
    }
  });
  // The host is gone: nothing is left to serve.
  process.on("disconnect", () => Deno.exit(0));
  send({ t: "ready" });
}
