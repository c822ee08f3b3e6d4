/**
 * The pipeline: sources, the engine graph and sinks, run until stopped.
 *
 * Data flows one way: a source hands over messages, a {@linkcode SourceReader}
 * decodes them into closed batches, each batch is applied to the graph at one
 * logical time, and the graph's outputs go to the sinks. A partition's offset
 * is committed only after every output of the batches before it is
 * acknowledged (at-least-once). With a state directory, operator state,
 * positions and decoder state are checkpointed at commit boundaries and a
 * restart resumes from there.
 *
 * How outputs and progress leave the pipeline is a delivery mode
 * (`delivery/delivery.ts`), chosen once per run: offset commits without a
 * state directory (`delivery/offsets.ts`), checkpoints and an apply journal
 * with one (`delivery/checkpointed.ts`), Kafka transactions in exactly-once
 * mode (`delivery/exactly_once.ts`), checkpoints and the apply order in a
 * changelog topic with the kafka state store (`delivery/changelog_checkpointed.ts`). Each file says what a crash (SIGKILL at
 * any instant) leaves in its mode. This file is the apply loop they share.
 *
 * @module
 */
import { Graph, type InputTable, type Table, UserFunctionError } from "../engine/mod.ts";
import type { InputIssue } from "../engine/errors.ts";
import type { Row, Time } from "../engine/types.ts";
import type { Format, FormatOptions } from "../formats/format.ts";
import type { CompiledColumn } from "../formats/schema.ts";
import {
  type DeadLetterSink,
  type ErrorPolicy,
  type Logger,
  silentLogger,
  type Sink,
  type Source,
  type SourceMessage,
} from "../connectors/types.ts";
import type { Checkpoint } from "./delivery/checkpoint.ts";
import type { Delivery, DeliveryContext } from "./delivery/delivery.ts";
import { OffsetsDelivery } from "./delivery/offsets.ts";
import { CheckpointedDelivery } from "./delivery/checkpointed.ts";
import { ChangelogCheckpointedDelivery } from "./delivery/changelog_checkpointed.ts";
import { ExactlyOnceDelivery } from "./delivery/exactly_once.ts";
import { ChangelogCacheStore } from "./delivery/changelog_cache.ts";
import { CheckpointStore } from "./delivery/checkpoint.ts";
import { ApplyJournal } from "./delivery/journal.ts";
import {
  checkStateIdentity,
  recordStateIdentity,
  StaleStateError,
  type StateIdentity,
} from "./state_identity.ts";
import type { SourceIdentity } from "../connectors/types.ts";
import {
  applyUpdates,
  type ClosedBatch,
  type CommitMode,
  positionsOf,
  type ReaderCounters,
  reportBadInput,
  SourceReader,
} from "./reader.ts";

/** How a source's messages become rows of an input table. */
export interface ReadOptions {
  readonly source: Source;
  readonly format: Format;
  readonly formatOptions?: FormatOptions;
  /** Columns whose values make the row id (upserts); without it every row is new. */
  readonly primaryKey?: readonly string[];
  /** Adds a `_metadata` column (topic, partition, offset, timestamp, key, headers). */
  readonly withMetadata?: boolean;
  /** Reads a `diff` column as insertion (1) or retraction (-1): another rivulet's output. */
  readonly diffColumn?: boolean;
  /** `*COMMIT*` markers (default) or a fixed interval. */
  readonly commitMode?: CommitMode;
  /** What to do with bad input (default `stop`). */
  readonly errorPolicy?: ErrorPolicy;
  /** Required by the `dead-letter` policy. */
  readonly deadLetter?: DeadLetterSink;
  /** Messages larger than this many bytes (key and value) are bad input (default 1,048,588, Kafka's `message.max.bytes`). */
  readonly maxMessageBytes?: number;
  /** Typed columns (see formats/schema.ts): values converted when read. */
  readonly schema?: readonly CompiledColumn[];
  /** The Kafka key is the row id; a tombstone deletes its row. */
  readonly keyAsRowId?: boolean;
  /** Columns decoded from the message key with the source's format. */
  readonly keyColumns?: readonly string[];
}

/** Options of {@linkcode Pipeline}. */
export interface PipelineOptions {
  readonly logger?: Logger;
}

/** Options of {@linkcode Pipeline.run}. */
export interface RunOptions {
  /** Stops the pipeline gracefully when aborted. */
  readonly signal?: AbortSignal;
  /** Where state is checkpointed; without it a restart starts with empty state. */
  readonly stateDir?: string;
  /** Least time between checkpoints (default 1,000 ms). */
  readonly checkpointIntervalMs?: number;
  /** How often acknowledged offsets are committed to Kafka without a state directory (default 1,000 ms). */
  readonly offsetCommitIntervalMs?: number;
  /** Applied commits whose outputs are not yet acknowledged before reading pauses (default 1,000; see bench/backpressure_rss.ts). */
  readonly maxPendingCommits?: number;
  /**
   * Output changes handed to the sinks and not yet acknowledged before reading
   * pauses (default 50,000): bounds the memory of a pipeline whose output is
   * slower than its input (a group-by where every row changes a group), where
   * counting commits alone would let a commit's whole output wait a thousand times.
   */
  readonly maxPendingChanges?: number;
  /** Stop once every source has read all it ever will (files; default true). */
  readonly stopWhenFinished?: boolean;
  /**
   * Kafka transactions: the outputs of the commits since the last checkpoint
   * and the input offsets that produced them become visible together, once.
   * Needs `stateDir`, Kafka sources of one consumer group and Kafka sinks.
   */
  readonly exactlyOnce?: boolean;
  /** The transactional id of exactly-once mode (default `rivulet-` and the first source's group id). */
  readonly transactionalId?: string;
  /**
   * Where state lives: `local` (default) in `stateDir`; `kafka` in a
   * compacted changelog topic (in each transaction in exactly-once mode, as
   * closed checkpoints otherwise), so a restart on an empty disk restores
   * it; `stateDir` is then an optional local cache of the changelog.
   */
  readonly stateStore?: "kafka" | "local";
  /**
   * Discards the state saved in `stateDir` and starts as new. Saved state that
   * no longer fits the input (a topic created again, partitions added) is
   * otherwise refused with a {@linkcode StaleStateError}.
   */
  readonly resetState?: boolean;
}

/** What a pipeline has done so far. */
export interface PipelineStats {
  messagesIn: number;
  rowsIn: number;
  commitsApplied: number;
  changesOut: number;
  badInput: number;
  deadLettered: number;
  /** Applied commits whose outputs the sinks have not acknowledged yet. */
  pendingCommits: number;
  /** The logical time of the last applied commit (0 before the first). */
  lastTime: Time;
  /** `retrying` while a source, a sink or a transaction waits for Kafka to come back. */
  connection?: "connected" | "retrying";
  /**
   * The kafka state store: whether state is being restored, changelog records
   * read so far, and whether the restore started from the local cache (the
   * changelog's tail only) or the changelog's beginning.
   */
  restore?: {
    readonly restoring: boolean;
    readonly records: number;
    readonly from?: "cache" | "beginning";
  };
}

interface SourceEntry {
  readonly options: ReadOptions;
  readonly input: InputTable<Row>;
  reader?: SourceReader;
  /** Next offset per `topic\0partition` after the last applied batch. */
  readonly applied: Map<string, string>;
  /** The same, for batches whose outputs are acknowledged. */
  readonly acknowledged: Map<string, string>;
  /**
   * Next offset per `topic\0partition` after the last message handed to the
   * reader: a source that restarts (a Kafka consumer rejoining after a broker
   * fault) re-reads from its committed offset, and what was read already must
   * not be applied twice.
   */
  readonly read: Map<string, number>;
}

interface OutputEntry {
  readonly table: Table<Row>;
  readonly sink: Sink<Row>;
}

/**
 * Something the pipeline's sources and sinks share (a Kafka client of one
 * settings object): opened before the first of them starts, closed once
 * after they are all closed.
 */
export interface SharedResource {
  open(): Promise<void>;
  close(): Promise<void>;
}

const noCounters: ReaderCounters = { messages: 0, rows: 0, badInput: 0, deadLettered: 0 };

/**
 * A dataflow from sources through the engine to sinks.
 *
 * @example
 * ```ts ignore
 * const pipeline = new Pipeline();
 * const t = pipeline.read({ source, format: csv, formatOptions: { valueColumns: ["value"] } });
 * const sum = t.select({ value: apply((x: string) => parseInt(x), "value") })
 *   .reduce({ sum: reducers.sum("value") });
 * pipeline.write(sum, sink);
 * await pipeline.run();
 * ```
 */
export class Pipeline {
  readonly graph: Graph;
  /** Where the pipeline and its connectors report. */
  readonly logger: Logger;
  readonly #logger: Logger;
  readonly #sources: SourceEntry[] = [];
  readonly #outputs: OutputEntry[] = [];
  readonly #shared: SharedResource[] = [];
  #running = false;
  #stopping = false;
  #failure: unknown = undefined;
  #wake: () => void = () => {};
  #lastTime: Time = 0;
  #commitsApplied = 0;
  /** What the sources reported at start (state_identity.ts), saved with each checkpoint. */
  #identities: (SourceIdentity | undefined)[] = [];
  #changesOut = 0;
  #pendingCommits = 0;
  #maxPendingChanges = 50_000;
  /** Resolves when every applied batch's outputs are acknowledged (in order). */
  #acknowledged: Promise<void> = Promise.resolve();
  /** Sink acknowledgements of the commit being applied. */
  #acks: Promise<void>[] = [];
  /** Output changes handed to the sinks by the commit being applied. */
  #commitChanges = 0;
  /** Output changes handed to the sinks and not yet acknowledged. */
  #pendingChanges = 0;
  /** The batch being applied, for locating user function errors. */
  #current: { entry: SourceEntry; batch: ClosedBatch } | undefined;
  /** Dead-letter sends of user function errors in the commit being applied. */
  #userDeadLetters: Promise<void>[] = [];
  #userErrors: ReaderCounters = { messages: 0, rows: 0, badInput: 0, deadLettered: 0 };
  /** How outputs and progress leave: chosen when the run starts. */
  #delivery: Delivery | undefined;
  /** Set when a checkpoint's sources were saved in another order: saved index to current index. */
  #savedOrder: number[] | undefined;
  /** Closed batches waiting for their turn in the delivery's apply order, per source and partition, in order. */
  readonly #held = new Map<string, { entry: SourceEntry; batch: ClosedBatch }[]>();

  constructor(options: PipelineOptions = {}) {
    this.#logger = this.logger = options.logger ?? silentLogger;
    this.graph = new Graph({ onError: (error) => this.#onUserFunctionError(error) });
  }

  /** Adds a source; returns its input table. */
  read<R extends Row = Row>(options: ReadOptions): Table<R> {
    if (this.#running) throw new Error("Cannot add a source to a running pipeline");
    if (options.errorPolicy === "dead-letter" && options.deadLetter === undefined) {
      throw new Error(
        `The dead-letter policy of source "${options.source.name}" needs a dead-letter topic`,
      );
    }
    const input = this.graph.input<Row>({
      name: options.source.name,
      keyed: options.primaryKey !== undefined || options.keyAsRowId === true,
    });
    this.#sources.push({
      options,
      input,
      applied: new Map(),
      acknowledged: new Map(),
      read: new Map(),
    });
    return input as unknown as Table<R>;
  }

  /** Sends every change of `table` to `sink`. */
  write<R extends Row>(table: Table<R>, sink: Sink<R>): void {
    if (this.#running) throw new Error("Cannot add a sink to a running pipeline");
    const entry: OutputEntry = {
      table: table as unknown as Table<Row>,
      sink: sink as unknown as Sink<Row>,
    };
    this.#outputs.push(entry);
    this.graph.output(entry.table, (batch) => {
      this.#changesOut += batch.changes.length;
      this.#commitChanges += batch.changes.length;
      const ack = this.#delivery!.write(entry.sink, batch);
      if (ack !== undefined) this.#acks.push(ack);
    });
  }

  /**
   * Forgets the open (unapplied) rows `source` read from partitions it lost
   * (a rebalance): whoever reads them next reads them again. What was applied
   * stays applied, and is not applied twice if the partition comes back here
   * and is re-read from an older committed offset.
   */
  dropPartitions(
    source: Source,
    partitions: readonly { topic: string; partition: number }[],
  ): void {
    const entry = this.#sources.find((s) => s.options.source === source);
    if (entry === undefined) return;
    entry.reader?.dropPartitions(partitions);
    const index = this.#sources.indexOf(entry);
    for (const { topic, partition } of partitions) {
      // Closed batches held for their turn in a replay are not applied either: they are read
      // again from `applied` below, and kept they would be applied twice (shifting every later
      // batch's time, so the replay would no longer repeat the same changes).
      this.#held.delete(`${index}\0${topic}\0${partition}`);
      const key = `${topic}\0${partition}`;
      const applied = entry.applied.get(key);
      if (applied === undefined) entry.read.delete(key);
      else entry.read.set(key, Number(applied));
    }
  }

  /** The sinks, in the order they were added (their own counters, for metrics and tests). */
  sinks(): readonly Sink<Row>[] {
    return this.#outputs.map((o) => o.sink);
  }

  /** The sources, in the order they were added. */
  sources(): readonly Source[] {
    return this.#sources.map((s) => s.options.source);
  }

  /** Counters for the status line and metrics. */
  stats(): PipelineStats {
    const stats: PipelineStats = {
      messagesIn: 0,
      rowsIn: 0,
      commitsApplied: this.#commitsApplied,
      changesOut: this.#changesOut,
      badInput: this.#userErrors.badInput,
      deadLettered: this.#userErrors.deadLettered,
      pendingCommits: this.#pendingCommits,
      lastTime: this.#lastTime,
      connection: this.#delivery?.retrying() ? "retrying" : "connected",
    };
    const restore = this.#delivery?.restoreProgress?.();
    if (restore !== undefined) stats.restore = { ...restore };
    const parts = [...this.#sources.map((s) => s.options.source), ...this.sinks()];
    if (parts.some((part) => part.connectionState?.() === "retrying")) {
      stats.connection = "retrying";
    }
    for (const entry of this.#sources) {
      const counters = entry.reader?.counters ?? noCounters;
      stats.messagesIn += counters.messages;
      stats.rowsIn += counters.rows;
      stats.badInput += counters.badInput;
      stats.deadLettered += counters.deadLettered;
    }
    return stats;
  }

  /**
   * Adds a resource the sources and sinks share: {@linkcode Pipeline.run}
   * opens it before it starts them and closes it after it closed them.
   */
  share(resource: SharedResource): void {
    if (!this.#shared.includes(resource)) this.#shared.push(resource);
  }

  /** Asks a running pipeline to stop gracefully; `run` then resolves. */
  stop(): void {
    this.#stopping = true;
    this.#wake();
  }

  /**
   * Runs until stopped (signal or {@linkcode stop}), until every source is
   * finished (files), or until a failure, which it rethrows after committing
   * what was acknowledged.
   */
  async run(options: RunOptions = {}): Promise<PipelineStats> {
    if (this.#running) throw new Error("The pipeline is already running");
    if (this.#sources.length === 0) throw new Error("The pipeline has no source");
    this.#running = true;
    const stop = () => this.stop();
    options.signal?.addEventListener("abort", stop);
    if (options.signal?.aborted) this.#stopping = true;
    const maxPending = options.maxPendingCommits ?? 1_000;
    this.#maxPendingChanges = options.maxPendingChanges ?? 50_000;
    const timers: ReturnType<typeof setInterval>[] = [];
    try {
      await Promise.all(this.#shared.map((resource) => resource.open()));
      if (options.resetState && options.stateDir !== undefined) {
        await discardSavedState(options.stateDir, this.#logger);
      }
      const delivery = this.#delivery = this.#chooseDelivery(options);
      const loaded = await delivery.load();
      // Exactly-once takes the checkpoint as saved: the group's offsets say which one it is.
      const aligned = loaded === undefined || options.exactlyOnce
        ? loaded
        : this.#alignByName(loaded);
      const checkpoint = await this.#restore(options.stateDir, aligned, delivery.changelogTopic);
      delivery.restored(checkpoint, this.#savedOrder);
      await Promise.all(this.#outputs.map((o) => o.sink.open()));
      for (const [index, entry] of this.#sources.entries()) {
        const handler = (messages: readonly SourceMessage[]) =>
          this.#handle(entry, messages, maxPending);
        await entry.options.source.start(handler, checkpoint?.sources[index]?.positions);
        const mode = entry.options.commitMode;
        if (mode?.kind === "interval") {
          timers.push(setInterval(() => this.#closeInterval(entry), mode.intervalMs));
        }
      }
      delivery.start();
      const finished = Promise.all(this.#sources.map((s) => s.options.source.finished));
      finished.then(() => {
        if (!(options.stopWhenFinished ?? true)) return;
        // A bounded read (files, Kafka's untilEnd) ends with what interval mode holds applied.
        for (const entry of this.#sources) {
          if (entry.options.commitMode?.kind === "interval") this.#closeInterval(entry);
        }
        this.stop();
      }, (error) => this.#fail(error));
      while (!this.#stopping && this.#failure === undefined) {
        await new Promise<void>((resolve) => (this.#wake = resolve));
      }
    } catch (error) {
      this.#fail(error);
    } finally {
      for (const timer of timers) clearInterval(timer);
      this.#delivery?.stop();
      options.signal?.removeEventListener("abort", stop);
      await this.#shutdown();
      this.#running = false;
    }
    if (this.#failure !== undefined) throw this.#failure;
    return this.stats();
  }

  /**
   * Matches a checkpoint's sources to the pipeline's by name, so that
   * reordering the sources of a script keeps each one's state. Applies when
   * the names are unique and the same on both sides; otherwise the
   * checkpoint is taken in order, as saved.
   */
  #alignByName(checkpoint: Checkpoint): Checkpoint {
    const names = this.#sources.map((entry) => entry.options.source.name);
    const saved = checkpoint.sources.map((source) => source.name);
    const unique = (list: readonly string[]) => new Set(list).size === list.length;
    if (
      saved.length !== names.length || !unique(names) || !unique(saved) ||
      !names.every((name) => saved.includes(name))
    ) {
      return checkpoint;
    }
    const order = names.map((name) => saved.indexOf(name));
    if (order.every((from, to) => from === to)) return checkpoint;
    this.#logger.info(
      "Sources were reordered since the checkpoint; their state follows their names",
      {
        order: names.join(","),
      },
    );
    // savedOrder[i]: the index in the new order of the source that was i-th when saved.
    this.#savedOrder = saved.map((name) => names.indexOf(name));
    const identity = checkpoint.identity;
    return {
      ...checkpoint,
      sources: order.map((from) => checkpoint.sources[from]),
      // The identity is recorded in the saved order too: it follows the names with the rest.
      ...(identity === undefined || identity.sources.length !== saved.length
        ? {}
        : { identity: { sources: order.map((from) => identity.sources[from]) } }),
    };
  }

  /** The delivery mode of this run: transactions, checkpoints, or offset commits. */
  #chooseDelivery(options: RunOptions): Delivery {
    const context: DeliveryContext = {
      logger: this.#logger,
      sources: this.sources(),
      sinks: this.sinks(),
      acknowledgedPositions: () => this.#sources.map((entry) => positionsOf(entry.acknowledged)),
      capture: () => this.#captureCheckpoint(),
      acknowledged: () => this.#acknowledged,
      fail: (error) => this.#fail(error),
      failed: () => this.#failure !== undefined,
    };
    if (options.exactlyOnce) {
      return new ExactlyOnceDelivery(context, {
        stateDir: options.stateDir,
        checkpointIntervalMs: options.checkpointIntervalMs,
        transactionalId: options.transactionalId,
        stateStore: options.stateStore,
        resetState: options.resetState,
      });
    }
    if (options.stateStore === "kafka") {
      return new ChangelogCheckpointedDelivery(context, {
        stateDir: options.stateDir,
        checkpointIntervalMs: options.checkpointIntervalMs,
        resetState: options.resetState,
      });
    }
    if (options.stateDir !== undefined) {
      return new CheckpointedDelivery(context, {
        stateDir: options.stateDir,
        checkpointIntervalMs: options.checkpointIntervalMs,
      });
    }
    return new OffsetsDelivery(context, { offsetCommitIntervalMs: options.offsetCommitIntervalMs });
  }

  /**
   * Restores the graph, time and decoders of a checkpoint (if any) and makes
   * the readers; refuses a checkpoint that does not fit the input the brokers
   * hold now (see state_identity.ts).
   */
  async #restore(
    stateDir: string | undefined,
    checkpoint: Checkpoint | undefined,
    changelogTopic: string | undefined,
  ): Promise<Checkpoint | undefined> {
    if (stateDir !== undefined || changelogTopic !== undefined) {
      this.#identities = await Promise.all(this.#sources.map((s) => s.options.source.identity?.()));
      if (checkpoint !== undefined) {
        const check = checkStateIdentity({
          recorded: checkpoint.identity,
          positions: checkpoint.sources.map((saved) => saved.positions),
          current: this.#identities,
        });
        if (!check.ok) throw new StaleStateError(stateDir, check.refusal, changelogTopic);
      }
    }
    if (checkpoint !== undefined) {
      if (checkpoint.sources.length !== this.#sources.length) {
        throw new Error(
          `The checkpoint in "${stateDir}" has ${checkpoint.sources.length} sources, the pipeline ${this.#sources.length}`,
        );
      }
      this.graph.restore(checkpoint.graph);
      this.#lastTime = checkpoint.time;
      this.#logger.info("resuming from checkpoint", {
        stateDir: stateDir ?? null,
        time: checkpoint.time,
      });
    }
    for (const [index, entry] of this.#sources.entries()) {
      const saved = checkpoint?.sources[index];
      for (const position of saved?.positions ?? []) {
        const key = `${position.topic}\0${position.partition}`;
        entry.applied.set(key, position.offset);
        entry.acknowledged.set(key, position.offset);
        // The checkpoint holds everything before its positions: whatever the
        // consumer starts at (a group offset older than the checkpoint when
        // the process died between saving and committing, a seek applied
        // late after a rebalance), earlier messages must not be applied again.
        entry.read.set(key, Number(position.offset));
      }
      const options = entry.options;
      entry.reader = new SourceReader({
        name: options.source.name,
        format: options.format,
        formatOptions: options.formatOptions ?? {},
        primaryKey: options.primaryKey,
        withMetadata: options.withMetadata,
        diffColumn: options.diffColumn,
        schema: options.schema,
        keyAsRowId: options.keyAsRowId,
        keyColumns: options.keyColumns,
        errorPolicy: options.errorPolicy ?? "stop",
        deadLetter: options.deadLetter,
        logger: this.#logger,
        savedDecoders: saved?.decoders as Record<string, unknown> | undefined,
        maxMessageBytes: options.maxMessageBytes,
      });
    }
    return checkpoint;
  }

  async #handle(
    entry: SourceEntry,
    messages: readonly SourceMessage[],
    maxPending: number,
  ): Promise<void> {
    if (this.#stopping || this.#failure !== undefined) return;
    const closed: ClosedBatch[] = [];
    try {
      entry.reader!.accept(this.#unread(entry, messages), closed);
    } catch (error) {
      // Batches closed before the bad message are still applied: they are good.
      this.#applyAll(entry, closed);
      this.#fail(error);
      return;
    }
    this.#applyAll(entry, closed);
    if (this.#pendingCommits > maxPending || this.#pendingChanges > this.#maxPendingChanges) {
      await this.#acknowledged.catch(() => {});
    }
    const delivered = this.#delivery!.afterHandle?.();
    if (delivered !== undefined) await delivered;
  }

  /** The messages not handed to the reader before (a re-read after a consumer restart is dropped). */
  #unread(entry: SourceEntry, messages: readonly SourceMessage[]): readonly SourceMessage[] {
    let fresh: SourceMessage[] | undefined;
    let key = "";
    let topic = "";
    let partition = -1;
    let next: number | undefined;
    for (let i = 0; i < messages.length; i++) {
      const message = messages[i];
      // Messages come in runs of one partition: build its key only when it changes.
      if (message.partition !== partition || message.topic !== topic) {
        if (key !== "" && next !== undefined) entry.read.set(key, next);
        topic = message.topic;
        partition = message.partition;
        key = `${topic}\0${partition}`;
        next = entry.read.get(key);
      }
      const offset = Number(message.offset);
      if (next !== undefined && offset < next) {
        fresh ??= messages.slice(0, i);
        continue;
      }
      next = offset + 1;
      fresh?.push(message);
    }
    if (key !== "" && next !== undefined) entry.read.set(key, next);
    if (fresh !== undefined && fresh.length < messages.length) {
      this.#logger.info("Skipped messages read before (the source re-read after a restart)", {
        source: entry.options.source.name,
        skipped: messages.length - fresh.length,
      });
    }
    return fresh ?? messages;
  }

  #closeInterval(entry: SourceEntry): void {
    if (this.#stopping || this.#failure !== undefined) return;
    this.#applyAll(entry, entry.reader!.closeAll());
  }

  #applyAll(entry: SourceEntry, batches: readonly ClosedBatch[]): void {
    const order = this.#delivery!.order;
    try {
      if (order?.replaying() !== true && this.#held.size === 0) {
        for (const batch of batches) {
          if (this.#failure !== undefined) return;
          this.#apply(entry, batch);
        }
        return;
      }
      const index = this.#sources.indexOf(entry);
      for (const batch of batches) {
        const key = `${index}\0${batch.topic}\0${batch.partition}`;
        let queue = this.#held.get(key);
        if (queue === undefined) this.#held.set(key, queue = []);
        queue.push({ entry, batch });
      }
      this.#applyHeld();
    } catch (error) {
      this.#fail(error);
    } finally {
      // Before anything yields to the event loop, so before any output leaves.
      order?.flush();
    }
  }

  /**
   * After a restart: applies held batches in the delivery's recorded order,
   * so that the replay repeats the same changes at the same times; batches
   * of partitions the order does not name wait until it is replayed.
   */
  #applyHeld(): void {
    const order = this.#delivery!.order!;
    for (let progressed = true; progressed;) {
      progressed = false;
      for (const [key, queue] of this.#held) {
        while (queue.length > 0 && this.#failure === undefined) {
          const { entry, batch } = queue[0];
          const turn = order.turnOf(this.#sources.indexOf(entry), batch);
          if (turn === "wait") break;
          queue.shift();
          this.#apply(entry, batch, turn === "replayed");
          progressed = true;
        }
        if (queue.length === 0) this.#held.delete(key);
      }
    }
  }

  /** Applies one batch at one logical time and chains its acknowledgement. */
  #apply(entry: SourceEntry, batch: ClosedBatch, replayed = false): void {
    const key = `${batch.topic}\0${batch.partition}`;
    const acks: Promise<void>[] = this.#acks = [];
    if (batch.updates.length > 0) {
      const time = Math.max(this.#lastTime + 1, batch.timestamp);
      applyUpdates(entry.input, batch.updates);
      if (!replayed) this.#delivery!.order?.record(this.#sources.indexOf(entry), batch);
      this.#current = { entry, batch };
      try {
        this.graph.commit(time);
      } finally {
        this.#current = undefined;
      }
      this.#lastTime = time;
      this.#commitsApplied++;
    }
    entry.applied.set(key, batch.nextOffset);
    acks.push(entry.reader!.deadLettersAcknowledged());
    if (this.#userDeadLetters.length > 0) acks.push(...this.#userDeadLetters.splice(0));
    const onAcknowledged = this.#delivery!.applied();
    this.#pendingCommits++;
    // The closure below must not name `batch`: it would keep the batch's rows and
    // messages alive until the sink acknowledges (up to maxPendingCommits batches).
    const nextOffset = batch.nextOffset;
    const changes = this.#commitChanges;
    this.#commitChanges = 0;
    this.#pendingChanges += changes;
    const done = this.#acknowledged.then(() => Promise.all(acks)).then(() => {
      this.#pendingCommits--;
      this.#pendingChanges -= changes;
      entry.acknowledged.set(key, nextOffset);
      onAcknowledged?.();
    });
    done.catch((error) => this.#fail(error));
    this.#acknowledged = done;
  }

  /** The state at this commit boundary: the graph, positions and decoders of what was applied. */
  #captureCheckpoint(): Checkpoint {
    const sources = this.#sources.map((entry) => ({
      name: entry.options.source.name,
      positions: positionsOf(entry.applied),
      decoders: entry.reader!.saveDecoders(),
    }));
    const identity: StateIdentity = recordStateIdentity(
      this.#identities,
      sources.map((saved) => saved.name),
      sources.map((saved) => saved.positions),
    );
    return { version: 1, time: this.#lastTime, graph: this.graph.snapshot(), sources, identity };
  }

  #onUserFunctionError(error: UserFunctionError): void {
    // A permission refusal is the deployment's problem, not the row's: it stops the pipeline
    // under every policy instead of being skipped as bad input.
    if (
      error.cause instanceof Deno.errors.NotCapable ||
      error.cause instanceof Deno.errors.PermissionDenied
    ) {
      throw error.cause;
    }
    const current = this.#current;
    const message = current?.batch.updates.messageOf(error.id);
    const issue: InputIssue = {
      code: "user_function",
      reason: error.cause instanceof Error ? error.cause.message : String(error.cause),
      location: message !== undefined
        ? { topic: message.topic, partition: message.partition, offset: message.offset }
        : current !== undefined
        ? {
          topic: current.batch.topic,
          partition: current.batch.partition,
          offset: `<${current.batch.nextOffset}`,
        }
        : {},
      operation: error.operation,
      row: error.row,
    };
    const options = current?.entry.options;
    reportBadInput(
      issue,
      message,
      {
        errorPolicy: options?.errorPolicy ?? "stop",
        deadLetter: options?.deadLetter,
        logger: this.#logger,
      },
      this.#userErrors,
      this.#userDeadLetters,
    );
  }

  #fail(error: unknown): void {
    if (this.#failure === undefined) this.#failure = error;
    this.#wake();
  }

  /** Stops reading, sends what waits, commits what is acknowledged, closes. */
  async #shutdown(): Promise<void> {
    this.#stopping = true;
    const stopped = await Promise.allSettled(this.#sources.map((s) => s.options.source.stop()));
    for (const result of stopped) {
      if (result.status === "rejected") {
        this.#logger.warn(`Cannot stop a source: ${String(result.reason)}`);
      }
    }
    await Promise.allSettled(this.#outputs.map((o) => o.sink.flush()));
    await this.#acknowledged.catch(() => {});
    await this.#delivery?.shutdown(this.#failure !== undefined);
    await Promise.allSettled([
      ...this.#outputs.map((o) => o.sink.close()),
      // Leave consumer groups at once, so a restart or another member need not wait for the
      // session timeout; close dead-letter producers.
      ...this.#sources.map((s) => s.options.source.close?.()),
      ...this.#sources.map((s) => s.options.deadLetter?.close()),
    ]);
    await Promise.allSettled(this.#shared.map((resource) => resource.close()));
  }
}
/** `--reset-state`: removes the checkpoints and the apply journal of `stateDir`. */
async function discardSavedState(stateDir: string, logger: Logger): Promise<void> {
  const removed = [
    ...await CheckpointStore.discard(stateDir),
    ...await ChangelogCacheStore.discard(stateDir),
    ...await ApplyJournal.discard(stateDir),
  ];
  logger.info("discarded the saved state (reset)", { stateDir, files: removed.length });
}
