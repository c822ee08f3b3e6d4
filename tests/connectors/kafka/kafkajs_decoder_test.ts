/**
 * rivulet's replacement of kafkajs' record decoder (`kafkajs/_patches.ts`,
 * repair 5) must return the very record kafkajs' own decoder returns:
 * compared here over edge cases and random records (encoded by kafkajs' own
 * record encoder), in batches with small and huge first offsets and
 * timestamps, create and append time.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createRequire } from "node:module";
import {
  decodeRecord,
  decodeRecordWithKafkajs,
  encodeRecordBothWays,
  type RecordBatchContext,
  type RecordDecoderInput,
  type RecordInput,
} from "../../../connectors/kafka/kafkajs/_patches.ts";

/** Random records come from this seed: `RIVULET_DECODER_SEED` repeats a failed run. */
const seed = Number(Deno.env.get("RIVULET_DECODER_SEED") ?? Date.now() % 2 ** 31);

const require = createRequire(import.meta.resolve("kafkajs"));
const Decoder = require(require.resolve("./src/protocol/decoder.js")) as new (
  buffer: Buffer,
) => RecordDecoderInput;

/** mulberry32, seedable, so that a failure names the seed that repeats it. */
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

const deltas = [
  0,
  1,
  -1,
  63,
  64,
  -64,
  -65,
  8191,
  8192,
  2 ** 31 - 1,
  -(2 ** 31),
  2 ** 31,
  2 ** 48 - 1,
  2 ** 48,
  -(2 ** 48),
  -(2 ** 48) - 1,
  2 ** 49,
  1_795_590_014_323,
  -1_795_590_014_323,
  2 ** 53 - 1,
  -(2 ** 53 - 1),
];

const firstOffsets = [
  "0",
  "1",
  "41",
  "9007199254740000",
  "9007199254740991",
  "9223372036854775000",
];
const firstTimestamps = ["-1", "0", "1795590014323", "9007199254740991", "9223372036854775000"];

const contexts: RecordBatchContext[] = [];
for (const firstOffset of firstOffsets) {
  for (const firstTimestamp of firstTimestamps) {
    for (const timestampType of [0, 1, -1]) {
      contexts.push({
        firstOffset,
        firstTimestamp,
        magicByte: 2,
        isControlBatch: firstOffset === "41",
        timestampType,
        maxTimestamp: timestampType === 1 ? "1795590099999" : firstTimestamp,
      });
    }
  }
}

/** The record's bytes as kafkajs' own record encoder writes them (checked against rivulet's). */
function encoded(record: RecordInput): Buffer {
  return Buffer.from(encodeRecordBothWays(record).kafkajs);
}

/** Decodes with one decoder from `at`: the record and where the decoder was left, or the error. */
function outcome(
  decode: (decoder: RecordDecoderInput, context: RecordBatchContext) => unknown,
  bytes: Buffer,
  at: number,
  context: RecordBatchContext,
): unknown {
  const decoder = new Decoder(bytes);
  decoder.offset = at;
  try {
    return { record: decode(decoder, context), offset: decoder.offset };
  } catch (error) {
    return { error: String(error) };
  }
}

function assertSameRecord(
  bytes: Buffer,
  context: RecordBatchContext,
  at: number,
  note: () => string,
): void {
  const rivulet = outcome(decodeRecord, bytes, at, context);
  const kafkajs = outcome(decodeRecordWithKafkajs, bytes, at, context);
  try {
    assert.deepEqual(rivulet, kafkajs);
  } catch {
    assert.fail(`${note()}: ${describe(rivulet)} is not ${describe(kafkajs)}`);
  }
}

/** A record's body without its length prefix, at `at` in a buffer (as kafkajs' batch decoder hands it). */
function body(record: RecordInput, padding = 0): [Buffer, number] {
  const bytes = encoded(record);
  // Skip the length varint the encoder writes in front of the body.
  let at = 0;
  while (bytes[at] >= 0x80) at++;
  at++;
  return [Buffer.concat([Buffer.alloc(padding), bytes.subarray(at)]), padding];
}

Deno.test("the replacement record decoder is the one kafkajs' record batch decoder uses", () => {
  const inCache = require(
    require.resolve("./src/protocol/recordBatch/record/v0/decoder.js"),
  );
  assert.equal(inCache, decodeRecord);
  // Kafka's record format by hand: attributes, timestamp delta 2 and offset delta 1
  // (zig-zag varints), key "k" and value "v" with their lengths, no headers.
  const bytes = Buffer.from("00" + "04" + "02" + "026b" + "0276" + "00", "hex");
  const record = decodeRecord(new Decoder(bytes), {
    firstOffset: "100",
    firstTimestamp: "1795590014323",
    timestampType: 0,
  });
  assert.equal(record.offset, "101");
  assert.equal(record.timestamp, "1795590014325");
  assert.equal(record.key?.toString(), "k");
  assert.equal(record.value?.toString(), "v");
  assert.deepEqual(record.headers, {});
});

Deno.test("the replacement record decoder returns kafkajs' record for every edge case", () => {
  let count = 0;
  const keys = [null, "", "k", "grüße", Buffer.from([0, 255, 128]), "x".repeat(300)];
  const headerSets = [
    undefined,
    {},
    { a: "1" },
    { "ü": Buffer.from("x") },
    { many: ["1", "2", "3"] },
    { a: "1", b: "" },
  ];
  let records = 0;
  for (const key of keys) {
    for (const timestampDelta of deltas) {
      for (const offsetDelta of [0, 1, 127, 128, 2 ** 31 - 1]) {
        const headers = headerSets[records % headerSets.length];
        const record: RecordInput = { key, value: "v", offsetDelta, timestampDelta };
        if (headers !== undefined) record.headers = headers;
        const [bytes, at] = body(record, records % 3);
        records++;
        for (const context of contexts) {
          assertSameRecord(
            bytes,
            context,
            at,
            () => `edge case ${describe(record)} in ${describe(context)}`,
          );
          count++;
        }
      }
    }
  }
  assert.ok(count > 10_000, `only ${count} edge cases compared`);
});

Deno.test(`the replacement record decoder returns kafkajs' record for 10,000 random records (seed ${seed})`, () => {
  const random = generator(seed);
  for (let i = 0; i < 10_000; i++) {
    const pickDelta = () =>
      random() < 0.5
        ? deltas[Math.floor(random() * deltas.length)]
        : Math.floor(random() * 2e5) - 1e5;
    const field = () => {
      const pick = random();
      if (pick < 0.2) return null;
      const bytes = Buffer.alloc(Math.floor(random() * 100));
      for (let j = 0; j < bytes.length; j++) bytes[j] = Math.floor(random() * 256);
      return bytes;
    };
    const record: RecordInput = {
      key: field(),
      value: field(),
      offsetDelta: Math.floor(random() * 2 ** 31),
      timestampDelta: pickDelta(),
    };
    if (random() < 0.3) record.headers = { h: field() ?? "", [`n${i % 3}`]: ["a", "b"] };
    const context = contexts[Math.floor(random() * contexts.length)];
    const [bytes, at] = body(record, Math.floor(random() * 4));
    assertSameRecord(
      bytes,
      context,
      at,
      () => `record ${i} of seed ${seed} (RIVULET_DECODER_SEED=${seed} repeats it)`,
    );
  }
});

Deno.test("the replacement record decoder treats truncated records as kafkajs' decoder does", () => {
  let count = 0;
  for (const timestampDelta of [3, 2 ** 40, 2 ** 53 - 1]) {
    const [bytes] = body({
      key: "key",
      value: "value",
      offsetDelta: 300,
      timestampDelta,
      headers: { h: "1" },
    });
    for (let end = 0; end <= bytes.length; end++) {
      for (const context of [contexts[7], contexts[0]]) {
        assertSameRecord(bytes.subarray(0, end), context, 0, () => `the first ${end} bytes`);
        count++;
      }
    }
  }
  assert.ok(count > 60, `only ${count} truncations compared`);
});

function describe(value: unknown): string {
  return Deno.inspect(value, { depth: 3, strAbbreviateSize: 40, iterableLimit: 8 });
}
