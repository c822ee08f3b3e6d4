/**
 * The one-row fast path of the csv and json decoders (`decodeRow`) must agree
 * with `decode` wherever it answers: the same row, or the same error. Checked
 * over edge cases and seeded random messages, and that it does answer for the
 * common messages (else the fast path would be dead code).
 */
import assert from "node:assert/strict";
import { csv } from "../../formats/csv.ts";
import { json } from "../../formats/json.ts";
import type { Decoder, FormatOptions, MessageInfo } from "../../formats/format.ts";
import type { Row } from "../../engine/types.ts";

const seed = Number(Deno.env.get("RIVULET_DECODE_SEED") ?? Date.now() % 2 ** 31);
const encoder = new TextEncoder();

function generator(start: number): () => number {
  let state = start >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

type Outcome = { row: Row } | { rows: readonly Row[] } | { wait: true } | { error: string };

function outcome(run: () => Row | { kind: string; rows?: readonly Row[] }): Outcome {
  try {
    const result = run();
    if ("kind" in result && typeof result.kind === "string" && !("value" in result)) {
      if (result.kind === "wait") return { wait: true };
      if (result.kind === "rows" && Array.isArray(result.rows)) return { rows: result.rows };
    }
    return { row: result as Row };
  } catch (error) {
    const { name, message, code, column } = error as Error & { code?: string; column?: string };
    return { error: JSON.stringify({ name, message, code, column }) };
  }
}

/**
 * Offers one message to two decoders in the same state: `decodeRow` on one,
 * `decode` on the other. Returns whether the fast path answered.
 */
function compare(fast: Decoder, slow: Decoder, bytes: Uint8Array, info: MessageInfo): boolean {
  let answered = false;
  const viaFast = outcome(() => {
    const row = fast.decodeRow!(bytes, info);
    if (row !== undefined) {
      answered = true;
      return row;
    }
    return fast.decode(bytes, info);
  });
  const viaSlow = outcome(() => slow.decode(bytes, info));
  const expected: Outcome = "rows" in viaSlow && viaSlow.rows.length === 1 && answered
    ? { row: viaSlow.rows[0] }
    : viaSlow;
  assert.deepEqual(
    viaFast,
    expected,
    `${JSON.stringify(new TextDecoder().decode(bytes))} at ${info.partition}@${info.offset} ` +
      `(seed ${seed}, RIVULET_DECODE_SEED repeats it)`,
  );
  return answered;
}

const csvPieces = [
  "17",
  "a",
  "",
  " ",
  ",",
  '"',
  '""',
  "\n",
  "\r\n",
  "\r",
  "x,y",
  "é",
  "🚀",
  "1,2,3",
];
const jsonTexts = [
  '{"k":1,"v":2}',
  '{"k":"a","v":null}',
  '{"k":1}',
  '{"v":2}',
  "[1,2]",
  "17",
  "null",
  "",
  " ",
  "{",
  '{"k":1,"v":2}\n{"k":3,"v":4}',
  '{"k":1,"v":2}\n',
  '{"k":12345678901234567890,"v":1}',
  '{"k":{"a":1},"v":[1,2]}',
  '{"__proto__":1,"k":1,"v":1}',
];

function randomText(random: () => number, pieces: readonly string[]): string {
  let text = "";
  const count = Math.floor(random() * 4);
  for (let i = 0; i < count; i++) text += pieces[Math.floor(random() * pieces.length)];
  return text;
}

const csvOptions: FormatOptions[] = [
  { valueColumns: ["value"] },
  { valueColumns: ["value"], header: ["value"] },
  { valueColumns: ["b", "a"], header: ["a", "b"] },
  { header: ["a", "b", "c"] },
  { valueColumns: ["a"] },
];

Deno.test(`csv decodeRow agrees with decode on random messages (seed ${seed})`, () => {
  const random = generator(seed);
  let answered = 0;
  let offered = 0;
  for (const options of csvOptions) {
    const fast = csv.open("t", options);
    const slow = csv.open("t", options);
    // Partition 0 from offset 0: the first message is the header unless one is given.
    const header = options.header === undefined ? ["value", "a", "a,b", ""][offered % 4] : "";
    for (let offset = 0; offset < 2_000; offset++) {
      const text = offset === 0 && options.header === undefined
        ? header
        : random() < 0.6
        ? String(Math.floor(random() * 1000))
        : randomText(random, csvPieces);
      const partition = random() < 0.9 ? 0 : 1;
      const info = { topic: "t", partition, offset: String(partition === 0 ? offset : offset + 5) };
      if (compare(fast, slow, encoder.encode(text), info)) answered++;
      offered++;
    }
    assert.deepEqual(fast.save(), slow.save());
  }
  // Headers that do not fit the numbers (three columns, a missing column) answer nothing.
  assert.ok(answered > offered / 10, `the fast path answered ${answered} of ${offered}`);
});

Deno.test(`json decodeRow agrees with decode on random messages (seed ${seed})`, () => {
  const random = generator(seed ^ 0x9e3779b9);
  let answered = 0;
  let offered = 0;
  const options: FormatOptions[] = [
    {},
    { valueColumns: ["k", "v"] },
    { valueColumns: ["k", "v"], optionalColumns: ["v"] },
    { valueColumns: ["k", "a"], fieldPaths: { a: "/k/a" } },
  ];
  for (const option of options) {
    const fast = json.open("t", option);
    const slow = json.open("t", option);
    for (let offset = 0; offset < 1_000; offset++) {
      const text = random() < 0.7
        ? jsonTexts[Math.floor(random() * jsonTexts.length)]
        : randomText(random, jsonTexts);
      if (
        compare(fast, slow, encoder.encode(text), { topic: "t", partition: 0, offset: `${offset}` })
      ) {
        answered++;
      }
      offered++;
    }
  }
  assert.ok(answered > offered / 4, `the fast path answered ${answered} of ${offered}`);
});

Deno.test("csv decodeRow answers the seed's messages and leaves the header message to decode", () => {
  const decoder = csv.open("t", { valueColumns: ["value"] });
  const at = (offset: number) => ({ topic: "t", partition: 0, offset: String(offset) });
  assert.equal(decoder.decodeRow!(encoder.encode("value"), at(0)), undefined);
  assert.deepEqual(decoder.decode(encoder.encode("value"), at(0)), { kind: "rows", rows: [] });
  assert.deepEqual(decoder.decodeRow!(encoder.encode("17"), at(1)), { value: "17" });
  assert.equal(decoder.decodeRow!(encoder.encode('"17"'), at(2)), undefined);
  assert.equal(decoder.decodeRow!(encoder.encode(""), at(3)), undefined);
});

const flatKeys = ["k", "v", "v", "k", "x", "kk", "__proto__", "é"];
const flatValues = [
  "0",
  "-0",
  "7",
  "-42",
  "007",
  "123456789012345",
  "-123456789012345",
  "1234567890123456",
  "12345678901234567890",
  "1.5",
  "1e3",
  "-",
  "true",
  "false",
  "null",
  "tru",
  '"a"',
  '""',
  '"with space"',
  '"esc\\"aped"',
  '"tab\\t"',
  '"ü"',
  '"' + "x".repeat(300) + '"',
  '"0123456789abcdef"',
  "[1]",
  '{"a":1}',
];

/** Compact flat objects over a few keys, with the odd space, duplicate or bad token. */
function randomFlatObject(random: () => number): string {
  const count = Math.floor(random() * 4);
  const fields: string[] = [];
  for (let i = 0; i < count; i++) {
    const key = flatKeys[Math.floor(random() * flatKeys.length)];
    const value = flatValues[Math.floor(random() * flatValues.length)];
    fields.push(random() < 0.05 ? `"${key}" : ${value}` : `"${key}":${value}`);
  }
  const body = `{${fields.join(",")}}`;
  const pick = random();
  if (pick < 0.03) return `${body}\n`;
  if (pick < 0.06) return ` ${body}`;
  if (pick < 0.08) return body.slice(0, -1);
  return body;
}

Deno.test(`json decodeRow agrees with decode on compact flat objects (seed ${seed})`, () => {
  const random = generator(seed ^ 0x27d4eb2f);
  const options: FormatOptions[] = [
    { valueColumns: ["k", "v"] },
    { valueColumns: ["v", "k"], optionalColumns: ["v"] },
    { valueColumns: ["k"] },
    {},
  ];
  let answered = 0;
  let offered = 0;
  for (const option of options) {
    const fast = json.open("t", option);
    const slow = json.open("t", option);
    for (let offset = 0; offset < 5_000; offset++) {
      // Half of them the benchmark's shape.
      const text = random() < 0.5
        ? `{"k":${Math.floor(random() * 20_000) - 10_000},"v":${Math.floor(random() * 100)}}`
        : randomFlatObject(random);
      const info = { topic: "t", partition: 0, offset: `${offset}` };
      if (compare(fast, slow, encoder.encode(text), info)) answered++;
      offered++;
    }
  }
  assert.ok(answered > offered / 3, `the fast path answered ${answered} of ${offered}`);
  // -0 stays -0, as JSON.parse gives it.
  const decoder = json.open("t", { valueColumns: ["k", "v"] });
  const row = decoder.decodeRow!(encoder.encode('{"k":-0,"v":1}'), {
    topic: "t",
    partition: 0,
    offset: "0",
  });
  assert.ok(row !== undefined && Object.is(row.k, -0));
});
