/**
 * Exactly-once delivery on Kafka transactions (`transactions.ts`): the
 * outputs of the commits since the last checkpoint and the input offsets
 * that produced them become visible together, once, to `read_committed`
 * readers, whatever the partitions. A checkpoint is taken at each
 * transaction; on a restart the consumer groups' committed offsets say which
 * checkpoint (current or pending) goes with the visible outputs.
 *
 * @module
 */
import type { Batch, Row } from "../../engine/types.ts";
import type { Position, Sink } from "../../connectors/types.ts";
import type { TopicRecords } from "../../connectors/kafka/client.ts";
import { type Checkpoint, CheckpointStore } from "./checkpoint.ts";
import type { Delivery, DeliveryContext } from "./delivery.ts";
import { ChangelogStore, type RestoreProgress } from "./changelog.ts";
import { StaleStateError } from "../state_identity.ts";
import {
  isTransactionalSink,
  samePositions,
  type TransactionalSink,
  type TransactionalSource,
  transactionalSources,
  TransactionWriter,
} from "./transactions.ts";

/** Options of {@linkcode ExactlyOnceDelivery}. */
export interface ExactlyOnceDeliveryOptions {
  /**
   * Where checkpoints are written; required with the local state store. With
   * the kafka state store it is optional and holds a local cache of the
   * changelog, so that a restart reads only the changelog's tail.
   */
  readonly stateDir?: string;
  /** Least time between transactions (default 1,000 ms). */
  readonly checkpointIntervalMs?: number;
  /** The transactional id (default `rivulet-` and the first source's group id). */
  readonly transactionalId?: string;
  /**
   * Where state lives: `local` (default) checkpoints in `stateDir`; `kafka`
   * writes it to a compacted changelog topic in each transaction and restores
   * from it, so no local state is needed.
   */
  readonly stateStore?: "kafka" | "local";
  /**
   * `--reset-state` with the kafka store: the changelog's state is read (so
   * that the first transaction tombstones every entry it held) and discarded.
   */
  readonly resetState?: boolean;
}

/**
 * How long the groups' offsets may stay pending after the transactional id
 * was settled before the transaction holding them counts as hanging.
 */
const hangingAfterMs = 3_000;

/** Records waiting for a transaction beyond which reading waits for it (bytes, estimated). */
const maxTransactionBytes = 64 * 1024 * 1024;

/** Kafka transactions carrying each interval's outputs, checkpoint and input offsets. */
export class ExactlyOnceDelivery implements Delivery {
  readonly #context: DeliveryContext;
  readonly #stateDir: string | undefined;
  readonly #intervalMs: number;
  readonly #sources: readonly TransactionalSource[];
  readonly #sinks: readonly TransactionalSink[];
  readonly #writer: TransactionWriter;
  /** Local checkpoints (`stateStore: "local"`). */
  readonly #store: CheckpointStore | undefined;
  /** The changelog topic (`stateStore: "kafka"`). */
  readonly #changelog: ChangelogStore | undefined;
  /** The records of the open transaction. */
  #records: TopicRecords[] = [];
  #bytes = 0;
  /** Batches were applied since the last transaction was started. */
  #dirty = false;
  /** When the next transaction is due (performance.now()). */
  #due = 0;
  /** The last transaction started; they run one after another. */
  #chain: Promise<void> = Promise.resolve();
  #timer: ReturnType<typeof setInterval> | undefined;
  readonly #reset: boolean;

  /** Throws unless state has a place (a state directory or Kafka) and every source and sink is a Kafka one. */
  constructor(context: DeliveryContext, options: ExactlyOnceDeliveryOptions) {
    const stateDir = options.stateDir;
    const inKafka = options.stateStore === "kafka";
    if (stateDir === undefined && !inKafka) {
      throw new Error("Exactly-once mode needs a state directory (or the kafka state store)");
    }
    this.#context = context;
    this.#stateDir = stateDir;
    this.#intervalMs = options.checkpointIntervalMs ?? 1000;
    this.#reset = options.resetState === true;
    const sources = transactionalSources(context.sources, "Exactly-once mode");
    const sinks: TransactionalSink[] = [];
    for (const sink of context.sinks) {
      if (!isTransactionalSink(sink)) {
        throw new Error(
          `Exactly-once mode needs Kafka sinks; sink ${JSON.stringify(sink.name)} is not one`,
        );
      }
      sinks.push(sink);
    }
    if (sinks.length === 0) throw new Error("Exactly-once mode needs a Kafka sink");
    this.#sources = sources;
    this.#sinks = sinks;
    const transactionalId = options.transactionalId ?? `rivulet-${sources[0].groupId}`;
    this.#writer = new TransactionWriter({
      producer: () => sinks[0].transactionalProducer({ transactionalId }),
      transactionalId,
      logger: context.logger,
      maxRequestBytes: Math.min(...sinks.map((sink) => sink.maxRequestBytes)),
    });
    if (inKafka) {
      this.#changelog = new ChangelogStore({
        client: sinks[0].kafkaClient,
        groupId: sources[0].groupId,
        inputTopics: sources.flatMap((source) => source.topics ?? []),
        logger: context.logger,
        ...(stateDir === undefined ? {} : { cacheDir: stateDir }),
      });
    } else this.#store = new CheckpointStore(stateDir!);
  }

  /** The changelog topic (`stateStore: "kafka"`). */
  get changelogTopic(): string | undefined {
    return this.#changelog?.topic;
  }

  /** The changelog's restore progress (`stateStore: "kafka"`), for the status line and metrics. */
  restoreProgress(): RestoreProgress | undefined {
    return this.#changelog?.progress;
  }

  /**
   * Connects the transactional producer (which settles the transaction a
   * crashed run left open), then chooses the checkpoint whose positions the
   * consumer groups committed: Kafka's transactional offset commit says
   * which outputs are visible, so it says which state goes with them.
   */
  async load(): Promise<Checkpoint | undefined> {
    await this.#writer.settle();
    this.#due = performance.now() + this.#intervalMs;
    const committed = await this.#settledPositions();
    if (this.#changelog !== undefined) {
      return await this.#loadChangelog(this.#changelog, committed);
    }
    const store = this.#store!;
    const { current, pending } = await store.loadCandidates();
    let checkpoint: Checkpoint | undefined;
    if (current !== undefined || pending !== undefined) {
      const matches = (candidate: Checkpoint | undefined) =>
        candidate !== undefined && holdsPositions(candidate, committed);
      if (matches(pending)) {
        await store.promotePending();
        checkpoint = pending;
      } else if (
        matches(current) || (current === undefined && committed.every((c) => c.length === 0))
      ) {
        await store.discardPending();
        checkpoint = current;
      } else {
        // Exit 2 with the way out (--reset-state), as for any state that does not fit.
        throw new StaleStateError(this.#stateDir!, {
          reason: "other_pipeline",
          source: this.#sources[0].name,
          detail: `the committed offsets of group ${JSON.stringify(this.#sources[0].groupId)} ` +
            `(${describePositions(committed.flat())}) match no checkpoint: ` +
            "was the group or the state directory used by another pipeline, or without exactly-once, " +
            "or was a topic created again?",
        });
      }
    }
    return checkpoint;
  }

  /**
   * Restores what the changelog's committed records hold: the state of the
   * last committed transaction, whose positions the groups committed with it.
   */
  async #loadChangelog(
    changelog: ChangelogStore,
    committed: readonly (readonly Position[])[],
  ): Promise<Checkpoint | undefined> {
    const checkpoint = await changelog.restore((records) =>
      this.#writer.run({
        records: [records],
        offsets: [],
        beforeCommit: () => Promise.resolve(),
        // A marker written twice is harmless: only the last one of a partition is looked for.
        committed: () => Promise.resolve(false),
      })
    );
    if (this.#reset) {
      this.#context.logger.info("discarded the saved state (reset)", { topic: changelog.topic });
      return undefined;
    }
    const matches = checkpoint === undefined
      ? committed.every((c) => c.length === 0)
      : holdsPositions(checkpoint, committed);
    if (!matches) {
      // Exit 2 with the way out (--reset-state), as for any state that does not fit.
      throw new StaleStateError(this.#stateDir, {
        reason: "other_pipeline",
        source: this.#sources[0].name,
        detail: `the committed offsets of group ${JSON.stringify(this.#sources[0].groupId)} ` +
          `(${describePositions(committed.flat())}) are not those of the state (${
            describePositions(checkpoint?.sources.flatMap((s) => s.positions) ?? [])
          }): was the group used without the kafka state store, the changelog deleted, ` +
          "or a topic created again?",
      }, changelog.topic);
    }
    return checkpoint;
  }

  restored(): void {}

  start(): void {
    this.#timer = setInterval(() => this.#commitIfDue(), this.#intervalMs);
  }

  /** Takes the batch's records into the open transaction; nothing is sent yet. */
  write(sink: Sink<Row>, batch: Batch<Row>): undefined {
    const { topic, records, sizes } = (sink as TransactionalSink).commitRecords(batch);
    this.#records.push({ topic, records });
    for (const size of sizes) this.#bytes += size;
    return undefined;
  }

  applied(): undefined {
    this.#dirty = true;
    return undefined;
  }

  /** Reading runs ahead of at most one transaction (and a bounded size of records): memory stays bounded. */
  afterHandle(): Promise<void> | undefined {
    if (this.#bytes > maxTransactionBytes) return this.#commit().catch(() => {});
    return this.#commitIfDue()?.catch(() => {});
  }

  retrying(): boolean {
    return this.#writer.retrying;
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Commits a last transaction (unless failed), waits for it and disconnects the producer. */
  async shutdown(failed: boolean): Promise<void> {
    if (!failed) await this.#commit().catch(() => {});
    await this.#chain.catch(() => {});
    await this.#writer.close();
    await this.#changelog?.close();
  }

  /**
   * The groups' committed positions once the transactional id is settled.
   * Nothing of this id is open then, so offsets still pending after
   * {@linkcode hangingAfterMs} belong to a transaction the broker left
   * hanging: it is aborted ({@linkcode TransactionWriter.abortHanging}) on
   * every partition it may have written (the sinks' and the changelog's) and
   * on the groups' offsets, and the lookup then completes.
   */
  async #settledPositions(): Promise<(readonly Position[])[]> {
    const lookup = this.#committedPositions();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const hanging = await Promise.race([
      lookup.then(() => false, () => false),
      new Promise<boolean>((resolve) => timer = setTimeout(() => resolve(true), hangingAfterMs)),
    ]);
    clearTimeout(timer);
    if (hanging) {
      const groupIds = [...new Set(this.#sources.map((source) => source.groupId))];
      const partitions = await this.#writtenPartitions();
      this.#context.logger.warn(
        "the groups' offsets are still pending after the transactional id was settled: " +
          "aborting the transaction the broker left hanging",
        {
          groups: groupIds.join(","),
          partitions: partitions.map((p) => `${p.topic}-${p.partition}`).join(","),
        },
      );
      await this.#writer.abortHanging(partitions, groupIds);
    }
    return await lookup;
  }

  /** Every partition a transaction of this pipeline may write: the sinks' topics and the changelog. */
  async #writtenPartitions(): Promise<{ topic: string; partition: number }[]> {
    const topics = new Set(this.#sinks.flatMap((sink) => sink.fixedTopic ?? []));
    if (this.#changelog !== undefined) topics.add(this.#changelog.topic);
    const admin = this.#sinks[0].kafkaClient.admin();
    await admin.connect();
    try {
      const existing = new Set(await admin.listTopics());
      const partitions: { topic: string; partition: number }[] = [];
      for (const topic of topics) {
        if (!existing.has(topic)) continue;
        for (const { partition } of await admin.partitionOffsets(topic)) {
          partitions.push({ topic, partition });
        }
      }
      return partitions;
    } finally {
      await admin.disconnect().catch(() => {});
    }
  }

  /** The consumer groups' committed positions, one list per source. */
  #committedPositions(): Promise<(readonly Position[])[]> {
    return Promise.all(this.#sources.map((source) => source.committedPositions()));
  }

  /** Starts the next transaction when one is due; returns it (or the one running). */
  #commitIfDue(): Promise<void> | undefined {
    if (this.#context.failed()) return undefined;
    if (!this.#dirty || performance.now() < this.#due) return undefined;
    return this.#commit();
  }

  /**
   * Commits what was applied since the last transaction: a checkpoint at this
   * commit boundary, its records and its positions as the groups' offsets.
   */
  #commit(): Promise<void> {
    if (!this.#dirty) return this.#chain;
    this.#dirty = false;
    this.#due = performance.now() + this.#intervalMs;
    const checkpoint = this.#context.capture();
    const records = this.#records;
    const changelog = this.#changelog;
    if (changelog !== undefined) records.push(changelog.records(checkpoint));
    // What the local cache saves once this transaction is committed (and before the next starts).
    const cached = changelog?.caching ? changelog.entries() : undefined;
    this.#records = [];
    this.#bytes = 0;
    // Dead-letter records (sent outside the transaction) are acknowledged first.
    const acknowledged = this.#context.acknowledged();
    const store = this.#store;
    const sources = this.#sources;
    const writer = this.#writer;
    const offsets = sources.map((source, i) => ({
      groupId: source.groupId,
      positions: checkpoint.sources[i].positions,
    }));
    // Asked after a failed attempt, once a new producer settled the transactional id, and
    // after each commit (verify): a hanging transaction is aborted, and sent again.
    const committed = async () => holdsPositions(checkpoint, await this.#settledPositions());
    this.#chain = this.#chain.then(async () => {
      await acknowledged;
      await writer.run({
        records,
        offsets,
        beforeCommit: () => store?.savePending(checkpoint) ?? Promise.resolve(),
        committed,
        verify: true,
      });
      await store?.promotePending();
      if (cached !== undefined) await changelog!.saveCache(cached);
    });
    this.#chain.catch((error) => this.#context.fail(error));
    return this.#chain;
  }
}

/** Whether the groups' committed positions (one list per source) are exactly the checkpoint's. */
function holdsPositions(
  checkpoint: Checkpoint,
  committed: readonly (readonly Position[])[],
): boolean {
  return checkpoint.sources.every((saved, i) => samePositions(saved.positions, committed[i] ?? []));
}

function describePositions(positions: readonly Position[]): string {
  if (positions.length === 0) return "none";
  return positions.map((p) => `${p.topic}-${p.partition}@${p.offset}`).join(", ");
}
