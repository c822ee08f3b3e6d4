/**
 * Partitioned runs: the pipeline as tasks, one per partition of each stage,
 * so that several instances with one `group.id` share the work and take it
 * over from each other, as Kafka Streams instances do.
 *
 * - The transform's graph is cut at every operator keyed differently from its
 *   input (`engine/_exchange.ts`). Stage 0 reads the input topics; stage s
 *   reads the repartition topic `<group.id>-repartition-<s>`, which has the
 *   input's partition count. One consumer per instance reads all of them in
 *   the pipeline's consumer group, so the group's assignment decides which
 *   instance runs which task.
 * - Each commit of a task writes its output changes to the output topic (key:
 *   row id, partition: murmur2 of the key) and its exchanged changes to the
 *   repartition topics as fragments (`fragment.ts`): one per downstream
 *   partition, applied there once.
 * - A task's checkpoint is its state entries in the compacted topic
 *   `<group.id>-tasks-changelog` (`task.ts`) and the group's offset of its
 *   partition, committed together in one transaction, about every second.
 *   Whoever takes a task over reads the changelog to its end and resumes from
 *   the task's last committed checkpoint, never an older one.
 * - At-least-once (default): output changes and fragments are written as
 *   they happen; a checkpoint waits for their acknowledgements. Each task has
 *   a transactional id of its own (`<prefix>-<task id>`): a new owner
 *   registers it before restoring, which fences the former owner (a process
 *   that was stopped and resumed cannot commit a checkpoint for the task any
 *   more) and settles its open transaction. A task that moves is handed
 *   over first: its former owner commits a last checkpoint marked
 *   `released`, which the new owner waits for while the former owner is in
 *   the group (`changelog_reader.ts`), so a rolling restart repeats nothing.
 *   A task that restarts from its checkpoint (its owner killed) repeats what
 *   it wrote since, exactly: the same output records, and fragments the
 *   receivers drop.
 * - Exactly-once (KIP-447): one transactional producer per instance; each
 *   checkpoint is one transaction with every changed task's output records,
 *   fragments, state entries and offsets, the offsets sent with the
 *   consumer's group metadata as of that state, so the group coordinator
 *   refuses a member it went on without. Readers with `read_committed` (the
 *   receiving tasks included) see each record once. An instance refused, or
 *   that missed a generation of its group, gives up every task and takes
 *   back those it still holds from the changelog.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { Graph, type Row, UserFunctionError } from "../../engine/mod.ts";
import type { Batch, Time } from "../../engine/types.ts";
import type {
  Admin,
  ConsumerGroupMetadata,
  FetchedBatch,
  GroupConsumer,
  KafkaClient,
  Producer,
  ProduceRecord,
  TopicPartition,
  TopicRecords,
} from "../../connectors/kafka/client.ts";
import { KafkaClientError } from "../../connectors/kafka/client.ts";
import type { ClientConfig } from "../../connectors/kafka/config.ts";
import { connectExplained } from "../../connectors/kafka/connection_error.ts";
import { retryWhileRetriable } from "../../connectors/kafka/_retry.ts";
import type { KafkaSink } from "../../connectors/kafka/sink.ts";
import { type ErrorPolicy, type Logger, silentLogger } from "../../connectors/types.ts";
import type { SourceReaderOptions } from "../reader.ts";
import { ensureChangelogTopic, partitionOf } from "../delivery/changelog.ts";
import {
  produceRequests,
  samePositions,
  type TransactionContent,
  TransactionWriter,
} from "../delivery/transactions.ts";
import type { PipelineStats } from "../pipeline.ts";
import { ChangelogReader, type HandOff, handOffRecord } from "./changelog_reader.ts";
import { encodeFragment, type FragmentChange } from "./fragment.ts";
import { type BuildTransform, Task, type TaskCommit, type TaskEntries } from "./task.ts";

/** How input messages become rows: the source options a partitioned run supports. */
export type PartitionedReadOptions = Omit<
  SourceReaderOptions,
  "name" | "logger" | "savedDecoders" | "deadLetter"
>;

/** Options of {@linkcode PartitionedRun}. */
export interface PartitionedRunOptions {
  /** The Kafka client of the input, the output and the internal topics (one cluster). */
  readonly client: KafkaClient;
  /** Its settings: `groupId` names the group and the internal topics. */
  readonly config: ClientConfig;
  /** The input topics. */
  readonly topics: readonly string[];
  /** The input's name, for errors and logs. */
  readonly name?: string;
  readonly read: PartitionedReadOptions;
  /** Whether input rows are keyed (a primary key, or the Kafka key as row id): upserts. */
  readonly keyed: boolean;
  /** Builds the transform on one task's input table. */
  readonly build: BuildTransform;
  /** Where the result's changes go (its records; the run sends them). */
  readonly sink: KafkaSink<Row>;
  readonly exactlyOnce?: boolean;
  /** Prefix of the tasks' transactional ids (default `rivulet-<group.id>`). */
  readonly transactionalIdPrefix?: string;
  readonly logger?: Logger;
  /** Stops the run gracefully when aborted. */
  readonly signal?: AbortSignal;
  /** Least time between a task's checkpoints (default 1,000 ms). */
  readonly checkpointIntervalMs?: number;
}

/** The names of a partitioned pipeline's internal topics. */
export function internalTopics(groupId: string, stages: number): {
  readonly repartition: readonly string[];
  readonly changelog: string;
} {
  const clean = (name: string) => name.replace(/[^a-zA-Z0-9._-]/g, "_");
  const repartition: string[] = [];
  for (let stage = 1; stage < stages; stage++) {
    repartition.push(clean(`${groupId}-repartition-${stage}`));
  }
  return { repartition, changelog: clean(`${groupId}-tasks-changelog`) };
}

/** A task and what its instance keeps for it. */
interface TaskEntry {
  readonly task: Task;
  /** Resolves once its state is restored (or rejects: the run fails). */
  ready: Promise<void>;
  restored: boolean;
  /** Revoked: nothing more is done for it. */
  closed: boolean;
  /** Counts the seeks to the task's restored position: a batch fetched before one is dropped. */
  seeks: number;
  /** Registers the task's transactional id and runs its checkpoints. */
  writer: TransactionWriter | undefined;
  /** At-least-once: writes not acknowledged yet. */
  readonly unacknowledged: Set<Promise<unknown>>;
  /** Exactly-once: records of commits since the last checkpoint. */
  pending: TopicRecords[];
  /** How many records `pending` holds. */
  pendingRecords: number;
  /** The task's state entries as of its last committed checkpoint (or its restore). */
  written: TaskEntries;
  checkpointing: Promise<void> | undefined;
  lastCheckpointMs: number;
  /**
   * At-least-once: the `claimed` marker its next checkpoint commits, the
   * first since its restore (taken before it reads any input).
   */
  claim: HandOff | undefined;
}

/**
 * Exactly-once: the instance transaction's timeout. A process stopped or killed
 * with a transaction open holds read_committed readers of what it wrote (the
 * tasks taking its work over, reading the changelog) until the broker aborts
 * it: 10 s, as Kafka Streams' exactly-once.
 */
const INSTANCE_TRANSACTION_TIMEOUT_MS = 10_000;
/** At-least-once: how long a member still holding a fenced task's partition waits before taking it back. */
const TAKE_BACK_AFTER_MS = 3_000;
/**
 * At-least-once: how long a new owner waits for a task's former owner, still
 * in the group, to hand it over (its last checkpoint and a `released`
 * marker) before it takes the task anyway.
 */
const HAND_OFF_WAIT_MS = 10_000;
/** Exactly-once: records a task keeps for its next checkpoint before it checkpoints early. */
const MAX_PENDING_RECORDS = 50_000;

/**
 * One instance of a partitioned pipeline: runs the tasks the consumer group
 * gives it until stopped.
 */
export class PartitionedRun {
  readonly #options: PartitionedRunOptions;
  readonly #logger: Logger;
  readonly #groupId: string;
  readonly #tasks = new Map<string, TaskEntry>();
  #partitions = 1;
  #stageOfTopic = new Map<string, number>();
  #repartitionTopics: readonly string[] = [];
  #changelog = "";
  #admin: Admin | undefined;
  #consumer: GroupConsumer | undefined;
  #producer: Producer | undefined;
  #stopping = false;
  #failure: unknown = undefined;
  #wake: () => void = () => {};
  /** At-least-once: writes not yet awaited by a checkpoint or backpressure. */
  #inflight: Promise<unknown>[] = [];
  /** The fragment producer's sends, one after another. */
  #sending: Promise<void> = Promise.resolve();
  /** Fragment records waiting for the request in flight, per topic in order, and their request's promise. */
  #queuedFragments:
    | { readonly byTopic: Map<string, ProduceRecord[]>; sent: Promise<void> }
    | undefined;
  /** At-least-once: commits whose writes are not acknowledged yet. */
  #unacknowledged = 0;
  #changesOut = 0;
  #userErrors = 0;
  #lastTime: Time = 0;
  /**
   * Tasks given up because another instance registered their transactional id,
   * with the group generation then: if this instance still holds the partition
   * after a later rebalance, the task is its again and is taken back.
   */
  readonly #fenced = new Map<
    string,
    {
      readonly topic: string;
      readonly partition: number;
      readonly generation: number | undefined;
      readonly at: number;
    }
  >();
  /**
   * Exactly-once: the instance's one transactional producer. Each checkpoint
   * is one transaction for every task that changed, its offsets sent with the
   * consumer's group metadata (KIP-447), so a member the group moved on
   * without cannot commit.
   */
  #instanceWriter: TransactionWriter | undefined;
  /** Exactly-once: the consumer's group membership as last seen (`#checkMembership`). */
  #member: ConsumerGroupMetadata | undefined;
  #instanceCheckpoint: Promise<void> | undefined;
  #lastInstanceCheckpointMs = 0;
  /** Counters of tasks revoked since (their readers are gone). */
  #retired = { messages: 0, rows: 0, commits: 0 };
  /** At-least-once: hand-overs of revoked tasks under way, by task id. */
  readonly #handOvers = new Map<string, Promise<void>>();

  constructor(options: PartitionedRunOptions) {
    const groupId = options.config.groupId;
    if (groupId === undefined) {
      throw new Error('A partitioned run needs "group.id": it names the group and internal topics');
    }
    if (options.topics.length === 0) throw new Error("A partitioned run needs an input topic");
    if (options.exactlyOnce && options.config.groupProtocol === "consumer") {
      // Its member epoch moves without a rebalance, and each move would abort the open
      // transaction and restart every task; not measured yet.
      throw new Error(
        "A partitioned exactly-once run needs the classic consumer group protocol: drop " +
          '"group.protocol": "consumer" from the settings (at-least-once works with either)',
      );
    }
    this.#options = options;
    this.#groupId = groupId;
    this.#logger = options.logger ?? silentLogger;
  }

  /** Counters for the status line and metrics (this instance's tasks). */
  stats(): PipelineStats & { tasks: number } {
    let messages = this.#retired.messages;
    let rows = this.#retired.rows;
    let commits = this.#retired.commits;
    let badInput = this.#userErrors;
    for (const { task } of this.#tasks.values()) {
      messages += task.reader?.counters.messages ?? 0;
      rows += task.reader?.counters.rows ?? 0;
      badInput += task.reader?.counters.badInput ?? 0;
      commits += task.commits;
    }
    return {
      messagesIn: messages,
      rowsIn: rows,
      commitsApplied: commits,
      changesOut: this.#changesOut,
      badInput,
      deadLettered: 0,
      pendingCommits: this.#unacknowledged,
      lastTime: this.#lastTime,
      tasks: this.#tasks.size,
    };
  }

  /** Asks the run to stop: it finishes what it holds, checkpoints every task and resolves. */
  stop(): void {
    this.#stopping = true;
    this.#wake();
  }

  /** Runs until stopped or failed; rethrows a failure after releasing what it holds. */
  async run(): Promise<PipelineStats> {
    const { signal } = this.#options;
    const stop = () => this.stop();
    signal?.addEventListener("abort", stop);
    if (signal?.aborted) this.#stopping = true;
    const timer = setInterval(() => this.#checkpointDue(), 100);
    try {
      await this.#prepareTopics();
      await this.#options.sink.open();
      const producer = this.#producer = this.#options.client.producer({ idempotent: true });
      await connectExplained(() => producer.connect(), this.#options.config);
      if (this.#options.exactlyOnce) {
        // Not registered by anyone else: a former instance's open transaction ends by timeout,
        // and readers (read_committed) wait for it.
        const transactionalId = `${this.#transactionalIdPrefix}-${crypto.randomUUID()}`;
        const writer = this.#instanceWriter = new TransactionWriter({
          producer: () =>
            this.#options.client.transactionalProducer({
              transactionalId,
              transactionTimeoutMs: INSTANCE_TRANSACTION_TIMEOUT_MS,
            }),
          transactionalId,
          logger: this.#logger,
          maxRequestBytes: this.#options.sink.maxRequestBytes,
        });
        await writer.settle();
      }
      await this.#startConsumer();
      while (!this.#stopping && this.#failure === undefined) {
        await new Promise<void>((resolve) => (this.#wake = resolve));
      }
      if (this.#failure === undefined) await this.#finish();
    } catch (error) {
      this.#fail(error);
    } finally {
      clearInterval(timer);
      signal?.removeEventListener("abort", stop);
      await this.#release();
    }
    if (this.#failure !== undefined) throw this.#failure;
    return this.stats();
  }

  /** Learns the partition count and stages; creates or checks the internal topics. */
  async #prepareTopics(): Promise<void> {
    const { client, config, topics } = this.#options;
    const admin = this.#admin = client.admin();
    await connectExplained(() => admin.connect(), config);
    const existing = new Set(await admin.listTopics());
    let partitions = 0;
    for (const topic of topics) {
      if (!existing.has(topic)) {
        throw new Error(
          `Input topic ${JSON.stringify(topic)} does not exist: a partitioned run needs its ` +
            "partition count (create it first)",
        );
      }
      partitions = Math.max(partitions, await this.#partitionCount(topic));
    }
    this.#partitions = partitions;
    const { format, formatOptions } = this.#options.read;
    if (format.name === "csv" && formatOptions.header === undefined && partitions > 1) {
      throw new Error(
        `The csv input ${JSON.stringify(this.#name)} has ${partitions} partitions: give its ` +
          "column names up front (--header a,b; formatOptions.header). Each task reads one " +
          "partition, and the header message is only on partition 0",
      );
    }
    const probe = new Graph({ onExchange: () => {} });
    this.#options.build(probe.input<Row>({ name: this.#name, keyed: this.#options.keyed }));
    const names = internalTopics(this.#groupId, probe.stages);
    this.#repartitionTopics = names.repartition;
    this.#changelog = names.changelog;
    for (const topic of topics) this.#stageOfTopic.set(topic, 0);
    names.repartition.forEach((topic, i) => this.#stageOfTopic.set(topic, i + 1));
    for (const topic of names.repartition) {
      if (!existing.has(topic)) {
        this.#logger.info("Creating a repartition topic", { topic, partitions });
        await admin.createTopic({ topic, partitions }).catch(async (error) => {
          // Another instance starting at the same time may have created it first.
          if (!(await admin.listTopics()).includes(topic)) throw error;
        });
      }
      const count = await this.#partitionCount(topic);
      if (count !== partitions) {
        throw new Error(
          `Repartition topic ${JSON.stringify(topic)} has ${count} partitions, the input has ` +
            `${partitions}: the tasks of a stage are one per input partition. Delete the ` +
            "internal topics of this group (they are rebuilt from the input) or use a new group.id",
        );
      }
    }
    await ensureChangelogTopic(admin, { topic: this.#changelog, partitions, logger: this.#logger });
    this.#logger.info("Partitioned run", {
      group: this.#groupId,
      partitions,
      stages: probe.stages,
      changelog: this.#changelog,
      mode: this.#options.exactlyOnce ? "exactly-once" : "at-least-once",
    });
  }

  /** Runs a Kafka call again while it fails for a reason that can heal (the broker restarting). */
  #retrying(name: string, call: () => Promise<void>): Promise<void> {
    return retryWhileRetriable(call, {
      logger: this.#logger,
      name,
      retryForMs: this.#options.config.deliveryTimeoutMs ?? 300_000,
    });
  }

  /** A topic's partition count, asked again while its leaders are not known yet (a new topic). */
  async #partitionCount(topic: string): Promise<number> {
    let count = 0;
    await retryWhileRetriable(async () => {
      count = (await this.#admin!.partitionOffsets(topic)).length;
    }, { logger: this.#logger, name: topic, retryForMs: 60_000, initialDelayMs: 100 });
    return count;
  }

  get #transactionalIdPrefix(): string {
    return this.#options.transactionalIdPrefix ?? `rivulet-${this.#groupId}`;
  }

  get #name(): string {
    return this.#options.name ?? this.#options.topics.join(",");
  }

  async #startConsumer(): Promise<void> {
    const consumer = this.#consumer = this.#options.client.consumer({
      groupId: this.#groupId,
      topics: [...this.#options.topics, ...this.#repartitionTopics],
      isolation: "read_committed",
      // A task without a checkpoint starts where `auto.offset.reset` says (`#restore`); the
      // consumer reads from the beginning so that nothing before that start is missing.
      autoOffsetReset: "earliest",
    });
    await connectExplained(() => consumer.connect(), this.#options.config);
    await consumer.run({
      onBatch: (batch) => this.#onBatch(batch),
      onAssigned: (partitions) => {
        try {
          this.#assigned(partitions);
        } catch (error) {
          this.#fail(error);
        }
      },
      onRevoked: (partitions) => this.#revoked(partitions),
      onSkipped: (position) => {
        const entry = this.#tasks.get(taskId(position.topic, position.partition));
        if (entry?.restored && !entry.closed) entry.task.skipped(Number(position.offset));
      },
      onRetrying: (error) => {
        this.#logger.warn("The consumer lost the broker; it restarts and retries", {
          error: error.message,
        });
      },
      onFatal: (error) => this.#fail(error),
    });
  }

  #assigned(partitions: readonly TopicPartition[]): void {
    this.#logger.info("Tasks assigned", {
      tasks: partitions.map((p) => taskId(p.topic, p.partition)).join(","),
    });
    const entries: TaskEntry[] = [];
    for (const { topic, partition } of partitions) {
      const id = taskId(topic, partition);
      const stage = this.#stageOfTopic.get(topic);
      if (stage === undefined || this.#tasks.has(id)) continue;
      const task = new Task({
        id,
        topic,
        partition,
        stage,
        build: this.#options.build,
        inputName: this.#name,
        keyed: this.#options.keyed,
        reader: { ...this.#options.read, name: this.#name, logger: this.#logger },
        onUserFunctionError: (error) => this.#onUserFunctionError(error),
      });
      const entry: TaskEntry = {
        task,
        ready: Promise.resolve(),
        restored: false,
        closed: false,
        seeks: 0,
        writer: undefined,
        unacknowledged: new Set(),
        pending: [],
        pendingRecords: 0,
        written: new Map(),
        checkpointing: undefined,
        lastCheckpointMs: Date.now(),
        claim: undefined,
      };
      this.#tasks.set(id, entry);
      entries.push(entry);
    }
    if (entries.length === 0) return;
    const restoring = this.#restore(entries);
    restoring.catch((error) => this.#fail(error));
    for (const entry of entries) entry.ready = restoring;
  }

  /**
   * Reads the changelog to its end and restores each task's last checkpoint,
   * then moves the consumer there. At-least-once, first waits for the former
   * owners still in the group to hand the tasks over (`#awaitHandOvers`),
   * then registers each task's transactional id, which fences its former
   * owner and settles its open checkpoint, and reads on to the end; a task's
   * first checkpoint, committed before it takes any input, claims it.
   */
  async #restore(entries: readonly TaskEntry[]): Promise<void> {
    // A task this instance is still handing over (revoked, then given back) is handed over first.
    await Promise.all(entries.map((entry) => this.#handOvers.get(entry.task.id)));
    const topic = this.#changelog;
    const reader = new ChangelogReader({
      client: this.#options.client,
      groupId: this.#groupId,
      topic,
      partitions: this.#partitions,
      send: (records) => this.#retrying(topic, () => this.#producer!.send([{ topic, records }])),
    });
    try {
      await reader.open();
      await reader.readToEnd();
      // At-least-once: each task's own transactional id, registered here, fences its former owner.
      // Exactly-once fences by group generation instead (the instance's transactions).
      if (!this.#options.exactlyOnce) {
        await this.#awaitHandOvers(reader, entries);
        await Promise.all(entries.map(async (entry) => {
          // Revoked meanwhile: registering would fence its next owner.
          if (entry.closed) return;
          const transactionalId = `${this.#transactionalIdPrefix}-${entry.task.id}`;
          const writer = new TransactionWriter({
            producer: () => this.#options.client.transactionalProducer({ transactionalId }),
            transactionalId,
            logger: this.#logger,
            maxRequestBytes: this.#options.sink.maxRequestBytes,
          });
          await writer.settle();
          if (entry.closed) await writer.close();
          else entry.writer = writer;
        }));
        // What a former owner committed before it was fenced.
        await reader.readToEnd();
      }
      for (const entry of entries) {
        if (!entry.closed) await this.#restoreTask(entry, reader.state(entry.task.id));
      }
    } finally {
      await reader.close();
    }
    if (!this.#options.exactlyOnce) {
      // The claims (a checkpoint already under way carries it too).
      await Promise.all(
        entries.map((entry) =>
          entry.restored && !entry.closed ? this.#checkpoint(entry) : undefined
        ),
      );
    }
  }

  /** Restores one task from its saved state (none: a new task) and seeks the consumer there. */
  async #restoreTask(entry: TaskEntry, state: TaskEntries | undefined): Promise<void> {
    const { task } = entry;
    let start = 0;
    if (state === undefined) {
      // Offsets and state are committed together: offsets without state mean the state is
      // gone (the changelog deleted), or the group ran without --partitioned.
      const admin = this.#admin!;
      const committed = (await admin.groupPositions(this.#groupId, [task.topic]))
        .find((p) => p.partition === task.partition);
      if (committed !== undefined) {
        throw new Error(
          `Group ${JSON.stringify(this.#groupId)} has a committed offset for ${task.topic}-` +
            `${task.partition} (${committed.offset}) but ${this.#changelog} holds no state ` +
            `for task ${task.id}: was the changelog deleted, or did this group run without ` +
            "--partitioned? Use a new group.id to start over",
        );
      }
      const offsets = (await admin.partitionOffsets(task.topic))[task.partition];
      const fromEnd = task.stage === 0 && this.#options.config.autoOffsetReset === "latest";
      start = Number(fromEnd ? offsets.high : offsets.low);
    }
    task.restore(state, start);
    entry.written = state ?? new Map();
    // The consumer may be anywhere: at the group's offset (never past the checkpoint), or, for a
    // task taken back after it was fenced, where this instance had read to.
    this.#consumer?.seek([{
      topic: task.topic,
      partition: task.partition,
      offset: String(task.readPosition),
    }]);
    entry.seeks++;
    // A task's first checkpoint records where it started, even if nothing arrives.
    task.dirty = true;
    if (!this.#options.exactlyOnce) {
      entry.claim = { state: "claimed", member: this.#consumer?.groupMetadata()?.memberId ?? "" };
    }
    entry.restored = true;
    this.#logger.info(state === undefined ? "Task starts" : "Task restored", {
      task: task.id,
      position: task.readPosition,
    });
  }

  /**
   * At-least-once: waits, for at most `HAND_OFF_WAIT_MS`, until every one of
   * these tasks claimed by another member still in the group has been
   * released by it (`#handOver`: its last checkpoint, with nothing after it).
   * A former owner no longer in the group (stopped without handing over,
   * killed: the group went on after its session ended) is not waited for;
   * its work since its last checkpoint is repeated, exactly.
   */
  async #awaitHandOvers(reader: ChangelogReader, entries: readonly TaskEntry[]): Promise<void> {
    const me = this.#consumer?.groupMetadata()?.memberId;
    const groupMembers = this.#admin!.groupMembers?.bind(this.#admin);
    const started = Date.now();
    let members: ReadonlySet<string> | undefined;
    let membersAt = 0;
    let waiting: TaskEntry[] = [];
    const claimedElsewhere = () =>
      entries.filter((entry) => {
        const handOff = reader.handOff(entry.task.id);
        return !entry.closed && handOff?.state === "claimed" && handOff.member !== me &&
          (members === undefined || members.has(handOff.member));
      });
    for (let first = true;; first = false) {
      waiting = claimedElsewhere();
      if (waiting.length > 0 && groupMembers !== undefined && Date.now() - membersAt >= 500) {
        membersAt = Date.now();
        members = await groupMembers(this.#groupId).then(
          (ids) => new Set(ids),
          () => undefined, // cannot tell: wait for the markers
        );
        waiting = claimedElsewhere();
      }
      if (waiting.length === 0) {
        if (!first) {
          this.#logger.info("Tasks handed over by their former owners", {
            tasks: entries.map((entry) => entry.task.id).join(","),
            waitedMs: Date.now() - started,
          });
        }
        return;
      }
      if (Date.now() - started >= HAND_OFF_WAIT_MS) break;
      await reader.changed(250);
    }
    this.#logger.warn(
      "Former owners did not hand these tasks over in time; taken over (their work since " +
        "their last checkpoints is repeated)",
      { tasks: waiting.map((entry) => entry.task.id).join(","), waitedMs: Date.now() - started },
    );
  }

  #revoked(partitions: readonly TopicPartition[]): void {
    this.#logger.info("Tasks revoked", {
      tasks: partitions.map((p) => taskId(p.topic, p.partition)).join(","),
    });
    for (const { topic, partition } of partitions) {
      const id = taskId(topic, partition);
      this.#fenced.delete(id);
      const entry = this.#tasks.get(id);
      if (entry === undefined) continue;
      if (this.#options.exactlyOnce) this.#retire(entry);
      else this.#handOver(entry, { retry: false });
    }
  }

  /**
   * At-least-once: hands a task over to its next owner. It takes no more
   * input; once its checkpoint under way and its writes are done, a last
   * checkpoint commits everything acknowledged with a `released` marker,
   * which the next owner waits for (`#awaitHandOvers`): nothing is repeated.
   * A revoked task's last checkpoint runs once, on its producer as
   * registered (`stopRetrying`): a retry would register its transactional id
   * again and fence the next owner. Stopping, it is retried (the group has not moved the
   * task yet); a failure then fails the run.
   */
  #handOver(entry: TaskEntry, { retry }: { retry: boolean }): Promise<void> {
    const { task, writer } = entry;
    if (entry.closed) return this.#handOvers.get(task.id) ?? Promise.resolve();
    this.#retire(entry, { closeWriter: false });
    if (writer === undefined) return Promise.resolve();
    if (!retry) writer.stopRetrying();
    const handing = (async () => {
      await entry.ready.catch(() => {});
      if (!entry.restored) return; // revoked before its restore: nothing of it ran here
      await entry.checkpointing;
      await Promise.all(entry.unacknowledged);
      const captured = task.checkpoint();
      const changelog = this.#changelogRecords(task.id, entry.written, captured.entries);
      changelog.push(
        handOffRecord(task.id, { state: "released" }, partitionOf(task.id, this.#partitions)),
      );
      await writer.run(this.#taskTransaction(task, changelog, captured.position));
      entry.written = captured.entries;
      this.#logger.info("Task handed over", { task: task.id, position: captured.position });
    })().catch((error) => {
      if (isFenced(error)) {
        // Another instance registered the task's id first (the group moved it meanwhile).
        this.#logger.warn("Task taken over by another instance during its hand-over", {
          task: task.id,
        });
        return;
      }
      if (retry) return this.#fail(error);
      this.#logger.warn(
        "Task not handed over; its next owner repeats its work since its last checkpoint",
        { task: task.id, error: error instanceof Error ? error.message : String(error) },
      );
    }).finally(async () => {
      await writer.close();
      if (this.#handOvers.get(task.id) === handing) this.#handOvers.delete(task.id);
    });
    this.#handOvers.set(task.id, handing);
    return handing;
  }

  /** Forgets a task this instance no longer runs; its producer goes once its checkpoint is done. */
  #retire(entry: TaskEntry, { closeWriter = true }: { closeWriter?: boolean } = {}): void {
    entry.closed = true;
    this.#tasks.delete(entry.task.id);
    const { task } = entry;
    this.#retired.messages += task.reader?.counters.messages ?? 0;
    this.#retired.rows += task.reader?.counters.rows ?? 0;
    this.#retired.commits += task.commits;
    // Closing stops a checkpoint being retried: a retry would register the task's transactional
    // id again and fence the task's new owner.
    if (closeWriter) entry.writer?.close().catch(() => {});
  }

  async #onBatch(batch: FetchedBatch): Promise<void> {
    if (this.#stopping || this.#failure !== undefined) return;
    const entry = this.#tasks.get(taskId(batch.topic, batch.partition));
    if (entry === undefined) return;
    const seeks = entry.seeks;
    try {
      await entry.ready;
    } catch {
      return; // the run fails with the restore's error
    }
    // Stopping: what is not applied now is read again by the next owner of the task.
    if (entry.closed || this.#stopping || this.#failure !== undefined) return;
    // Fetched before the restore's seek: the consumer hands over the partition again from there.
    if (entry.seeks !== seeks) return;
    let commits: TaskCommit[];
    try {
      commits = entry.task.accept(batch.messages);
    } catch (error) {
      this.#fail(error);
      return;
    }
    for (const commit of commits) this.#emit(entry, commit);
    // Exactly-once keeps a task's records until its checkpoint: a large backlog checkpoints early.
    if (entry.pendingRecords > MAX_PENDING_RECORDS) await this.#checkpointInstance();
    if (this.#inflight.length > 256) {
      const waiting = this.#inflight;
      this.#inflight = [];
      await Promise.all(waiting).catch((error) => this.#fail(error));
    }
  }

  /** Sends (or, exactly-once, keeps for the checkpoint) what one commit of a task produced. */
  #emit(entry: TaskEntry, commit: TaskCommit): void {
    if (commit.time > this.#lastTime) this.#lastTime = commit.time;
    const fragments = this.#fragmentRecords(entry.task.id, commit);
    const output = commit.output;
    if (output !== undefined) this.#changesOut += output.changes.length;
    if (this.#options.exactlyOnce) {
      if (output !== undefined) {
        const { topic, records } = this.#options.sink.commitRecords(output);
        entry.pending.push({ topic, records });
        entry.pendingRecords += records.length;
      }
      entry.pending.push(...fragments);
      for (const { records } of fragments) entry.pendingRecords += records.length;
      return;
    }
    const writes: Promise<unknown>[] = [];
    if (output !== undefined) writes.push(this.#options.sink.write(output as Batch<Row>));
    if (fragments.length > 0) writes.push(this.#sendFragments(fragments));
    if (writes.length === 0) return;
    const written = Promise.all(writes);
    written.catch((error) => this.#fail(error));
    this.#inflight.push(written);
    this.#unacknowledged++;
    entry.unacknowledged.add(written);
    written.finally(() => {
      entry.unacknowledged.delete(written);
      this.#unacknowledged--;
    }).catch(() => {});
  }

  /** One fragment per downstream partition of each stage the commit's exchanges feed. */
  #fragmentRecords(from: string, commit: TaskCommit): TopicRecords[] {
    if (commit.exchanged.length === 0) return [];
    const byDestination = new Map<
      string,
      { stage: number; partition: number; changes: FragmentChange[] }
    >();
    for (const { index, stage, route, changes } of commit.exchanged) {
      for (const change of changes) {
        const partition = partitionOf(route(change), this.#partitions);
        const key = `${stage}\0${partition}`;
        let destination = byDestination.get(key);
        if (destination === undefined) {
          byDestination.set(key, destination = { stage, partition, changes: [] });
        }
        destination.changes.push([index, change.id, change.row, change.diff]);
      }
    }
    const byTopic = new Map<string, ProduceRecord[]>();
    for (const { stage, partition, changes } of byDestination.values()) {
      const topic = this.#repartitionTopics[stage - 1];
      let records = byTopic.get(topic);
      if (records === undefined) byTopic.set(topic, records = []);
      for (const value of encodeFragment(from, commit.seq, commit.time, changes)) {
        records.push({ key: from, value, partition });
      }
    }
    return [...byTopic].map(([topic, records]) => ({ topic, records }));
  }

  /** Sends fragment records after those sent before, in requests below the size limit. */
  #sendFragments(batches: readonly TopicRecords[]): Promise<void> {
    // Commits that come while a request is in flight share the next one (records appended in
    // order, so each partition keeps its order): a request per commit would cap the fragments
    // at one round trip per commit.
    const queued = this.#queuedFragments;
    if (queued !== undefined) {
      appendRecords(queued.byTopic, batches);
      return queued.sent;
    }
    const next = { byTopic: new Map<string, ProduceRecord[]>(), sent: Promise.resolve() };
    appendRecords(next.byTopic, batches);
    this.#queuedFragments = next;
    const producer = this.#producer!;
    const limit = this.#options.sink.maxRequestBytes;
    next.sent = this.#sending.then(async () => {
      // From here on, later commits queue for the request after this one.
      this.#queuedFragments = undefined;
      const all = [...next.byTopic].map(([topic, records]) => ({ topic, records }));
      for (const request of produceRequests(all, limit)) {
        // A fragment sent twice (an answer lost) is dropped by its receiver.
        await this.#retrying("repartition", () => producer.send(request));
      }
    });
    this.#sending = next.sent.catch(() => {});
    return next.sent;
  }

  /** Starts the checkpoints that are due (one at a time per task). */
  #checkpointDue(): void {
    if (this.#failure !== undefined) return;
    this.#takeBackFenced();
    const interval = this.#options.checkpointIntervalMs ?? 1_000;
    const now = Date.now();
    if (this.#options.exactlyOnce) {
      this.#checkMembership();
      if (now - this.#lastInstanceCheckpointMs >= interval) this.#checkpointInstance();
      return;
    }
    for (const entry of this.#tasks.values()) {
      if (!entry.restored || entry.closed || entry.checkpointing !== undefined) continue;
      if (!entry.task.dirty || now - entry.lastCheckpointMs < interval) continue;
      this.#checkpoint(entry);
    }
  }

  /** Takes back fenced tasks whose partitions this instance holds after a rebalance since. */
  #takeBackFenced(): void {
    const consumer = this.#consumer;
    if (this.#fenced.size === 0 || consumer === undefined || this.#stopping) return;
    const generation = consumer.groupMetadata()?.generationId;
    if (generation === undefined) return;
    const held = new Set(consumer.assignment().map((tp) => taskId(tp.topic, tp.partition)));
    const back: TopicPartition[] = [];
    const now = Date.now();
    for (const [id, fenced] of this.#fenced) {
      // Same generation: if the group moved the partition, this member learns it at its next
      // heartbeat; still holding it a while later, it was fenced by a former owner's late
      // registration, and the task is this member's.
      if (fenced.generation === generation && now - fenced.at < TAKE_BACK_AFTER_MS) continue;
      this.#fenced.delete(id);
      if (held.has(id) && !this.#tasks.has(id)) back.push(fenced);
    }
    if (back.length === 0) return;
    try {
      this.#assigned(back);
    } catch (error) {
      this.#fail(error);
    }
  }

  /**
   * At-least-once: checkpoints one task (its outputs and fragments are already
   * sent); resolves when done (a task lost to another instance is retired).
   */
  #checkpoint(entry: TaskEntry): Promise<void> {
    if (entry.checkpointing !== undefined) return entry.checkpointing;
    const { task } = entry;
    entry.lastCheckpointMs = Date.now();
    let captured: { entries: TaskEntries; position: string };
    try {
      captured = task.checkpoint();
    } catch (error) {
      this.#fail(error);
      return Promise.resolve();
    }
    const changelogRecords = this.#changelogRecords(task.id, entry.written, captured.entries);
    const claim = entry.claim;
    if (claim !== undefined) {
      changelogRecords.push(handOffRecord(task.id, claim, partitionOf(task.id, this.#partitions)));
    }
    const acknowledged = Promise.all(entry.unacknowledged);
    const run = async () => {
      await acknowledged;
      await entry.writer!.run(this.#taskTransaction(task, changelogRecords, captured.position));
      entry.written = captured.entries;
      if (entry.claim === claim) entry.claim = undefined;
    };
    entry.checkpointing = run().catch((error) => {
      // Revoked meanwhile: the task is its new owner's; how this checkpoint ended does not matter
      // (at-least-once: its outputs were acknowledged, a repeat of them is exact).
      if (entry.closed) return;
      if (isFenced(error)) {
        this.#logger.warn(
          "Task taken over by another instance (this one was fenced); giving it up",
          { task: task.id },
        );
        if (!entry.closed) {
          this.#retire(entry);
          this.#fenced.set(task.id, {
            topic: task.topic,
            partition: task.partition,
            generation: this.#consumer?.groupMetadata()?.generationId,
            at: Date.now(),
          });
        }
        return;
      }
      this.#fail(error);
    }).finally(() => (entry.checkpointing = undefined));
    return entry.checkpointing;
  }

  /** At-least-once: a task's checkpoint transaction: its changelog records and its group offset. */
  #taskTransaction(
    task: Task,
    changelog: ProduceRecord[],
    position: string,
  ): TransactionContent {
    const positions = [{ topic: task.topic, partition: task.partition, offset: position }];
    return {
      records: [{ topic: this.#changelog, records: changelog }],
      offsets: [{ groupId: this.#groupId, positions }],
      beforeCommit: () => Promise.resolve(),
      committed: async () =>
        samePositions(
          positions,
          (await this.#admin!.groupPositions(this.#groupId, [task.topic]))
            .filter((p) => p.partition === task.partition),
        ),
    };
  }

  /**
   * Exactly-once: one transaction with every changed task's records, state
   * entries and offsets. Fenced (the group went on without this member, or
   * the transaction timed out while the process was stopped), every task is
   * given up and taken back from the changelog: what this instance holds may
   * have run elsewhere since.
   */
  #checkpointInstance(): Promise<void> {
    if (this.#instanceCheckpoint !== undefined) return this.#instanceCheckpoint;
    // The generation the captured state belongs to: the offsets are sent with it, so a
    // rebalance before they reach the group coordinator aborts the transaction.
    const member = this.#consumer?.groupMetadata();
    if (member === undefined || !sameMember(member, this.#member)) return Promise.resolve();
    this.#lastInstanceCheckpointMs = Date.now();
    const captured: {
      entry: TaskEntry;
      entries: TaskEntries;
      records: TopicRecords[];
      changelog: ProduceRecord[];
      position: string;
    }[] = [];
    for (const entry of this.#tasks.values()) {
      if (!entry.restored || entry.closed) continue;
      if (!entry.task.dirty && entry.pending.length === 0) continue;
      let checkpoint: { entries: TaskEntries; position: string };
      try {
        checkpoint = entry.task.checkpoint();
      } catch (error) {
        this.#fail(error);
        return Promise.resolve();
      }
      captured.push({
        entry,
        entries: checkpoint.entries,
        records: entry.pending,
        changelog: this.#changelogRecords(entry.task.id, entry.written, checkpoint.entries),
        position: checkpoint.position,
      });
      entry.pending = [];
      entry.pendingRecords = 0;
    }
    if (captured.length === 0) return Promise.resolve();
    const positions = captured.map(({ entry, position }) => ({
      topic: entry.task.topic,
      partition: entry.task.partition,
      offset: position,
    }));
    const ours = new Set(positions.map((p) => taskId(p.topic, p.partition)));
    const topics = [...new Set(positions.map((p) => p.topic))];
    const run = this.#instanceWriter!.run({
      records: [
        ...captured.flatMap(({ records }) => records),
        { topic: this.#changelog, records: captured.flatMap(({ changelog }) => changelog) },
      ],
      offsets: [{
        groupId: this.#groupId,
        positions,
        metadata: () => member,
      }],
      beforeCommit: () => Promise.resolve(),
      committed: async () =>
        samePositions(
          positions,
          (await this.#admin!.groupPositions(this.#groupId, topics))
            .filter((p) => ours.has(taskId(p.topic, p.partition))),
        ),
    }).then(() => {
      for (const { entry, entries } of captured) entry.written = entries;
    }, (error) => {
      if (!isFenced(error)) return this.#fail(error);
      this.#logger.warn(
        "This instance was fenced (the group went on without it, or its transaction timed " +
          "out); its tasks start again from their last committed checkpoints",
        { error: error instanceof Error ? error.message : String(error) },
      );
      this.#restartAll();
    });
    this.#instanceCheckpoint = run.finally(() => (this.#instanceCheckpoint = undefined));
    return this.#instanceCheckpoint;
  }

  /**
   * Exactly-once: notices this member missing a generation of its group (a
   * new member id, or a generation skipped: the process was stopped, or cut
   * off, while the group went on without it). Partitions it still holds may
   * have been run elsewhere meanwhile, so every task starts again from the
   * changelog, whether or not the assignment changed.
   */
  #checkMembership(): void {
    const now = this.#consumer?.groupMetadata();
    if (now === undefined) return;
    const last = this.#member;
    this.#member = now;
    if (
      last === undefined ||
      now.memberId === last.memberId && now.generationId <= last.generationId + 1
    ) {
      return;
    }
    this.#logger.warn(
      "This instance missed a generation of its group; its tasks start again from their last " +
        "committed checkpoints",
      { memberId: now.memberId, generation: now.generationId, last: last.generationId },
    );
    this.#restartAll();
  }

  /** Gives up every task and takes back, from the changelog, those whose partitions are held. */
  #restartAll(): void {
    for (const entry of [...this.#tasks.values()]) {
      this.#retire(entry);
      const { topic, partition } = entry.task;
      // Taken back at once where still held: the restore reads the changelog as committed.
      this.#fenced.set(entry.task.id, { topic, partition, generation: undefined, at: Date.now() });
    }
  }

  /** The changelog records that bring a task's entries from `written` to `now` (tombstones for the gone). */
  #changelogRecords(id: string, written: TaskEntries, now: TaskEntries): ProduceRecord[] {
    const partition = partitionOf(id, this.#partitions);
    const records: ProduceRecord[] = [];
    for (const [key, value] of now) {
      const before = written.get(key);
      if (before !== undefined && Buffer.compare(before, value) === 0) continue;
      records.push({ key: `${id}/${key}`, value, partition });
    }
    for (const key of written.keys()) {
      if (!now.has(key)) records.push({ key: `${id}/${key}`, value: null, partition });
    }
    return records;
  }

  #onUserFunctionError(error: UserFunctionError): void {
    const policy: ErrorPolicy = this.#options.read.errorPolicy;
    if (policy === "stop") throw error;
    this.#userErrors++;
    this.#logger.warn(`${error.message}; skipped`, { policy });
  }

  /** Graceful end: stop fetching, let what is being handled finish, checkpoint every task. */
  async #finish(): Promise<void> {
    const tasks = this.#tasks.size;
    this.#consumer?.pause();
    await Promise.all([...this.#tasks.values()].map((entry) => entry.ready.catch(() => {})));
    await Promise.all(this.#inflight);
    if (this.#options.exactlyOnce) {
      await this.#instanceCheckpoint;
      this.#checkMembership();
      await this.#checkpointInstance();
    }
    if (!this.#options.exactlyOnce) {
      // Released before this member leaves the group: their next owners start at once.
      await Promise.all(
        [...this.#tasks.values()]
          .filter((entry) => entry.restored && !entry.closed)
          .map((entry) => this.#handOver(entry, { retry: true })),
      );
      await Promise.all(this.#handOvers.values());
    }
    if (this.#failure !== undefined) throw this.#failure;
    this.#logger.info("Partitioned run stopped cleanly", { tasks });
  }

  async #release(): Promise<void> {
    await Promise.all(this.#handOvers.values());
    await this.#consumer?.disconnect().catch(() => {});
    await Promise.all([...this.#tasks.values()].map(async (entry) => {
      await entry.checkpointing;
      await entry.writer?.close();
    }));
    await this.#instanceCheckpoint;
    await this.#instanceWriter?.close();
    await this.#sending;
    await this.#producer?.disconnect().catch(() => {});
    await this.#options.sink.close().catch((error) => {
      if (this.#failure === undefined) this.#fail(error);
    });
    await this.#admin?.disconnect().catch(() => {});
  }

  #fail(error: unknown): void {
    if (this.#failure === undefined) this.#failure = error;
    this.#wake();
  }
}

/** Whether two sightings of a consumer's membership are the same member in the same generation. */
function sameMember(a: ConsumerGroupMetadata, b: ConsumerGroupMetadata | undefined): boolean {
  return b !== undefined && a.memberId === b.memberId && a.generationId === b.generationId;
}

/** A task's id: the topic-partition it reads. */
export function taskId(topic: string, partition: number): string {
  return `${topic}:${partition}`;
}

/** Whether a checkpoint failed because another instance registered the task's transactional id. */
function isFenced(error: unknown): boolean {
  for (let e = error; e instanceof Error; e = e.cause) {
    if (e instanceof KafkaClientError && e.classification.kind === "fenced") return true;
  }
  return false;
}

/** Appends each topic's records to those already queued for it, in order. */
function appendRecords(
  byTopic: Map<string, ProduceRecord[]>,
  batches: readonly TopicRecords[],
): void {
  for (const { topic, records } of batches) {
    const queued = byTopic.get(topic);
    if (queued === undefined) byTopic.set(topic, [...records]);
    else for (const record of records) queued.push(record);
  }
}
