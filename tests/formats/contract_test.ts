/**
 * The shared contract run against every format: the built-ins and a user
 * format loaded from a file with loadFormat.
 */

import { fileURLToPath } from "node:url";
import { csv } from "../../formats/csv.ts";
import { json } from "../../formats/json.ts";
import { loadFormat } from "../../formats/mod.ts";
import { plaintext } from "../../formats/plaintext.ts";
import { raw } from "../../formats/raw.ts";
import { formatContract } from "./contract.ts";

const notUtf8 = new Uint8Array([0x68, 0xff, 0xfe]);
const truncatedUtf8 = new Uint8Array([0x61, 0xc3]);
const repoRoot = fileURLToPath(new URL("../../", import.meta.url));

const bytes = (text: string) => new TextEncoder().encode(text);

formatContract("raw", raw, {
  options: { valueColumns: ["key", "data"] },
  stream: [
    { value: "hello", expect: { kind: "rows", rows: [{ key: null, data: bytes("hello") }] } },
    {
      value: notUtf8,
      key: "k1",
      expect: { kind: "rows", rows: [{ key: bytes("k1"), data: notUtf8 }] },
    },
    {
      value: "a,b\nc",
      partition: 1,
      key: notUtf8,
      expect: { kind: "rows", rows: [{ key: notUtf8, data: bytes("a,b\nc") }] },
    },
    { value: "", expect: { kind: "rows", rows: [{ key: null, data: new Uint8Array(0) }] } },
  ],
  acceptsAnyBytes: true,
  badInputs: [],
});

formatContract("plaintext", plaintext, {
  options: { valueColumns: ["key", "data"] },
  stream: [
    { value: "hello", expect: { kind: "rows", rows: [{ key: null, data: "hello" }] } },
    { value: "a,b\nc", key: "k", expect: { kind: "rows", rows: [{ key: "k", data: "a,b\nc" }] } },
    { value: "  spaced  ", expect: { kind: "rows", rows: [{ key: null, data: "  spaced  " }] } },
    {
      value: "héllo ✓",
      partition: 1,
      key: "ключ",
      expect: { kind: "rows", rows: [{ key: "ключ", data: "héllo ✓" }] },
    },
    { value: "", expect: { kind: "rows", rows: [{ key: null, data: "" }] } },
  ],
  badInputs: [
    { value: notUtf8, code: "invalid_utf8" },
    { value: truncatedUtf8, code: "invalid_utf8" },
  ],
});

formatContract("csv", csv, {
  options: { valueColumns: ["b", "a"] },
  stream: [
    { value: "1,2,3", partition: 1, expect: { kind: "wait" } },
    { value: "a,b,c\n4,5,6", expect: { kind: "rows", rows: [{ b: "5", a: "4" }] } },
    { value: "1,2,3", partition: 1, expect: { kind: "rows", rows: [{ b: "2", a: "1" }] } },
    {
      value: '"x, y","say ""hi""",z',
      expect: { kind: "rows", rows: [{ b: 'say "hi"', a: "x, y" }] },
    },
    { value: "a,b,c", expect: { kind: "rows", rows: [{ b: "b", a: "a" }] } },
    {
      value: "7,8,9\r\n10,11,12\r\n",
      partition: 2,
      expect: { kind: "rows", rows: [{ b: "8", a: "7" }, { b: "11", a: "10" }] },
    },
    { value: "", expect: { kind: "rows", rows: [] } },
  ],
  badInputs: [
    { value: "1,2", code: "malformed" },
    { value: "1,2,3\n4,5,6,7", code: "malformed" },
    { value: '"open,2,3', code: "malformed" },
    { value: notUtf8, code: "invalid_utf8" },
  ],
});

formatContract("json", json, {
  options: { valueColumns: ["id", "tags"] },
  stream: [
    {
      value: '{"id":1,"tags":["a"],"extra":true}',
      expect: { kind: "rows", rows: [{ id: 1, tags: ["a"] }] },
    },
    {
      value: '{"id":2,"tags":null}\n{"id":3.5,"tags":{"x":false}}\n',
      partition: 1,
      expect: { kind: "rows", rows: [{ id: 2, tags: null }, { id: 3.5, tags: { x: false } }] },
    },
    {
      value: '{\n  "id": "4",\n  "tags": []\n}',
      expect: { kind: "rows", rows: [{ id: "4", tags: [] }] },
    },
    {
      value: '{"id":12345678901234567890,"tags":[9007199254740993,1]}',
      expect: {
        kind: "rows",
        rows: [{ id: 12345678901234567890n, tags: [9007199254740993n, 1] }],
      },
    },
  ],
  badInputs: [
    { value: '{"id":1}', code: "missing_column" },
    { value: "[1,2]", code: "malformed" },
    { value: '"text"', code: "malformed" },
    { value: '{"id":', code: "malformed" },
    { value: "", code: "malformed" },
    { value: '{"id":1,"tags":2}\n{bad', code: "malformed" },
    { value: notUtf8, code: "invalid_utf8" },
  ],
});

formatContract(
  "kv (user format from a file)",
  () => loadFormat("./examples/formats/kv.ts", { cwd: repoRoot }),
  {
    options: { valueColumns: ["user", "clicks"] },
    stream: [
      {
        value: "user=ada;clicks=3",
        expect: { kind: "rows", rows: [{ user: "ada", clicks: "3" }] },
      },
      {
        value: "clicks=1;user=bob;x=y\r\nuser=cy;clicks=0;",
        partition: 3,
        expect: { kind: "rows", rows: [{ user: "bob", clicks: "1" }, { user: "cy", clicks: "0" }] },
      },
    ],
    badInputs: [
      { value: "user=ada", code: "missing_column" },
      { value: "garbage", code: "malformed" },
      { value: notUtf8, code: "invalid_utf8" },
    ],
  },
);
