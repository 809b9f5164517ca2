/**
 * The sandbox process's main: it starts and stops the Workers the host asks
 * for. Calls do not pass through it: each Worker has its own lane to the host.
 *
 * {@linkcode childMain} is shipped as source text in a `data:` URL
 * entrypoint, so it must be self-contained. It reads its lane token from
 * stdin before any Worker exists (the host then closes stdin), so no action
 * can learn it; its control lane lives in this isolate, out of every
 * Worker's reach.
 *
 * @module
 */
import type { OpenLane } from "./_lane.ts";
import type { ControlMessage, ProcessInit, WorkerInit } from "./_protocol.ts";

/**
 * Runs in the sandbox process.
 *
 * @param openLane The lane implementation.
 * @param workerUrl The Worker runtime's `data:` URL.
 */
export async function childMain(
  openLane: OpenLane,
  workerUrl: string,
): Promise<void> {
  const decoder = new TextDecoder();
  let text = "";
  for await (const chunk of Deno.stdin.readable) {
    text += decoder.decode(chunk, { stream: true });
    if (text.includes("\n")) break;
  }
  const init = JSON.parse(text.slice(0, text.indexOf("\n"))) as ProcessInit;
  const laneHost = `127.0.0.1:${init.port}`;
  const workers = new Map<number, Worker>();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: init.port });
  conn.setNoDelay(true);

  const covers = (net: boolean | string[]) =>
    net === true ||
    (Array.isArray(net) &&
      net.some((host) => host === laneHost || host === "127.0.0.1"));
  const died = (wid: number, message: string) => {
    const worker = workers.get(wid);
    if (!worker) return;
    workers.delete(wid);
    worker.terminate();
    lane.json({
      t: "died",
      wid,
      error: { code: "ACTION_FAILED", name: "Error", message },
    }).catch(() => {});
  };
  const load = (message: Extract<ControlMessage, { t: "load" }>) => {
    const { wid, grant } = message;
    // The Worker dials its own lane: grant it the host's port until it has.
    const revokeNet = covers(grant.net) ? null : laneHost;
    const net = revokeNet
      ? [...(Array.isArray(grant.net) ? grant.net : []), laneHost]
      : grant.net;
    let worker: Worker;
    try {
      worker = new Worker(workerUrl, {
        type: "module",
        name: `triggerkit-action-${wid}`,
        deno: { permissions: { ...grant, net } },
      } as WorkerOptions);
    } catch (error) {
      lane.json({
        t: "died",
        wid,
        error: {
          code: "SANDBOX_UNAVAILABLE",
          name: "Error",
          message: String(error),
        },
      }).catch(() => {});
      return;
    }
    workers.set(wid, worker);
    // What an action posts on its global channel is not the protocol: dropped.
    worker.onmessage = () => {};
    worker.onmessageerror = () => {};
    worker.onerror = (event) => {
      event.preventDefault();
      died(wid, `its Worker stopped: ${event.message}`);
    };
    const workerInit: WorkerInit = {
      port: init.port,
      token: message.token,
      module: message.module,
      revokeRead: message.revokeRead,
      revokeNet,
    };
    worker.postMessage(workerInit);
  };

  const lane = openLane(conn, {
    onJson(message) {
      const control = message as ControlMessage;
      if (control.t === "load") load(control);
      else if (control.t === "drop") {
        workers.get(control.wid)?.terminate();
        workers.delete(control.wid);
      }
    },
    // The host is gone: nothing is left to serve.
    onClose: () => Deno.exit(0),
  }, { maxFrame: 16 * 1024 * 1024 });
  await lane.json({ t: "hello", token: init.token });
}
