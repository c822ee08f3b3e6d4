/**
 * rivulet's own small Kafka client interface: fetch batches as a group member,
 * produce batches, commit offsets, transactions, and the few admin calls the
 * connectors need. The source, sink and dead-letter sink use only this, so a
 * faster client can replace the kafkajs implementation (`kafkajs/client.ts`)
 * without touching them, the formats or the engine. Each implementation lives
 * in its own folder, the only place that imports its library, and is chosen by
 * name in `clients.ts`.
 *
 * @module
 */
import type { Position, SourceMessage } from "../types.ts";

/**
 * What went wrong in a client call, in words no client library owns. Each
 * adapter maps its library's errors to these, so the messages a user sees
 * (`connection_failure.ts`) are the same whichever client runs.
 */
export type KafkaErrorKind =
  /** SASL user name or password refused. */
  | "authentication"
  /** The broker does not offer the SASL mechanism. */
  | "sasl_mechanism"
  /** The broker's certificate failed verification. */
  | "untrusted_certificate"
  /** The broker refused (or missed) the client certificate. */
  | "client_certificate_rejected"
  /** TLS spoken to a listener that does not speak it, or the reverse. */
  | "tls_mismatch"
  /** The broker hung up: often a plaintext client on a TLS or SASL port, or a restart. */
  | "connection_closed"
  /** Nothing answers at the address. */
  | "unreachable"
  /** The user is authenticated but not allowed (topic, group or cluster ACLs). */
  | "authorization"
  /** A record or request exceeds the broker's or topic's size limit. */
  | "too_large"
  /**
   * This instance lost its work to another: a newer producer registered the
   * same transactional id (PRODUCER_FENCED, INVALID_PRODUCER_EPOCH), or a
   * transactional offset commit carried the consumer group metadata of a
   * generation the group has left behind (ILLEGAL_GENERATION,
   * UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID, STALE_MEMBER_EPOCH: the member
   * was rebalanced out, KIP-447). Never retriable: the open transaction must
   * be aborted, and the work it held belongs to whoever owns it now.
   */
  | "fenced"
  | "unknown";

/**
 * A client error classified by its adapter. `reason` is the library's own
 * words for the failure, without rivulet's wrapping and without any secret;
 * it is quoted in messages.
 */
export interface KafkaErrorClassification {
  readonly kind: KafkaErrorKind;
  /** Whether the same call may succeed later (broker restarting, leader moving). */
  readonly retriable: boolean;
  /** The setting a user should check, e.g. `sasl.password`; absent when no setting helps. */
  readonly setting?: string;
  /** The library's words for what failed (first, outermost message), secrets removed. */
  readonly reason: string;
  /** The TLS alert the broker sent (`BadCertificate`, `CertificateRequired`, ...), when one was seen. */
  readonly alert?: string;
}

/** Options of {@linkcode KafkaClientError}. */
export interface KafkaClientErrorOptions {
  /** Whether the same call may succeed later. */
  readonly retriable: boolean;
  /** The library's error, for debugging (never quoted to users unscrubbed). */
  readonly cause?: unknown;
  /** What went wrong (default `unknown`). */
  readonly kind?: KafkaErrorKind;
  /** The setting to check. */
  readonly setting?: string;
  /** The library's words, secrets removed (default: the message). */
  readonly reason?: string;
  /** The TLS alert the broker sent, when one was seen. */
  readonly alert?: string;
}

/**
 * A failed client call. `retriable` says whether the same call may succeed
 * later (broker restarting, leader moving) or never will (bad credentials,
 * a record too large, no authorization); `classification` says what went
 * wrong in the neutral terms of {@linkcode KafkaErrorClassification}.
 *
 * @example
 * ```ts
 * import { KafkaClientError } from "./client.ts";
 * const error = new KafkaClientError("Kafka produce request failed: too large", {
 *   retriable: false,
 *   kind: "too_large",
 *   reason: "too large",
 * });
 * error.classification.kind; // "too_large"
 * ```
 */
export class KafkaClientError extends Error {
  readonly retriable: boolean;
  /** What went wrong, for `connection_failure.ts` to explain. */
  readonly classification: KafkaErrorClassification;
  constructor(message: string, options: KafkaClientErrorOptions) {
    super(message, { cause: options.cause });
    this.name = "KafkaClientError";
    this.retriable = options.retriable;
    this.classification = {
      kind: options.kind ?? "unknown",
      retriable: options.retriable,
      reason: options.reason ?? message,
      ...(options.setting === undefined ? {} : { setting: options.setting }),
      ...(options.alert === undefined ? {} : { alert: options.alert }),
    };
  }
}

/** One partition of one topic. */
export interface TopicPartition {
  readonly topic: string;
  readonly partition: number;
}

/** A record to produce. Bytes are passed on without copying where the client allows. */
export interface ProduceRecord {
  readonly key: Uint8Array | string | null;
  readonly value: Uint8Array | string | null;
  readonly headers?: Readonly<Record<string, Uint8Array | string>>;
  /** The partition; the client's partitioner chooses (by key) when absent. */
  readonly partition?: number;
}

/** Records for one topic, in the order they are to be written. */
export interface TopicRecords {
  readonly topic: string;
  readonly records: readonly ProduceRecord[];
}

/** Messages fetched from one partition, in offset order. */
export interface FetchedBatch {
  readonly topic: string;
  readonly partition: number;
  readonly messages: readonly SourceMessage[];
  /** The partition's high watermark when fetched: the offset after the last message. */
  readonly highWatermark: string;
}

/** What a group consumer tells its owner while it runs. */
export interface ConsumerCallbacks {
  /**
   * Receives each non-empty batch. The consumer awaits it before it hands over
   * the next batch (of any partition): that is the backpressure.
   */
  onBatch(batch: FetchedBatch): Promise<void>;
  /**
   * Partitions this member gained in a rebalance (or at the first join).
   * Partitions it kept continue after the last batch handed over.
   */
  onAssigned?(partitions: readonly TopicPartition[]): void;
  /** Partitions this member lost in a rebalance; their uncommitted work belongs elsewhere now. */
  onRevoked?(partitions: readonly TopicPartition[]): void;
  /** The consumer stopped for good (it gave up retrying, or the error cannot be retried). */
  onFatal?(error: Error): void;
  /** The consumer failed on an error that can heal (broker unreachable) and restarts: it retries. */
  onRetrying?(error: Error): void;
  /**
   * The consumer moved past records it does not hand over (transaction
   * markers, aborted transactions' records under read_committed) after
   * everything handed over so far from this partition: `position` is where
   * its next fetch starts. Called after the `onBatch` before it resolved. A
   * partition that ends in a transaction marker is read to its end only here.
   */
  onSkipped?(position: Position): void;
}

/**
 * Who a consumer group member is in its group's current generation, as the
 * group coordinator knows it (Kafka's `ConsumerGroupMetadata`). Offsets sent
 * with it in a transaction ({@linkcode Transaction.sendOffsets}) are refused
 * once the group has moved on to another generation without this member
 * (KIP-447): a member rebalanced out cannot commit as the new owner of its
 * partitions.
 */
export interface ConsumerGroupMetadata {
  readonly groupId: string;
  /** The generation (classic protocol) or member epoch (KIP-848) of the member's last join. */
  readonly generationId: number;
  /** The member id the coordinator gave the member. */
  readonly memberId: string;
  /** The static member id (`group.instance.id`), when the member has one. */
  readonly groupInstanceId?: string;
}

/** Options for {@linkcode KafkaClient.consumer}. */
export interface GroupConsumerOptions {
  readonly groupId: string;
  readonly topics: readonly string[];
  /** `read_committed` (the default) hides records of aborted and open transactions. */
  readonly isolation?: "read_committed" | "read_uncommitted";
  /** Where a partition with no committed offset starts. */
  readonly autoOffsetReset: "earliest" | "latest";
}

/** A member of a consumer group that fetches batches and commits offsets it is told. */
export interface GroupConsumer {
  /** Connects; rejects on unreachable brokers (after retries) and on auth or TLS failures. */
  connect(): Promise<void>;
  /**
   * Joins the group and starts fetching. `startAt` positions override the
   * group's committed offsets for those partitions when they are assigned.
   * Resolves once the member has joined.
   */
  run(
    callbacks: ConsumerCallbacks,
    options?: { readonly startAt?: readonly Position[] },
  ): Promise<void>;
  /**
   * Reads these partitions from these positions next: applied before the next
   * fetch of each, once it is assigned. Only valid while running.
   */
  seek(positions: readonly Position[]): void;
  /** Stops fetching; the member stays in the group, so commits still work. */
  pause(): void;
  /** Partitions currently assigned to this member. */
  assignment(): readonly TopicPartition[];
  /**
   * The member's generation and member id after its last successful join:
   * undefined before the first join, after the member lost its membership
   * (a restart of the consumer after a failure, until it joins again) and
   * after `disconnect()`. It changes at each rebalance this member takes part
   * in, before `onRevoked` and `onAssigned` of that rebalance are called,
   * also when the member's partitions stay the same.
   */
  groupMetadata(): ConsumerGroupMetadata | undefined;
  /** Commits exactly these positions (the next offset to read) for the group. */
  commit(positions: readonly Position[]): Promise<void>;
  /** Leaves the group and closes connections. */
  disconnect(): Promise<void>;
}

/** Options for {@linkcode KafkaClient.producer}. */
export interface ProducerOptions {
  /** Retries cannot duplicate records (one request in flight, sequence numbers). Default true. */
  readonly idempotent?: boolean;
}

/** Produces batches of records. */
export interface Producer {
  connect(): Promise<void>;
  /**
   * Sends the records in one produce request per broker, acknowledged by all
   * in-sync replicas (acks=all, unless `ClientConfig.acks` says otherwise)
   * before the promise resolves, compressed with `ClientConfig.compression`.
   * A record without a `partition` goes where the client's partitioner puts
   * it; rivulet's sink always sets one (murmur2 of the key, as the Java client).
   */
  send(batches: readonly TopicRecords[]): Promise<void>;
  disconnect(): Promise<void>;
}

/** One open transaction of a transactional producer. */
export interface Transaction {
  /** Sends records inside the transaction. */
  send(batches: readonly TopicRecords[]): Promise<void>;
  /**
   * Adds a consumer group's offsets to the transaction: committed with the
   * records, or not at all. With no positions the group's offsets partition
   * still joins the transaction (AddOffsetsToTxn), so the transaction's end
   * marker is written there too. With `metadata` (the member's
   * {@linkcode GroupConsumer.groupMetadata}), the group coordinator checks
   * the member's generation and member id (TxnOffsetCommit v3, KIP-447) and
   * refuses the offsets with a {@linkcode KafkaClientError} of kind `fenced`
   * when the member was rebalanced out; the transaction must then be
   * aborted. Without it only the producer's epoch is checked (generation -1,
   * no member). A broker older than Kafka 2.5 cannot check a member: sending
   * `metadata` to it fails (not retriable).
   */
  sendOffsets(
    groupId: string,
    positions: readonly Position[],
    metadata?: ConsumerGroupMetadata,
  ): Promise<void>;
  commit(): Promise<void>;
  abort(): Promise<void>;
}

/** Options for {@linkcode KafkaClient.transactionalProducer}. */
export interface TransactionalProducerOptions {
  /** Stable across restarts of the same pipeline, so a restart fences the old instance. */
  readonly transactionalId: string;
  /** Milliseconds the broker waits before aborting an open transaction (default 60,000). */
  readonly transactionTimeoutMs?: number;
}

/** A producer whose records and offsets are committed atomically. */
export interface TransactionalProducer {
  /**
   * Connects and registers the transactional id with its coordinator
   * (InitProducerId): this fences any earlier producer with the same id and
   * settles its open transaction (a commit it had asked for completes, the
   * rest is aborted) before it resolves, so offsets read afterwards are final.
   */
  connect(): Promise<void>;
  /** Begins a transaction; one at a time. */
  begin(): Promise<Transaction>;
  disconnect(): Promise<void>;
}

/** Offsets of one partition. */
export interface PartitionOffsets {
  readonly partition: number;
  /** The first offset still in the log. */
  readonly low: string;
  /** The offset the next record will get. */
  readonly high: string;
}

/** The few administrative calls the connectors make. */
export interface Admin {
  connect(): Promise<void>;
  /** Names of the topics that exist. */
  listTopics(): Promise<readonly string[]>;
  /**
   * Creates a topic unless it exists; resolves once it has leaders. `configs`
   * are topic configurations set at creation (`cleanup.policy`: `compact`).
   */
  createTopic(
    options: {
      readonly topic: string;
      readonly partitions?: number;
      readonly configs?: Readonly<Record<string, string>>;
    },
  ): Promise<void>;
  /** Low and high offsets of every partition of a topic. */
  partitionOffsets(topic: string): Promise<readonly PartitionOffsets[]>;
  /** The group's committed positions for the topics (partitions with none are left out). */
  groupPositions(groupId: string, topics: readonly string[]): Promise<readonly Position[]>;
  /**
   * A topic's partition count and configuration (every config the broker
   * reports, defaults included, e.g. `cleanup.policy`). Optional while not
   * every adapter has it; changelog topics need it.
   */
  describeTopic?(topic: string): Promise<TopicDescription>;
  /**
   * For every partition of `topic`, the offset of its first record whose
   * timestamp is at or after `timestampMs` (Kafka's ListOffsets by time);
   * a partition with no such record gives its high watermark (the end).
   * Optional, so that adapters can add it one by one; the source's
   * `startFromTimestampMs` needs it.
   */
  offsetsForTimes?(topic: string, timestampMs: number): Promise<readonly Position[]>;
  /**
   * The member ids of a consumer group's current members (DescribeGroups);
   * none for a group that is empty or unknown. A partitioned at-least-once
   * run asks it to know whether a task's former owner is still there to
   * hand the task over. Absent where an adapter cannot tell (a client of
   * KIP-848's `group.protocol=consumer`: DescribeGroups does not describe
   * those groups).
   */
  groupMembers?(groupId: string): Promise<readonly string[]>;
  disconnect(): Promise<void>;
}

/** What {@linkcode Admin.describeTopic} says of a topic. */
export interface TopicDescription {
  readonly partitions: number;
  readonly configs: Readonly<Record<string, string>>;
}

/**
 * A Kafka client: the factory of consumers, producers and admins of one
 * cluster. One is made per settings object per run and shared by the source,
 * sink and dead-letter sink of those settings; whoever made it closes it.
 */
export interface KafkaClient {
  consumer(options: GroupConsumerOptions): GroupConsumer;
  producer(options?: ProducerOptions): Producer;
  transactionalProducer(options: TransactionalProducerOptions): TransactionalProducer;
  admin(): Admin;
  /**
   * Releases what the client holds (connections of parts still connected).
   * Called once, after the parts were disconnected; calling it again does nothing.
   */
  close(): Promise<void>;
}
