/**
 * The Kafka sink: every change of a table becomes one record, keyed by row id
 * (or a key the caller derives), on the partition Kafka's Java client would
 * choose for that key (murmur2); the records of up to
 * `commitFrequencyInMessages` commits go in one produce request, acknowledged
 * by all in-sync replicas.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type { Batch, Change, Row, Time } from "../../engine/types.ts";
import type { ClientConfig } from "./config.ts";
import type {
  Admin,
  KafkaClient,
  Producer,
  ProduceRecord,
  TransactionalProducer,
  TransactionalProducerOptions,
} from "./client.ts";
import { connectExplained } from "./connection_error.ts";
import { retryWhileRetriable } from "./_retry.ts";
import { keyPartition } from "./murmur2.ts";
import type { Logger, Sink } from "../types.ts";
import { silentLogger } from "../types.ts";

/** Turns one change of a commit at `time` into a record value (JSON text or bytes). */
export type ChangeEncoder<R extends Row = Row> = (
  change: Change<R>,
  time: Time,
) => Uint8Array | string;

/** Bytes or text for a record's key or a header. */
export type RecordBytes = Uint8Array | string;

/** Options for {@linkcode KafkaSink}. */
export interface KafkaSinkOptions<R extends Row = Row> {
  /** Brokers and credentials (`groupId` is not used). */
  readonly config: ClientConfig;
  /**
   * The output topic. With {@linkcode KafkaSinkOptions.topicOf} it is only the
   * sink's name (and may be left out).
   */
  readonly topic?: string;
  /** Encodes a change as the record's value, e.g. `encodeChange` of `formats/encode_json.ts`. */
  readonly encode: ChangeEncoder<R>;
  /** The record key of a change (default: its row id). It also chooses the partition. */
  readonly key?: (change: Change<R>) => RecordBytes;
  /** Headers of a change's record (default: none). */
  readonly headers?: (change: Change<R>, time: Time) => Readonly<Record<string, RecordBytes>>;
  /**
   * Dynamic topics: the topic of each change's record. A topic seen for the
   * first time is created (one partition) unless `createTopic` is false.
   * Exactly-once mode needs one fixed topic.
   */
  readonly topicOf?: (change: Change<R>) => string;
  /**
   * The Kafka client, shared by the parts that use the same settings; its
   * owner (the pipeline) closes it.
   */
  readonly client: KafkaClient;
  readonly logger?: Logger;
  /** Ends each commit with a `*COMMIT*` record, so a rivulet source reads it atomically. Default false. */
  readonly commitMarkers?: boolean;
  /** Commits whose records go in one produce request at most (Pathway's `commit_frequency_in_messages`). Default 1. */
  readonly commitFrequencyInMessages?: number;
  /**
   * Largest produce request in bytes, as estimated from keys, values, headers
   * and Kafka's per-record overhead. Default `config.maxRequestBytes`, else
   * 1,000,000 (below the broker's default `message.max.bytes` of 1 MiB).
   */
  readonly maxRequestBytes?: number;
  /**
   * Milliseconds the first waiting commit may wait for more before its request
   * is sent. Default `config.lingerMs` (`linger.ms`), else 100.
   */
  readonly lingerMs?: number;
  /**
   * How long a produce request is retried while Kafka is unavailable (broker
   * restarting, leader moving) before the sink fails. Default
   * `config.deliveryTimeoutMs` (`message.timeout.ms`), else 300,000 ms. The
   * idempotent producer keeps a retried request from writing twice.
   */
  readonly retryForMs?: number;
  /** Create the topic when it does not exist. Default true; when false a missing topic fails `open`. */
  readonly createTopic?: boolean;
  /**
   * Partitions of an output topic the sink creates (default 1: one ordered
   * change stream, right for a global result). When given, a topic that
   * already exists must have this many: another count would send a key's
   * changes to another partition than the one its earlier changes are in.
   */
  readonly partitions?: number;
}

/** What a sink has had acknowledged so far. */
export interface SinkStats {
  /** Produce requests acknowledged (a client's internal retry of one is not counted). */
  readonly produceRequests: number;
  /** Records acknowledged, `*COMMIT*` markers included. */
  readonly records: number;
  /** Estimated bytes of those records (keys, values, headers, per-record overhead). */
  readonly bytes: number;
  /** Commits acknowledged. */
  readonly commits: number;
}

/** The records of one commit, encoded but not sent (exactly-once mode sends them in a transaction). */
export interface CommitRecords {
  /** The sink's one topic (a sink with dynamic topics has no commit records). */
  readonly topic: string;
  readonly records: readonly ProduceRecord[];
  /** Estimated size of each record, as for a produce request's limit. */
  readonly sizes: readonly number[];
}

/** A record larger than a produce request may be. */
export class RecordTooLargeError extends Error {
  constructor(topic: string, bytes: number, maxRequestBytes: number) {
    super(
      `Cannot write a record of ${bytes} bytes to topic ${
        JSON.stringify(topic)
      }: the largest request is ${maxRequestBytes} bytes`,
    );
    this.name = "RecordTooLargeError";
  }
}

const commitMarker = "*COMMIT*";
// Kafka's record batch header (61 bytes) and a generous bound of one record's
// own framing (length, attributes, timestamp and offset deltas, key and value
// lengths, header count): the estimate must never be below the real size.
const requestOverheadBytes = 61 + 64;
const recordOverheadBytes = 24;

interface Waiting {
  readonly records: ProduceRecord[];
  /** With dynamic topics, each record's topic (parallel to `records`). */
  readonly topics: string[];
  bytes: number;
  /** Commits whose last record is among `records`, resolved once the request is acknowledged. */
  readonly commits: { resolve: () => void; reject: (error: Error) => void }[];
}

const emptyWaiting = (): Waiting => ({
  records: [],
  topics: [],
  bytes: requestOverheadBytes,
  commits: [],
});

/** One change encoded, before its partition is known. */
interface Encoded {
  readonly topic: string;
  readonly key: RecordBytes;
  readonly value: RecordBytes;
  readonly headers: Readonly<Record<string, RecordBytes>> | undefined;
  readonly size: number;
}

const utf8 = new TextEncoder();

/**
 * Writes the changes of a table to a Kafka topic (or, with `topicOf`, to each
 * change's own topic), in commit order. A record goes to the partition Kafka's
 * Java client would pick for its key (`murmur2(key) % partitions`): every
 * change of one key stays in one partition, in order (a retraction before its
 * insertion, times never decreasing). The output topic is created with one
 * partition, which keeps the whole change stream in one order; on a topic with
 * more partitions, a `*COMMIT*` record closes the commit on each partition that
 * got records in it.
 *
 * `write` resolves once the commit's records are acknowledged, which may wait
 * for later commits to fill the request (up to `commitFrequencyInMessages`)
 * or for `lingerMs`: a caller keeps writing without awaiting each write, and
 * awaits them (or `flush`) before committing its input offsets.
 *
 * @example
 * ```ts ignore
 * const client = await createKafkaClient("kafkajs", config);
 * const sink = new KafkaSink({ config, client, topic: "sum", encode: encodeChange, commitMarkers: true });
 * await sink.open();
 * await sink.write({ time: 2, changes: [{ id: "0".repeat(32), row: { sum: 1 }, diff: 1 }] });
 * await sink.close();
 * ```
 */
export class KafkaSink<R extends Row = Row> implements Sink<R> {
  readonly name: string;
  readonly #options: KafkaSinkOptions<R>;
  readonly #client: KafkaClient;
  readonly #logger: Logger;
  readonly #maxRequestBytes: number;
  readonly #commitsPerRequest: number;
  readonly #lingerMs: number;
  readonly #retryForMs: number;
  /** Partition counts of the topics written so far (fixed at first sight). */
  readonly #partitions = new Map<string, number>();
  /** Dynamic topics: the commits wait here, in order, until their topics are known. */
  #topicsReady: Promise<void> = Promise.resolve();
  #producer: Producer | undefined;
  #waiting: Waiting = emptyWaiting();
  #waitingCommits = 0;
  #linger: ReturnType<typeof setTimeout> | undefined;
  /** The last request sent; requests go one after another, in order. */
  #sending: Promise<void> = Promise.resolve();
  #failure: Error | undefined;
  /** The last produce request failed and is being retried. */
  #retrying = false;
  #stats: SinkStats = { produceRequests: 0, records: 0, bytes: 0, commits: 0 };

  constructor(options: KafkaSinkOptions<R>) {
    const perRequest = options.commitFrequencyInMessages ?? 1;
    if (!Number.isInteger(perRequest) || perRequest < 1) {
      throw new Error(
        `commitFrequencyInMessages must be a positive integer, not ${JSON.stringify(perRequest)}`,
      );
    }
    if (options.topic === undefined && options.topicOf === undefined) {
      throw new Error("A Kafka sink needs a topic, or topicOf to take each record's topic");
    }
    const partitions = options.partitions;
    if (partitions !== undefined && (!Number.isInteger(partitions) || partitions < 1)) {
      throw new Error(`partitions must be a positive integer, not ${JSON.stringify(partitions)}`);
    }
    this.#options = options;
    this.#logger = options.logger ?? silentLogger;
    this.#client = options.client;
    const config = options.config;
    this.#maxRequestBytes = Math.min(
      options.maxRequestBytes ?? config.maxRequestBytes ?? 1_000_000,
      config.batchMaxBytes ?? Infinity,
    );
    this.#commitsPerRequest = perRequest;
    this.#lingerMs = options.lingerMs ?? config.lingerMs ?? 100;
    this.#retryForMs = options.retryForMs ?? config.deliveryTimeoutMs ?? 300_000;
    this.name = options.topicOf === undefined
      ? `kafka:${options.topic}`
      : `kafka:${options.topic ?? "(topic per record)"}`;
  }

  /**
   * Connects, makes sure the topic exists (creating it unless `createTopic` is
   * false) and learns its partition count.
   */
  async open(): Promise<void> {
    if (this.#options.topicOf === undefined) await this.#learnTopics([this.#options.topic!]);
    const config = this.#options.config;
    const producer = this.#client.producer({ idempotent: config.idempotence ?? true });
    await connectExplained(() => producer.connect(), config);
    this.#producer = producer;
  }

  /** Creates the topics that do not exist yet (unless `createTopic` is false) and learns their partition counts. */
  async #learnTopics(topics: readonly string[]): Promise<void> {
    const admin: Admin = this.#client.admin();
    await connectExplained(() => admin.connect(), this.#options.config);
    try {
      const existing = new Set(await admin.listTopics());
      for (const topic of topics) {
        if (!existing.has(topic)) {
          if (this.#options.createTopic === false) {
            throw new Error(`Output topic ${JSON.stringify(topic)} does not exist`);
          }
          const wanted = this.#options.partitions ?? 1;
          this.#logger.info("Creating the output topic", {
            sink: this.name,
            topic,
            partitions: wanted,
          });
          await admin.createTopic({ topic, partitions: wanted }).catch(async (error) => {
            // Another instance of the pipeline starting at the same time may have created it.
            if (!(await admin.listTopics()).includes(topic)) throw error;
          });
        }
        // A topic created a moment ago may not have its leader known everywhere yet.
        let partitions = 0;
        await retryWhileRetriable(async () => {
          partitions = (await admin.partitionOffsets(topic)).length;
        }, { logger: this.#logger, name: this.name, retryForMs: 60_000, initialDelayMs: 100 });
        const wanted = this.#options.partitions;
        if (wanted !== undefined && partitions !== wanted) {
          throw new Error(
            `Output topic ${JSON.stringify(topic)} has ${partitions} partition${
              partitions === 1 ? "" : "s"
            }, not the ${wanted} asked for: records are placed by murmur2(key) % partitions, ` +
              `so another count would move keys. Ask for ${partitions}, or write to a new topic`,
          );
        }
        this.#partitions.set(topic, Math.max(1, partitions));
      }
    } finally {
      await admin.disconnect();
    }
  }

  /** Queues the changes of one commit; resolves when the broker acknowledged them. */
  write(batch: Batch<R>): Promise<void> {
    if (this.#producer === undefined) {
      return Promise.reject(new Error(`Sink ${this.name} is not open`));
    }
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    let encoded: Encoded[];
    try {
      encoded = this.#encode(batch);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.#options.topicOf === undefined) return this.#enqueue(this.#place(encoded));
    // Dynamic topics: a commit waits (after the commits before it) until every
    // topic it writes to exists and its partition count is known.
    const unknown = [...new Set(encoded.map((e) => e.topic))].filter((t) =>
      !this.#partitions.has(t)
    );
    const ready = this.#topicsReady.then(() =>
      unknown.length === 0 ? undefined : this.#learnTopics(unknown)
    );
    this.#topicsReady = ready.catch(() => {});
    return ready.then(() => this.#enqueue(this.#place(encoded)), (error) => {
      this.#failure ??= error instanceof Error ? error : new Error(String(error));
      throw this.#failure;
    });
  }

  #enqueue(placed: { topics: string[]; records: ProduceRecord[]; sizes: number[] }): Promise<void> {
    const { topics, records, sizes } = placed;
    const acknowledged = new Promise<void>((resolve, reject) => {
      for (let i = 0; i < records.length; i++) {
        if (this.#waiting.bytes + sizes[i] > this.#maxRequestBytes) this.#send();
        if (
          this.#options.config.batchMaxMessages !== undefined &&
          this.#waiting.records.length >= this.#options.config.batchMaxMessages
        ) {
          this.#send();
        }
        this.#waiting.records.push(records[i]);
        this.#waiting.topics.push(topics[i]);
        this.#waiting.bytes += sizes[i];
      }
      this.#waiting.commits.push({ resolve, reject });
    });
    this.#waitingCommits++;
    if (this.#waitingCommits >= this.#commitsPerRequest) this.#send();
    else this.#linger ??= setTimeout(() => this.#send(), this.#lingerMs);
    return acknowledged;
  }

  /** Encodes each change of a commit: topic, key, value, headers and estimated size. */
  #encode(batch: Batch<R>): Encoded[] {
    const { encode, key, headers, topicOf } = this.#options;
    const fixedTopic = this.#options.topic!;
    const encoded: Encoded[] = new Array(batch.changes.length);
    for (let i = 0; i < batch.changes.length; i++) {
      const change = batch.changes[i];
      const value = encode(change, batch.time);
      const recordKey = key === undefined ? change.id : key(change);
      const recordHeaders = headers?.(change, batch.time);
      const topic = topicOf === undefined ? fixedTopic : topicOf(change);
      const size = this.#recordBytes(recordKey, value, recordHeaders);
      if (size + requestOverheadBytes > this.#maxRequestBytes) {
        throw new RecordTooLargeError(topic, size, this.#maxRequestBytes);
      }
      encoded[i] = { topic, key: recordKey, value, headers: recordHeaders, size };
    }
    return encoded;
  }

  /**
   * Gives each record its partition (murmur2 of the key, as the Java client)
   * and adds the commit's `*COMMIT*` records: one on each partition that got
   * records in this commit, or one on partition 0 of the sink's topic for a
   * commit without changes.
   */
  #place(encoded: readonly Encoded[]): {
    topics: string[];
    records: ProduceRecord[];
    sizes: number[];
  } {
    const topics: string[] = new Array(encoded.length);
    const records: ProduceRecord[] = new Array(encoded.length);
    const sizes: number[] = new Array(encoded.length);
    const markers = this.#options.commitMarkers === true;
    const touched = markers ? new Map<string, { topic: string; partition: number }>() : undefined;
    for (let i = 0; i < encoded.length; i++) {
      const { topic, key, value, headers, size } = encoded[i];
      const count = this.#partitions.get(topic) ?? 1;
      // One partition (the default output topic) needs no hash: partition 0.
      const partition = count === 1
        ? 0
        : keyPartition(typeof key === "string" ? utf8.encode(key) : key, count);
      topics[i] = topic;
      records[i] = headers === undefined
        ? { key, value, partition }
        : { key, value, headers, partition };
      sizes[i] = size;
      touched?.set(`${topic}\u0000${partition}`, { topic, partition });
    }
    if (touched !== undefined) {
      if (touched.size === 0 && this.#options.topic !== undefined) {
        touched.set("", { topic: this.#options.topic, partition: 0 });
      }
      for (const { topic, partition } of touched.values()) {
        topics.push(topic);
        records.push({ key: null, value: commitMarker, partition });
        sizes.push(commitMarker.length + recordOverheadBytes);
      }
    }
    return { topics, records, sizes };
  }

  /**
   * Encodes the changes of one commit as this sink's records without sending
   * them; throws {@linkcode RecordTooLargeError} for a record no request can hold.
   */
  commitRecords(batch: Batch<R>): CommitRecords {
    if (this.#options.topicOf !== undefined) {
      throw new Error(
        `Sink ${this.name} writes each record to the topic named by a column: ` +
          `exactly-once mode needs one fixed output topic`,
      );
    }
    const { records, sizes } = this.#place(this.#encode(batch));
    return { topic: this.#options.topic!, records, sizes };
  }

  /** The one output topic; undefined with a topic per record (`topicOf`). */
  get fixedTopic(): string | undefined {
    return this.#options.topicOf === undefined ? this.#options.topic : undefined;
  }

  /** Largest produce request in bytes (records of a transaction are sent in requests up to it). */
  get maxRequestBytes(): number {
    return this.#maxRequestBytes;
  }

  /** The Kafka client of this sink's cluster (exactly-once mode writes changelogs through it). */
  get kafkaClient(): KafkaClient {
    return this.#client;
  }

  /** A transactional producer on this sink's cluster, for exactly-once mode. */
  transactionalProducer(options: TransactionalProducerOptions): TransactionalProducer {
    return this.#client.transactionalProducer(options);
  }

  #recordBytes(
    key: RecordBytes,
    value: RecordBytes,
    headers: Readonly<Record<string, RecordBytes>> | undefined,
  ): number {
    let bytes = byteLength(key) + byteLength(value) + recordOverheadBytes;
    if (headers !== undefined) {
      for (const name in headers) bytes += byteLength(name) + byteLength(headers[name]) + 10;
    }
    return bytes;
  }

  /** Sends what waits as one request, after the requests before it. */
  #send(): void {
    if (this.#linger !== undefined) {
      clearTimeout(this.#linger);
      this.#linger = undefined;
    }
    const waiting = this.#waiting;
    this.#waiting = emptyWaiting();
    this.#waitingCommits = 0;
    if (waiting.records.length === 0 && waiting.commits.length === 0) return;
    const producer = this.#producer!;
    this.#sending = this.#sending.then(async () => {
      // After a failed request nothing later may land: the order would break.
      if (this.#failure !== undefined) throw this.#failure;
      if (waiting.records.length > 0) {
        const request = byTopic(waiting);
        const attempt = () =>
          producer.send(request).then(() => {
            this.#retrying = false;
          }, (error) => {
            this.#retrying = true;
            throw error;
          });
        await retryWhileRetriable(attempt, {
          logger: this.#logger,
          name: this.name,
          retryForMs: this.#retryForMs,
        });
      }
      const stats = this.#stats;
      this.#stats = {
        produceRequests: stats.produceRequests + (waiting.records.length > 0 ? 1 : 0),
        records: stats.records + waiting.records.length,
        bytes: stats.bytes + waiting.bytes - requestOverheadBytes,
        commits: stats.commits + waiting.commits.length,
      };
    }).then(
      () => {
        for (const commit of waiting.commits) commit.resolve();
      },
      (error: unknown) => {
        this.#failure ??= error instanceof Error ? error : new Error(String(error));
        this.#logger.error("Kafka sink failed to write", {
          sink: this.name,
          error: this.#failure.message,
        });
        for (const commit of waiting.commits) commit.reject(this.#failure);
      },
    );
  }

  /** Sends whatever waits now; resolves when every earlier write is acknowledged, rejects if one failed. */
  async flush(): Promise<void> {
    await this.#topicsReady;
    this.#send();
    await this.#sending;
    if (this.#failure !== undefined) throw this.#failure;
  }

  /** `retrying` while a produce request waits for Kafka to come back. */
  connectionState(): "connected" | "retrying" {
    return this.#retrying && this.#failure === undefined ? "retrying" : "connected";
  }

  /** Counts of what the broker acknowledged, so far. */
  stats(): SinkStats {
    return this.#stats;
  }

  /** Flushes, then disconnects. */
  async close(): Promise<void> {
    try {
      if (this.#producer !== undefined) await this.flush();
    } finally {
      await this.#producer?.disconnect();
      this.#producer = undefined;
    }
  }
}

function byteLength(bytes: RecordBytes): number {
  return typeof bytes === "string" ? Buffer.byteLength(bytes, "utf8") : bytes.byteLength;
}

/** The waiting records as one request: per topic, in the order they were written. */
function byTopic(waiting: Waiting): { topic: string; records: ProduceRecord[] }[] {
  const topics = waiting.topics;
  const first = topics[0];
  if (topics.every((t) => t === first)) return [{ topic: first, records: waiting.records }];
  const grouped = new Map<string, ProduceRecord[]>();
  for (let i = 0; i < topics.length; i++) {
    let records = grouped.get(topics[i]);
    if (records === undefined) grouped.set(topics[i], records = []);
    records.push(waiting.records[i]);
  }
  return [...grouped].map(([topic, records]) => ({ topic, records }));
}
