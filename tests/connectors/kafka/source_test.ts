import assert from "node:assert/strict";
import { KafkaSource } from "../../../connectors/kafka/source.ts";
import type { TopicPartition } from "../../../connectors/kafka/client.ts";
import type { SourceMessage } from "../../../connectors/types.ts";
import { createTopics, produce, testKafka, uniqueTopic } from "../../support/kafka.ts";
import { brokerTest, Collector, testClient, testConfig, testParts, text } from "./_support.ts";

Deno.test({
  name: "kafka source reads every partition of a topic in per-partition offset order",
  ...brokerTest,
  fn: async () => {
    const topic = uniqueTopic("source-partitions");
    await createTopics([topic], 3);
    const records: { value: string; partition: number }[] = [];
    for (let i = 0; i < 30; i++) records.push({ value: `p${i % 3}-${i}`, partition: i % 3 });
    await produce(topic, records);
    const source = new KafkaSource({ ...testParts(), topics: [topic] });
    const collector = new Collector();
    await source.start(collector.handler);
    try {
      await collector.waitFor(30);
      const byPartition = collector.byPartition();
      for (const partition of [0, 1, 2]) {
        const expected = records.filter((r) => r.partition === partition).map((r) => r.value);
        assert.deepEqual(byPartition.get(`${topic}-${partition}`), expected);
      }
      for (const call of collector.calls) {
        assert.ok(call.every((m) => m.partition === call[0].partition), "one partition per call");
      }
      for (const m of collector.messages.filter((m) => m.partition === 1)) {
        assert.equal(
          m.offset,
          String(
            records.filter((r) => r.partition === 1).findIndex((r) => r.value === text(m.value)),
          ),
        );
      }
    } finally {
      await source.close();
    }
  },
});

Deno.test({
  name: "kafka source hands over key, headers and timestamp as strings and bytes",
  ...brokerTest,
  fn: async () => {
    const topic = uniqueTopic("source-fields");
    await createTopics([topic]);
    const producer = testKafka().producer();
    await producer.connect();
    await producer.send({
      topic,
      messages: [
        { key: "k1", value: "v1", headers: { origin: "test", n: "1" }, timestamp: "1700000000000" },
        { key: null, value: null },
      ],
    });
    await producer.disconnect();
    const source = new KafkaSource({ ...testParts(), topics: [topic] });
    const collector = new Collector();
    await source.start(collector.handler);
    try {
      await collector.waitFor(2);
      const [first, second] = collector.messages;
      assert.equal(first.topic, topic);
      assert.equal(first.partition, 0);
      assert.equal(first.offset, "0");
      assert.equal(text(first.key), "k1");
      assert.ok(first.value instanceof Uint8Array);
      assert.equal(text(first.value), "v1");
      assert.deepEqual({ ...first.headers }, { origin: "test", n: "1" });
      assert.equal(first.timestamp, "1700000000000");
      assert.equal(second.key, null);
      assert.equal(second.value, null);
      assert.deepEqual({ ...second.headers }, {});
    } finally {
      await source.close();
    }
  },
});

Deno.test({
  name: "kafka source resumes at the positions it is given",
  ...brokerTest,
  fn: async () => {
    const topic = uniqueTopic("source-resume");
    await createTopics([topic], 2);
    await produce(topic, [
      ...["a0", "a1", "a2", "a3"].map((value) => ({ value, partition: 0 })),
      ...["b0", "b1", "b2"].map((value) => ({ value, partition: 1 })),
    ]);
    const source = new KafkaSource({ ...testParts(), topics: [topic] });
    const collector = new Collector();
    await source.start(collector.handler, [
      { topic, partition: 0, offset: "2" },
      { topic, partition: 1, offset: "3" },
    ]);
    try {
      await produce(topic, [{ value: "b3", partition: 1 }]);
      await collector.waitFor(3);
      const byPartition = collector.byPartition();
      assert.deepEqual(byPartition.get(`${topic}-0`), ["a2", "a3"]);
      assert.deepEqual(byPartition.get(`${topic}-1`), ["b3"]);
    } finally {
      await source.close();
    }
  },
});

Deno.test({
  name: "kafka source commits exactly the positions it is told and a new member continues there",
  ...brokerTest,
  fn: async () => {
    const topic = uniqueTopic("source-commit");
    await createTopics([topic]);
    await produce(topic, ["m0", "m1", "m2", "m3", "m4"]);
    const config = testConfig();
    const first = new KafkaSource({ config, client: testClient(config), topics: [topic] });
    const collector = new Collector();
    await first.start(collector.handler);
    await collector.waitFor(5);
    // Everything was read, but only the first two are declared processed.
    await first.commit([{ topic, partition: 0, offset: "2" }]);
    await first.close();

    const second = new KafkaSource({ config, client: testClient(config), topics: [topic] });
    const resumed = new Collector();
    await second.start(resumed.handler);
    try {
      await resumed.waitFor(3);
      assert.deepEqual(resumed.messages.map((m) => text(m.value)), ["m2", "m3", "m4"]);
      assert.equal(resumed.messages[0].offset, "2");
    } finally {
      await second.close();
    }
  },
});

Deno.test({
  name: "kafka source reads two topics with one consumer group",
  ...brokerTest,
  fn: async () => {
    const left = uniqueTopic("source-left");
    const right = uniqueTopic("source-right");
    await createTopics([left, right]);
    await produce(left, ["l0", "l1"]);
    await produce(right, ["r0", "r1", "r2"]);
    const source = new KafkaSource({ ...testParts(), topics: [left, right] });
    const collector = new Collector();
    await source.start(collector.handler);
    try {
      await collector.waitFor(5);
      const byPartition = collector.byPartition();
      assert.deepEqual(byPartition.get(`${left}-0`), ["l0", "l1"]);
      assert.deepEqual(byPartition.get(`${right}-0`), ["r0", "r1", "r2"]);
      assert.equal(source.name, `kafka:${left},${right}`);
    } finally {
      await source.close();
    }
  },
});

/** How many different (partition, offset) places the messages come from. */
function distinct(messages: readonly SourceMessage[]): number {
  return new Set(messages.map((m) => `${m.partition}@${m.offset}`)).size;
}

Deno.test({
  name: "kafka source awaits the handler before handing over more (no overlapping calls)",
  ...brokerTest,
  fn: async () => {
    const topic = uniqueTopic("source-backpressure");
    await createTopics([topic], 3);
    // Idempotent: a retried request (a slow broker) cannot write a record twice.
    const producer = testKafka().producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    // Several produce requests per partition make several fetched batches.
    for (let round = 0; round < 5; round++) {
      await producer.send({
        topic,
        acks: -1,
        messages: [0, 1, 2].map((partition) => ({ value: `r${round}`, partition })),
      });
    }
    await producer.disconnect();
    // What the topic holds, counted by the broker: exactly what was produced.
    const admin = testKafka().admin();
    await admin.connect();
    const offsets = await admin.fetchTopicOffsets(topic);
    await admin.disconnect();
    const produced = offsets.reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0);
    assert.equal(produced, 15, "the topic holds the 15 records produced, no more");
    let active = 0;
    let mostActive = 0;
    let calls = 0;
    const seen: SourceMessage[] = [];
    let allSeen!: () => void;
    const done = new Promise<void>((resolve) => (allSeen = resolve));
    const source = new KafkaSource({ ...testParts(), topics: [topic] });
    await source.start(async (messages) => {
      active++;
      calls++;
      mostActive = Math.max(mostActive, active);
      await new Promise((resolve) => setTimeout(resolve, 30));
      seen.push(...messages);
      active--;
      if (distinct(seen) >= produced) allSeen();
    });
    // Bounded: a lost message fails the test instead of hanging it.
    const timer = setTimeout(allSeen, 30_000);
    try {
      await done;
      clearTimeout(timer);
      assert.equal(distinct(seen), produced, "every message arrived, once per offset");
      assert.ok(calls >= 3, `one call per partition at least, got ${calls}`);
      assert.equal(mostActive, 1);
    } finally {
      await source.close();
    }
  },
});

Deno.test({
  name: "kafka source waits for a topic created after it started",
  ...brokerTest,
  fn: async () => {
    const topic = uniqueTopic("source-late");
    const source = new KafkaSource({ ...testParts(), topics: [topic], maxTopicWaitMs: 500 });
    const collector = new Collector();
    await source.start(collector.handler);
    try {
      await createTopics([topic]);
      await produce(topic, ["late0", "late1"]);
      await collector.waitFor(2);
      assert.deepEqual(collector.messages.map((m) => text(m.value)), ["late0", "late1"]);
    } finally {
      await source.close();
    }
  },
});

Deno.test({
  name: "kafka source hands nothing over after stop resolves",
  ...brokerTest,
  fn: async () => {
    const topic = uniqueTopic("source-stop");
    await createTopics([topic]);
    await produce(topic, ["s0"]);
    const config = testConfig();
    const source = new KafkaSource({ config, client: testClient(config), topics: [topic] });
    const collector = new Collector();
    await source.start(collector.handler);
    await collector.waitFor(1);
    await source.stop();
    const callsAtStop = collector.calls.length;
    await produce(topic, ["s1", "s2"]);
    // The member still owns the partition, so a commit after stop works.
    await source.commit([{ topic, partition: 0, offset: "1" }]);
    await source.close();
    assert.equal(collector.calls.length, callsAtStop);
    const admin = testKafka().admin();
    await admin.connect();
    const [committed] = await admin.fetchOffsets({ groupId: config.groupId!, topics: [topic] });
    await admin.disconnect();
    assert.equal(committed.partitions[0].offset, "1");
  },
});

Deno.test({
  name: "kafka source reports the lag of each assigned partition",
  ...brokerTest,
  fn: async () => {
    const topic = uniqueTopic("source-lag");
    await createTopics([topic], 2);
    await produce(topic, [
      { value: "x", partition: 0 },
      { value: "y", partition: 0 },
      { value: "z", partition: 1 },
    ]);
    const source = new KafkaSource({ ...testParts(), topics: [topic] });
    const collector = new Collector();
    await source.start(collector.handler);
    try {
      await collector.waitFor(3);
      await source.stop();
      assert.deepEqual(sortLag(await source.lag()), [
        { topic, partition: 0, lag: 0 },
        { topic, partition: 1, lag: 0 },
      ]);
      await produce(topic, [{ value: "later", partition: 1 }, { value: "later", partition: 1 }]);
      assert.deepEqual(sortLag(await source.lag()), [
        { topic, partition: 0, lag: 0 },
        { topic, partition: 1, lag: 2 },
      ]);
    } finally {
      await source.close();
    }
  },
});

Deno.test({
  name: "kafka source tells which partitions a rebalance took away and gave",
  ...brokerTest,
  fn: async () => {
    const topic = uniqueTopic("source-rebalance");
    await createTopics([topic], 2);
    const config = testConfig({ sessionTimeoutMs: 10_000, heartbeatIntervalMs: 500 });
    const events: string[] = [];
    let revoked!: () => void;
    const wasRevoked = new Promise<void>((resolve) => (revoked = resolve));
    const first = new KafkaSource({
      config,
      client: testClient(config),
      topics: [topic],
      onPartitionsAssigned: (ps) => void events.push(`assigned ${names(ps)}`),
      onPartitionsRevoked: (ps) => {
        events.push(`revoked ${names(ps)}`);
        revoked();
      },
    });
    await first.start(new Collector().handler);
    const second = new KafkaSource({ config, client: testClient(config), topics: [topic] });
    const secondStarted = second.start(new Collector().handler);
    try {
      await wasRevoked;
      await secondStarted;
      assert.equal(events[0], "assigned 0,1");
      assert.match(events[1], /^revoked [01]$/);
    } finally {
      await Promise.all([first.close(), second.close()]);
    }
  },
});

Deno.test({
  name: "kafka source start rejects when no broker can be reached",
  ...brokerTest,
  fn: async () => {
    const source = new KafkaSource({
      ...testParts({ brokers: ["127.0.0.1:1"], connectionTimeoutMs: 200 }),
      topics: ["nowhere"],
    });
    await assert.rejects(
      source.start(new Collector().handler),
      /No Kafka broker answers at 127.0.0.1:1/,
    );
    await source.close().catch(() => {});
  },
});

function names(partitions: readonly TopicPartition[]): string {
  return partitions.map((p) => p.partition).sort().join(",");
}

function sortLag<T extends { partition: number }>(lags: readonly T[]): T[] {
  return [...lags].sort((a, b) => a.partition - b.partition);
}

Deno.test({
  name: "kafka source fails finished with the handler's error and hands nothing over after it",
  ...brokerTest,
  fn: async () => {
    const topic = uniqueTopic("source-handler-error");
    await createTopics([topic]);
    await produce(topic, ["ok", "bad"]);
    const source = new KafkaSource({ ...testParts(), topics: [topic] });
    const calls: string[][] = [];
    await source.start((messages) => {
      calls.push(messages.map((m) => text(m.value)));
      return calls.length === 1
        ? Promise.reject(new Error("Bad input at here"))
        : Promise.resolve();
    });
    try {
      await assert.rejects(source.finished, /Bad input at here/);
      await produce(topic, ["after"]);
      await source.stop();
      assert.equal(calls.length, 1);
    } finally {
      await source.close();
    }
  },
});

Deno.test({
  name: "kafka source does not hand over a kept partition's messages again after a rebalance",
  ...brokerTest,
  fn: async () => {
    const topic = uniqueTopic("source-kept");
    await createTopics([topic], 2);
    await produce(topic, [
      ...["a0", "a1", "a2"].map((value) => ({ value, partition: 0 })),
      ...["b0", "b1", "b2"].map((value) => ({ value, partition: 1 })),
    ]);
    const config = testConfig({ sessionTimeoutMs: 10_000, heartbeatIntervalMs: 500 });
    let revoked!: (partitions: readonly TopicPartition[]) => void;
    const wasRevoked = new Promise<readonly TopicPartition[]>((resolve) => (revoked = resolve));
    const firstReads = new Collector();
    const first = new KafkaSource({
      config,
      client: testClient(config),
      topics: [topic],
      onPartitionsRevoked: revoked,
    });
    await first.start(firstReads.handler);
    await firstReads.waitFor(6);
    // Nothing is committed: a second member's partition starts from the beginning.
    const secondReads = new Collector();
    const second = new KafkaSource({ config, client: testClient(config), topics: [topic] });
    const secondStarted = second.start(secondReads.handler);
    try {
      const [lost] = await wasRevoked;
      await secondStarted;
      const kept = 1 - lost.partition;
      await secondReads.waitFor(3);
      await produce(topic, [{ value: "new", partition: kept }]);
      await firstReads.waitFor(7);
      const prefix = kept === 0 ? "a" : "b";
      assert.deepEqual(firstReads.byPartition().get(`${topic}-${kept}`), [
        `${prefix}0`,
        `${prefix}1`,
        `${prefix}2`,
        "new",
      ]);
      const lostPrefix = kept === 0 ? "b" : "a";
      assert.deepEqual(secondReads.byPartition().get(`${topic}-${lost.partition}`), [
        `${lostPrefix}0`,
        `${lostPrefix}1`,
        `${lostPrefix}2`,
      ]);
    } finally {
      await Promise.all([first.close(), second.close()]);
    }
  },
});

Deno.test({
  name: "kafka source keeps its partitions while a handler runs longer than the session timeout",
  ...brokerTest,
  fn: async () => {
    const topic = uniqueTopic("source-slow-handler");
    await createTopics([topic]);
    await produce(topic, ["slow"]);
    // 6 s is the broker's smallest session timeout; the handler takes 8 s.
    const config = testConfig({ sessionTimeoutMs: 6_000, heartbeatIntervalMs: 1_000 });
    const revocations: string[] = [];
    const source = new KafkaSource({
      config,
      client: testClient(config),
      topics: [topic],
      onPartitionsRevoked: (ps) => void revocations.push(names(ps)),
    });
    let handled!: () => void;
    const wasHandled = new Promise<void>((resolve) => (handled = resolve));
    await source.start(async () => {
      await new Promise((resolve) => setTimeout(resolve, 8_000));
      handled();
    });
    try {
      await wasHandled;
      // An evicted member's commit would be refused (unknown member or generation).
      await source.commit([{ topic, partition: 0, offset: "1" }]);
      assert.deepEqual(revocations, []);
    } finally {
      await source.close();
    }
  },
});
