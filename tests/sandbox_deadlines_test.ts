/**
 * The sandbox's shared deadline timer: every call's time limit on one
 * timer, never early, at most a tick late, nothing left behind.
 */
import assert from "node:assert/strict";
import { DEADLINE_TICK_MS, Deadlines } from "../sandbox/host/deadlines.ts";

function waitFired(deadlines: Deadlines, ms: number): Promise<number> {
  const started = performance.now();
  return new Promise((resolve) =>
    deadlines.add(ms, () => resolve(performance.now() - started))
  );
}

Deno.test("sandbox deadlines: each fires no sooner than asked, whatever the order they were added in", async () => {
  const deadlines = new Deadlines();
  const fired = await Promise.all([
    waitFired(deadlines, 60),
    waitFired(deadlines, 20),
    waitFired(deadlines, 40),
    waitFired(deadlines, 1),
  ]);
  for (
    const [elapsed, asked] of fired.map((ms, i) => [ms, [60, 20, 40, 1][i]!])
  ) {
    assert.ok(elapsed! >= asked!, `fired after ${elapsed} ms, asked ${asked}`);
  }
  assert.equal(deadlines.size, 0);
  deadlines.clear();
});

Deno.test("sandbox deadlines: a cancelled deadline never fires, and its neighbours in the same tick still do", async () => {
  const deadlines = new Deadlines();
  let cancelledFired = false;
  const cancelled = deadlines.add(20, () => cancelledFired = true);
  const kept = waitFired(deadlines, 20);
  deadlines.cancel(cancelled);
  deadlines.cancel(cancelled); // twice: nothing happens
  assert.ok((await kept) >= 20);
  await new Promise((resolve) => setTimeout(resolve, 3 * DEADLINE_TICK_MS));
  assert.equal(cancelledFired, false);
  deadlines.clear();
});

Deno.test("sandbox deadlines: a shorter deadline added after a longer one fires first", async () => {
  const deadlines = new Deadlines();
  const order: string[] = [];
  const long = new Promise<void>((resolve) =>
    deadlines.add(200, () => (order.push("long"), resolve()))
  );
  const short = new Promise<void>((resolve) =>
    deadlines.add(10, () => (order.push("short"), resolve()))
  );
  await Promise.all([long, short]);
  assert.deepEqual(order, ["short", "long"]);
  deadlines.clear();
});

Deno.test("sandbox deadlines: clear() forgets every deadline and leaves no timer (the test sanitizer checks)", () => {
  const deadlines = new Deadlines();
  let fired = false;
  for (let i = 0; i < 100; i++) deadlines.add(10 + i, () => fired = true);
  const first = deadlines.add(1, () => fired = true);
  deadlines.cancel(first);
  assert.equal(deadlines.size, 100);
  deadlines.clear();
  assert.equal(deadlines.size, 0);
  assert.equal(fired, false);
});
