import assert from "node:assert/strict";
import {
  encodeDsvChange,
  OutputOptionsError,
  outputRecordEncoder,
  textOf,
} from "../../formats/encode_output.ts";
import type { Change } from "../../engine/types.ts";

const id = "0123456789abcdef0123456789abcdef";
const change = (row: Change["row"], diff = 1): Change => ({ id, row, diff });

Deno.test("dsv: every field quoted, quotes doubled, time then diff last, as Pathway writes it", () => {
  assert.equal(
    encodeDsvChange({ a: 'say "hi"', b: 1.5, c: true, d: null }, -1, 1700000000000, ","),
    '"say ""hi""","1.5","true","","1700000000000","-1"',
  );
  assert.equal(encodeDsvChange({}, 1, 7, ";"), '"7";"1"');
  assert.equal(encodeDsvChange({ x: "a\tb" }, 1, 2, "\t"), '"a\tb"\t"2"\t"1"');
});

Deno.test("dsv: bigints exact, bytes base64, dates ISO, arrays and objects JSON, NaN as a word", () => {
  assert.equal(
    encodeDsvChange(
      {
        big: 12345678901234567890n,
        bytes: Uint8Array.from([0, 255]),
        at: new Date(Date.UTC(2024, 0, 2, 3, 4, 5)),
        list: [1, "x"],
        obj: { k: 2n },
        nan: NaN,
        neg0: -0,
      },
      1,
      3,
      ",",
    ),
    '"12345678901234567890","AP8=","2024-01-02T03:04:05.000Z","[1,""x""]","{""k"":2}","NaN","0","3","1"',
  );
});

Deno.test("textOf gives keys and headers the same text as dsv fields", () => {
  assert.equal(textOf(42, "n"), "42");
  assert.equal(textOf(false, "b"), "false");
  assert.equal(textOf(2n ** 70n, "big"), "1180591620717411303424");
  assert.equal(textOf("ünï", "s"), "ünï");
});

Deno.test("json (the default) is encodeChange's record", () => {
  const encoder = outputRecordEncoder({});
  assert.equal(encoder.value(change({ sum: 45 }), 9), '{"sum":45,"diff":1,"time":9}');
  assert.equal(encoder.key, undefined, "the row id stays the key");
  assert.equal(encoder.headers, undefined, "no headers");
  assert.equal(encoder.topic, undefined, "one topic");
});

Deno.test("plaintext and raw: one column, with pathway_time and pathway_diff headers", () => {
  const text = outputRecordEncoder({ format: "plaintext" }, ["line"]);
  assert.equal(text.value(change({ line: "hello" }), 5), "hello");
  assert.deepEqual(text.headers!(change({ line: "hello" }, -1), 5), {
    pathway_time: "5",
    pathway_diff: "-1",
  });
  const raw = outputRecordEncoder({ format: "raw", value: "b", headers: ["n"] }, ["b", "n"]);
  const bytes = Uint8Array.from([0xff, 0]);
  assert.equal(raw.value(change({ b: bytes, n: 3 }), 1), bytes);
  assert.deepEqual(raw.headers!(change({ b: bytes, n: 3 }), 1), {
    pathway_time: "1",
    pathway_diff: "1",
    n: "3",
  });
  // Columns unknown up front: the row must have exactly one.
  const unknown = outputRecordEncoder({ format: "plaintext" });
  assert.equal(unknown.value(change({ only: "x" }), 1), "x");
  assert.throws(() => unknown.value(change({ a: "x", b: "y" }), 1), /writes one column.*row 0123/);
});

Deno.test("plaintext refuses a value that is not text, naming the column and the row", () => {
  const encoder = outputRecordEncoder({ format: "plaintext" }, ["n"]);
  assert.throws(
    () => encoder.value(change({ n: 5 }), 1),
    /column "n" of row 0123\w+ holds the number 5/,
  );
  assert.throws(
    () => encoder.value(change({ n: Uint8Array.from([1]) }), 1),
    /holds 1 bytes: use the raw format/,
  );
  const raw = outputRecordEncoder({ format: "raw" }, ["n"]);
  assert.throws(() => raw.value(change({ n: null }), 1), /raw output format writes bytes.*null/);
});

Deno.test("key column: text of its value, bytes as they are; a null key is an error", () => {
  const encoder = outputRecordEncoder({ key: "user" }, ["user", "n"]);
  assert.equal(encoder.key!(change({ user: 42, n: 1 })), "42");
  const bytes = Uint8Array.from([1, 2]);
  assert.equal(encoder.key!(change({ user: bytes, n: 1 })), bytes);
  assert.throws(
    () => encoder.key!(change({ user: null, n: 1 })),
    /key column "user" of row 0123\w+ has no value \(null\)/,
  );
});

Deno.test("headers: named after their columns, null leaves the header out", () => {
  const encoder = outputRecordEncoder({ headers: ["a", "b"] }, ["a", "b", "c"]);
  assert.deepEqual(encoder.headers!(change({ a: "x", b: null, c: 1 }), 1), { a: "x" });
});

Deno.test("topic column: a non-empty string, else an error naming the column and the row", () => {
  const encoder = outputRecordEncoder({ topicColumn: "t" }, ["t"]);
  assert.equal(encoder.topic!(change({ t: "events" })), "events");
  assert.throws(() => encoder.topic!(change({ t: "" })), /topic column "t" .* an empty string/);
  assert.throws(() => encoder.topic!(change({ t: 3 })), /holds the number 3/);
  assert.throws(() => encoder.topic!(change({})), /holds nothing \(the column is missing\)/);
});

Deno.test("options that cannot work are refused before anything runs", () => {
  const refused: [Parameters<typeof outputRecordEncoder>[0], string[] | undefined, RegExp][] = [
    [{ format: "xml" as "json" }, undefined, /Output format "xml" is not one of json, dsv/],
    [{ format: "json", delimiter: ";" }, undefined, /delimiter applies to the dsv/],
    [{ format: "dsv", delimiter: ";;" }, undefined, /one character/],
    [{ format: "dsv", delimiter: '"' }, undefined, /other than a double quote/],
    [{ format: "json", value: "a" }, ["a"], /value column applies to the plaintext and raw/],
    [{ format: "plaintext" }, ["a", "b"], /writes one column, but the table has 2 \(a, b\)/],
    [{ key: "nope" }, ["a"], /key column "nope" is not a column of the table \(a\)/],
    [{ headers: ["pathway_time"] }, ["pathway_time"], /clashes with the header rivulet writes/],
    [{ headers: ["a", "a"] }, ["a"], /named twice/],
    [{ topicColumn: "" }, ["a"], /topic column name is empty/],
  ];
  for (const [options, columns, message] of refused) {
    assert.throws(() => outputRecordEncoder(options, columns), (e: Error) => {
      assert.ok(e instanceof OutputOptionsError);
      assert.match(e.message, message);
      return true;
    });
  }
});
