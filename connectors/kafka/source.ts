/**
 * The Kafka source: one consumer group reading one or more topics, handing
 * each partition's messages over in offset order and committing exactly the
 * positions the runtime tells it to.
 *
 * @module
 */
import type { ClientConfig } from "./config.ts";
import type { Admin, FetchedBatch, GroupConsumer, KafkaClient, TopicPartition } from "./client.ts";
import { connectExplained } from "./connection_error.ts";
import type {
  Logger,
  MessageHandler,
  Position,
  Source,
  SourceIdentity,
  TopicIdentity,
} from "../types.ts";
import { silentLogger } from "../types.ts";

/** Options for {@linkcode KafkaSource}. */
export interface KafkaSourceOptions {
  /** Brokers, credentials, `groupId` (required) and `autoOffsetReset`. */
  readonly config: ClientConfig;
  /** The topics to read, all with the one consumer group. */
  readonly topics: readonly string[];
  /**
   * The Kafka client, shared by the parts that use the same settings; its
   * owner (the pipeline) closes it.
   */
  readonly client: KafkaClient;
  readonly logger?: Logger;
  /** `read_committed` (default) skips records of aborted transactions. */
  readonly isolation?: "read_committed" | "read_uncommitted";
  /**
   * Partitions this source gained (at start or in a rebalance). It may answer
   * with positions to read those partitions from, e.g. the positions of restored
   * state; unanswered partitions start at the group's committed offset.
   */
  readonly onPartitionsAssigned?: (
    partitions: readonly TopicPartition[],
  ) => readonly Position[] | void;
  /**
   * Partitions this source lost (a rebalance, or the consumer restarted after
   * an error). Messages of them handed over but not committed will be read
   * again, here or by another member: drop what was buffered from them.
   */
  readonly onPartitionsRevoked?: (partitions: readonly TopicPartition[]) => void;
  /** Longest wait between checks for a topic that does not exist yet (default 5,000 ms). */
  readonly maxTopicWaitMs?: number;
  /**
   * A stable name for logs and for the source's saved state (default
   * `kafka:` and the topics): sources of a pipeline are matched to their
   * checkpointed state by name, so reordering them keeps their state.
   */
  readonly name?: string;
  /**
   * Start every partition at its first record with a timestamp at or after
   * this (milliseconds since the epoch), instead of the group's committed
   * offset. Positions restored from a checkpoint still win: the state holds
   * what was read before them.
   */
  readonly startFromTimestampMs?: number;
  /**
   * A bounded read: the high watermarks are looked up at start, and the
   * source finishes once every partition has been handed over up to them
   * (records written later are not read). Messages at or past them are
   * never handed over.
   */
  readonly untilEnd?: boolean;
}

/** How far a partition's reader is behind its log's end. */
export interface PartitionLag {
  readonly topic: string;
  readonly partition: number;
  /** Messages between the next one to read and the end of the log. */
  readonly lag: number;
}

const partitionKey = (topic: string, partition: number) => `${topic}\u0000${partition}`;

/**
 * Reads Kafka topics as a member of a consumer group. Offsets are committed
 * only by {@linkcode KafkaSource.commit}, never automatically.
 *
 * @example
 * ```ts ignore
 * const client = await createKafkaClient("kafkajs", config);
 * const source = new KafkaSource({ config, client, topics: ["connector_example"] });
 * await source.start(async (messages) => {
 *   for (const m of messages) console.log(m.partition, m.offset);
 * });
 * // ... later, once the outputs of those messages are acknowledged:
 * await source.commit([{ topic: "connector_example", partition: 0, offset: "11" }]);
 * await source.close();
 * await client.close();
 * ```
 */
export class KafkaSource implements Source {
  readonly name: string;
  readonly finished: Promise<void>;
  readonly #options: KafkaSourceOptions;
  readonly #client: KafkaClient;
  readonly #logger: Logger;
  readonly #groupId: string;
  #consumer: GroupConsumer | undefined;
  #admin: Admin | undefined;
  #fail!: (error: Error) => void;
  #stopped = false;
  #handling: Promise<void> = Promise.resolve();
  /** The next offset to hand over, per partition handed anything. */
  readonly #positions = new Map<string, Position>();
  #startAt: readonly Position[] = [];
  /** The consumer restarts after an error that can heal, until it rejoins. */
  #retrying = false;
  #finish!: () => void;
  /** untilEnd: the end offset of each partition not yet read to its end. */
  readonly #ends = new Map<string, bigint>();

  constructor(options: KafkaSourceOptions) {
    if (options.topics.length === 0) throw new Error("Kafka source needs at least one topic");
    if (options.config.groupId === undefined || options.config.groupId === "") {
      throw new Error(
        `Kafka source for ${JSON.stringify(options.topics.join(","))} needs the "group.id" setting`,
      );
    }
    this.#options = options;
    this.#groupId = options.config.groupId;
    this.#logger = options.logger ?? silentLogger;
    this.#client = options.client;
    this.name = options.name ?? `kafka:${options.topics.join(",")}`;
    if (
      options.startFromTimestampMs !== undefined &&
      !(Number.isSafeInteger(options.startFromTimestampMs) && options.startFromTimestampMs >= 0)
    ) {
      throw new Error(
        `Kafka source ${JSON.stringify(this.name)}: startFromTimestampMs must be milliseconds ` +
          `since the epoch (a whole number >= 0), not ${options.startFromTimestampMs}`,
      );
    }
    // Kafka is read to an end only with untilEnd; otherwise this settles by failing.
    this.finished = new Promise((resolve, reject) => {
      this.#fail = reject;
      this.#finish = resolve;
    });
    this.finished.catch(() => {});
  }

  /**
   * Connects (rejecting on unreachable brokers, bad credentials or TLS
   * failures), then joins the group. Resolves once the group is joined; when a
   * topic does not exist yet it resolves at once and keeps waiting for it in
   * the background, logging that it does.
   */
  async start(handler: MessageHandler, from: readonly Position[] = []): Promise<void> {
    if (this.#consumer !== undefined) throw new Error(`Source ${this.name} was already started`);
    this.#startAt = from;
    const admin = this.#admin = this.#client.admin();
    const consumer = this.#consumer = this.#client.consumer({
      groupId: this.#groupId,
      topics: this.#options.topics,
      isolation: this.#options.isolation ?? this.#options.config.isolationLevel ?? "read_committed",
      autoOffsetReset: this.#options.config.autoOffsetReset,
    });
    await connectExplained(() => admin.connect(), this.#options.config);
    await connectExplained(() => consumer.connect(), this.#options.config);
    const missing = await this.#missingTopics();
    const reading = this.#read(handler, missing);
    if (missing.length === 0) return await reading;
    this.#logger.warn("Waiting for Kafka topics that do not exist yet", {
      source: this.name,
      topics: missing.join(","),
    });
    reading.catch((error) => this.#fail(error));
  }

  /** The topics this source reads. */
  get topics(): readonly string[] {
    return this.#options.topics;
  }

  /** The consumer group whose offsets this source commits. */
  get groupId(): string {
    return this.#groupId;
  }

  /**
   * The group's committed positions for this source's topics (partitions
   * without one are left out). Works before {@linkcode KafkaSource.start}:
   * exactly-once mode reads them to choose the checkpoint to restore.
   */
  async committedPositions(): Promise<readonly Position[]> {
    const admin = this.#client.admin();
    await connectExplained(() => admin.connect(), this.#options.config);
    try {
      return await admin.groupPositions(this.#groupId, this.#options.topics);
    } finally {
      await admin.disconnect().catch(() => {});
    }
  }

  /**
   * The group, and each topic's partitions with their offset ranges as the
   * brokers report them now (a topic that does not exist has none). Works
   * before {@linkcode KafkaSource.start}: restored state is checked against it.
   */
  async identity(): Promise<SourceIdentity> {
    const admin = this.#client.admin();
    await connectExplained(() => admin.connect(), this.#options.config);
    try {
      const existing = new Set(await admin.listTopics());
      const topics: TopicIdentity[] = await Promise.all(
        this.#options.topics.map(async (topic) => ({
          topic,
          partitions: existing.has(topic)
            ? [...await admin.partitionOffsets(topic)].sort((a, b) => a.partition - b.partition)
            : [],
        })),
      );
      return { name: this.name, group: this.#groupId, topics };
    } finally {
      await admin.disconnect().catch(() => {});
    }
  }

  async #missingTopics(): Promise<string[]> {
    const existing = new Set(await this.#admin!.listTopics());
    return this.#options.topics.filter((topic) => !existing.has(topic));
  }

  async #read(handler: MessageHandler, missing: readonly string[]): Promise<void> {
    let waitMs = 250;
    const maxWaitMs = this.#options.maxTopicWaitMs ?? 5_000;
    while (missing.length > 0) {
      await new Promise((resolve) => setTimeout(resolve, waitMs));
      if (this.#stopped) return;
      missing = await this.#missingTopics();
      waitMs = Math.min(maxWaitMs, waitMs * 2);
      if (missing.length > 0) {
        this.#logger.debug("Still waiting for Kafka topics", {
          source: this.name,
          topics: missing.join(","),
        });
      }
    }
    if (this.#stopped) return;
    await this.#findStartAndEnd();
    if (this.#stopped) return;
    await this.#consumer!.run({
      onBatch: (batch) => this.#handOver(handler, batch),
      onAssigned: (partitions) => {
        this.#connected();
        this.#assigned(partitions);
      },
      onRetrying: (error) => {
        this.#retrying = true;
        this.#logger.warn("Kafka source lost the broker; the consumer restarts and retries", {
          source: this.name,
          error: error.message,
        });
      },
      onRevoked: (partitions) => this.#revoked(partitions),
      onSkipped: (position) => this.#skipped(position),
      onFatal: (error) => {
        this.#logger.error("Kafka source stopped on an error", {
          source: this.name,
          error: error.message,
        });
        this.#fail(error);
      },
    }, { startAt: this.#startAt });
  }

  /**
   * startFromTimestampMs: the positions of that time, for partitions without a
   * restored position. untilEnd: the end of each partition, and which are
   * already read to it.
   */
  async #findStartAndEnd(): Promise<void> {
    const { startFromTimestampMs, untilEnd, topics } = this.#options;
    const admin = this.#admin!;
    if (startFromTimestampMs !== undefined) {
      if (admin.offsetsForTimes === undefined) {
        throw new Error(
          `Kafka source ${JSON.stringify(this.name)}: this Kafka client cannot look up offsets ` +
            `by time, which startFromTimestampMs needs`,
        );
      }
      const restored = new Set(this.#startAt.map((p) => partitionKey(p.topic, p.partition)));
      const byTime = (await Promise.all(
        topics.map((topic) => admin.offsetsForTimes!(topic, startFromTimestampMs)),
      )).flat();
      const fromTime = byTime.filter((p) => !restored.has(partitionKey(p.topic, p.partition)));
      this.#startAt = [...this.#startAt, ...fromTime];
      this.#logger.info("Kafka source starts at a timestamp", {
        source: this.name,
        timestampMs: startFromTimestampMs,
        positions: fromTime.map((p) => `${p.topic}-${p.partition}@${p.offset}`).join(","),
      });
    }
    if (!untilEnd) return;
    const [committed, ...offsets] = await Promise.all([
      admin.groupPositions(this.#groupId, topics),
      ...topics.map((topic) => admin.partitionOffsets(topic)),
    ]);
    const startAt = new Map(this.#startAt.map((p) => [partitionKey(p.topic, p.partition), p]));
    const committedAt = new Map(committed.map((p) => [partitionKey(p.topic, p.partition), p]));
    const earliest = this.#options.config.autoOffsetReset === "earliest";
    topics.forEach((topic, i) => {
      for (const { partition, low, high } of offsets[i]) {
        const key = partitionKey(topic, partition);
        const start = startAt.get(key)?.offset ?? committedAt.get(key)?.offset ??
          (earliest ? low : high);
        if (BigInt(start) < BigInt(high)) this.#ends.set(key, BigInt(high));
      }
    });
    this.#logger.info("Kafka source reads until the end offsets found at start", {
      source: this.name,
      ends: [...this.#ends].map(([key, end]) => `${key.replace("\u0000", "-")}@${end}`).join(","),
    });
    if (this.#ends.size === 0) this.#finish();
  }

  /** `retrying` from a consumer failure that can heal until the consumer rejoins or fetches again. */
  connectionState(): "connected" | "retrying" {
    return this.#retrying ? "retrying" : "connected";
  }

  #connected(): void {
    if (!this.#retrying) return;
    this.#retrying = false;
    this.#logger.info("Kafka source reconnected", { source: this.name });
  }

  #handOver(handler: MessageHandler, batch: FetchedBatch): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    this.#connected();
    let messages = batch.messages;
    let reachedEnd = false;
    if (this.#options.untilEnd) {
      const key = partitionKey(batch.topic, batch.partition);
      const end = this.#ends.get(key);
      // Read to its end already (or empty at start): nothing more is handed over.
      if (end === undefined) return Promise.resolve();
      let count = messages.length;
      while (count > 0 && BigInt(messages[count - 1].offset) >= end) count--;
      if (count < messages.length) messages = messages.slice(0, count);
      reachedEnd = count < batch.messages.length ||
        (count > 0 && BigInt(messages[count - 1].offset) + 1n >= end);
      if (count === 0) {
        this.#readToEnd(key);
        return Promise.resolve();
      }
    }
    const last = messages[messages.length - 1];
    // A failing handler ends reading for good: `finished` rejects with its
    // error, rather than the client retrying the batch or restarting.
    const handling = handler(messages).then(() => {
      this.#positions.set(partitionKey(batch.topic, batch.partition), {
        topic: batch.topic,
        partition: batch.partition,
        offset: String(BigInt(last.offset) + 1n),
      });
      if (reachedEnd) this.#readToEnd(partitionKey(batch.topic, batch.partition));
    }, (error: unknown) => {
      this.#stopped = true;
      this.#consumer?.pause();
      this.#fail(error instanceof Error ? error : new Error(String(error)));
    });
    this.#handling = handling;
    return handling;
  }

  /**
   * untilEnd: a partition whose last records are transaction markers (a
   * transactional producer's output) or aborted records is read to its end
   * when the consumer passes them, with no message to hand over.
   */
  #skipped(position: Position): void {
    if (this.#stopped || !this.#options.untilEnd) return;
    const key = partitionKey(position.topic, position.partition);
    const end = this.#ends.get(key);
    if (end !== undefined && BigInt(position.offset) >= end) this.#readToEnd(key);
  }

  /** untilEnd: a partition was handed over up to its end; the source finishes after the last one. */
  #readToEnd(key: string): void {
    if (!this.#ends.delete(key)) return;
    if (this.#ends.size === 0) {
      this.#logger.info("Kafka source read every partition to its end", { source: this.name });
      this.#finish();
    }
  }

  #assigned(partitions: readonly TopicPartition[]): void {
    this.#logger.info("Kafka partitions assigned", {
      source: this.name,
      partitions: partitions.map((p) => `${p.topic}-${p.partition}`).join(","),
    });
    const answer = this.#options.onPartitionsAssigned?.(partitions);
    if (answer !== undefined && answer.length > 0) this.#consumer!.seek(answer);
  }

  #revoked(partitions: readonly TopicPartition[]): void {
    for (const p of partitions) this.#positions.delete(partitionKey(p.topic, p.partition));
    this.#logger.info("Kafka partitions revoked", {
      source: this.name,
      partitions: partitions.map((p) => `${p.topic}-${p.partition}`).join(","),
    });
    this.#options.onPartitionsRevoked?.(partitions);
  }

  /**
   * Commits exactly these positions for the group. Positions of partitions
   * this member no longer owns are left out (their new owner commits them).
   */
  async commit(positions: readonly Position[]): Promise<void> {
    const consumer = this.#consumer;
    if (consumer === undefined) throw new Error(`Source ${this.name} is not started`);
    const owned = new Set(consumer.assignment().map((p) => partitionKey(p.topic, p.partition)));
    const mine = positions.filter((p) => owned.has(partitionKey(p.topic, p.partition)));
    if (mine.length < positions.length) {
      this.#logger.debug("Not committing positions of partitions this member does not own", {
        source: this.name,
        skipped: positions.length - mine.length,
      });
    }
    await consumer.commit(mine);
  }

  /**
   * Stops reading: no handler call starts after this resolves, and the one in
   * progress has finished. The member stays in the group so that `commit`
   * still works; {@linkcode KafkaSource.close} leaves it.
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#consumer?.pause();
    await this.#handling;
  }

  /** Stops reading, leaves the group and closes connections. */
  async close(): Promise<void> {
    await this.stop();
    await Promise.all([this.#consumer?.disconnect(), this.#admin?.disconnect()]);
  }

  /**
   * How far each assigned partition is behind the end of its log: the high
   * watermark minus the next offset to read (what was handed over, else the
   * group's committed offset, else where `autoOffsetReset` starts).
   */
  async lag(): Promise<readonly PartitionLag[]> {
    const consumer = this.#consumer;
    const admin = this.#admin;
    if (consumer === undefined || admin === undefined) return [];
    const assigned = consumer.assignment();
    const topics = [...new Set(assigned.map((p) => p.topic))];
    if (topics.length === 0) return [];
    const [committed, ...offsets] = await Promise.all([
      admin.groupPositions(this.#groupId, topics),
      ...topics.map((topic) => admin.partitionOffsets(topic)),
    ]);
    const committedAt = new Map(committed.map((p) => [partitionKey(p.topic, p.partition), p]));
    const logAt = new Map(
      topics.flatMap((topic, i) => offsets[i].map((o) => [partitionKey(topic, o.partition), o])),
    );
    return assigned.map(({ topic, partition }) => {
      const key = partitionKey(topic, partition);
      const log = logAt.get(key);
      if (log === undefined) return { topic, partition, lag: 0 };
      const start = this.#options.config.autoOffsetReset === "earliest" ? log.low : log.high;
      const next = this.#positions.get(key)?.offset ?? committedAt.get(key)?.offset ?? start;
      return { topic, partition, lag: Math.max(0, Number(log.high) - Number(next)) };
    });
  }
}
