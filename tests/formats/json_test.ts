import assert from "node:assert/strict";
import { type DecodeResult, FormatError, type FormatOptions } from "../../formats/format.ts";
import { json } from "../../formats/json.ts";

const encoder = new TextEncoder();

function decode(text: string, options: FormatOptions = {}): DecodeResult {
  return json.open("events", options).decode(encoder.encode(text), {
    topic: "events",
    partition: 0,
    offset: "0",
  });
}

function firstRow(text: string, options: FormatOptions = {}) {
  const result = decode(text, options);
  assert.equal(result.kind, "rows");
  return result.kind === "rows" ? result.rows[0] : undefined;
}

function formatError(text: string, options: FormatOptions = {}): FormatError {
  try {
    decode(text, options);
  } catch (error) {
    assert.ok(error instanceof FormatError, `expected a FormatError, got ${error}`);
    return error;
  }
  assert.fail(`expected ${JSON.stringify(text)} to be bad input`);
}

Deno.test("json format keeps JSON types", () => {
  assert.deepEqual(
    firstRow('{"s":"x","n":1.5,"i":-3,"t":true,"f":false,"z":null,"a":[1,"b"],"o":{"k":[]}}'),
    { s: "x", n: 1.5, i: -3, t: true, f: false, z: null, a: [1, "b"], o: { k: [] } },
  );
});

Deno.test("json format reads integers beyond 2^53 as exact bigints", () => {
  assert.deepEqual(
    firstRow(
      '{"big":12345678901234567890,"neg":-9007199254740993,"edge":9007199254740992,"nested":[{"x":99999999999999999999}]}',
    ),
    {
      big: 12345678901234567890n,
      neg: -9007199254740993n,
      edge: 9007199254740992n,
      nested: [{ x: 99999999999999999999n }],
    },
  );
});

Deno.test("json format keeps safe integers, fractions, exponents and digit strings as they are", () => {
  assert.deepEqual(
    firstRow(
      '{"safe":9007199254740991,"frac":12345678901234567890.5,"exp":1e20,"text":"12345678901234567890"}',
    ),
    {
      safe: 9007199254740991,
      frac: 12345678901234567890.5,
      exp: 1e20,
      text: "12345678901234567890",
    },
  );
});

Deno.test("json format reads one object per line, skipping blank lines", () => {
  assert.deepEqual(decode('{"a":1}\r\n\n  \n{"a":2}\n'), {
    kind: "rows",
    rows: [{ a: 1 }, { a: 2 }],
  });
});

Deno.test("json format reads a pretty-printed object spanning lines as one row", () => {
  assert.deepEqual(decode('{\n  "a": 1,\n  "b": [\n    2\n  ]\n}\n'), {
    kind: "rows",
    rows: [{ a: 1, b: [2] }],
  });
});

Deno.test("json format selects value columns in their order and ignores extra fields", () => {
  const row = firstRow('{"c":3,"a":1,"b":2}', { valueColumns: ["b", "a"] });
  assert.deepEqual(row, { b: 2, a: 1 });
  assert.deepEqual(Object.keys(row!), ["b", "a"]);
});

Deno.test("json format takes a present null as a value, not a missing column", () => {
  assert.deepEqual(firstRow('{"a":null}', { valueColumns: ["a"] }), { a: null });
});

Deno.test("json format reports a missing value column, naming it", () => {
  const error = formatError('{"a":1}', { valueColumns: ["a", "toString"] });
  assert.equal(error.code, "missing_column");
  assert.equal(error.column, "toString");
  assert.match(error.message, /The message has no field "toString" \(topic "events"\)/);
  const inLine = formatError('{"a":1,"b":2}\n{"a":3}', { valueColumns: ["a", "b"] });
  assert.match(inLine.message, /Line 2 of the message has no field "b"/);
});

Deno.test("json format rejects JSON values that are not objects", () => {
  for (
    const [text, what] of [
      ["[1,2]", "an array"],
      ['"text"', "a string"],
      ["42", "a number"],
      ["true", "a boolean"],
      ["null", "null"],
    ]
  ) {
    const error = formatError(text);
    assert.equal(error.code, "malformed");
    assert.match(error.message, new RegExp(`The message is ${what}, not a JSON object`));
  }
  assert.match(formatError('{"a":1}\n[2]').message, /Line 2 of the message is an array/);
});

Deno.test("json format reports invalid JSON as malformed, naming the line", () => {
  const whole = formatError('{"a":');
  assert.equal(whole.code, "malformed");
  assert.match(whole.message, /not valid JSON .*: "\{\\"a\\":"/);
  const line = formatError('{"a":1}\n{"a":2\n{"a":3}');
  assert.match(line.message, /^Line 2: not valid JSON/);
});

Deno.test("json format reports an empty or blank message as malformed rather than drop it", () => {
  assert.match(formatError("").message, /holds no JSON object/);
  assert.match(formatError("\n \n").message, /holds no JSON object/);
});

Deno.test("json format keeps every field when no value columns are given", () => {
  assert.deepEqual(firstRow('{"diff":-1,"time":5,"sum":3}'), { diff: -1, time: 5, sum: 3 });
});

Deno.test("json format refuses __proto__ as a value column", () => {
  assert.throws(
    () => json.open("events", { valueColumns: ["__proto__"] }),
    /"__proto__" is not allowed/,
  );
});

Deno.test("json format reports bytes that are not UTF-8 as invalid_utf8", () => {
  const decoder = json.open("events", {});
  assert.throws(
    () =>
      decoder.decode(new Uint8Array([0x7b, 0xc0, 0x7d]), {
        topic: "events",
        partition: 0,
        offset: "1",
      }),
    (error: unknown) => error instanceof FormatError && error.code === "invalid_utf8",
  );
});
