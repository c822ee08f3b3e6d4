import assert from "node:assert/strict";
import { raw } from "../../formats/raw.ts";

Deno.test("raw format gives the key and the value as bytes, untouched and copied", () => {
  const value = new Uint8Array([0xff, 0x00, 0x41]);
  const key = new Uint8Array([0x6b]);
  const result = raw.open("logs", {}).decode(value, {
    topic: "logs",
    partition: 0,
    offset: "0",
    key,
  });
  assert.deepEqual(result, { kind: "rows", rows: [{ key: new Uint8Array([0x6b]), data: value }] });
  // Copies: a client reusing its fetch buffer cannot change a row.
  value[0] = 0;
  key[0] = 0;
  assert.equal(result.kind === "rows" && (result.rows[0].data as Uint8Array)[0], 0xff);
  assert.equal(result.kind === "rows" && (result.rows[0].key as Uint8Array)[0], 0x6b);
});

Deno.test("raw format gives a null key for a message without one", () => {
  assert.deepEqual(
    raw.open("logs", {}).decode(new Uint8Array(0), { topic: "logs", partition: 0, offset: "0" }),
    { kind: "rows", rows: [{ key: null, data: new Uint8Array(0) }] },
  );
});
