/**
 * At-least-once delivery with a state directory: operator state, positions,
 * decoder state and the last logical time are checkpointed at commit
 * boundaries (`checkpoint.ts`), and the order batches of different
 * partitions were applied in is journaled (`journal.ts`).
 *
 * What a crash (SIGKILL at any instant) leaves: a checkpoint is written only
 * once every output before it is acknowledged, and only then are its
 * positions committed to the group; a restart resumes from the checkpoint's
 * own positions (never the group's offsets), so graph, positions, csv headers
 * and the last logical time always belong together. Each batch's time is
 * max(previous + 1, marker timestamp), and the apply order is journaled
 * before the outputs leave, so the replay of what followed the checkpoint
 * repeats the same changes exactly (key, values, diff, time). (Only a machine
 * crash that loses the journal's last unsynced lines, or the interval commit
 * mode, whose batches depend on timing, can make repeated changes differ;
 * each key's last change still gives the right table.)
 *
 * @module
 */
import type { Batch, Row } from "../../engine/types.ts";
import type { Logger, Sink } from "../../connectors/types.ts";
import type { ClosedBatch } from "../reader.ts";
import { type Checkpoint, CheckpointStore } from "./checkpoint.ts";
import {
  type ApplyOrder,
  type Delivery,
  type DeliveryContext,
  PositionCommitter,
  type Turn,
} from "./delivery.ts";
import { ApplyJournal, type JournalEntry } from "./journal.ts";

/** Options of {@linkcode CheckpointedDelivery}. */
export interface CheckpointedDeliveryOptions {
  /** Where checkpoints and the journal are written. */
  readonly stateDir: string;
  /** Least time between checkpoints (default 1,000 ms). */
  readonly checkpointIntervalMs?: number;
}

/** Checkpoints in a state directory, their positions committed once saved; the apply order journaled. */
export class CheckpointedDelivery implements Delivery {
  readonly #context: DeliveryContext;
  readonly #stateDir: string;
  readonly #store: CheckpointStore;
  readonly #intervalMs: number;
  readonly #committer: PositionCommitter;
  #due = 0;
  #saving: Promise<void> = Promise.resolve();
  #journal: ApplyJournal | undefined;
  order: JournalOrder | undefined;

  constructor(context: DeliveryContext, options: CheckpointedDeliveryOptions) {
    this.#context = context;
    this.#stateDir = options.stateDir;
    this.#store = new CheckpointStore(options.stateDir);
    this.#intervalMs = options.checkpointIntervalMs ?? 1000;
    this.#committer = new PositionCommitter(context.sources);
  }

  /** The last checkpoint saved in the state directory. */
  load(): Promise<Checkpoint | undefined> {
    return this.#store.load();
  }

  /**
   * Opens the journal: what it holds after the checkpoint is replayed in its
   * order. Sources reordered since (`savedOrder`) are refused while there is
   * something to replay: the journal's lines name sources by their old index.
   */
  restored(checkpoint: Checkpoint | undefined, savedOrder?: readonly number[]): void {
    // The journal's lines name sources by their index when they were written.
    const saved = savedOrder ?? this.#context.sources.map((_, i) => i);
    const { journal, replay } = ApplyJournal.open(
      this.#stateDir,
      saved.map((index) => checkpoint?.sources[index]?.positions ?? []),
    );
    if (savedOrder !== undefined) {
      if (replay.length > 0) {
        journal.close();
        throw new Error(
          `The sources of the pipeline were reordered since it last stopped without a clean ` +
            `shutdown (state in "${this.#stateDir}"): run it once more in the old order ` +
            `(${
              savedOrder.map((i) => JSON.stringify(this.#context.sources[i].name)).join(", ")
            }) ` +
            `and stop it cleanly, then reorder`,
        );
      }
      journal.compact([]);
    }
    this.#journal = journal;
    this.order = new JournalOrder(journal, replay, this.#context.logger);
  }

  start(): void {}

  write(sink: Sink<Row>, batch: Batch<Row>): Promise<void> {
    return sink.write(batch);
  }

  /** Takes a checkpoint when one is due; it is saved once its outputs are acknowledged. */
  applied(): (() => void) | undefined {
    const checkpoint = this.#takeIfDue();
    return checkpoint === undefined ? undefined : () => this.#save(checkpoint);
  }

  retrying(): boolean {
    return false;
  }

  stop(): void {}

  /** Saves a last checkpoint (unless failed), waits for the saves, closes the journal. */
  async shutdown(failed: boolean): Promise<void> {
    if (!failed) this.#save(this.#takeIfDue(true)!);
    await this.#saving.catch(() => {});
    this.#journal?.close();
    this.#journal = undefined;
  }

  #takeIfDue(force = false): Checkpoint | undefined {
    const now = performance.now();
    if (!force && now < this.#due) return undefined;
    this.#due = now + this.#intervalMs;
    return this.#context.capture();
  }

  /** Writes a checkpoint whose outputs are acknowledged, then commits its positions to the sources. */
  #save(checkpoint: Checkpoint): void {
    const store = this.#store;
    this.#saving = this.#saving.then(async () => {
      await store.save(checkpoint);
      this.#journal?.compact(checkpoint.sources.map((saved) => saved.positions));
      await this.#committer.commitProgress(
        checkpoint.sources.map((saved) => saved.positions),
        this.#context.logger,
      );
    });
    this.#saving.catch((error) => this.#context.fail(error));
  }
}

/**
 * Where the apply order is recorded: the local journal (`journal.ts`), or
 * the changelog topic (`changelog_checkpointed.ts`).
 */
export interface OrderLog {
  /** Records that a batch is applied; {@linkcode flush} before its outputs can leave. */
  record(entry: JournalEntry): void;
  /** Makes what was recorded durable before the outputs of its batches can leave. */
  flush(): void;
}

/**
 * The journal's order: after a restart, batches are applied in the order the
 * journal recorded, so that the replay repeats the same changes at the same
 * times; batches of partitions the journal does not name wait until it is
 * replayed.
 */
export class JournalOrder implements ApplyOrder {
  readonly #journal: OrderLog;
  readonly #logger: Logger;
  #replay: JournalEntry[];

  constructor(journal: OrderLog, replay: JournalEntry[], logger: Logger) {
    this.#journal = journal;
    this.#replay = replay;
    this.#logger = logger;
  }

  replaying(): boolean {
    return this.#replay.length > 0;
  }

  turnOf(source: number, batch: ClosedBatch): Turn {
    // Batches without rows get no time and no journal line: only their partition's order matters.
    if (batch.updates.length === 0 || this.#replay.length === 0) return "free";
    const samePartition = (e: JournalEntry) =>
      e.source === source && e.topic === batch.topic && e.partition === batch.partition;
    const head = this.#replay[0];
    if (samePartition(head) && head.nextOffset === batch.nextOffset) {
      this.#replay.shift();
      return "replayed";
    }
    const expected = this.#replay.find(samePartition);
    if (expected === undefined || BigInt(batch.nextOffset) < BigInt(expected.nextOffset)) {
      return expected === undefined ? "wait" : this.#abandon(batch);
    }
    return expected === head ? this.#abandon(batch) : "wait";
  }

  record(source: number, batch: ClosedBatch): void {
    this.#journal.record({
      source,
      topic: batch.topic,
      partition: batch.partition,
      nextOffset: batch.nextOffset,
    });
  }

  flush(): void {
    this.#journal.flush();
  }

  /** The input no longer closes the batches the journal recorded (interval mode, changed input): free order. */
  #abandon(batch: ClosedBatch): "free" {
    this.#logger.warn("The replay after a restart cannot follow the recorded order; continuing", {
      topic: batch.topic,
      partition: batch.partition,
      offset: batch.nextOffset,
    });
    this.#replay = [];
    return "free";
  }
}
