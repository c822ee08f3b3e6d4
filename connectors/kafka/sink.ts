/**
 * The Kafka sink: every change of a table becomes one record on one topic,
 * keyed by row id; the records of up to `commitFrequencyInMessages` commits go
 * in one produce request, acknowledged by all in-sync replicas.
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
import type { Logger, Sink } from "../types.ts";
import { silentLogger } from "../types.ts";

/** Turns one change of a commit at `time` into a record value (JSON text or bytes). */
export type ChangeEncoder<R extends Row = Row> = (
  change: Change<R>,
  time: Time,
) => Uint8Array | string;

/** Options for {@linkcode KafkaSink}. */
export interface KafkaSinkOptions<R extends Row = Row> {
  /** Brokers and credentials (`groupId` is not used). */
  readonly config: ClientConfig;
  /** The output topic. */
  readonly topic: string;
  /** Encodes a change as the record's value, e.g. `encodeChange` of `formats/encode_json.ts`. */
  readonly encode: ChangeEncoder<R>;
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
  /** Milliseconds the first waiting commit may wait for more before its request is sent. Default 100. */
  readonly lingerMs?: number;
  /**
   * How long a produce request is retried while Kafka is unavailable (broker
   * restarting, leader moving) before the sink fails. Default 300,000 ms. The
   * idempotent producer keeps a retried request from writing twice.
   */
  readonly retryForMs?: number;
  /** Create the topic (one partition) when it does not exist. Default true; when false a missing topic fails `open`. */
  readonly createTopic?: boolean;
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
  bytes: number;
  /** Commits whose last record is among `records`, resolved once the request is acknowledged. */
  readonly commits: { resolve: () => void; reject: (error: Error) => void }[];
}

const emptyWaiting = (): Waiting => ({ records: [], bytes: requestOverheadBytes, commits: [] });

/**
 * Writes the changes of a table to a Kafka topic, in commit order, all to
 * partition 0: one partition keeps the whole change stream in one order (a
 * retraction before its insertion, times never decreasing) and lets a
 * `*COMMIT*` record close a commit for every reader.
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
    this.#options = options;
    this.#logger = options.logger ?? silentLogger;
    this.#client = options.client;
    this.#maxRequestBytes = options.maxRequestBytes ?? options.config.maxRequestBytes ?? 1_000_000;
    this.#commitsPerRequest = perRequest;
    this.#lingerMs = options.lingerMs ?? 100;
    this.name = `kafka:${options.topic}`;
  }

  /** Connects and makes sure the topic exists (creating it unless `createTopic` is false). */
  async open(): Promise<void> {
    const admin: Admin = this.#client.admin();
    await connectExplained(() => admin.connect(), this.#options.config);
    try {
      const topic = this.#options.topic;
      if (!(await admin.listTopics()).includes(topic)) {
        if (this.#options.createTopic === false) {
          throw new Error(`Output topic ${JSON.stringify(topic)} does not exist`);
        }
        this.#logger.info("Creating the output topic", { sink: this.name, topic });
        await admin.createTopic({ topic, partitions: 1 });
      }
    } finally {
      await admin.disconnect();
    }
    const producer = this.#client.producer({ idempotent: true });
    await connectExplained(() => producer.connect(), this.#options.config);
    this.#producer = producer;
  }

  /** Queues the changes of one commit; resolves when the broker acknowledged them. */
  write(batch: Batch<R>): Promise<void> {
    if (this.#producer === undefined) {
      return Promise.reject(new Error(`Sink ${this.name} is not open`));
    }
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    let encoded: CommitRecords;
    try {
      encoded = this.commitRecords(batch);
    } catch (error) {
      return Promise.reject(error);
    }
    const { records, sizes } = encoded;
    const acknowledged = new Promise<void>((resolve, reject) => {
      for (let i = 0; i < records.length; i++) {
        if (this.#waiting.bytes + sizes[i] > this.#maxRequestBytes) this.#send();
        this.#waiting.records.push(records[i]);
        this.#waiting.bytes += sizes[i];
      }
      this.#waiting.commits.push({ resolve, reject });
    });
    this.#waitingCommits++;
    if (this.#waitingCommits >= this.#commitsPerRequest) this.#send();
    else this.#linger ??= setTimeout(() => this.#send(), this.#lingerMs);
    return acknowledged;
  }

  /**
   * Encodes the changes of one commit as this sink's records without sending
   * them; throws {@linkcode RecordTooLargeError} for a record no request can hold.
   */
  commitRecords(batch: Batch<R>): CommitRecords {
    const { encode, topic } = this.#options;
    const records: ProduceRecord[] = [];
    const sizes: number[] = [];
    for (const change of batch.changes) {
      const value = encode(change, batch.time);
      records.push({ key: change.id, value, partition: 0 });
      sizes.push(this.#recordBytes(change.id, value));
    }
    if (this.#options.commitMarkers === true) {
      records.push({ key: null, value: commitMarker, partition: 0 });
      sizes.push(commitMarker.length + recordOverheadBytes);
    }
    for (const size of sizes) {
      if (size + requestOverheadBytes > this.#maxRequestBytes) {
        throw new RecordTooLargeError(topic, size, this.#maxRequestBytes);
      }
    }
    return { topic, records, sizes };
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

  #recordBytes(key: string, value: Uint8Array | string): number {
    const valueBytes = typeof value === "string"
      ? Buffer.byteLength(value, "utf8")
      : value.byteLength;
    return key.length + valueBytes + recordOverheadBytes;
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
    const topic = this.#options.topic;
    const producer = this.#producer!;
    this.#sending = this.#sending.then(async () => {
      // After a failed request nothing later may land: the order would break.
      if (this.#failure !== undefined) throw this.#failure;
      if (waiting.records.length > 0) {
        const request = [{ topic, records: waiting.records }];
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
          retryForMs: this.#options.retryForMs ?? 300_000,
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
