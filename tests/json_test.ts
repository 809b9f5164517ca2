/**
 * JSON helpers the job engine uses on action results: bigints written as
 * text, and a size check that stops early on a large result.
 */
import assert from "node:assert/strict";
import { jsonLongerThan, toJson } from "../src/_json.ts";

Deno.test("toJson writes bigints as decimal text, and what holds none as JSON.stringify does", () => {
  assert.equal(toJson({ a: 1n, b: [2n] }), '{"a":"1","b":["2"]}');
  const plain = { a: [1, "x", null, { b: true }], c: new Date(0) };
  assert.equal(toJson(plain), JSON.stringify(plain));
  assert.equal(toJson(plain, 2), JSON.stringify(plain, null, 2));
  const cycle: Record<string, unknown> = {};
  cycle.self = cycle;
  assert.throws(() => toJson(cycle), TypeError);
});

Deno.test("jsonLongerThan: true only when the JSON is longer, and it stops early on a large value", () => {
  const values: unknown[] = [
    { a: 1, b: "x", c: [1, 2, 3], d: null, e: true },
    [{ id: 1, name: "row 1", v: 1.5 }],
    "é日本😀",
    { nested: { deeper: { deepest: [1.25, -3, 1e21] } } },
  ];
  for (const value of values) {
    const length = JSON.stringify(value).length;
    assert.equal(jsonLongerThan(value, length), false, JSON.stringify(value));
    assert.equal(
      jsonLongerThan(value, length - 1),
      true,
      JSON.stringify(value),
    );
  }
  // Escapes are not counted: it may say "not longer" for a text that is
  // (8 characters here), never the other way round.
  assert.equal(JSON.stringify('"\n"').length, 8);
  assert.equal(jsonLongerThan('"\n"', 5), false);
  const rows = Array.from(
    { length: 1_000_000 },
    (_, i) => ({ id: i, name: `row ${i}` }),
  );
  const started = performance.now();
  assert.equal(jsonLongerThan(rows, 48 * 1024), true);
  assert.ok(performance.now() - started < 20, "it stopped early");
});
