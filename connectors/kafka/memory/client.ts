/**
 * An in-memory Kafka cluster behind the {@linkcode KafkaClient} interface,
 * for unit tests only: the runtime's delivery modes and the apply loop run
 * against it with no broker. It keeps what those tests rely on and what the
 * real adapters promise:
 *
 * - topics of partitions, each an append-only log whose offsets never
 *   change; a transaction's end takes an offset of its own (a control
 *   record, never handed to a consumer), as in Kafka;
 * - consumer groups with committed offsets and an assignment round-robin
 *   over the members in the order they joined; at a rebalance a member is
 *   told only what it lost and what it gained, and kept partitions go on;
 *   every rebalance starts a new generation of the group, and offsets sent
 *   in a transaction with a member's metadata of an older generation, or of
 *   a member that left, are refused as fenced (KIP-447);
 * - transactions: records are invisible to `read_committed` consumers until
 *   committed, never visible to them once aborted (`read_uncommitted` sees
 *   all); such a consumer stops at the first open transaction's offset (the
 *   last stable offset); a producer
 *   connecting with a transactional id fences the one before it and aborts
 *   its open transaction; offsets sent in a transaction are committed with it;
 * - admin calls: list, create, offsets, group positions, topic configs;
 * - a record larger than `maxMessageBytes` is refused (not retriable).
 *
 * It is not Kafka: one process, no replication, no retention, no sessions,
 * and its key partitioner is not Kafka's murmur2. {@linkcode MemoryKafka.failNext}
 * makes the next call of one operation fail, for fault tests.
 *
 * @module
 */
import type { Position, SourceMessage } from "../../types.ts";
import {
  type Admin,
  type ConsumerCallbacks,
  type ConsumerGroupMetadata,
  type GroupConsumer,
  type GroupConsumerOptions,
  type KafkaClient,
  KafkaClientError,
  type PartitionOffsets,
  type Producer,
  type ProduceRecord,
  type TopicDescription,
  type TopicPartition,
  type TopicRecords,
  type Transaction,
  type TransactionalProducer,
  type TransactionalProducerOptions,
} from "../client.ts";
import { untilOffsetsStable } from "../_retry.ts";

/** One record of a partition's log as the fake stores it. */
interface StoredRecord {
  readonly offset: number;
  readonly timestamp: string;
  readonly key: Uint8Array | null;
  readonly value: Uint8Array | null;
  readonly headers: Readonly<Record<string, string>>;
  /** The transaction that wrote it; absent outside transactions. */
  readonly transaction?: TransactionState;
  /** A transaction's commit or abort marker: takes an offset, never handed over. */
  readonly control?: true;
}

interface TransactionState {
  status: "open" | "committed" | "aborted";
}

interface StoredTopic {
  readonly partitions: StoredRecord[][];
  readonly configs: Record<string, string>;
  /** Round-robin counter for records without key and partition. */
  next: number;
}

interface StoredGroup {
  readonly committed: Map<string, number>;
  /** Members in the order they joined. */
  readonly members: MemoryConsumer[];
  /** The generation of the last rebalance (0 before the first). */
  generation: number;
}

/** Operations {@linkcode MemoryKafka.failNext} can make fail. */
export type FailingOperation =
  | "produce"
  | "commitOffsets"
  | "transaction.send"
  | "transaction.sendOffsets"
  | "transaction.commit";

/** How an injected failure fails. */
export interface InjectedFailure {
  /** Whether the error says the call may succeed later (default true). */
  readonly retriable?: boolean;
  /**
   * The call takes effect, and only its answer is lost (a commit that
   * committed though the client saw a timeout). Default false.
   */
  readonly afterApplying?: boolean;
  /**
   * `transaction.commit` only: the transaction coordinator completes the
   * transaction without writing its markers, as Kafka has been seen to do
   * when a restarted broker found the partitions without a leader. The
   * transaction is forgotten (a new producer of its id does not abort it);
   * its records stay unstable and its offsets pending until a later
   * transaction of the same id ends on the same partition or group, whose
   * outcome they then share. Default false.
   */
  readonly hangs?: boolean;
  /** With `hangs`: the commit is answered as done instead of failing (default false). */
  readonly answered?: boolean;
}

/** A transaction completed without markers ({@linkcode InjectedFailure.hangs}). */
interface HangingTransaction {
  /** The state of its records on each partition: each waits for a marker of its own. */
  readonly partitions: Map<string, TransactionState>;
  /** The offsets it sent, per group. */
  readonly offsets: Map<string, readonly Position[]>;
}

/** Options of {@linkcode MemoryKafka}. */
export interface MemoryKafkaOptions {
  /** Partitions of topics a producer writes to before they exist (default: such writes fail). */
  readonly autoCreatePartitions?: number;
  /** Largest record (key, value and headers) a topic accepts (default 1,048,588, Kafka's `message.max.bytes`). */
  readonly maxMessageBytes?: number;
  /** The records' timestamps (default `Date.now()`). */
  readonly now?: () => number;
  /** Most messages in one fetched batch (default 500). */
  readonly maxBatchMessages?: number;
  /**
   * Shuffles what a real broker leaves to timing: with a seed, consumers
   * visit their partitions in a pseudo-random order and fetch batches of
   * pseudo-random sizes (up to the most), so two runs over the same input
   * interleave partitions differently. Without, partitions go in turn.
   */
  readonly seed?: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function bytes(value: Uint8Array | string | null): Uint8Array | null {
  return typeof value === "string" ? encoder.encode(value) : value;
}

function byteLength(value: Uint8Array | string | null): number {
  if (value === null) return 0;
  return typeof value === "string" ? encoder.encode(value).length : value.byteLength;
}

function partitionKey(topic: string, partition: number): string {
  return `${topic}\0${partition}`;
}

/** FNV-1a of the key's bytes: stable, so one key always lands in one partition. */
function hashOf(key: Uint8Array): number {
  let hash = 0x811c9dc5;
  for (const byte of key) hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
  return hash;
}

/**
 * An in-memory cluster; it is its own {@linkcode KafkaClient}. Tests read
 * what was written with {@linkcode MemoryKafka.records}.
 *
 * @example
 * ```ts ignore
 * const kafka = new MemoryKafka();
 * kafka.createTopic("in", 3);
 * kafka.append("in", [{ key: "a", value: "1", partition: 0 }]);
 * const source = new KafkaSource({ config, topics: ["in"], client: kafka });
 * ```
 */
export class MemoryKafka implements KafkaClient {
  readonly #topics = new Map<string, StoredTopic>();
  readonly #groups = new Map<string, StoredGroup>();
  /** The current epoch of each transactional id: an older producer is fenced. */
  readonly #epochs = new Map<string, number>();
  /** Open transactions per transactional id, to abort when a newer producer connects. */
  readonly #open = new Map<string, MemoryTransaction>();
  /** Transactions left hanging, per transactional id ({@linkcode InjectedFailure.hangs}). */
  readonly #hanging = new Map<string, HangingTransaction[]>();
  readonly #failures = new Map<FailingOperation, InjectedFailure[]>();
  readonly #options: MemoryKafkaOptions;
  /** The shuffling's state (xorshift32), when seeded. */
  #random: number | undefined;
  /** Resolved and replaced on every change consumers may wait for. */
  #changed = Promise.withResolvers<void>();

  constructor(options: MemoryKafkaOptions = {}) {
    this.#options = options;
    if (options.seed !== undefined) this.#random = (options.seed >>> 0) || 1;
  }

  // --- KafkaClient ---

  /** A group consumer of this cluster. */
  consumer(options: GroupConsumerOptions): GroupConsumer {
    return new MemoryConsumer(this, options, this.#options.maxBatchMessages ?? 500);
  }

  /** A producer of this cluster (always acks=all; idempotence is trivially true). */
  producer(): Producer {
    let connected = false;
    return {
      connect: () => {
        connected = true;
        return Promise.resolve();
      },
      send: (batches) => {
        if (!connected) return Promise.reject(notConnected("producer"));
        return this.run("produce", () => {
          this.#appendAll(batches, undefined);
        });
      },
      disconnect: () => {
        connected = false;
        return Promise.resolve();
      },
    };
  }

  /** A transactional producer; connecting fences the earlier one with the same id. */
  transactionalProducer(options: TransactionalProducerOptions): TransactionalProducer {
    return new MemoryTransactionalProducer(this, options.transactionalId);
  }

  /** An admin of this cluster. */
  admin(): Admin & MemoryAdmin {
    return new MemoryAdmin(this);
  }

  /** Nothing to release: the cluster lives as long as the test holds it. */
  close(): Promise<void> {
    return Promise.resolve();
  }

  // --- what tests set up and read ---

  /** Creates a topic unless it exists. */
  createTopic(topic: string, partitions = 1, configs: Record<string, string> = {}): void {
    if (this.#topics.has(topic)) return;
    if (!Number.isInteger(partitions) || partitions < 1) {
      throw new KafkaClientError(`Invalid partition count ${partitions} for topic "${topic}"`, {
        retriable: false,
      });
    }
    this.#topics.set(topic, {
      partitions: Array.from({ length: partitions }, () => []),
      configs: { "cleanup.policy": "delete", ...configs },
      next: 0,
    });
    this.#notify();
  }

  /** Appends records outside any transaction (what a plain producer would). */
  append(topic: string, records: readonly ProduceRecord[]): void {
    this.#appendAll([{ topic, records }], undefined);
  }

  /**
   * The records of a partition (or of every partition, in partition order)
   * as a consumer with `isolation` would see them, control records left out.
   */
  records(
    topic: string,
    options: {
      readonly partition?: number;
      readonly isolation?: "read_committed" | "read_uncommitted";
    } = {},
  ): SourceMessage[] {
    const stored = this.#topic(topic);
    const isolation = options.isolation ?? "read_committed";
    const partitions = options.partition === undefined
      ? stored.partitions.map((_, i) => i)
      : [options.partition];
    return partitions.flatMap((partition) =>
      this.fetch(topic, partition, 0, isolation, Number.MAX_SAFE_INTEGER).messages
    );
  }

  /** The values of {@linkcode records}, decoded as UTF-8 text. */
  values(topic: string, options: Parameters<MemoryKafka["records"]>[1] = {}): string[] {
    return this.records(topic, options).map((m) => m.value === null ? "" : decoder.decode(m.value));
  }

  /** The group's committed offsets, as positions (partitions without one left out). */
  committed(groupId: string, topics?: readonly string[]): Position[] {
    const group = this.#groups.get(groupId);
    if (group === undefined) return [];
    const positions: Position[] = [];
    for (const [key, offset] of group.committed) {
      const [topic, partition] = key.split("\0");
      if (topics !== undefined && !topics.includes(topic)) continue;
      positions.push({ topic, partition: Number(partition), offset: String(offset) });
    }
    return positions.sort((a, b) =>
      a.topic === b.topic ? a.partition - b.partition : a.topic < b.topic ? -1 : 1
    );
  }

  /**
   * Sets the group's committed offsets to exactly `positions` (others are
   * forgotten): a test puts the cluster back to what it was at an earlier
   * instant.
   */
  setCommitted(groupId: string, positions: readonly Position[]): void {
    this.group(groupId).committed.clear();
    this.commitOffsets(groupId, positions);
  }

  /** Makes the next call of `operation` fail once (calls queue up in order). */
  failNext(operation: FailingOperation, failure: InjectedFailure = {}): void {
    let queue = this.#failures.get(operation);
    if (queue === undefined) this.#failures.set(operation, queue = []);
    queue.push(failure);
  }

  /** Resolves at the next change (a record appended, a group rebalanced, a topic created). */
  changed(): Promise<void> {
    return this.#changed.promise;
  }

  /**
   * Waits until `condition` holds, checking after every change of the
   * cluster and otherwise every few milliseconds (what a pipeline does
   * between its reads and writes, such as acknowledging, is no change of the
   * cluster); rejects after `limit` checks.
   */
  async waitUntil(condition: () => boolean, limit = 20_000): Promise<void> {
    for (let checks = 0; !condition(); checks++) {
      if (checks >= limit) throw new Error(`The condition did not hold after ${limit} checks`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        this.changed(),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, 5))),
      ]);
      clearTimeout(timer);
    }
  }

  // --- internal, for the fake's own classes ---

  /** @internal A pseudo-random integer in [0, n) when seeded, else `undefined`. */
  randomBelow(n: number): number | undefined {
    if (this.#random === undefined) return undefined;
    let x = this.#random;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.#random = x >>> 0;
    return this.#random % n;
  }

  /** @internal */
  topicNames(): string[] {
    return [...this.#topics.keys()];
  }

  /** @internal */
  hasTopic(topic: string): boolean {
    return this.#topics.has(topic);
  }

  /** @internal The stored topic; throws a client error naming it when it does not exist. */
  topic(topic: string): { readonly partitions: number; readonly configs: Record<string, string> } {
    const stored = this.#topic(topic);
    return { partitions: stored.partitions.length, configs: stored.configs };
  }

  /** @internal */
  offsets(topic: string): PartitionOffsets[] {
    return this.#topic(topic).partitions.map((log, partition) => ({
      partition,
      low: "0",
      high: String(log.length),
    }));
  }

  /**
   * @internal Messages of a partition from `from` up to the visible end, at
   * most `max`; `next` is where the next fetch starts (after skipped control
   * and aborted records).
   */
  fetch(
    topic: string,
    partition: number,
    from: number,
    isolation: "read_committed" | "read_uncommitted",
    max: number,
  ): { messages: SourceMessage[]; next: number; highWatermark: number } {
    const log = this.#topic(topic).partitions[partition];
    const messages: SourceMessage[] = [];
    let offset = from;
    for (; offset < log.length && messages.length < max; offset++) {
      const record = log[offset];
      const status = record.transaction?.status;
      if (isolation === "read_committed" && status === "open") break; // the last stable offset
      // read_uncommitted sees aborted records too, as in Kafka.
      if (record.control || (isolation === "read_committed" && status === "aborted")) continue;
      messages.push({
        topic,
        partition,
        offset: String(record.offset),
        timestamp: record.timestamp,
        key: record.key,
        value: record.value,
        headers: record.headers,
      });
    }
    return { messages, next: offset, highWatermark: log.length };
  }

  /** @internal */
  group(groupId: string): StoredGroup {
    let group = this.#groups.get(groupId);
    if (group === undefined) {
      this.#groups.set(groupId, group = { committed: new Map(), members: [], generation: 0 });
    }
    return group;
  }

  /** @internal The member ids of a group, in join order (none for an unknown group). */
  groupMembers(groupId: string): string[] {
    return this.#groups.get(groupId)?.members.map((member) => member.memberId) ?? [];
  }

  /** @internal Commits offsets for a group. */
  commitOffsets(groupId: string, positions: readonly Position[]): void {
    const group = this.group(groupId);
    for (const p of positions) {
      this.#topic(p.topic); // a commit for an unknown topic fails, naming it
      group.committed.set(partitionKey(p.topic, p.partition), Number(p.offset));
    }
  }

  /** @internal Runs an operation unless a failure was injected for it (`hang` for `hangs`). */
  async run<T>(operation: FailingOperation, action: () => T, hang?: () => void): Promise<T> {
    await Promise.resolve();
    const failure = this.#failures.get(operation)?.shift();
    if (failure === undefined) return action();
    if (failure.hangs) {
      hang?.();
      if (failure.answered) return undefined as T;
    } else if (failure.afterApplying) action();
    throw new KafkaClientError(`Injected ${operation} failure`, {
      retriable: failure.retriable ?? true,
    });
  }

  /**
   * @internal A member joined or left: the group's partitions are shared
   * again (round-robin over the members in join order); each member is told
   * only what it lost and what it gained, and partitions it keeps go on.
   */
  rebalance(groupId: string): void {
    const group = this.group(groupId);
    const members = group.members;
    // A new generation, known to every member before it hears what it lost or gained.
    group.generation++;
    for (const member of members) member.joinedGeneration(group.generation);
    const shares = new Map<MemoryConsumer, TopicPartition[]>(members.map((m) => [m, []]));
    // Each topic's partitions go round-robin over the members subscribed to it.
    const topics = [...new Set(members.flatMap((m) => m.topics))].sort();
    for (const topic of topics) {
      const subscribed = members.filter((m) => m.topics.includes(topic));
      const count = this.#topics.get(topic)?.partitions.length ?? 0;
      for (let partition = 0; partition < count; partition++) {
        shares.get(subscribed[partition % subscribed.length])!.push({ topic, partition });
      }
    }
    // Revocations first: a partition is never owned by two members at once.
    for (const member of members) member.revokeExcept(shares.get(member)!);
    for (const member of members) member.assign(shares.get(member)!);
    this.#notify();
  }

  /** @internal Begins a transaction for `id` at `epoch`; fails when fenced. */
  begin(id: string, epoch: number): MemoryTransaction {
    this.checkEpoch(id, epoch);
    if (this.#open.has(id)) {
      throw new KafkaClientError(`Transactional id "${id}" already has an open transaction`, {
        retriable: false,
      });
    }
    const transaction = new MemoryTransaction(this, id, epoch);
    this.#open.set(id, transaction);
    return transaction;
  }

  /** @internal A new producer for `id`: aborts the open transaction, returns the new epoch. */
  fence(id: string): number {
    this.#open.get(id)?.settle("aborted");
    const epoch = (this.#epochs.get(id) ?? 0) + 1;
    this.#epochs.set(id, epoch);
    return epoch;
  }

  /** @internal */
  checkEpoch(id: string, epoch: number): void {
    if (this.#epochs.get(id) !== epoch) {
      throw new KafkaClientError(
        `The producer with transactional id "${id}" was fenced by a newer one`,
        { retriable: false, kind: "fenced" },
      );
    }
  }

  /**
   * @internal Refuses a member's metadata that is not the group's current
   * generation of a current member, as Kafka's group coordinator refuses a
   * TxnOffsetCommit v3 (ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID).
   */
  checkMember(groupId: string, metadata: ConsumerGroupMetadata): void {
    const group = this.group(groupId);
    const member = group.members.find((m) => m.memberId === metadata.memberId);
    const refusal = member === undefined
      ? `member ${JSON.stringify(metadata.memberId)} is not in group ${JSON.stringify(groupId)}`
      : metadata.generationId !== group.generation
      ? `generation ${metadata.generationId} of group ${
        JSON.stringify(groupId)
      } is not its current one (${group.generation})`
      : undefined;
    if (refusal !== undefined) {
      throw new KafkaClientError(`The transactional offset commit was refused: ${refusal}`, {
        retriable: false,
        kind: "fenced",
      });
    }
  }

  /** @internal Whether an open or hanging transaction holds offsets for the group (not final yet). */
  hasPendingOffsets(groupId: string): boolean {
    return [...this.#open.values()].some((transaction) => transaction.holdsOffsetsOf(groupId)) ||
      [...this.#hanging.values()].some((list) => list.some((h) => h.offsets.has(groupId)));
  }

  /**
   * @internal Forgets an open transaction without ending it: each partition's
   * records get a state of their own, still open, and its offsets stay pending.
   */
  leaveHanging(
    id: string,
    state: TransactionState,
    partitions: Iterable<string>,
    offsets: readonly { groupId: string; positions: readonly Position[] }[],
  ): void {
    const hanging: HangingTransaction = { partitions: new Map(), offsets: new Map() };
    for (const key of partitions) {
      const [topic, partition] = key.split("\0");
      const log = this.#topic(topic).partitions[Number(partition)];
      const own: TransactionState = { status: "open" };
      log.forEach((record, i) => {
        if (record.transaction === state) log[i] = { ...record, transaction: own };
      });
      hanging.partitions.set(key, own);
    }
    for (const { groupId, positions } of offsets) {
      hanging.offsets.set(groupId, [...(hanging.offsets.get(groupId) ?? []), ...positions]);
    }
    const list = this.#hanging.get(id) ?? [];
    list.push(hanging);
    this.#hanging.set(id, list);
    state.status = "aborted";
  }

  /**
   * @internal A transaction of `id` ends on `partitions` and `groupIds`: its
   * markers end what a hanging transaction of the same producer left there,
   * with the same outcome (committed offsets are applied).
   */
  resolveHanging(
    id: string,
    partitions: ReadonlySet<string>,
    groupIds: ReadonlySet<string>,
    status: "committed" | "aborted",
  ): void {
    for (const hanging of this.#hanging.get(id) ?? []) {
      for (const [key, state] of hanging.partitions) {
        if (!partitions.has(key)) continue;
        state.status = status;
        hanging.partitions.delete(key);
      }
      for (const [groupId, positions] of hanging.offsets) {
        if (!groupIds.has(groupId)) continue;
        if (status === "committed") this.commitOffsets(groupId, positions);
        hanging.offsets.delete(groupId);
      }
    }
    const left = (this.#hanging.get(id) ?? []).filter((h) =>
      h.partitions.size > 0 || h.offsets.size > 0
    );
    if (left.length > 0) this.#hanging.set(id, left);
    else this.#hanging.delete(id);
  }

  /** @internal */
  closeTransaction(id: string, transaction: MemoryTransaction): void {
    if (this.#open.get(id) === transaction) this.#open.delete(id);
  }

  /** @internal Appends records, in a transaction or not; returns the partitions written. */
  appendAll(batches: readonly TopicRecords[], transaction: TransactionState | undefined): string[] {
    return this.#appendAll(batches, transaction);
  }

  /** @internal Ends a transaction on the partitions it wrote: marks its records, adds markers. */
  endTransaction(
    state: TransactionState,
    partitions: Iterable<string>,
    status: "committed" | "aborted",
  ): void {
    state.status = status;
    for (const key of partitions) {
      const [topic, partition] = key.split("\0");
      const log = this.#topic(topic).partitions[Number(partition)];
      log.push({
        offset: log.length,
        timestamp: String(this.#now()),
        key: null,
        value: null,
        headers: {},
        control: true,
      });
    }
    this.#notify();
  }

  /** @internal */
  notify(): void {
    this.#notify();
  }

  #appendAll(
    batches: readonly TopicRecords[],
    transaction: TransactionState | undefined,
  ): string[] {
    // Check every topic and partition first: a request is written whole or not at all.
    for (const { topic, records } of batches) {
      if (!this.#topics.has(topic) && this.#options.autoCreatePartitions !== undefined) {
        this.createTopic(topic, this.#options.autoCreatePartitions);
      }
      const stored = this.#topic(topic);
      const limit = this.#options.maxMessageBytes ?? 1_048_588;
      for (const record of records) {
        const size = byteLength(record.key) + byteLength(record.value) +
          Object.entries(record.headers ?? {}).reduce(
            (n, [name, value]) => n + encoder.encode(name).length + byteLength(value),
            0,
          );
        if (size > limit) {
          throw new KafkaClientError(
            `A record of ${size} bytes is larger than topic "${topic}" accepts (${limit})`,
            { retriable: false },
          );
        }
        const partition = record.partition;
        if (partition !== undefined && (partition < 0 || partition >= stored.partitions.length)) {
          throw new KafkaClientError(
            `Topic "${topic}" has no partition ${partition} (it has ${stored.partitions.length})`,
            { retriable: false },
          );
        }
      }
    }
    const written = new Set<string>();
    const timestamp = String(this.#now());
    for (const { topic, records } of batches) {
      const stored = this.#topic(topic);
      for (const record of records) {
        const key = bytes(record.key);
        const partition = record.partition ??
          (key === null
            ? stored.next++ % stored.partitions.length
            : hashOf(key) % stored.partitions.length);
        const log = stored.partitions[partition];
        const headers: Record<string, string> = {};
        for (const [name, value] of Object.entries(record.headers ?? {})) {
          headers[name] = typeof value === "string" ? value : decoder.decode(value);
        }
        log.push({
          offset: log.length,
          timestamp,
          key,
          value: bytes(record.value),
          headers,
          ...(transaction === undefined ? {} : { transaction }),
        });
        written.add(partitionKey(topic, partition));
      }
    }
    this.#notify();
    return [...written];
  }

  #topic(topic: string): StoredTopic {
    const stored = this.#topics.get(topic);
    if (stored === undefined) {
      throw new KafkaClientError(`Topic "${topic}" does not exist`, { retriable: false });
    }
    return stored;
  }

  #now(): number {
    return this.#options.now?.() ?? Date.now();
  }

  #notify(): void {
    const changed = this.#changed;
    this.#changed = Promise.withResolvers<void>();
    changed.resolve();
  }
}

function notConnected(what: string): KafkaClientError {
  return new KafkaClientError(`The ${what} is not connected`, { retriable: false });
}

/** A group's offsets wait for an open transaction (Kafka's UNSTABLE_OFFSET_COMMIT). */
class UnstableOffsetsError extends KafkaClientError {
  constructor(groupId: string) {
    super(`The offsets of group ${JSON.stringify(groupId)} wait for an open transaction`, {
      retriable: true,
    });
  }
}

/** The admin calls, on the in-memory cluster. */
export class MemoryAdmin implements Admin {
  readonly #kafka: MemoryKafka;
  // Like the real adapters: requests after disconnect() are refused until connect().
  #disconnected = false;
  constructor(kafka: MemoryKafka) {
    this.#kafka = kafka;
  }
  connect(): Promise<void> {
    this.#disconnected = false;
    return Promise.resolve();
  }
  listTopics(): Promise<readonly string[]> {
    return this.#request(() => this.#kafka.topicNames());
  }
  createTopic(
    options: {
      readonly topic: string;
      readonly partitions?: number;
      readonly configs?: Readonly<Record<string, string>>;
    },
  ): Promise<void> {
    return this.#request(() => {
      this.#kafka.createTopic(options.topic, options.partitions ?? 1, { ...options.configs });
    });
  }
  partitionOffsets(topic: string): Promise<readonly PartitionOffsets[]> {
    return this.#request(() => this.#kafka.offsets(topic));
  }
  /** Final offsets only, as with `require_stable`: asked again while a transaction holds some. */
  groupPositions(groupId: string, topics: readonly string[]): Promise<readonly Position[]> {
    return untilOffsetsStable(
      () =>
        this.#request(() => {
          if (this.#kafka.hasPendingOffsets(groupId)) throw new UnstableOffsetsError(groupId);
          return this.#kafka.committed(groupId, topics);
        }),
      (error) => error instanceof UnstableOffsetsError,
    );
  }
  /** A topic's partition count and configuration (`cleanup.policy` and the others set). */
  describeTopic(topic: string): Promise<TopicDescription> {
    return this.#request(() => {
      const { partitions, configs } = this.#kafka.topic(topic);
      return { partitions, configs: { ...configs } };
    });
  }
  groupMembers(groupId: string): Promise<readonly string[]> {
    return this.#request(() => this.#kafka.groupMembers(groupId));
  }
  disconnect(): Promise<void> {
    this.#disconnected = true;
    return Promise.resolve();
  }
  #request<T>(run: () => T): Promise<T> {
    if (this.#disconnected) return Promise.reject(notConnected("admin"));
    try {
      return Promise.resolve(run());
    } catch (error) {
      return Promise.reject(error);
    }
  }
}

let memberCount = 0;

/** A member of a consumer group of the in-memory cluster. */
class MemoryConsumer implements GroupConsumer {
  readonly topics: readonly string[];
  /** The id the group knows this member by (a new one at each join, as a broker gives). */
  memberId = "";
  #generation: number | undefined;
  readonly #kafka: MemoryKafka;
  readonly #options: GroupConsumerOptions;
  readonly #maxBatch: number;
  #connected = false;
  #joined = false;
  #paused = false;
  #callbacks: ConsumerCallbacks | undefined;
  #startAt = new Map<string, number>();
  /** Assigned partitions and the next offset to fetch from each. */
  readonly #positions = new Map<
    string,
    { topic: string; partition: number; next: number; sought: number }
  >();
  #loop: Promise<void> | undefined;

  constructor(kafka: MemoryKafka, options: GroupConsumerOptions, maxBatch: number) {
    this.#kafka = kafka;
    this.#options = options;
    this.topics = [...options.topics];
    this.#maxBatch = maxBatch;
  }

  connect(): Promise<void> {
    this.#connected = true;
    return Promise.resolve();
  }

  run(callbacks: ConsumerCallbacks, options: { readonly startAt?: readonly Position[] } = {}) {
    if (!this.#connected) return Promise.reject(notConnected("consumer"));
    if (this.#joined) return Promise.reject(new Error("The consumer is already running"));
    this.#callbacks = callbacks;
    for (const p of options.startAt ?? []) {
      this.#startAt.set(partitionKey(p.topic, p.partition), Number(p.offset));
    }
    this.#joined = true;
    this.memberId = `${this.#options.groupId}-member-${++memberCount}`;
    const group = this.#kafka.group(this.#options.groupId);
    group.members.push(this);
    this.#kafka.rebalance(this.#options.groupId);
    this.#loop = this.#fetchLoop();
    this.#loop.catch((error) => this.#callbacks?.onFatal?.(error));
    return Promise.resolve();
  }

  seek(positions: readonly Position[]): void {
    for (const p of positions) {
      const key = partitionKey(p.topic, p.partition);
      const assigned = this.#positions.get(key);
      if (assigned !== undefined) {
        assigned.next = Number(p.offset);
        assigned.sought++;
      } else this.#startAt.set(key, Number(p.offset));
    }
    this.#kafka.notify();
  }

  pause(): void {
    this.#paused = true;
  }

  assignment(): readonly TopicPartition[] {
    return [...this.#positions.values()].map(({ topic, partition }) => ({ topic, partition }));
  }

  groupMetadata(): ConsumerGroupMetadata | undefined {
    if (!this.#joined || this.#generation === undefined) return undefined;
    return {
      groupId: this.#options.groupId,
      generationId: this.#generation,
      memberId: this.memberId,
    };
  }

  /** @internal The group's new generation, which this member is part of. */
  joinedGeneration(generation: number): void {
    this.#generation = generation;
  }

  commit(positions: readonly Position[]): Promise<void> {
    if (!this.#connected) return Promise.reject(notConnected("consumer"));
    return this.#kafka.run("commitOffsets", () => {
      this.#kafka.commitOffsets(this.#options.groupId, positions);
    });
  }

  async disconnect(): Promise<void> {
    this.#paused = true;
    this.#connected = false;
    if (this.#joined) {
      this.#joined = false;
      this.#generation = undefined;
      const group = this.#kafka.group(this.#options.groupId);
      group.members.splice(group.members.indexOf(this), 1);
      this.#positions.clear();
      this.#kafka.rebalance(this.#options.groupId);
    }
    await this.#loop?.catch(() => {});
  }

  /** @internal The group rebalances: this member loses what is not in its new share. */
  revokeExcept(share: readonly TopicPartition[]): void {
    const keep = new Set(share.map((p) => partitionKey(p.topic, p.partition)));
    const lost = this.assignment().filter((p) => !keep.has(partitionKey(p.topic, p.partition)));
    if (lost.length === 0) return;
    for (const p of lost) this.#positions.delete(partitionKey(p.topic, p.partition));
    this.#callbacks?.onRevoked?.(lost);
  }

  /**
   * @internal This member's new share: partitions it gained start at a seek,
   * the group's offset or the reset; those it kept go on where they were.
   */
  assign(share: readonly TopicPartition[]): void {
    const committed = this.#kafka.group(this.#options.groupId).committed;
    const gained = share.filter((p) => !this.#positions.has(partitionKey(p.topic, p.partition)));
    if (gained.length === 0) return;
    for (const { topic, partition } of gained) {
      const key = partitionKey(topic, partition);
      const high = this.#kafka.offsets(topic)[partition].high;
      const start = this.#startAt.get(key) ?? committed.get(key) ??
        (this.#options.autoOffsetReset === "earliest" ? 0 : Number(high));
      this.#startAt.delete(key);
      this.#positions.set(key, { topic, partition, next: start, sought: 0 });
    }
    this.#callbacks?.onAssigned?.(gained);
  }

  /** Hands over batches partition by partition, awaiting each; waits for changes when idle. */
  async #fetchLoop(): Promise<void> {
    const isolation = this.#options.isolation ?? "read_committed";
    while (this.#joined) {
      const changed = this.#kafka.changed();
      let handed = false;
      if (!this.#paused) {
        const partitions = [...this.#positions];
        const first = this.#kafka.randomBelow(partitions.length) ?? 0;
        for (let i = 0; i < partitions.length; i++) {
          if (this.#paused || !this.#joined) break;
          const [key, position] = partitions[(first + i) % partitions.length];
          const max = 1 + (this.#kafka.randomBelow(this.#maxBatch) ?? this.#maxBatch - 1);
          const fetched = this.#kafka.fetch(
            position.topic,
            position.partition,
            position.next,
            isolation,
            max,
          );
          const from = position.next;
          const sought = position.sought;
          const last = fetched.messages.at(-1);
          if (last !== undefined) {
            await this.#callbacks!.onBatch({
              topic: position.topic,
              partition: position.partition,
              messages: fetched.messages,
              highWatermark: String(fetched.highWatermark),
            });
            handed = true;
            // A rebalance or a seek during the handler decides where this partition goes on.
            if (this.#positions.get(key) !== position || position.sought !== sought) continue;
          }
          position.next = Math.max(position.next, fetched.next);
          // Control or aborted records after what was handed over: the consumer moved past them.
          const handedTo = last === undefined ? from : Number(last.offset) + 1;
          if (fetched.next > handedTo) {
            this.#callbacks!.onSkipped?.({
              topic: position.topic,
              partition: position.partition,
              offset: String(fetched.next),
            });
          }
        }
      }
      if (!handed) await changed;
    }
  }
}

/** A transactional producer of the in-memory cluster. */
class MemoryTransactionalProducer implements TransactionalProducer {
  readonly #kafka: MemoryKafka;
  readonly #id: string;
  #epoch: number | undefined;

  constructor(kafka: MemoryKafka, id: string) {
    this.#kafka = kafka;
    this.#id = id;
  }

  /** Fences any earlier producer with this id and aborts its open transaction. */
  connect(): Promise<void> {
    this.#epoch = this.#kafka.fence(this.#id);
    return Promise.resolve();
  }

  begin(): Promise<Transaction> {
    if (this.#epoch === undefined) return Promise.reject(notConnected("transactional producer"));
    try {
      return Promise.resolve(this.#kafka.begin(this.#id, this.#epoch));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  disconnect(): Promise<void> {
    this.#epoch = undefined;
    return Promise.resolve();
  }
}

/** One open transaction of the in-memory cluster. */
class MemoryTransaction implements Transaction {
  readonly #kafka: MemoryKafka;
  readonly #id: string;
  readonly #epoch: number;
  readonly #state: TransactionState = { status: "open" };
  readonly #partitions = new Set<string>();
  readonly #offsets: { groupId: string; positions: readonly Position[] }[] = [];

  constructor(kafka: MemoryKafka, id: string, epoch: number) {
    this.#kafka = kafka;
    this.#id = id;
    this.#epoch = epoch;
  }

  send(batches: readonly TopicRecords[]): Promise<void> {
    return this.#kafka.run("transaction.send", () => {
      this.#check();
      for (const key of this.#kafka.appendAll(batches, this.#state)) this.#partitions.add(key);
    });
  }

  sendOffsets(
    groupId: string,
    positions: readonly Position[],
    metadata?: ConsumerGroupMetadata,
  ): Promise<void> {
    return this.#kafka.run("transaction.sendOffsets", () => {
      this.#check();
      // Checked when sent, as Kafka checks a TxnOffsetCommit: the commit marker applies them later.
      if (metadata !== undefined) this.#kafka.checkMember(groupId, metadata);
      this.#offsets.push({ groupId, positions });
    });
  }

  commit(): Promise<void> {
    return this.#kafka.run(
      "transaction.commit",
      () => {
        this.#check();
        // The markers reach what a hanging transaction left before these offsets apply.
        this.#resolveHanging("committed");
        for (const { groupId, positions } of this.#offsets) {
          this.#kafka.commitOffsets(groupId, positions);
        }
        this.settle("committed");
      },
      () => {
        this.#kafka.leaveHanging(this.#id, this.#state, this.#partitions, this.#offsets);
        this.#kafka.closeTransaction(this.#id, this);
      },
    );
  }

  abort(): Promise<void> {
    if (this.#state.status !== "open") return Promise.resolve();
    this.settle("aborted");
    return Promise.resolve();
  }

  /** @internal Whether this transaction sent offsets for the group. */
  holdsOffsetsOf(groupId: string): boolean {
    return this.#offsets.some((offsets) => offsets.groupId === groupId);
  }

  /** @internal Ends the transaction (a commit, an abort, or a newer producer fencing this one). */
  settle(status: "committed" | "aborted"): void {
    if (this.#state.status !== "open") return;
    this.#resolveHanging(status);
    this.#kafka.endTransaction(this.#state, this.#partitions, status);
    this.#kafka.closeTransaction(this.#id, this);
  }

  #resolveHanging(status: "committed" | "aborted"): void {
    const groupIds = new Set(this.#offsets.map((offsets) => offsets.groupId));
    this.#kafka.resolveHanging(this.#id, this.#partitions, groupIds, status);
  }

  #check(): void {
    // A fenced producer hears that it was fenced, even of the transaction the fencing aborted.
    this.#kafka.checkEpoch(this.#id, this.#epoch);
    if (this.#state.status !== "open") {
      throw new KafkaClientError(`The transaction is already ${this.#state.status}`, {
        retriable: false,
      });
    }
  }
}
