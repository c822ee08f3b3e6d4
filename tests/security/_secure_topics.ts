/**
 * Topics on the secure broker for end-to-end tests, reached in any security
 * mode with rivulet's own Kafka client: create, produce the seed's stream,
 * read back what a pipeline wrote.
 *
 * @module
 */
import type { ClientConfig } from "../../connectors/kafka/config.ts";
import { makeTestClient } from "../support/kafka.ts";
import { translateSettings } from "../../connectors/kafka/settings.ts";

/** The seed's generator: a header, then 0..9 each followed by `*COMMIT*`, all on partition 0. */
export const seedStream: readonly string[] = [
  "value",
  ...Array.from({ length: 10 }, (_, i) => [String(i), "*COMMIT*"]).flat(),
];

/** The seed's `sum` topic as `[sum, diff]` pairs: +0, then -0 +1, -1 +3, ... -36 +45. */
export function seedSums(): [number, number][] {
  const expected: [number, number][] = [[0, 1]];
  for (let i = 1, sum = 0; i <= 9; sum += i, i++) expected.push([sum, -1], [sum + i, 1]);
  return expected;
}

/** A topic name no other test or run has used. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${crypto.randomUUID().slice(0, 8)}`;
}

/** The client configuration of librdkafka settings, without reading the environment. */
export function configOf(settings: Record<string, string>): ClientConfig {
  return translateSettings(settings, { env: () => undefined }).config;
}

/** Creates the topics (one partition each). */
export async function createTopics(config: ClientConfig, topics: readonly string[]) {
  const admin = makeTestClient(config).admin();
  await admin.connect();
  try {
    for (const topic of topics) await admin.createTopic({ topic });
  } finally {
    await admin.disconnect();
  }
}

/** Produces the values in order to partition 0, one request each (as the seed's generator). */
export async function produceValues(
  config: ClientConfig,
  topic: string,
  values: readonly string[],
): Promise<void> {
  const producer = makeTestClient(config).producer();
  await producer.connect();
  try {
    for (const value of values) {
      await producer.send([{ topic, records: [{ key: null, value, partition: 0 }] }]);
    }
  } finally {
    await producer.disconnect();
  }
}

/** A record read back: its key and its value as text. */
export interface ReadRecord {
  readonly key: string | null;
  readonly value: string;
}

/** Options for {@linkcode readRecords}. */
export interface ReadRecordsOptions {
  /** Resolve once this many records arrived. */
  readonly count: number;
  /** Give up waiting after this long and return what arrived (default 30,000 ms). */
  readonly timeoutMs?: number;
}

/** Reads a topic from its beginning until `count` records arrived (or the time is up). */
export async function readRecords(
  config: ClientConfig,
  topic: string,
  options: ReadRecordsOptions,
): Promise<ReadRecord[]> {
  const consumer = makeTestClient(config).consumer({
    groupId: uniqueName("security-reader"),
    topics: [topic],
    autoOffsetReset: "earliest",
  });
  const records: ReadRecord[] = [];
  const decoder = new TextDecoder();
  let enough!: () => void;
  const arrived = new Promise<void>((resolve) => (enough = resolve));
  const timer = setTimeout(enough, options.timeoutMs ?? 30_000);
  await consumer.connect();
  try {
    await consumer.run({
      onBatch: (batch) => {
        for (const message of batch.messages) {
          records.push({
            key: message.key === null ? null : decoder.decode(message.key),
            value: decoder.decode(message.value ?? new Uint8Array()),
          });
        }
        if (records.length >= options.count) enough();
        return Promise.resolve();
      },
    });
    await arrived;
  } finally {
    clearTimeout(timer);
    await consumer.disconnect();
  }
  return records;
}
