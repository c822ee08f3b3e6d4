import assert from "node:assert/strict";
import type { Row, Value } from "../../engine/types.ts";
import { encodeChange } from "../../formats/encode_json.ts";
import { json } from "../../formats/json.ts";

Deno.test("encodeChange writes the seed's sum record: columns, then diff, then time", () => {
  assert.equal(
    encodeChange({ sum: 45 }, 1, 1700000000123),
    '{"sum":45,"diff":1,"time":1700000000123}',
  );
  assert.equal(encodeChange({ sum: 0 }, -1, 7), '{"sum":0,"diff":-1,"time":7}');
});

Deno.test("encodeChange keeps the row's column order", () => {
  const text = encodeChange({ z: "1", a: true, m: null }, 1, 2);
  assert.equal(text, '{"z":"1","a":true,"m":null,"diff":1,"time":2}');
});

Deno.test("encodeChange writes a row without columns as diff and time only", () => {
  assert.equal(encodeChange({}, 1, 3), '{"diff":1,"time":3}');
});

Deno.test("encodeChange writes bigints as exact JSON numbers that the json format reads back", () => {
  const row = { id: 12345678901234567890n, small: 5n, nested: [-98765432109876543210n] };
  const text = encodeChange(row, 1, 9);
  assert.equal(
    text,
    '{"id":12345678901234567890,"small":5,"nested":[-98765432109876543210],"diff":1,"time":9}',
  );
  // Chaining: another pipeline's json source reads the same values back.
  const decoded = json.open("out", {}).decode(new TextEncoder().encode(text), {
    topic: "out",
    partition: 0,
    offset: "0",
  });
  assert.deepEqual(decoded, {
    kind: "rows",
    rows: [{
      id: 12345678901234567890n,
      small: 5,
      nested: [-98765432109876543210n],
      diff: 1,
      time: 9,
    }],
  });
});

Deno.test("encodeChange writes NaN and infinities as strings, -0 as 0", () => {
  assert.equal(
    encodeChange({ a: NaN, b: Infinity, c: -Infinity, d: -0, e: [NaN] }, 1, 0),
    '{"a":"NaN","b":"Infinity","c":"-Infinity","d":0,"e":["NaN"],"diff":1,"time":0}',
  );
});

Deno.test("encodeChange writes dates as ISO-8601 strings and an invalid date as null", () => {
  assert.equal(
    encodeChange({ at: new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 6)), bad: new Date(NaN) }, 1, 0),
    '{"at":"2024-01-02T03:04:05.006Z","bad":null,"diff":1,"time":0}',
  );
});

Deno.test("encodeChange writes bytes as base64", () => {
  assert.equal(
    encodeChange(
      { bytes: new Uint8Array([0, 1, 2, 250, 251, 252, 253]), empty: new Uint8Array() },
      1,
      0,
    ),
    '{"bytes":"AAEC+vv8/Q==","empty":"","diff":1,"time":0}',
  );
});

Deno.test("encodeChange encodes nested arrays and objects with the same rules", () => {
  const row: Row = { o: { when: new Date(0), list: [1n, { deep: Infinity }], s: 'q"\n' } };
  assert.equal(
    encodeChange(row, -1, 1),
    '{"o":{"when":"1970-01-01T00:00:00.000Z","list":[1,{"deep":"Infinity"}],"s":"q\\"\\n"},' +
      '"diff":-1,"time":1}',
  );
});

Deno.test("encodeChange keeps a column holding undefined, as null", () => {
  const row = { a: undefined, b: 1 } as unknown as Row;
  assert.equal(encodeChange(row, 1, 0), '{"a":null,"b":1,"diff":1,"time":0}');
});

Deno.test("encodeChange refuses a column named diff or time", () => {
  assert.throws(
    () => encodeChange({ diff: 1 }, 1, 0),
    /Column "diff" clashes with the "diff" field/,
  );
  assert.throws(() => encodeChange({ a: NaN, time: 1 }, 1, 0), /Column "time" clashes/);
});

Deno.test("encodeChange refuses values with no faithful JSON form, naming the column", () => {
  const withMap = { m: new Map() } as unknown as Row;
  assert.throws(
    () => encodeChange(withMap, 1, 0),
    /Cannot encode column "m" as JSON: it holds an instance of Map/,
  );
  const withFunction = { o: { f: () => 1 } } as unknown as Row;
  assert.throws(() => encodeChange(withFunction, 1, 0), /column "o\.f" .* a function/);
});

Deno.test("encodeChange output parses back to the row plus diff and time, for random plain rows", () => {
  let seed = 11;
  const random = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  const values: (() => Value)[] = [
    () => random(1000) - 500,
    () => random(1000) / 7,
    () => ["", 'a"b', "\u2713", "\n\t\\", "\ud83d\ude00"][random(5)],
    () => random(2) === 0,
    () => null,
    () => [random(10), "x"],
    () => ({ k: random(3) }),
  ];
  for (let trial = 0; trial < 300; trial++) {
    const row: Record<string, Value> = {};
    for (let c = random(5); c > 0; c--) row[`c${random(8)}`] = values[random(values.length)]();
    const diff = random(2) === 0 ? 1 : -1;
    const text = encodeChange(row, diff, trial);
    assert.deepEqual(JSON.parse(text), { ...row, diff, time: trial }, text);
    assert.deepEqual(Object.keys(JSON.parse(text)), [...Object.keys(row), "diff", "time"]);
  }
});
