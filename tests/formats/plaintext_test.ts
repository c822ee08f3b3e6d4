import assert from "node:assert/strict";
import { FormatError } from "../../formats/format.ts";
import { plaintext } from "../../formats/plaintext.ts";

const info = { topic: "logs", partition: 0, offset: "0" };

Deno.test("plaintext format puts the whole value, untouched, in the data column", () => {
  const decoder = plaintext.open("logs", {});
  const text = '  {"not":"parsed"},\r\nsecond line \u2713 ';
  assert.deepEqual(decoder.decode(new TextEncoder().encode(text), info), {
    kind: "rows",
    rows: [{ key: null, data: text }],
  });
});

Deno.test("plaintext format gives an empty string for a message without a value", () => {
  assert.deepEqual(plaintext.open("logs", {}).decode(new Uint8Array(0), info), {
    kind: "rows",
    rows: [{ key: null, data: "" }],
  });
});

Deno.test("plaintext format reports bytes that are not UTF-8 instead of replacing them", () => {
  assert.throws(
    () => plaintext.open("logs", {}).decode(new Uint8Array([0xe2, 0x28, 0xa1]), info),
    (error: unknown) =>
      error instanceof FormatError && error.code === "invalid_utf8" &&
      /starting "e228a1"/.test(error.message),
  );
});

Deno.test("plaintext format keeps no state", () => {
  const decoder = plaintext.open("logs", {});
  decoder.decode(new TextEncoder().encode("x"), info);
  assert.equal(decoder.save(), null);
});

Deno.test("plaintext format decodes short and long text the same way, ASCII or not", () => {
  const decoder = plaintext.open("logs", {});
  for (
    const text of ["", "a", "x".repeat(32), "x".repeat(33), "é".repeat(16), "y".repeat(31) + "é"]
  ) {
    assert.deepEqual(decoder.decode(new TextEncoder().encode(text), info), {
      kind: "rows",
      rows: [{ key: null, data: text }],
    });
  }
  for (const bad of [[0x80], [0x61, 0xc3], new Array(40).fill(0x61).concat([0xff])]) {
    assert.throws(() => decoder.decode(new Uint8Array(bad), info), FormatError);
  }
});
