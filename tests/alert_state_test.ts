/** The alert state machine, pure: times are plain numbers on a fake clock. */
import assert from "node:assert/strict";
import { alertKey, rowHashes } from "../src/alerts/keys.ts";
import {
  type AlertSettings,
  type KeyState,
  mutedAt,
  nothingToDo,
  type Observed,
  planRun,
  settleRun,
} from "../src/alerts/state.ts";
import { FakeClock } from "./_fake_clock.ts";
import type { Row } from "../mod.ts";

const MIN = 60_000;

/** Runs the machine over successive views, carrying state like a store would. */
class Machine {
  states = new Map<string, KeyState>();
  tombstones = new Map<string, number>();
  constructor(
    readonly clock: FakeClock,
    readonly settings: AlertSettings = { pendingForMs: 0 },
    readonly muted: (key: string) => boolean = () => false,
  ) {}

  run(rows: Row[], ok = { firing: true, resolved: true }) {
    const hashes = rowHashes(rows);
    const observed: Observed[] = rows.map((row) => ({
      key: alertKey([row.id]),
      fingerprint: String(hashes.a[rows.indexOf(row)]),
      row,
    }));
    const now = this.clock.now();
    const plan = planRun({
      prior: this.states,
      tombstones: this.tombstones,
      observed,
      now,
      settings: this.settings,
      isMuted: this.muted,
    });
    const commit = settleRun(
      plan,
      {
        firingAcknowledged: ok.firing,
        resolutionsApplied: ok.firing && ok.resolved,
        now,
      },
      hashes.digest,
      this.settings,
    );
    for (const { state } of commit.upserts) this.states.set(state.key, state);
    for (const { key, incident } of commit.resolved) {
      this.states.delete(key);
      this.tombstones.set(key, incident);
    }
    return { plan, commit };
  }
}

const ids = (deliveries: Array<{ key: string }>) =>
  deliveries.map((d) => JSON.parse(d.key)[0]);

Deno.test("state: a present key fires at once, once; it resolves when a later view lacks it", () => {
  const m = new Machine(new FakeClock());
  const first = m.run([{ id: 1 }, { id: 2 }]);
  assert.deepEqual(ids(first.plan.firing), [1, 2]);
  assert.deepEqual(first.plan.firing.map((d) => [d.incident, d.delivery]), [
    [1, 1],
    [1, 1],
  ]);
  m.clock.tick(MIN);
  assert.deepEqual(m.run([{ id: 1 }, { id: 2 }]).plan.firing, []);
  m.clock.tick(MIN);
  const third = m.run([{ id: 2 }]);
  assert.deepEqual(ids(third.plan.resolved), [1]);
  assert.deepEqual(
    third.plan.resolved.map((d) => [d.incident, d.delivery, d.kind]),
    [[1, 2, "resolved"]],
  );
  assert.deepEqual([...m.states.keys()], ["[2]"]);
});

Deno.test("state: pendingFor fires a key only once present that long", () => {
  const m = new Machine(new FakeClock(), { pendingForMs: 10 * MIN });
  assert.deepEqual(m.run([{ id: 1 }]).plan.firing, []);
  assert.equal(m.states.get("[1]")!.state, "pending");
  m.clock.tick(9 * MIN);
  assert.deepEqual(m.run([{ id: 1 }]).plan.firing, []);
  m.clock.tick(MIN);
  assert.deepEqual(ids(m.run([{ id: 1 }]).plan.firing), [1]);
  assert.equal(m.states.get("[1]")!.state, "firing");
});

Deno.test("state: a pending key that disappears never fires nor resolves", () => {
  const m = new Machine(new FakeClock(), { pendingForMs: 10 * MIN });
  m.run([{ id: 1 }]);
  m.clock.tick(5 * MIN);
  const gone = m.run([]);
  assert.deepEqual(gone.plan.resolved, []);
  assert.deepEqual(gone.plan.dropped, [{ key: "[1]", incident: 1 }]);
  m.clock.tick(10 * MIN);
  const back = m.run([{ id: 1 }]);
  assert.deepEqual(back.plan.firing, [], "it starts pending again");
});

Deno.test("state: repeatEvery delivers still-firing keys again at that interval, and only those", () => {
  const m = new Machine(new FakeClock(), {
    pendingForMs: 0,
    repeatEveryMs: 60 * MIN,
  });
  m.run([{ id: 1 }]);
  m.clock.tick(30 * MIN);
  assert.deepEqual(ids(m.run([{ id: 1 }, { id: 2 }]).plan.firing), [2]);
  m.clock.tick(30 * MIN);
  const due = m.run([{ id: 1 }, { id: 2 }]).plan.firing;
  assert.deepEqual(due.map((d) => [JSON.parse(d.key)[0], d.kind, d.delivery]), [
    [1, "repeat", 2],
  ]);
  m.clock.tick(30 * MIN);
  assert.deepEqual(
    m.run([{ id: 1 }, { id: 2 }]).plan.firing.map((
      d,
    ) => [JSON.parse(d.key)[0], d.delivery]),
    [[2, 2]],
  );
});

Deno.test("state: a resolved key that comes back opens a new incident", () => {
  const m = new Machine(new FakeClock());
  m.run([{ id: 1 }]);
  m.run([]);
  const back = m.run([{ id: 1 }]).plan.firing;
  assert.deepEqual(back.map((d) => [d.incident, d.delivery, d.kind]), [[
    2,
    1,
    "new",
  ]]);
});

Deno.test("state: deliveries not acknowledged are due again with the same numbers", () => {
  const m = new Machine(new FakeClock());
  const failed = m.run([{ id: 1 }], { firing: false, resolved: false });
  const again = m.run([{ id: 1 }]);
  assert.deepEqual(
    again.plan.firing.map((d) => [d.incident, d.delivery]),
    failed.plan.firing.map((d) => [d.incident, d.delivery]),
  );
  const resolveFailed = m.run([], { firing: true, resolved: false });
  assert.equal(resolveFailed.commit.resolved.length, 0, "not recorded");
  assert.equal(resolveFailed.commit.summary, null, "no fast path after it");
  const resolved = m.run([]);
  assert.deepEqual(
    resolved.plan.resolved.map((d) => [d.incident, d.delivery]),
    resolveFailed.plan.resolved.map((d) => [d.incident, d.delivery]),
  );
});

Deno.test("state: muted keys are not delivered but move; never-delivered ones go out after the mute", () => {
  let muted = true;
  const m = new Machine(new FakeClock(), { pendingForMs: 0 }, () => muted);
  const during = m.run([{ id: 1 }, { id: 2 }]);
  assert.deepEqual(during.plan.firing, []);
  assert.equal(during.plan.counts.muted, 2);
  assert.equal(m.states.get("[1]")!.state, "firing");
  const resolvedDuringMute = m.run([{ id: 2 }]);
  assert.deepEqual(resolvedDuringMute.plan.resolved, [], "recorded, not sent");
  assert.deepEqual(resolvedDuringMute.commit.resolved.map((r) => r.key), [
    "[1]",
  ]);
  muted = false;
  assert.deepEqual(ids(m.run([{ id: 2 }]).plan.firing), [2]);
});

Deno.test("state: a key never delivered resolves silently", () => {
  const m = new Machine(new FakeClock());
  m.run([{ id: 1 }], { firing: false, resolved: false });
  const gone = m.run([]);
  assert.deepEqual(gone.plan.resolved, []);
  assert.deepEqual(gone.plan.silent, [{ key: "[1]", incident: 1 }]);
});

Deno.test("state: keys compare by value (number, bigint, digit string)", () => {
  assert.equal(alertKey([42]), alertKey([42n]));
  assert.equal(alertKey([42]), alertKey(["42"]));
  assert.notEqual(alertKey(["042"]), alertKey([42]));
  assert.equal(alertKey([2n ** 64n]), '["18446744073709551616"]');
});

Deno.test("state: the rows' digest ignores order and sees any change", () => {
  const rows = [{ id: 1, v: "a" }, { id: 2, v: "b" }];
  assert.equal(rowHashes(rows).digest, rowHashes([...rows].reverse()).digest);
  assert.notEqual(
    rowHashes(rows).digest,
    rowHashes([{ id: 1, v: "a" }, { id: 2, v: "c" }]).digest,
  );
  assert.notEqual(
    rowHashes([{ a: "ab", b: "c" }]).digest,
    rowHashes([{ a: "a", b: "bc" }]).digest,
  );
});

Deno.test("state: nothing to do only when the rows match and nothing is due or owed", () => {
  const m = new Machine(new FakeClock(), {
    pendingForMs: 0,
    repeatEveryMs: 60 * MIN,
  });
  const rows = [{ id: 1 }];
  const { commit } = m.run(rows);
  const summary = commit.summary!;
  const digest = rowHashes(rows).digest;
  const now = m.clock.now();
  assert.equal(nothingToDo(summary, digest, m.settings, now, false), true);
  assert.equal(
    nothingToDo(summary, rowHashes([{ id: 2 }]).digest, m.settings, now, false),
    false,
  );
  assert.equal(
    nothingToDo(summary, digest, m.settings, now + 60 * MIN, false),
    false,
    "a repeat is due",
  );
  assert.equal(
    nothingToDo(summary, digest, { pendingForMs: 1 }, now, false),
    false,
    "settings changed",
  );
  assert.equal(nothingToDo(undefined, digest, m.settings, now, false), false);
  assert.equal(
    nothingToDo({ ...summary, owed: 1 }, digest, m.settings, now, false),
    false,
  );
  assert.equal(
    nothingToDo({ ...summary, owed: 1 }, digest, m.settings, now, true),
    true,
  );
});

Deno.test("state: mutes in force cover every key or theirs, until they end", () => {
  const mutes = [
    {
      id: "a",
      jobName: "j",
      until: 100,
      keys: ["[1]"],
      reason: null,
      createdAt: 0,
    },
    {
      id: "b",
      jobName: "j",
      until: 50,
      keys: null,
      reason: null,
      createdAt: 0,
    },
  ];
  assert.equal(mutedAt(mutes, 10).all, true);
  assert.equal(mutedAt(mutes, 60).all, false);
  assert.equal(mutedAt(mutes, 60).has("[1]"), true);
  assert.equal(mutedAt(mutes, 60).has("[2]"), false);
  assert.equal(mutedAt(mutes, 100).has("[1]"), false);
});

Deno.test("state: a repeat that came due during a mute goes out when it ends", () => {
  let muted = false;
  const m = new Machine(
    new FakeClock(),
    { pendingForMs: 0, repeatEveryMs: 60 * MIN },
    () => muted,
  );
  m.run([{ id: 1 }]);
  muted = true;
  m.clock.tick(90 * MIN);
  assert.deepEqual(m.run([{ id: 1 }]).plan.firing, []);
  muted = false;
  const after = m.run([{ id: 1 }]).plan.firing;
  assert.deepEqual(after.map((d) => [d.kind, d.delivery]), [["repeat", 2]]);
});
