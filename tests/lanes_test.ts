import assert from "node:assert/strict";
import { laneFactory } from "../sandbox/_lane.ts";
import { LaneServer } from "../sandbox/lanes.ts";

const openLane = laneFactory();

function waitFor<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => resolve = r);
  return { promise, resolve };
}

Deno.test("lanes: a lane that says hello with its token carries JSON, calls and replies both ways", async () => {
  const server = new LaneServer();
  const replies: Array<[number, number]> = [];
  const gotReply = waitFor<void>();
  const { token, lane } = server.expect({
    onJson: () => {},
    onReply: (id, bytes) => {
      replies.push([id, bytes.byteLength]);
      if (replies.length === 2) gotReply.resolve();
    },
    onClose: () => {},
  }, 64 * 1024 * 1024);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  const calls: Array<[number, number, number]> = [];
  const gotCall = waitFor<void>();
  const client = openLane(conn, {
    onJson: () => {},
    onCall: (id, max, bytes) => {
      calls.push([id, max, bytes.byteLength]);
      gotCall.resolve();
    },
    onClose: () => {},
  });
  await client.json({ t: "hello", token });
  const host = await lane;
  const big = new Uint8Array(5 * 1024 * 1024).fill(7); // spans many reads
  await host.call(42, 1000, big);
  await gotCall.promise;
  assert.deepEqual(calls, [[42, 1000, big.byteLength]]);
  await client.reply(1, new Uint8Array(3));
  await client.reply(2, big);
  await gotReply.promise;
  assert.deepEqual(replies, [[1, 3], [2, big.byteLength]]);
  client.close();
  server.close();
});

Deno.test("lanes: a connection without a valid token is closed and reaches no one", async () => {
  const server = new LaneServer();
  let reached = false;
  server.expect({ onJson: () => reached = true, onClose: () => {} }, 1024);
  for (const hello of [{ t: "hello", token: "forged" }, { t: "done", id: 1 }]) {
    const conn = await Deno.connect({
      hostname: "127.0.0.1",
      port: server.port,
    });
    const closed = waitFor<string | null>();
    const client = openLane(conn, {
      onJson: () => {},
      onClose: (reason) => closed.resolve(reason),
    });
    await client.json(hello);
    assert.equal(
      await closed.promise,
      null,
      "the server closed the connection",
    );
  }
  const raw = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  await raw.write(new TextEncoder().encode("GET / HTTP/1.1\r\n\r\n"));
  assert.equal(await raw.read(new Uint8Array(16)), null);
  raw.close();
  assert.equal(reached, false);
  server.close();
});

Deno.test("lanes: a token works once", async () => {
  const server = new LaneServer();
  const { token, lane } = server.expect(
    { onJson: () => {}, onClose: () => {} },
    1024,
  );
  const first = openLane(
    await Deno.connect({ hostname: "127.0.0.1", port: server.port }),
    {
      onJson: () => {},
      onClose: () => {},
    },
  );
  await first.json({ t: "hello", token });
  await lane;
  const closed = waitFor<void>();
  const second = openLane(
    await Deno.connect({ hostname: "127.0.0.1", port: server.port }),
    {
      onJson: () => {},
      onClose: () => closed.resolve(),
    },
  );
  await second.json({ t: "hello", token });
  await closed.promise;
  first.close();
  server.close();
});

Deno.test("lanes: a frame over the limit closes the lane with a reason", async () => {
  const server = new LaneServer();
  const closed = waitFor<string | null>();
  const { token, lane } = server.expect({
    onJson: () => {},
    onReply: () => {},
    onClose: (r) => closed.resolve(r),
  }, 1024);
  const client = openLane(
    await Deno.connect({ hostname: "127.0.0.1", port: server.port }),
    {
      onJson: () => {},
      onClose: () => {},
    },
  );
  await client.json({ t: "hello", token });
  await lane;
  await client.reply(1, new Uint8Array(4096)).catch(() => {});
  assert.match(String(await closed.promise), /over the limit of 1024/);
  client.close();
  server.close();
});
