/**
 * The sandbox process's main: it starts and stops the Workers of its one
 * action as the host asks. Calls do not pass through it: each Worker has
 * its own lane to the host.
 *
 * Shipped as source text (see `host/entry.ts`), so it must be
 * self-contained. It reads its setup and its control lane's token from
 * stdin before any Worker exists (the host then closes stdin), so no action
 * can learn them; its control lane lives in this isolate, out of every
 * Worker's reach.
 *
 * @module
 */
import type { OpenLane } from "../_lane.ts";
import type {
  ChildInit,
  FromChild,
  ToChild,
  WorkerInit,
} from "../_protocol.ts";

/**
 * Runs in the sandbox process.
 *
 * @param openLane The lane implementation.
 * @param workerSource The Worker runtime's source text.
 */
export async function childMain(
  openLane: OpenLane,
  workerSource: string,
): Promise<void> {
  const workerUrl = `data:application/javascript,${
    encodeURIComponent(workerSource)
  }`;
  // Read directly: the first use of Deno.stdin.readable loads Deno's
  // streams code, about 4 ms of every process's start.
  const decoder = new TextDecoder();
  const buffer = new Uint8Array(64 * 1024);
  let text = "";
  while (!text.includes("\n")) {
    const got = await Deno.stdin.read(buffer);
    if (got === null) break;
    text += decoder.decode(buffer.subarray(0, got), { stream: true });
  }
  const init = JSON.parse(text.slice(0, text.indexOf("\n"))) as ChildInit;
  const workers = new Map<number, Worker>();
  // The control lane, once dialled (a Worker may fail before that).
  const control: { lane?: ReturnType<typeof openLane<FromChild, ToChild>> } =
    {};

  const died = (
    wid: number,
    code: "ACTION_FAILED" | "SANDBOX_UNAVAILABLE",
    message: string,
  ) => {
    const worker = workers.get(wid);
    workers.delete(wid);
    worker?.terminate();
    control.lane?.send({
      t: "died",
      wid,
      error: { code, name: "Error", message },
    })
      .catch(() => {});
  };
  const load = (wid: number, token: string) => {
    // The setup travels in the Worker's name, read at its start: a message
    // would wait for the Worker's event loop (about 2 ms of every start).
    // The token in it is spent (the host forgets it) before any action code
    // runs, and the runtime hides the name from the action.
    const workerInit: WorkerInit = { ...init.setup, token };
    let worker: Worker;
    try {
      worker = new Worker(workerUrl, {
        type: "module",
        name: JSON.stringify(workerInit),
        deno: { permissions: init.grant },
      } as WorkerOptions);
    } catch (error) {
      return died(wid, "SANDBOX_UNAVAILABLE", String(error));
    }
    workers.set(wid, worker);
    // What an action posts on its global channel is not the protocol: dropped.
    worker.onmessage = () => {};
    worker.onmessageerror = () => {};
    worker.onerror = (event) => {
      event.preventDefault();
      died(wid, "ACTION_FAILED", `its Worker stopped: ${event.message}`);
    };
  };

  load(init.first.wid, init.first.token);
  const conn = await Deno.connect({
    transport: "unix",
    path: init.setup.socket,
  });
  const lane = control.lane = openLane<FromChild, ToChild>(conn, {
    onMessage(message) {
      if (message.t === "load") load(message.wid, message.token);
      else if (message.t === "drop") {
        workers.get(message.wid)?.terminate();
        workers.delete(message.wid);
      }
    },
    // The host is gone: nothing is left to serve.
    onClose: () => Deno.exit(0),
  }, { maxFrame: 1024 * 1024 });
  await lane.send({ t: "hello", token: init.token });
}
