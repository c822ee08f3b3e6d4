import assert from "node:assert/strict";
import { KafkaSink, RecordTooLargeError } from "../../../connectors/kafka/sink.ts";
import type { Batch, Change, Time } from "../../../engine/types.ts";
import { type KafkaClient, KafkaClientError } from "../../../connectors/kafka/client.ts";
import type { LogFields } from "../../../connectors/types.ts";
import { consumeAll, createTopics, testKafka, uniqueTopic } from "../../support/kafka.ts";
import { brokerTest, testClient, testParts } from "./_support.ts";
import { keyPartition } from "../../../connectors/kafka/murmur2.ts";

const encode = (change: Change, time: Time) =>
  JSON.stringify({ ...change.row, diff: change.diff, time });

const id = (n: number) => n.toString(16).padStart(32, "0");

/** Commit i retracts sum i-1 (when i > 0) and inserts sum i, at time 1000 + i. */
function sumCommit(i: number): Batch {
  const changes: Change[] = [];
  if (i > 0) changes.push({ id: id(1), row: { sum: i - 1 }, diff: -1 });
  changes.push({ id: id(1), row: { sum: i }, diff: 1 });
  return { time: 1000 + i, changes };
}

Deno.test({
  name: "kafka sink writes one record per change keyed by row id, then a commit marker",
  ...brokerTest,
  fn: async () => {
    const topic = uniqueTopic("sink-shape");
    const sink = new KafkaSink({ ...testParts(), topic, encode, commitMarkers: true });
    await sink.open();
    await Promise.all([sink.write(sumCommit(0)), sink.write(sumCommit(1))]);
    await sink.close();
    const records = await consumeAll(topic, { count: 5 });
    assert.deepEqual(records.map((r) => [r.key, r.value]), [
      [id(1), '{"sum":0,"diff":1,"time":1000}'],
      [null, "*COMMIT*"],
      [id(1), '{"sum":0,"diff":-1,"time":1001}'],
      [id(1), '{"sum":1,"diff":1,"time":1001}'],
      [null, "*COMMIT*"],
    ]);
    assert.ok(records.every((r) => r.partition === 0));
    assert.deepEqual(sink.stats(), {
      produceRequests: 2,
      records: 5,
      bytes: sink.stats().bytes,
      commits: 2,
    });
  },
});

Deno.test({
  name:
    "kafka sink groups up to N commits per produce request: N=1 and N=10 write the same records",
  ...brokerTest,
  fn: async () => {
    const results = [];
    for (const perRequest of [1, 10]) {
      const topic = uniqueTopic(`sink-frequency-${perRequest}`);
      const sink = new KafkaSink({
        ...testParts(),
        topic,
        encode,
        commitFrequencyInMessages: perRequest,
        lingerMs: 60_000,
      });
      await sink.open();
      const writes = [];
      for (let i = 0; i < 20; i++) writes.push(sink.write(sumCommit(i)));
      await Promise.all(writes);
      const stats = sink.stats();
      await sink.close();
      const records = await consumeAll(topic, { count: 39 });
      results.push({ stats, records: records.map((r) => [r.key, r.value]) });
    }
    const [one, ten] = results;
    assert.equal(one.records.length, 39);
    assert.deepEqual(ten.records, one.records);
    assert.equal(one.stats.produceRequests, 20);
    assert.equal(ten.stats.produceRequests, 2);
    assert.equal(one.stats.commits, 20);
    assert.equal(ten.stats.records, 39);
  },
});

Deno.test({
  name: "kafka sink sends a request early when the next record would pass maxRequestBytes",
  ...brokerTest,
  fn: async () => {
    const topic = uniqueTopic("sink-split");
    // Each record is 200 bytes as estimated: 32 (key) + 144 (value) + 24 (framing).
    const padded = (change: Change) => JSON.stringify(change.row).padEnd(144, " ");
    const sink = new KafkaSink({
      ...testParts(),
      topic,
      encode: padded,
      commitFrequencyInMessages: 10,
      maxRequestBytes: 1_000,
      lingerMs: 60_000,
    });
    await sink.open();
    const writes = [];
    for (let i = 0; i < 20; i++) {
      writes.push(sink.write({ time: i, changes: [{ id: id(i), row: { n: i }, diff: 1 }] }));
    }
    // 1,000 bytes hold the 125-byte request overhead and 4 records: four
    // requests went out as they filled, the last 4 commits wait for more.
    await Promise.all(writes.slice(0, 16));
    assert.deepEqual([sink.stats().produceRequests, sink.stats().commits], [4, 16]);
    await sink.flush();
    await Promise.all(writes);
    assert.deepEqual([sink.stats().produceRequests, sink.stats().commits], [5, 20]);
    await sink.close();
    const records = await consumeAll(topic, { count: 20 });
    assert.deepEqual(records.map((r) => JSON.parse(r.value).n), [...Array(20).keys()]);
  },
});

Deno.test({
  name: "kafka sink rejects a record larger than a request, naming the topic and size",
  ...brokerTest,
  fn: async () => {
    const topic = uniqueTopic("sink-too-large");
    const sink = new KafkaSink({ ...testParts(), topic, encode, maxRequestBytes: 500 });
    await sink.open();
    const big = { time: 1, changes: [{ id: id(1), row: { text: "x".repeat(600) }, diff: 1 }] };
    await assert.rejects(sink.write(big), (error: Error) => {
      assert.ok(error instanceof RecordTooLargeError);
      assert.match(error.message, new RegExp(`record of \\d+ bytes to topic "${topic}"`));
      return true;
    });
    // The rejected commit queued nothing: later commits still go through.
    await sink.write(sumCommit(0));
    await sink.close();
    assert.equal(sink.stats().records, 1);
  },
});

Deno.test({
  name: "kafka sink sends a waiting commit after lingerMs without a flush",
  ...brokerTest,
  fn: async () => {
    const topic = uniqueTopic("sink-linger");
    const sink = new KafkaSink({
      ...testParts(),
      topic,
      encode,
      commitFrequencyInMessages: 100,
      lingerMs: 20,
    });
    await sink.open();
    await sink.write(sumCommit(0));
    assert.equal(sink.stats().produceRequests, 1);
    const records = await consumeAll(topic, { count: 1 });
    assert.equal(records[0].value, '{"sum":0,"diff":1,"time":1000}');
    await sink.close();
  },
});

Deno.test({
  name: "kafka sink creates a missing topic with one partition, or refuses when told to",
  ...brokerTest,
  fn: async () => {
    const created = uniqueTopic("sink-created");
    const sink = new KafkaSink({ ...testParts(), topic: created, encode });
    await sink.open();
    await sink.close();
    const admin = testKafka().admin();
    await admin.connect();
    const offsets = await admin.fetchTopicOffsets(created);
    await admin.disconnect();
    assert.equal(offsets.length, 1);

    const missing = uniqueTopic("sink-missing");
    const strict = new KafkaSink({
      ...testParts(),
      topic: missing,
      encode,
      createTopic: false,
    });
    await assert.rejects(strict.open(), new RegExp(`Output topic "${missing}" does not exist`));
  },
});

Deno.test({
  name:
    "kafka sink writes each key to its murmur2 partition on an existing topic with several partitions",
  ...brokerTest,
  fn: async () => {
    const topic = uniqueTopic("sink-partitions");
    await createTopics([topic], 3);
    const sink = new KafkaSink({ ...testParts(), topic, encode, createTopic: false });
    await sink.open();
    const ids = Array.from({ length: 12 }, (_, n) => id(n + 1));
    await sink.write({
      time: 5,
      changes: ids.map((key, n) => ({ id: key, row: { n }, diff: 1 })),
    });
    await sink.close();
    const records = await consumeAll(topic, { count: ids.length });
    const expected = ids.map((key) => [keyPartition(new TextEncoder().encode(key), 3), key]);
    assert.deepEqual(
      records.map((r) => [r.partition, r.key]).sort(),
      expected.sort(),
    );
    assert.ok(new Set(expected.map(([p]) => p)).size > 1, "the keys spread over partitions");
  },
});

Deno.test({
  name:
    "kafka sink creates its topic with the partitions asked for, and refuses an existing topic with another count",
  ...brokerTest,
  fn: async () => {
    const topic = uniqueTopic("sink-output-partitions");
    const parts = testParts();
    const sink = new KafkaSink({ ...parts, topic, encode, partitions: 4 });
    await sink.open();
    const ids = Array.from({ length: 16 }, (_, n) => id(n + 1));
    await sink.write({ time: 7, changes: ids.map((key, n) => ({ id: key, row: { n }, diff: 1 })) });
    await sink.close();
    const admin = parts.client.admin();
    await admin.connect();
    try {
      assert.equal((await admin.partitionOffsets(topic)).length, 4);
    } finally {
      await admin.disconnect();
    }
    const records = await consumeAll(topic, { count: ids.length });
    const expected = ids.map((key) => [keyPartition(new TextEncoder().encode(key), 4), key]);
    assert.deepEqual(records.map((r) => [r.partition, r.key]).sort(), expected.sort());

    const other = new KafkaSink({ ...testParts(), topic, encode, partitions: 2 });
    await assert.rejects(
      other.open(),
      (error: Error) =>
        error.message.includes(JSON.stringify(topic)) &&
        error.message.includes("has 4 partitions, not the 2 asked for"),
    );
    await other.close();
    // Without a count asked for, the topic's own is used.
    const plain = new KafkaSink({ ...testParts(), topic, encode });
    await plain.open();
    await plain.close();
    assert.throws(
      () => new KafkaSink({ ...testParts(), topic, encode, partitions: 0 }),
      /partitions must be a positive integer, not 0/,
    );
  },
});

/** The real client, whose producer first fails `failures` sends with `error` before sending for real. */
function failingFirst(failures: number, error: Error): KafkaClient {
  const client = testClient();
  return {
    ...client,
    producer: (options) => {
      const producer = client.producer(options);
      let left = failures;
      return {
        connect: () => producer.connect(),
        disconnect: () => producer.disconnect(),
        send: (batches) => left-- > 0 ? Promise.reject(error) : producer.send(batches),
      };
    },
  };
}

Deno.test({
  name: "kafka sink retries a request while Kafka is unavailable, logs it, and writes it once",
  ...brokerTest,
  fn: async () => {
    const topic = uniqueTopic("sink-retry");
    const warnings: [string, LogFields | undefined][] = [];
    const logger = {
      debug() {},
      info() {},
      error() {},
      warn: (message: string, fields?: LogFields) => void warnings.push([message, fields]),
    };
    const unavailable = new KafkaClientError("Kafka produce request failed: Connection error", {
      retriable: true,
    });
    const sink = new KafkaSink({
      ...testParts(),
      client: failingFirst(2, unavailable),
      topic,
      encode,
      logger,
    });
    await sink.open();
    await sink.write(sumCommit(0));
    await sink.close();
    assert.deepEqual(warnings.map(([message, fields]) => [message, fields?.attempts]), [
      ["Kafka is unavailable; retrying", 1],
      ["Kafka is unavailable; retrying", 2],
    ]);
    const records = await consumeAll(topic, { count: 2, timeoutMs: 3_000 });
    assert.deepEqual(records.map((r) => r.value), ['{"sum":0,"diff":1,"time":1000}']);
  },
});

Deno.test({
  name: "kafka sink fails the commit and every later one on an error that cannot heal",
  ...brokerTest,
  fn: async () => {
    const topic = uniqueTopic("sink-fatal");
    const denied = new KafkaClientError("Kafka produce request failed: Not authorized", {
      retriable: false,
    });
    const sink = new KafkaSink({
      ...testParts(),
      client: failingFirst(1, denied),
      topic,
      encode,
    });
    await sink.open();
    await assert.rejects(sink.write(sumCommit(0)), /Not authorized/);
    // Writing on would put later commits before the lost one.
    await assert.rejects(sink.write(sumCommit(1)), /Not authorized/);
    await assert.rejects(sink.flush(), /Not authorized/);
    await sink.close().catch(() => {});
    assert.equal(sink.stats().records, 0);
  },
});
