/** Tests of the value order, deep equality and row id hashing. */
import assert from "node:assert/strict";
import {
  compareValues,
  equalRows,
  equalValues,
  hashValue,
  hashValues,
  type Value,
} from "../../engine/mod.ts";

Deno.test("values sort null, booleans, numbers and bigints, strings, dates, bytes, arrays, objects", () => {
  const sorted: Value[] = [
    null,
    false,
    true,
    NaN,
    -Infinity,
    -1,
    1,
    1n,
    1.5,
    2n,
    "",
    "a",
    "b",
    new Date(0),
    new Date(1),
    new Uint8Array([1]),
    new Uint8Array([1, 0]),
    [],
    [1],
    [1, 2],
    {},
    { a: 1 },
  ];
  const shuffled = [...sorted].reverse();
  shuffled.sort(compareValues);
  assert.deepEqual(shuffled, sorted);
});

Deno.test('equal values: 0 and -0, NaN and NaN, objects regardless of key order; 1, 1n and "1" differ', () => {
  assert.ok(equalValues(0, -0));
  assert.ok(equalValues(NaN, NaN));
  assert.ok(equalValues({ a: [1, { b: 2 }], c: null }, { c: null, a: [1, { b: 2 }] }));
  assert.ok(!equalValues(1, 1n));
  assert.ok(!equalValues(1, "1"));
  assert.ok(!equalValues([1], [1, 2]));
  assert.ok(equalRows({ a: 1, b: "x" }, { b: "x", a: 1 }));
  assert.ok(!equalRows({ a: 1 }, { a: 1, b: null }));
});

Deno.test("hashValues gives 32 lowercase hex digits, the same on every run", () => {
  const id = hashValues(["connector_example", 0, 17]);
  assert.match(id, /^[0-9a-f]{32}$/);
  // Pinned: a change of the encoding or the hash would change every stored primary key.
  // (Checked against the mmh3 Python package's MurmurHash3_x86_128 of the same 28 bytes.)
  assert.equal(hashValues(["alice", 42]), "98c7c7a17b25cb9ecd87a4840a2680da");
  assert.equal(hashValues([]), "0".repeat(32));
  assert.equal(hashValue("x"), hashValues(["x"]));
});

Deno.test("hashValues tells types, splits and orders apart, and ignores object key order", () => {
  const ids = [
    hashValues([1]),
    hashValues(["1"]),
    hashValues([1n]),
    hashValues([true]),
    hashValues([null]),
    hashValues([1.5]),
    hashValues([new Date(1)]),
    hashValues([new Uint8Array([1])]),
    hashValues([[1]]),
    hashValues(["ab", "c"]),
    hashValues(["a", "bc"]),
    hashValues(["c", "ab"]),
    hashValues([]),
  ];
  assert.equal(new Set(ids).size, ids.length);
  assert.equal(hashValues([{ a: 1, b: 2 }]), hashValues([{ b: 2, a: 1 }]));
  assert.equal(hashValues([0]), hashValues([-0]));
  assert.equal(hashValues([2 ** 40]), hashValues([2 ** 40]));
  assert.notEqual(hashValues([2 ** 32]), hashValues([0]));
});
