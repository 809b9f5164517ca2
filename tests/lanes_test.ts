import assert from "node:assert/strict";
import { decodeFrame, encodeFrame, openLane } from "../sandbox/_lane.ts";
import { LaneListener } from "../sandbox/host/lane_listener.ts";

function waitFor<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => resolve = r);
  return { promise, resolve };
}

interface Message {
  t: string;
  id?: number;
  token?: string;
  payload?: Uint8Array;
}

async function withListener(
  fn: (listener: LaneListener, path: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/lane.sock`;
  const listener = new LaneListener(path);
  try {
    await fn(listener, path);
  } finally {
    listener.close();
    await Deno.remove(dir, { recursive: true });
  }
}

function dial(path: string): Promise<Deno.UnixConn> {
  return Deno.connect({ transport: "unix", path });
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test("lanes: a frame round-trips a message and its payload", () => {
  const payload = new Uint8Array([1, 2, 3]);
  const [frame] = encodeFrame({ t: "reply", payload, id: 7 } as Message);
  assert.ok(frame);
  const decoded = decodeFrame(frame[4]!, frame.subarray(5)) as Message;
  assert.equal(decoded.t, "reply");
  assert.equal(decoded.id, 7);
  assert.deepEqual(decoded.payload, payload);
  assert.equal(
    decodeFrame(1, new TextEncoder().encode("[1]")),
    "a frame was not a tagged object",
  );
});

Deno.test("lanes: a call and a reply cross in a binary frame (no JSON), with their id, cap and payload", () => {
  const payload = new Uint8Array([9, 8, 7]);
  const call = { t: "call", id: 2 ** 40 + 3, max: 8 * 1024 * 1024, payload };
  const [frame] = encodeFrame(call as Message);
  assert.equal(frame![4], 3, "frame kind 3");
  assert.equal(frame!.byteLength, 5 + 17 + payload.byteLength);
  assert.deepEqual(decodeFrame(3, frame!.subarray(5)), call);
  const reply = { t: "reply", id: 5, payload };
  const [replyFrame] = encodeFrame(reply as Message);
  assert.deepEqual(decodeFrame(3, replyFrame!.subarray(5)), reply);
  // Anything else, or a call or reply with more fields, stays JSON.
  for (
    const message of [
      { t: "call", id: 1, payload },
      { t: "reply", id: 1, payload, extra: true },
      { t: "reply", id: "1", payload },
    ]
  ) {
    const [json] = encodeFrame(message as Message);
    assert.equal(json![4], 2);
    assert.deepEqual(decodeFrame(2, json!.subarray(5)), message);
  }
  assert.equal(decodeFrame(3, new Uint8Array(4)), "a frame was too short");
  assert.equal(
    decodeFrame(3, new Uint8Array(17).fill(7)),
    "a frame of kind 3 held an unknown message 7",
  );
});

Deno.test("lanes: a lane that says hello with its token carries messages and payloads both ways", async () => {
  await withListener(async (listener, path) => {
    const replies: Array<[number, number]> = [];
    const gotReply = waitFor<void>();
    const { token, lane } = listener.expect<Message, Message>({
      onMessage: (message) => {
        replies.push([message.id!, message.payload!.byteLength]);
        if (replies.length === 2) gotReply.resolve();
      },
      onClose: () => {},
    }, 64 * 1024 * 1024);
    const calls: Array<[number, number]> = [];
    const gotCall = waitFor<void>();
    const client = openLane<Message, Message>(await dial(path), {
      onMessage: (message) => {
        calls.push([message.id!, message.payload!.byteLength]);
        gotCall.resolve();
      },
      onClose: () => {},
    });
    await client.send({ t: "hello", token });
    const host = await lane;
    const big = new Uint8Array(5 * 1024 * 1024).fill(7); // spans many reads
    await host.send({ t: "call", id: 42, payload: big });
    await gotCall.promise;
    assert.deepEqual(calls, [[42, big.byteLength]]);
    await client.send({ t: "reply", id: 1, payload: new Uint8Array(3) });
    await client.send({ t: "reply", id: 2, payload: big });
    await gotReply.promise;
    assert.deepEqual(replies, [[1, 3], [2, big.byteLength]]);
    client.close();
  });
});

Deno.test("lanes: a connection without a valid token is closed and reaches no one", async () => {
  await withListener(async (listener, path) => {
    let reached = false;
    listener.expect(
      { onMessage: () => reached = true, onClose: () => {} },
      1024,
    );
    for (
      const hello of [{ t: "hello", token: "forged" }, { t: "done", id: 1 }]
    ) {
      const closed = waitFor<string | null>();
      const client = openLane<Message, Message>(await dial(path), {
        onMessage: () => {},
        onClose: (reason) => closed.resolve(reason),
      });
      await client.send(hello);
      assert.equal(
        await closed.promise,
        null,
        "the host closed the connection",
      );
    }
    const raw = await dial(path);
    await raw.write(new TextEncoder().encode("GET / HTTP/1.1\r\n\r\n"));
    assert.equal(await raw.read(new Uint8Array(16)), null);
    raw.close();
    assert.equal(reached, false);
  });
});

Deno.test("lanes: a token works once, and with nothing expected there is no socket to dial", async () => {
  await withListener(async (listener, path) => {
    const { token, lane } = listener.expect<Message, Message>(
      { onMessage: () => {}, onClose: () => {} },
      1024,
    );
    const first = openLane<Message, Message>(await dial(path), {
      onMessage: () => {},
      onClose: () => {},
    });
    await first.send({ t: "hello", token });
    await lane;
    assert.equal(exists(path), false, "the socket outlived its last token");
    await assert.rejects(dial(path));
    first.close();
  });
});

Deno.test("lanes: connections that never say hello are capped", async () => {
  await withListener(async (listener, path) => {
    const { token, lane } = listener.expect<Message, Message>(
      { onMessage: () => {}, onClose: () => {} },
      1024,
    );
    const strangers = await Promise.all(
      Array.from({ length: 50 }, () => dial(path)),
    );
    // Past the cap, the quiet ones are closed; the expected lane still opens.
    const closedAtOnce = await Promise.all(
      strangers.map((conn) =>
        Promise.race([
          conn.read(new Uint8Array(1)).then((read) => read === null),
          new Promise<boolean>((resolve) =>
            setTimeout(() => resolve(false), 300)
          ),
        ])
      ),
    );
    assert.ok(
      closedAtOnce.filter(Boolean).length >= 40,
      `${closedAtOnce.filter(Boolean).length} of 50 closed at once`,
    );
    const client = openLane<Message, Message>(await dial(path), {
      onMessage: () => {},
      onClose: () => {},
    });
    await client.send({ t: "hello", token });
    await lane;
    client.close();
    for (const conn of strangers) conn.close();
  });
});

Deno.test("lanes: a frame over the limit closes the lane with a reason", async () => {
  await withListener(async (listener, path) => {
    const closed = waitFor<string | null>();
    const { token, lane } = listener.expect<Message, Message>({
      onMessage: () => {},
      onClose: (reason) => closed.resolve(reason),
    }, 1024);
    const client = openLane<Message, Message>(await dial(path), {
      onMessage: () => {},
      onClose: () => {},
    });
    await client.send({ t: "hello", token });
    await lane;
    await client.send({ t: "reply", id: 1, payload: new Uint8Array(4096) })
      .catch(() => {});
    assert.match(String(await closed.promise), /over the limit of 1024/);
    client.close();
  });
});
