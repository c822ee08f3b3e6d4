/**
 * What the Kafka benchmark's processes share: the broker, topic creation,
 * fast batch produce, and the input streams of each scenario.
 *
 * The kafkajs programs here import rivulet's kafkajs repairs
 * (`connectors/kafka/kafkajs/_patches.ts`) first, so the ceiling is the Kafka
 * client exactly as rivulet runs it (without the repairs kafkajs' produce is
 * quadratic in the records of a request, which would flatter rivulet).
 *
 * @module
 */
import "../../connectors/kafka/kafkajs/_patches.ts";
import { Kafka, logLevel, type Message } from "kafkajs";

/** The broker the benchmark uses: `RIVULET_BENCH_BROKER`, else the local broker (at `KAFKA_PORT`, as scripts/kafka.sh). */
export const benchBroker: string = Deno.env.get("RIVULET_BENCH_BROKER") ??
  `127.0.0.1:${Deno.env.get("KAFKA_PORT") ?? "9092"}`;

/** A quiet kafkajs client for the benchmark broker. */
export function benchKafka(clientId = "rivulet-bench"): Kafka {
  return new Kafka({ clientId, brokers: [benchBroker], logLevel: logLevel.NOTHING });
}

/** A topic name no earlier run used. */
export function uniqueTopic(prefix: string): string {
  return `bench-${prefix}-${crypto.randomUUID().slice(0, 8)}`;
}

/** Creates one-partition topics (with broker configs, e.g. LogAppendTime) and waits for leaders. */
export async function createTopics(
  topics: readonly string[],
  configEntries: readonly { name: string; value: string }[] = [],
): Promise<void> {
  const admin = benchKafka().admin();
  await admin.connect();
  try {
    await admin.createTopics({
      topics: topics.map((topic) => ({
        topic,
        numPartitions: 1,
        configEntries: [...configEntries],
      })),
      waitForLeaders: true,
    });
  } finally {
    await admin.disconnect();
  }
}

/** Deletes topics, so that repeated runs do not fill the broker's disk. */
export async function deleteTopics(topics: readonly string[]): Promise<void> {
  if (topics.length === 0) return;
  const admin = benchKafka().admin();
  await admin.connect();
  try {
    await admin.deleteTopics({ topics: [...topics], timeout: 30_000 });
  } catch {
    // A topic left behind costs disk space, not correctness.
  } finally {
    await admin.disconnect();
  }
}

const maxRequestBytes = 800_000;

/** Options of {@linkcode produceFast}. */
export interface ProduceFastOptions {
  readonly topic: string;
  /** The message values, in order. */
  readonly values: Iterable<string>;
  /** Records per produce request at most (default 50,000). */
  readonly recordsPerSend?: number;
}

/**
 * Produces values to partition 0 in order, many records per request, the
 * next request built while the previous one is in flight. One request at a
 * time: with several produce requests in flight to one partition, kafkajs
 * 2.2.4 (non-idempotent, under Deno) was seen to swap records between them
 * (the last record of one request with a record of an earlier one), which
 * would move `*COMMIT*` markers.
 */
export async function produceFast(options: ProduceFastOptions): Promise<number> {
  const { topic, recordsPerSend = 50_000 } = options;
  const producer = benchKafka("rivulet-bench-producer").producer({
    allowAutoTopicCreation: false,
    idempotent: true,
    maxInFlightRequests: 1,
  });
  await producer.connect();
  let count = 0;
  let inFlight: Promise<unknown> = Promise.resolve();
  try {
    let messages: Message[] = [];
    let bytes = 0;
    const send = async () => {
      await inFlight;
      inFlight = producer.send({ topic, messages, acks: -1 });
      messages = [];
      bytes = 0;
    };
    for (const value of options.values) {
      messages.push({ value, partition: 0 });
      count++;
      // Values are ASCII here; 8 bytes of framing a record, under the broker's 1 MiB limit.
      bytes += value.length + 8;
      if (messages.length >= recordsPerSend || bytes >= maxRequestBytes) await send();
    }
    if (messages.length > 0) await send();
    await inFlight;
  } finally {
    await producer.disconnect();
  }
  return count;
}

/**
 * The seed's stream at scale: the csv header `value`, then integers 1..100 in
 * turn with a `*COMMIT*` after every `commitEvery` of them, `messages` messages
 * in all (header and markers included), ending with a marker. No value is 0,
 * so every commit changes the sum and is one write of the sink.
 */
export function* seedStream(messages: number, commitEvery: number): Generator<string> {
  yield "value";
  let produced = 1;
  let value = 0;
  while (produced < messages) {
    for (let i = 0; i < commitEvery && produced < messages - 1; i++, produced++) {
      yield String(value + 1);
      value = (value + 1) % 100;
    }
    yield "*COMMIT*";
    produced++;
  }
}

/**
 * Commits of a stream that hold at least one row: each changes the result of
 * the benchmark's pipelines, so each is one write of the sink. (A stream may
 * end with a marker that closes nothing.)
 */
export function nonEmptyCommits(stream: Iterable<string>): number {
  let commits = 0;
  let rows = 0;
  for (const value of stream) {
    if (value !== "*COMMIT*") rows++;
    else if (rows > 0) {
      commits++;
      rows = 0;
    }
  }
  return commits;
}

/** Keys and groups of the group-by stream. */
export const groupbyKeys = 10_000;
export const groupbyGroups = 1_000;

/**
 * Orders as json objects: `id` cycles through {@linkcode groupbyKeys} keys, so
 * after the first round every row replaces an earlier one (an upsert), and
 * each row's `customer` (one of {@linkcode groupbyGroups}) changes between
 * rounds, so upserts move rows between groups. A `*COMMIT*` follows every
 * `commitEvery` orders; `messages` messages in all, ending with a marker.
 */
export function* groupbyStream(messages: number, commitEvery: number): Generator<string> {
  let produced = 0;
  let n = 0;
  while (produced < messages) {
    for (let i = 0; i < commitEvery && produced < messages - 1; i++, produced++, n++) {
      const id = n % groupbyKeys;
      const round = Math.floor(n / groupbyKeys);
      const customer = `c${(id * 7 + round) % groupbyGroups}`;
      yield `{"id":${id},"customer":"${customer}","amount":${(n * 13) % 1000}}`;
    }
    yield "*COMMIT*";
    produced++;
  }
}

/** What a measuring process prints as its last line of standard output, as JSON. */
export interface RunResult {
  /** Messages read from the input topic (header and markers included). */
  readonly messages: number;
  /** Seconds from the group join to the last message handled (ceilings) or the last output acknowledged (rivulet). */
  readonly seconds: number;
  /** Output records written, where there is output. */
  readonly outputRecords?: number;
}

/** Keys of the key-value group-by stream (the Pathway comparison's second workload). */
export const kvGroupbyKeys = 10_000;

/**
 * The Pathway comparison's group-by input: `{"k":…,"v":…}` objects with `k`
 * drawn from {@linkcode kvGroupbyKeys} keys by a fixed pseudo-random sequence
 * (the same stream every run) and `v` in 1..100, a `*COMMIT*` after every
 * `commitEvery`, `messages` messages in all, ending with a marker. With commits
 * of 10,000 each commit touches about 63% of the keys, so `groupby(k).sum(v)`
 * writes about 1.25 M records for 1,000,000 messages: every input row turns
 * into output, unlike the seed's single sum.
 */
export function* kvGroupbyStream(messages: number, commitEvery: number): Generator<string> {
  let produced = 0;
  let n = 0;
  // xorshift32: a deterministic spread of keys that Python and Deno need not share.
  let state = 0x9e3779b9;
  while (produced < messages) {
    for (let i = 0; i < commitEvery && produced < messages - 1; i++, produced++, n++) {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      state >>>= 0;
      yield `{"k":${state % kvGroupbyKeys},"v":${1 + (n * 13) % 100}}`;
    }
    yield "*COMMIT*";
    produced++;
  }
}

/**
 * Records a `groupby(k).reduce(sum(v))` writes for a stream of
 * {@linkcode kvGroupbyStream}, one commit at a time: a key new in a commit is
 * one insertion, a key already present a retraction and an insertion (`v` is
 * never 0, so every touched key's sum changes).
 */
export function kvGroupbyOutputRecords(stream: Iterable<string>): number {
  const seen = new Set<number>();
  let touched = new Set<number>();
  let records = 0;
  const close = () => {
    for (const k of touched) {
      records += seen.has(k) ? 2 : 1;
      seen.add(k);
    }
    touched = new Set();
  };
  for (const value of stream) {
    if (value === "*COMMIT*") close();
    else touched.add((JSON.parse(value) as { k: number }).k);
  }
  close();
  return records;
}
