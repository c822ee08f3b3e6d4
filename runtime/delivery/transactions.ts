/**
 * Exactly-once delivery on Kafka transactions: the records of the commits
 * since the last checkpoint and the consumer groups' offsets after them go in
 * one transaction, so a `read_committed` reader sees each change once and the
 * group's committed offsets say which checkpoint the outputs belong to.
 *
 * The order that makes a crash at any instant safe:
 * 1. the checkpoint of the transaction's end is written as the *pending*
 *    checkpoint (synced) before the transaction commits;
 * 2. records and offsets are sent and the transaction commits;
 * 3. the pending checkpoint becomes the current one.
 *
 * After a crash the next producer with the same transactional id fences the
 * old one and settles its open transaction (committed if it had asked to,
 * aborted otherwise); the group's committed offsets then equal the positions
 * of exactly one of the two checkpoints, and that one is restored.
 *
 * @module
 */
import type { Position, Sink, Source } from "../../connectors/types.ts";
import type { Logger } from "../../connectors/types.ts";
import type {
  ConsumerGroupMetadata,
  KafkaClient,
  ProduceRecord,
  TopicRecords,
  Transaction,
  TransactionalProducer,
  TransactionalProducerOptions,
} from "../../connectors/kafka/client.ts";
import { KafkaClientError } from "../../connectors/kafka/client.ts";
import type { Batch, Row } from "../../engine/types.ts";

/** A source whose consumer group's offsets a transaction can commit (the Kafka source). */
export interface TransactionalSource extends Source {
  readonly groupId: string;
  /** The topics read (the kafka state store sizes its changelog from them). */
  readonly topics?: readonly string[];
  /** The group's committed positions for the source's topics. */
  committedPositions(): Promise<readonly Position[]>;
}

/** A sink whose records a transaction can carry (the Kafka sink). */
export interface TransactionalSink extends Sink<Row> {
  /** The records of one commit, encoded but not sent. */
  commitRecords(batch: Batch<Row>): {
    readonly topic: string;
    readonly records: readonly ProduceRecord[];
    readonly sizes: readonly number[];
  };
  readonly maxRequestBytes: number;
  /** The one topic it writes (undefined when each record names its topic). */
  readonly fixedTopic: string | undefined;
  transactionalProducer(options: TransactionalProducerOptions): TransactionalProducer;
  /** The sink's Kafka client (the kafka state store reads and creates its changelog with it). */
  readonly kafkaClient: KafkaClient;
}

/** Whether a source can take part in exactly-once mode. */
export function isTransactionalSource(source: Source): source is TransactionalSource {
  const candidate = source as Partial<TransactionalSource>;
  return typeof candidate.groupId === "string" &&
    typeof candidate.committedPositions === "function";
}

/**
 * The sources, each a Kafka source with a consumer group, or an error naming
 * the first that is not one: "`mode` needs Kafka sources; source "s" is not
 * one`hint`".
 */
export function transactionalSources(
  sources: readonly Source[],
  mode: string,
  hint = "",
): TransactionalSource[] {
  return sources.map((source) => {
    if (!isTransactionalSource(source)) {
      throw new Error(
        `${mode} needs Kafka sources; source ${JSON.stringify(source.name)} is not one${hint}`,
      );
    }
    return source;
  });
}

/** Whether a sink can take part in exactly-once mode. */
export function isTransactionalSink(sink: Sink<Row>): sink is TransactionalSink {
  const candidate = sink as Partial<TransactionalSink>;
  return typeof candidate.commitRecords === "function" &&
    typeof candidate.transactionalProducer === "function";
}

/** The offsets one transaction commits for one consumer group. */
export interface GroupOffsets {
  readonly groupId: string;
  readonly positions: readonly Position[];
  /**
   * The committing consumer's group metadata, read when the offsets are sent
   * (KIP-447): the group coordinator then refuses them if the member was
   * rebalanced out since (a zombie), and the transaction is aborted. Undefined
   * (the member is between generations) refuses the transaction as fenced.
   */
  readonly metadata?: () => ConsumerGroupMetadata | undefined;
}

/** What one transaction carries and how to tell, after a failure, whether it committed. */
export interface TransactionContent {
  readonly records: readonly TopicRecords[];
  readonly offsets: readonly GroupOffsets[];
  /** Runs before the commit is asked for: writes the pending checkpoint. */
  readonly beforeCommit: () => Promise<void>;
  /** Whether the groups' committed offsets are this transaction's (it committed). */
  readonly committed: () => Promise<boolean>;
  /**
   * Ask {@linkcode committed} after a commit answered as done too, and send
   * the transaction again if it says no. A broker can answer a commit and
   * never write its markers; `committed` then ends the transaction as
   * aborted ({@linkcode TransactionWriter.abortHanging}) before it answers.
   */
  readonly verify?: boolean;
}

/** Options of {@linkcode TransactionWriter}. */
export interface TransactionWriterOptions {
  /** Makes a new producer; one is made again after a failure. */
  readonly producer: () => TransactionalProducer;
  readonly transactionalId: string;
  readonly logger: Logger;
  /** Largest produce request in bytes. */
  readonly maxRequestBytes: number;
  /** How long a failing transaction is retried while Kafka is unavailable (default 300,000 ms). */
  readonly retryForMs?: number;
}

/** Runs transactions one after another on one transactional producer, retrying while Kafka heals. */
export class TransactionWriter {
  readonly #options: TransactionWriterOptions;
  #producer: TransactionalProducer | undefined;
  /** Closed: no more attempts (a retry would register the transactional id again). */
  #closed = false;
  /** No more retries and no new registration ({@linkcode stopRetrying}). */
  #noRetries = false;
  /** Whether the last attempt failed and Kafka is being retried (for the status line). */
  retrying = false;

  constructor(options: TransactionWriterOptions) {
    this.#options = options;
  }

  /**
   * Connects the producer. This fences any earlier producer with the same
   * transactional id and settles its open transaction, so the groups'
   * committed offsets read afterwards are final (each adapter's `connect`
   * registers the transactional id; see `TransactionalProducer.connect`).
   */
  async connect(): Promise<void> {
    if (this.#closed) {
      throw new Error(`Transactional producer ${this.#options.transactionalId} is closed`);
    }
    if (this.#producer !== undefined) return;
    if (this.#noRetries) {
      throw new Error(
        `Transactional producer ${this.#options.transactionalId} is not connected, and it registers ` +
          "no more (stopRetrying)",
      );
    }
    const producer = this.#options.producer();
    try {
      await producer.connect();
    } catch (error) {
      await producer.disconnect().catch(() => {});
      throw error;
    }
    this.#producer = producer;
  }

  /** {@linkcode connect}, retried while Kafka is unavailable (a restart during a broker outage). */
  async settle(): Promise<void> {
    await this.#retrying(
      "Cannot reach the transaction coordinator; retrying",
      () => this.connect(),
    );
  }

  /**
   * Commits records and offsets in one transaction; retries it while Kafka
   * is unavailable. After a failed attempt the transaction may have committed
   * (the answer was lost), so before each new attempt a new producer settles
   * it and the groups' offsets say whether it did: sending it again would
   * write it twice.
   */
  async run(content: TransactionContent): Promise<void> {
    let outcomeUnknown = false;
    await this.#retrying("Kafka transaction failed; retrying", async () => {
      await this.connect();
      if (outcomeUnknown && await content.committed()) return;
      outcomeUnknown = true;
      await this.#attempt(this.#producer!, content);
      if (content.verify && !await content.committed()) {
        throw new KafkaClientError(
          "The broker answered the transaction as committed but wrote no markers; " +
            "it was aborted, and is sent again",
          { retriable: true },
        );
      }
    });
  }

  /**
   * Ends what an earlier transaction of this transactional id left hanging on
   * `partitions` and on the groups' offsets: one transaction that writes a
   * record to each partition and adds each group's offsets partition, then
   * aborts, so the broker writes an abort marker for this producer id on
   * every one of them. Kafka has been seen to complete a transaction without
   * its markers (a broker restarted while its partitions had no leader: "these
   * partitions are likely deleted already and hence can be skipped"); its
   * records then block `read_committed` readers and its offsets stay pending
   * (UNSTABLE_OFFSET_COMMIT) for good. The abort gives them all one outcome:
   * the offsets are not committed and the records are not visible, so the
   * restart reads their input again. Call it after {@linkcode settle}, when
   * no transaction of this id is open; its records stay invisible to
   * `read_committed` readers.
   */
  async abortHanging(
    partitions: readonly { readonly topic: string; readonly partition: number }[],
    groupIds: readonly string[],
  ): Promise<void> {
    const records: TopicRecords[] = partitions.map(({ topic, partition }) => ({
      topic,
      records: [{ key: hangingAbortKey, value: null, partition }],
    }));
    await this.#retrying("Aborting a hanging transaction failed; retrying", async () => {
      await this.connect();
      const transaction = await this.#producer!.begin();
      try {
        if (records.length > 0) await transaction.send(records);
        for (const groupId of groupIds) await transaction.sendOffsets(groupId, []);
      } finally {
        await transaction.abort();
      }
    });
  }

  /** Runs `step` until it succeeds, a non-retriable error, or the retry time is spent. */
  async #retrying(warning: string, step: () => Promise<void>): Promise<void> {
    const deadline = Date.now() + (this.#options.retryForMs ?? 300_000);
    let delayMs = 500;
    for (let attempts = 1;; attempts++) {
      try {
        await step();
        this.retrying = false;
        return;
      } catch (error) {
        const retriable = !(error instanceof KafkaClientError) || error.retriable;
        await this.#discardProducer();
        if (!retriable || this.#closed || this.#noRetries || Date.now() + delayMs > deadline) {
          throw error;
        }
        this.retrying = true;
        this.#options.logger.warn(warning, {
          transactionalId: this.#options.transactionalId,
          error: error instanceof Error ? error.message : String(error),
          attempts,
          retryInMs: delayMs,
        });
        await new Promise((resolve) => setTimeout(resolve, delayMs));
        delayMs = Math.min(delayMs * 2, 10_000);
      }
    }
  }

  async #attempt(producer: TransactionalProducer, content: TransactionContent): Promise<void> {
    const transaction: Transaction = await producer.begin();
    try {
      for (const request of produceRequests(content.records, this.#options.maxRequestBytes)) {
        await transaction.send(request);
      }
      for (const { groupId, positions, metadata } of content.offsets) {
        if (positions.length === 0) continue;
        if (metadata === undefined) {
          await transaction.sendOffsets(groupId, positions);
          continue;
        }
        const member = metadata();
        if (member === undefined) {
          throw new KafkaClientError(
            `The consumer of group ${JSON.stringify(groupId)} has no generation now (rebalancing ` +
              "or restarting): its offsets cannot be committed",
            { retriable: false, kind: "fenced" },
          );
        }
        await transaction.sendOffsets(groupId, positions, member);
      }
      await content.beforeCommit();
    } catch (error) {
      await transaction.abort().catch(() => {});
      throw error;
    }
    await transaction.commit();
  }

  async #discardProducer(): Promise<void> {
    const producer = this.#producer;
    this.#producer = undefined;
    await producer?.disconnect().catch(() => {});
  }

  /**
   * From now on a transaction runs once, on the producer as registered: one
   * being retried gives up at its next failure, later ones are not retried,
   * and the transactional id is not registered again (a failed attempt
   * leaves no producer, so the next {@linkcode run} fails). For a task being
   * handed over: registering its id again would fence the task's next owner.
   */
  stopRetrying(): void {
    this.#noRetries = true;
  }

  /** Disconnects the producer; a transaction being retried gives up at its next failure. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#discardProducer();
  }
}

/** The key of the (aborted) records {@linkcode TransactionWriter.abortHanging} writes. */
export const hangingAbortKey = "rivulet-hanging-transaction-abort";

const encoder = new TextEncoder();

function byteLength(bytes: Uint8Array | string | null): number {
  if (bytes === null) return 0;
  // Multi-byte characters take up to 3 bytes in UTF-8: an estimate that is never low.
  return typeof bytes === "string" ? bytes.length * 3 : bytes.byteLength;
}

function recordSize(record: ProduceRecord): number {
  let size = 24 + byteLength(record.key) + byteLength(record.value);
  for (const [name, value] of Object.entries(record.headers ?? {})) {
    size += encoder.encode(name).length + byteLength(value) + 8;
  }
  return size;
}

/** Splits records into produce requests below `limit` bytes (estimated), in order. */
export function* produceRequests(
  batches: readonly TopicRecords[],
  limit: number,
): Generator<TopicRecords[]> {
  let request: TopicRecords[] = [];
  let records: ProduceRecord[] = [];
  let topic = "";
  let bytes = 200;
  for (const batch of batches) {
    if (batch.topic !== topic && records.length > 0) {
      request.push({ topic, records });
      records = [];
    }
    topic = batch.topic;
    for (const record of batch.records) {
      const size = recordSize(record);
      if (bytes + size > limit && (records.length > 0 || request.length > 0)) {
        if (records.length > 0) request.push({ topic, records });
        yield request;
        request = [];
        records = [];
        bytes = 200;
      }
      records.push(record);
      bytes += size;
    }
  }
  if (records.length > 0) request.push({ topic, records });
  if (request.length > 0) yield request;
}

/** Whether `committed` holds exactly `positions` (same partitions, same offsets). */
export function samePositions(
  positions: readonly Position[],
  committed: readonly Position[],
): boolean {
  if (positions.length !== committed.length) return false;
  const at = new Map(committed.map((p) => [`${p.topic}\0${p.partition}`, p.offset]));
  return positions.every((p) => at.get(`${p.topic}\0${p.partition}`) === p.offset);
}
