/**
 * The platformatic adapter's Produce request encoder
 * (`connectors/kafka/platformatic/produce_request.ts`) must write the very
 * bytes @platformatic/kafka's own encoder writes: compared here over edge
 * cases and random requests (several topics and partitions, null and empty
 * keys and values, headers, non-ASCII, timestamps far apart, transactional
 * and idempotent options).
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import {
  encodeProduceRequest,
  encodeRecordBatch,
  fastProduceRequestsAvailable,
  libraryProduceRequest,
  messagesAsBytes,
  type ProduceApiMessage,
  type ProduceApiOptions,
} from "../../../connectors/kafka/platformatic/produce_request.ts";

/** Random requests come from this seed: `RIVULET_ENCODER_SEED` repeats a failed run. */
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
  "grüße",
  "日本語のキー",
  "emoji 🚀 pair",
  "x".repeat(300),
  "é".repeat(9000),
];

function randomBytes(random: () => number): Buffer | null | undefined {
  const pick = random();
  if (pick < 0.1) return null;
  if (pick < 0.15) return undefined;
  if (pick < 0.7) return Buffer.from(texts[Math.floor(random() * texts.length)]);
  const length = Math.floor(random() * 400);
  return Buffer.from(Array.from({ length }, () => Math.floor(random() * 256)));
}

/** A key or value: bytes, or text (ASCII or not) as the adapter passes it. */
function randomField(random: () => number): Buffer | string | null | undefined {
  return random() < 0.4 ? texts[Math.floor(random() * texts.length)] : randomBytes(random);
}

// Deltas from the first timestamp stay within ±2^31: beyond that the library's
// varlong is wrong (it zigzags with a 31-bit shift and stops at 32 bits), and
// the last test checks this encoder's own varlongs there.
const timestampSteps = [0n, 1n, 63n, 64n, 8192n, 2n ** 20n];

function randomMessages(random: () => number): ProduceApiMessage[] {
  const count = 1 + Math.floor(random() * 60);
  const topics = ["out", "other-topic", "主題", "7"];
  let timestamp = 1_795_590_014_323n;
  return Array.from({ length: count }, () => {
    const headers = new Map<Buffer | null, Buffer | null>();
    const headerCount = random() < 0.5 ? 0 : Math.floor(random() * 4);
    for (let h = 0; h < headerCount; h++) {
      headers.set(
        Buffer.from(`h${h}-${texts[h % texts.length].slice(0, 20)}`),
        randomBytes(random) ?? null,
      );
    }
    // Timestamps mostly rise, sometimes fall (a record's own timestamp), sometimes far.
    const step = timestampSteps[Math.floor(random() * timestampSteps.length)];
    timestamp = random() < 0.2 ? timestamp - step : timestamp + step;
    const partition = Math.floor(random() * 3);
    return {
      topic: topics[Math.floor(random() * topics.length)],
      ...(random() < 0.1 && partition === 0 ? {} : { partition }),
      key: randomField(random),
      value: randomField(random),
      headers,
      timestamp,
    };
  });
}

function randomOptions(random: () => number): ProduceApiOptions {
  const pick = random();
  if (pick < 0.3) return {};
  const sequences = new Map<string, number>([["out:0", 17], ["out:1", 2 ** 31 - 1], ["7:2", 5]]);
  return {
    producerId: BigInt(Math.floor(random() * 2 ** 40)),
    producerEpoch: Math.floor(random() * 32_767),
    sequences: { getWithDefault: (key, fallback) => sequences.get(key) ?? fallback },
    ...(pick < 0.6 ? {} : { transactionalId: random() < 0.5 ? "rivulet-tx-1" : "tx-é" }),
    ...(random() < 0.2 ? { partitionLeaderEpoch: 3 } : {}),
  };
}

/** Each side gets its own copy: both encoders set defaults on the messages. */
function copies(messages: readonly ProduceApiMessage[]): ProduceApiMessage[] {
  return messages.map((m) => ({ ...m }));
}

function assertSameBytes(
  version: 9 | 10 | 11,
  acks: number,
  timeout: number,
  messages: readonly ProduceApiMessage[],
  options: ProduceApiOptions,
  what: string,
): void {
  const ours = copies(messages);
  const theirs = copies(messages);
  // The library's encoder takes bytes only.
  messagesAsBytes(theirs);
  const expected = libraryProduceRequest(version, acks, timeout, theirs, options);
  const actual = encodeProduceRequest(acks, timeout, ours, options).buffer;
  assert.equal(Buffer.compare(actual, expected), 0, `${what}: the request bytes differ`);
  // Both leave the same partition and timestamp on each message.
  assert.deepEqual(
    ours.map((m) => [m.partition, m.timestamp]),
    theirs.map((m) => [m.partition, m.timestamp]),
    `${what}: the messages were changed differently`,
  );
}

Deno.test("the produce request encoder writes the library's bytes for edge cases", () => {
  const ts = 1_795_590_014_323n;
  const cases: [string, ProduceApiMessage[], ProduceApiOptions][] = [
    ["text keys and values: ASCII, empty, non-ASCII, a lone surrogate", [
      { topic: "t", partition: 0, key: "0123abcd", value: '{"sum":1}', timestamp: ts },
      { topic: "t", partition: 0, key: "", value: "grüße 日本 🚀", timestamp: ts },
      { topic: "t", partition: 0, key: "lone \ud800 surrogate", value: "", timestamp: ts },
      { topic: "t", partition: 0, key: "\u007f", value: "\u0080", timestamp: ts },
    ], {}],
    ["one record, null key", [{
      topic: "t",
      partition: 0,
      key: null,
      value: Buffer.from("v"),
      headers: new Map(),
      timestamp: ts,
    }], {}],
    ["empty key and value", [{
      topic: "t",
      partition: 0,
      key: Buffer.alloc(0),
      value: Buffer.alloc(0),
      headers: new Map(),
      timestamp: ts,
    }], {}],
    ["undefined key, no headers map", [{
      topic: "t",
      partition: 0,
      value: Buffer.from("v"),
      timestamp: ts,
    }], {}],
    ["a header with an empty value", [{
      topic: "t",
      partition: 0,
      key: Buffer.from("k"),
      value: Buffer.from("v"),
      headers: new Map([[Buffer.from("h"), Buffer.alloc(0)]]),
      timestamp: ts,
    }], {}],
    ["a value of 70,000 bytes", [{
      topic: "t",
      partition: 0,
      key: Buffer.from("k"),
      value: Buffer.alloc(70_000, 7),
      headers: new Map(),
      timestamp: ts,
    }], {}],
    ["transactional", [{
      topic: "t",
      partition: 1,
      key: Buffer.from("k"),
      value: null,
      headers: new Map(),
      timestamp: ts,
    }], {
      producerId: 42n,
      producerEpoch: 3,
      transactionalId: "tx",
      sequences: { getWithDefault: () => 9 },
    }],
    ["a timestamp before the first", [
      {
        topic: "t",
        partition: 0,
        key: null,
        value: Buffer.from("a"),
        headers: new Map(),
        timestamp: ts,
      },
      {
        topic: "t",
        partition: 0,
        key: null,
        value: Buffer.from("b"),
        headers: new Map(),
        timestamp: ts - 2n ** 31n,
      },
      {
        topic: "t",
        partition: 0,
        key: null,
        value: Buffer.from("c"),
        headers: new Map(),
        timestamp: ts + 2n ** 31n - 1n,
      },
    ], {}],
    ["numeric topic names and partitions out of order", [
      {
        topic: "b",
        partition: 2,
        key: null,
        value: Buffer.from("1"),
        headers: new Map(),
        timestamp: ts,
      },
      {
        topic: "10",
        partition: 0,
        key: null,
        value: Buffer.from("2"),
        headers: new Map(),
        timestamp: ts,
      },
      {
        topic: "b",
        partition: 1,
        key: null,
        value: Buffer.from("3"),
        headers: new Map(),
        timestamp: ts,
      },
      {
        topic: "2",
        partition: 0,
        key: null,
        value: Buffer.from("4"),
        headers: new Map(),
        timestamp: ts,
      },
    ], {}],
  ];
  for (const [what, messages, options] of cases) {
    for (const version of [9, 10, 11] as const) {
      for (const acks of [-1, 0, 1]) {
        assertSameBytes(version, acks, 30_000, messages, options, what);
      }
    }
  }
});

Deno.test(`the produce request encoder writes the library's bytes for random requests (seed ${seed})`, () => {
  const random = generator(seed);
  for (let i = 0; i < 300; i++) {
    const messages = randomMessages(random);
    const options = randomOptions(random);
    const version = ([9, 10, 11] as const)[i % 3];
    assertSameBytes(
      version,
      i % 2 === 0 ? -1 : 1,
      5_000 + i,
      messages,
      options,
      `request ${i} (seed ${seed})`,
    );
  }
});

Deno.test("a request without timestamps gets the time of encoding on every record", () => {
  const messages: ProduceApiMessage[] = [
    { topic: "t", partition: 0, key: null, value: Buffer.from("a"), headers: new Map() },
    { topic: "t", key: null, value: Buffer.from("b") },
  ];
  const before = BigInt(Date.now());
  encodeProduceRequest(-1, 1_000, messages, {});
  const after = BigInt(Date.now());
  assert.equal(messages[1].partition, 0);
  for (const message of messages) {
    assert.equal(typeof message.timestamp, "bigint");
    assert.ok((message.timestamp as bigint) >= before && (message.timestamp as bigint) <= after);
  }
  assert.equal(messages[0].timestamp, messages[1].timestamp);
});

/** Reads a zigzag varint (Kafka's varlong) at `at`: [value, next position]. */
function readVarlong(bytes: Uint8Array, at: number): [bigint, number] {
  let unsigned = 0n;
  for (let shift = 0n;; shift += 7n) {
    const byte = bytes[at++];
    unsigned |= BigInt(byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) break;
  }
  return [(unsigned >> 1n) ^ -(unsigned & 1n), at];
}

Deno.test("timestamps far from the first record's are written as Kafka varlongs", () => {
  const first = 1_795_590_014_323n;
  const deltas = [0n, 2n ** 31n, -(2n ** 31n) - 1n, 2n ** 32n, -(2n ** 40n), 2n ** 52n, -first];
  const messages: ProduceApiMessage[] = deltas.map((delta, i) => ({
    topic: "t",
    partition: 0,
    key: null,
    value: Buffer.from(String(i)),
    headers: new Map(),
    timestamp: first + delta,
  }));
  const batch = encodeRecordBatch(messages, {}, 0n);
  const view = new DataView(batch.buffer, batch.byteOffset, batch.byteLength);
  assert.equal(view.getBigInt64(27), first, "first timestamp");
  assert.equal(view.getBigInt64(35), first + 2n ** 52n, "max timestamp");
  assert.equal(view.getInt32(57), deltas.length, "record count");
  let at = 61;
  const read: bigint[] = [];
  for (let i = 0; i < deltas.length; i++) {
    const [length, body] = readVarlong(batch, at);
    const [delta] = readVarlong(batch, body + 1);
    read.push(delta);
    at = body + Number(length);
  }
  assert.equal(at, batch.length, "the records fill the batch");
  assert.deepEqual(read, deltas);
});

Deno.test("the pinned library has the private API hook the fast produce requests rely on", () => {
  // Without it producers still work, as the library alone does, only slower.
  assert.equal(fastProduceRequestsAvailable(), true);
});
