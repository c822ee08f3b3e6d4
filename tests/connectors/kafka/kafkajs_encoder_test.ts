/**
 * rivulet's replacement of kafkajs' record encoder (`kafkajs/_patches.ts`,
 * repairs 3 and 4) must write the very bytes kafkajs' own encoder writes:
 * compared here over edge cases and random records, against kafkajs' record
 * encoder with kafkajs' own varint writers.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createRequire } from "node:module";
import {
  crc32c,
  encodeProduceBothWays,
  encodeRecord,
  encodeRecordBothWays,
  messagesWithinOffset,
  type ProduceMessage,
  produceRequest,
  type ProduceRequestInput,
  type RecordInput,
} from "../../../connectors/kafka/kafkajs/_patches.ts";

/** Random records come from this seed: `RIVULET_ENCODER_SEED` repeats a failed run. */
const seed = Number(Deno.env.get("RIVULET_ENCODER_SEED") ?? Date.now() % 2 ** 31);

/** A small, seedable generator (mulberry32), so a failure names the seed that repeats it. */
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

const texts = [
  "",
  "k",
  "0123456789abcdef0123456789abcdef",
  '{"sum":45,"diff":1,"time":1795590014323}',
  "*COMMIT*",
  "\u0000\u0001\u007f control",
  "grüße",
  "日本語のキー",
  "emoji 🚀 pair",
  "lone \ud800 surrogate",
  "x".repeat(300),
  "é".repeat(200),
];

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
  -(2 ** 31) - 1,
  2 ** 32,
  1_795_590_014_323,
  -1_795_590_014_323,
  2 ** 53 - 1,
  -(2 ** 53 - 1),
];

type Field = string | Buffer | null | undefined;

function randomField(random: () => number): Field {
  const pick = random();
  if (pick < 0.1) return null;
  if (pick < 0.15) return undefined;
  if (pick < 0.45) return texts[Math.floor(random() * texts.length)];
  if (pick < 0.6) {
    // Random printable ASCII: the replacement's own path for strings.
    const length = Math.floor(random() * 200);
    return Array.from({ length }, () => String.fromCharCode(32 + Math.floor(random() * 95)))
      .join("");
  }
  if (pick < 0.7) {
    // Random code points, most of them beyond ASCII.
    const length = Math.floor(random() * 40);
    return Array.from({ length }, () => String.fromCodePoint(Math.floor(random() * 0x10ffff)))
      .filter((c) => c.length > 0).join("");
  }
  const bytes = Buffer.alloc(Math.floor(random() * 600));
  for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(random() * 256);
  return bytes;
}

function randomDelta(random: () => number, limit: number): number {
  const pick = random();
  if (pick < 0.3) return deltas[Math.floor(random() * deltas.length)];
  if (pick < 0.6) return Math.floor(random() * 200) - 100;
  return Math.round((random() * 2 - 1) * limit);
}

function randomHeaders(random: () => number): RecordInput["headers"] {
  const pick = random();
  if (pick < 0.55) return undefined;
  if (pick < 0.65) return {};
  const headers: Record<string, unknown> = {};
  const count = 1 + Math.floor(random() * 4);
  for (let i = 0; i < count; i++) {
    const name = `${texts[Math.floor(random() * texts.length)]}-${i}`;
    const value = randomField(random) ?? "";
    // kafkajs writes a header given several values as that many headers.
    headers[name] = random() < 0.2 ? [value, randomField(random) ?? "v"] : value;
  }
  return headers;
}

function randomRecord(random: () => number): RecordInput {
  const record: RecordInput = {
    key: randomField(random),
    value: randomField(random),
    offsetDelta: Math.abs(randomDelta(random, 2 ** 31 - 1) | 0),
    timestampDelta: randomDelta(random, random() < 0.5 ? 2 ** 31 : 2 ** 53 - 1),
  };
  const headers = randomHeaders(random);
  if (headers !== undefined) record.headers = headers;
  return record;
}

/** Whether the replacement writes the record itself (else it hands it to kafkajs' encoder). */
function takesOwnPath(record: RecordInput): boolean {
  const simple = (field: Field | Uint8Array) =>
    field === null || field === undefined || Buffer.isBuffer(field) ||
    (typeof field === "string" && [...field].every((c) => c.charCodeAt(0) <= 0x7f));
  const delta = record.timestampDelta ?? 0;
  return (record.headers === undefined || Object.keys(record.headers).length === 0) &&
    simple(record.key) && simple(record.value) &&
    typeof delta === "number" && (delta | 0) === delta;
}

function describe(record: RecordInput): string {
  return Deno.inspect(record, { depth: 3, strAbbreviateSize: 60, iterableLimit: 8 });
}

function assertSameBytes(record: RecordInput, note: string): void {
  const { rivulet, kafkajs } = encodeRecordBothWays(record);
  assert.deepEqual(
    Buffer.from(rivulet).toString("hex"),
    Buffer.from(kafkajs).toString("hex"),
    `${note}: the encoders disagree on ${describe(record)}`,
  );
}

Deno.test("the replacement record encoder is the one kafkajs' produce request uses", () => {
  const require = createRequire(import.meta.resolve("kafkajs"));
  const inCache = require(require.resolve("./src/protocol/recordBatch/record/v0/index.js")) as (
    input: RecordInput,
  ) => unknown;
  assert.equal(inCache, encodeRecord);
  // And kafkajs' own encoder, which the comparisons below run, is another function.
  const record = { key: "k", value: "v", offsetDelta: 1, timestampDelta: 2 };
  const { rivulet, kafkajs } = encodeRecordBothWays(record);
  assert.equal(Buffer.from(rivulet).toString("hex"), Buffer.from(kafkajs).toString("hex"));
  // Kafka's record format, by hand: length 8, attributes, timestamp delta 2 and offset delta 1
  // (zig-zag varints), key "k" and value "v" with their lengths, no headers.
  assert.equal(
    Buffer.from(kafkajs).toString("hex"),
    "10" + "00" + "04" + "02" + "026b" + "0276" + "00",
  );
});

Deno.test("the replacement record encoder writes kafkajs' bytes for every edge case", () => {
  let count = 0;
  for (const key of [null, undefined, ...texts, Buffer.alloc(0), Buffer.from([0, 255, 128])]) {
    for (const value of [null, "v", texts[6], Buffer.from("bytes")]) {
      for (const timestampDelta of deltas) {
        for (const offsetDelta of [0, 1, 127, 128, 2 ** 31 - 1]) {
          assertSameBytes({ key, value, offsetDelta, timestampDelta }, "edge case");
          count++;
        }
      }
    }
  }
  for (const headers of [{}, { a: "1" }, { "ü": Buffer.from("x") }, { many: ["1", "2"] }]) {
    assertSameBytes({ key: "k", value: "v", offsetDelta: 0, timestampDelta: 0, headers }, "header");
    count++;
  }
  assert.ok(count > 5_000, `only ${count} edge cases compared`);
});

Deno.test(`the replacement record encoder writes kafkajs' bytes for 10,000 random records (seed ${seed})`, () => {
  const random = generator(seed);
  let own = 0;
  for (let i = 0; i < 10_000; i++) {
    const record = randomRecord(random);
    if (takesOwnPath(record)) own++;
    assertSameBytes(
      record,
      `record ${i} of seed ${seed} (RIVULET_ENCODER_SEED=${seed} repeats it)`,
    );
  }
  // Both the replacement's own path and its hand-over to kafkajs were compared, each many times.
  assert.ok(own > 2_000, `only ${own} of 10,000 records took the replacement's own path`);
  assert.ok(own < 8_000, `only ${10_000 - own} of 10,000 records went to kafkajs' encoder`);
});

/** Runs `body` with `Date.now` fixed, so both produce requests take the same time for untimed records. */
async function atFixedTime<T>(now: number, body: () => Promise<T>): Promise<T> {
  const realNow = Date.now;
  Date.now = () => now;
  try {
    return await body();
  } finally {
    Date.now = realNow;
  }
}

function randomProduceInput(random: () => number): ProduceRequestInput {
  const Long = createRequire(import.meta.resolve("kafkajs"))("./src/utils/long.js") as {
    fromNumber(value: number): unknown;
  };
  const topicData: ProduceRequestInput["topicData"][number][] = [];
  const topicCount = 1 + Math.floor(random() * 2);
  for (let t = 0; t < topicCount; t++) {
    const partitions = [];
    const partitionCount = 1 + Math.floor(random() * 3);
    for (let p = 0; p < partitionCount; p++) {
      const messages: ProduceMessage[] = [];
      const count = Math.floor(random() * 40);
      const timed = random();
      for (let i = 0; i < count; i++) {
        const record = randomRecord(random);
        const message: ProduceMessage = { key: record.key, value: record.value };
        if (record.headers !== undefined) message.headers = record.headers;
        // Untimed, timed as numbers (some far apart), or timed as text (kafkajs sorts it as text).
        if (timed > 0.6) {
          message.timestamp = 1_795_590_000_000 + Math.floor(random() * 10_000_000_000);
        } else if (timed > 0.4) {
          message.timestamp = String(1_795_590_000_000 + Math.floor(random() * 100_000));
        } else if (timed > 0.3 && random() < 0.5) {
          message.timestamp = 1_795_590_000_000 + Math.floor(random() * 1000);
        }
        messages.push(message);
      }
      partitions.push({ partition: p * 3, firstSequence: Math.floor(random() * 1000), messages });
    }
    topicData.push({ topic: `topic-${t}`, partitions });
  }
  const transactional = random() < 0.3;
  return {
    acks: random() < 0.8 ? -1 : 1,
    timeout: 30_000,
    ...(transactional ? { transactionalId: "rivulet-tx" } : {}),
    ...(random() < 0.5
      ? { producerId: Long.fromNumber(Math.floor(random() * 1e6)), producerEpoch: 3 }
      : {}),
    topicData,
  };
}

Deno.test("the replacement produce request is the one kafkajs' producer uses, for every version", () => {
  const require = createRequire(import.meta.resolve("kafkajs"));
  const v3 = require(require.resolve("./src/protocol/requests/produce/v3/request.js"));
  assert.equal(v3, produceRequest);
  const v7 = require(require.resolve("./src/protocol/requests/produce/v7/request.js")) as (
    input: ProduceRequestInput,
  ) => { apiVersion: number; encode: () => Promise<unknown> };
  const request = v7({ acks: -1, timeout: 1000, topicData: [] });
  assert.equal(request.apiVersion, 7);
});

Deno.test(`the replacement produce request writes kafkajs' bytes for 300 random requests (seed ${seed})`, async () => {
  const random = generator(seed ^ 0x5bd1e995);
  let records = 0;
  for (let i = 0; i < 300; i++) {
    const input = randomProduceInput(random);
    records += input.topicData.reduce(
      (sum, t) => sum + t.partitions.reduce((s, p) => s + p.messages.length, 0),
      0,
    );
    const { rivulet, kafkajs } = await atFixedTime(
      1_795_590_014_323,
      () => encodeProduceBothWays(input),
    );
    assert.equal(
      Buffer.from(rivulet).toString("hex"),
      Buffer.from(kafkajs).toString("hex"),
      `request ${i} of seed ${seed} (RIVULET_ENCODER_SEED=${seed} repeats it)`,
    );
  }
  assert.ok(records > 5_000, `only ${records} records compared`);
});

Deno.test(`crc32c gives kafkajs' checksum for random buffers (seed ${seed})`, () => {
  const require = createRequire(import.meta.resolve("kafkajs"));
  const kafkajsCrc = require("./src/protocol/recordBatch/crc32C/index.js") as (
    bytes: Buffer,
  ) => number;
  const random = generator(seed ^ 0x1b873593);
  for (let i = 0; i < 500; i++) {
    const bytes = Buffer.alloc(Math.floor(random() * 3000));
    for (let j = 0; j < bytes.length; j++) bytes[j] = Math.floor(random() * 256);
    const start = Math.floor(random() * Math.min(17, bytes.length + 1));
    assert.equal(
      crc32c(bytes, start),
      kafkajsCrc(bytes.subarray(start)),
      `buffer ${i} (${bytes.length} bytes from ${start}) of seed ${seed}`,
    );
  }
  // The check value of CRC-32C ("123456789"), from its definition.
  assert.equal(crc32c(Buffer.from("123456789")), 0xe3069283);
});

Deno.test(`the batch offset filter keeps what kafkajs' Long filter keeps (seed ${seed})`, () => {
  const require = createRequire(import.meta.resolve("kafkajs"));
  const Long = require("./src/utils/long.js") as {
    fromValue(value: unknown): { gte(other: unknown): boolean };
  };
  const kafkajsFilter = (messages: { offset: string }[], fetched: string) =>
    messages.filter((m) => Long.fromValue(m.offset).gte(Long.fromValue(fetched)));
  const random = generator(seed ^ 0x85ebca6b);
  const bases = [0, 5, 2 ** 31, 2 ** 53 - 20, 2 ** 53 + 10, 2 ** 62];
  for (let i = 0; i < 500; i++) {
    const base = BigInt(bases[Math.floor(random() * bases.length)]);
    const count = Math.floor(random() * 30);
    // Ascending as in a fetch, some batches starting before the fetched offset (compressed ones do).
    const messages = Array.from(
      { length: count },
      (_, j) => ({ offset: String(base + BigInt(j)) }),
    );
    const fetched = String(base + BigInt(Math.floor(random() * (count + 4)) - 2));
    assert.deepEqual(
      messagesWithinOffset(messages, fetched),
      kafkajsFilter(messages, fetched),
      `fetched ${fetched}, offsets from ${base} (seed ${seed})`,
    );
  }
  const require2 = createRequire(import.meta.resolve("kafkajs"));
  const Batch = require2("./src/consumer/batch.js") as new (
    topic: string,
    fetched: string,
    data: unknown,
  ) => { messages: unknown[]; isEmpty(): boolean; lastOffset(): string };
  const batch = new Batch("t", "3", {
    partition: 0,
    highWatermark: "10",
    messages: [
      { offset: "2" },
      { offset: "3" },
      { offset: "4", isControlRecord: true },
      { offset: "5" },
    ],
  });
  assert.deepEqual(batch.messages, [{ offset: "3" }, { offset: "5" }]);
  assert.equal(batch.isEmpty(), false, "kafkajs' own methods are kept");
});
