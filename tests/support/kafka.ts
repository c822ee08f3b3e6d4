/**
 * Test helpers for the local broker that scripts/kafka.sh starts. Tests talk
 * to that real broker: no mocks.
 *
 * @module
 */
// rivulet's kafkajs adapter first: it repairs kafkajs (a negative timeout warning, the produce
// path) before kafkajs loads, and refuses to load after it. These helpers use kafkajs directly
// for what rivulet's client interface does not offer (topic metadata polling, plain consumers).
import "../../connectors/kafka/kafkajs/client.ts";
import { Kafka, logLevel } from "kafkajs";
import {
  type KafkaClientFactory,
  type KafkaClientName,
  loadKafkaClient,
  resolveKafkaClientName,
} from "../../connectors/kafka/clients.ts";

/** The Kafka client implementation the tests run on: `RIVULET_KAFKA_CLIENT`, else the default. */
export const testClientName: KafkaClientName = resolveKafkaClientName();

/** Makes clients of {@linkcode testClientName}. */
export const makeTestClient: KafkaClientFactory = await loadKafkaClient(testClientName);

/** The broker the tests use: `RIVULET_TEST_BROKER`, else the local broker on `KAFKA_PORT` (9092). */
export const testBroker: string = Deno.env.get("RIVULET_TEST_BROKER") ??
  `127.0.0.1:${Deno.env.get("KAFKA_PORT") ?? "9092"}`;

/** A kafkajs client for the test broker, quiet unless a test fails. */
export function testKafka(clientId = "rivulet-test"): Kafka {
  return new Kafka({ clientId, brokers: [testBroker], logLevel: logLevel.NOTHING });
}

/** A topic name no other test or run has used. */
export function uniqueTopic(prefix: string): string {
  return `${prefix}-${crypto.randomUUID().slice(0, 8)}`;
}

/**
 * Creates topics and waits until every partition has a leader. kafkajs' own
 * wait gives up when the broker is slow to publish a new topic's metadata
 * (a loaded machine), so this polls the metadata itself for up to 60 s.
 */
export async function createTopics(topics: string[], numPartitions = 1): Promise<void> {
  const admin = testKafka().admin();
  await admin.connect();
  try {
    await admin.createTopics({
      topics: topics.map((topic) => ({ topic, numPartitions })),
      waitForLeaders: false,
    });
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        const { topics: found } = await admin.fetchTopicMetadata({ topics });
        const ready = found.length === topics.length &&
          found.every((t) =>
            t.partitions.length === numPartitions && t.partitions.every((p) => p.leader >= 0)
          );
        if (ready) return;
      } catch (error) {
        if (Date.now() > deadline) throw error;
      }
      if (Date.now() > deadline) {
        throw new Error(`Topics ${topics.join(", ")} have no leaders after 60 s`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } finally {
    await admin.disconnect();
  }
}

/** A record as produced: value, and optionally a partition and key. */
export interface TestRecord {
  value: string | Uint8Array;
  partition?: number;
  key?: string;
}

/** Produces records, in order, acknowledged by the broker. */
export async function produce(topic: string, records: (TestRecord | string)[]): Promise<void> {
  const producer = testKafka().producer();
  await producer.connect();
  try {
    for (const record of records) {
      const r = typeof record === "string" ? { value: record } : record;
      await producer.send({
        topic,
        messages: [{
          value: typeof r.value === "string" ? r.value : new TextDecoder().decode(r.value),
          partition: r.partition ?? 0,
          key: r.key,
        }],
      });
    }
  } finally {
    await producer.disconnect();
  }
}

/** A consumed record with its place in the topic. */
export interface ConsumedRecord {
  partition: number;
  offset: string;
  key: string | null;
  value: string;
  headers: Record<string, string>;
}

/**
 * Reads a topic from the beginning until `count` records arrived or `timeoutMs`
 * passed, and returns what was read (in partition order, then offset order).
 */
export async function consumeAll(
  topic: string,
  options: {
    count?: number;
    timeoutMs?: number;
    isolation?: "read_committed" | "read_uncommitted";
  } = {},
): Promise<ConsumedRecord[]> {
  const { count = Infinity, timeoutMs = 15_000 } = options;
  const consumer = testKafka().consumer({
    groupId: `rivulet-test-reader-${crypto.randomUUID()}`,
    readUncommitted: options.isolation === "read_uncommitted",
  });
  // By partition and offset: after a rebalance of its own group a kafkajs consumer hands records
  // over again from its last committed offset; each is one record of the topic.
  const records = new Map<string, ConsumedRecord>();
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  const timer = setTimeout(done, timeoutMs);
  await consumer.run({
    eachMessage: ({ partition, message }) => {
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(message.headers ?? {})) {
        headers[name] = value === undefined ? "" : String(value);
      }
      records.set(`${partition}:${message.offset}`, {
        partition,
        offset: message.offset,
        key: message.key === null ? null : message.key.toString(),
        value: message.value === null ? "" : message.value.toString(),
        headers,
      });
      if (records.size >= count) done();
      return Promise.resolve();
    },
  });
  await finished;
  clearTimeout(timer);
  // The records are complete: a disconnect that never resolves (tulios/kafkajs#1147) is left behind.
  let stuck: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    consumer.disconnect(),
    new Promise<void>((resolve) => stuck = setTimeout(resolve, 10_000)),
  ]);
  clearTimeout(stuck);
  return [...records.values()].sort((a, b) =>
    a.partition - b.partition || Number(a.offset) - Number(b.offset)
  );
}
