/**
 * How a pipeline's outputs and progress leave it: the one interface behind
 * which each delivery mode lives, so that the apply loop (`../pipeline.ts`)
 * knows none of them.
 *
 * - {@linkcode OffsetsDelivery} (`offsets.ts`): no state directory; outputs
 *   are sent as they come and acknowledged positions are committed to the
 *   sources on an interval. A restart starts from empty state at the
 *   group's offsets.
 * - {@linkcode CheckpointedDelivery} (`checkpointed.ts`): a state directory;
 *   checkpoints written once their outputs are acknowledged, and a journal of
 *   the apply order so that a restart repeats the same changes.
 * - {@linkcode ExactlyOnceDelivery} (`exactly_once.ts`): Kafka transactions
 *   carry the outputs and the input offsets together.
 * - {@linkcode ChangelogCheckpointedDelivery} (`changelog_checkpointed.ts`):
 *   the checkpointed mode with its checkpoints and apply order in a
 *   compacted changelog topic (`--state-store kafka` without exactly-once).
 *
 * The loop calls, in this order: {@linkcode Delivery.load} (what to resume
 * from), its own restore, {@linkcode Delivery.restored}, the sinks' and
 * sources' start, {@linkcode Delivery.start}; for each output batch
 * {@linkcode Delivery.write}; for each applied batch
 * {@linkcode Delivery.applied}; after each handed-over set of messages
 * {@linkcode Delivery.afterHandle}; at the end {@linkcode Delivery.stop} and
 * {@linkcode Delivery.shutdown}.
 *
 * @module
 */
import type { Batch, Row } from "../../engine/types.ts";
import type { Logger, Position, Sink, Source } from "../../connectors/types.ts";
import type { ClosedBatch } from "../reader.ts";
import type { Checkpoint } from "./checkpoint.ts";

/** What a delivery mode may ask of the pipeline it delivers for. */
export interface DeliveryContext {
  readonly logger: Logger;
  /** The sources, in the order they were added (checkpoints list them in this order). */
  readonly sources: readonly Source[];
  /** The sinks, in the order they were added. */
  readonly sinks: readonly Sink<Row>[];
  /** Per source, the positions after the last batch whose outputs are acknowledged. */
  acknowledgedPositions(): readonly (readonly Position[])[];
  /** The state at this commit boundary: graph, time, positions and decoders of what was applied. */
  capture(): Checkpoint;
  /** Resolves once every batch applied so far has its outputs acknowledged. */
  acknowledged(): Promise<void>;
  /** Stops the pipeline with this error (the first one wins). */
  fail(error: unknown): void;
  /** Whether the pipeline has failed. */
  failed(): boolean;
}

/**
 * Where a held batch stands in an order a restart must follow: next in it
 * (`replayed`), outside it (`free`), or to wait for batches before it.
 */
export type Turn = "replayed" | "free" | "wait";

/**
 * An order batches of different partitions must be applied in after a
 * restart (the checkpointed mode's journal), and the record of the order
 * they are applied in now.
 */
export interface ApplyOrder {
  /** Whether batches must still follow the recorded order. */
  replaying(): boolean;
  /** Where a batch of source number `source` stands in the recorded order. */
  turnOf(source: number, batch: ClosedBatch): Turn;
  /** Records that a batch with rows is being applied (not a replayed one). */
  record(source: number, batch: ClosedBatch): void;
  /** Makes what was recorded durable enough; called before the loop yields (before outputs leave). */
  flush(): void;
}

/** One delivery mode. */
export interface Delivery {
  /** Present when a restart must replay batches in a recorded order. */
  readonly order?: ApplyOrder;
  /** The changelog topic state is restored from, when it lives in Kafka (named in refusals). */
  readonly changelogTopic?: string;
  /** What a (re)start resumes from: a checkpoint, or nothing for empty state. */
  load(): Promise<Checkpoint | undefined>;
  /**
   * The loop restored `checkpoint` (if any) into the graph and the readers.
   * `savedOrder` is set when the checkpoint's sources were saved in another
   * order (matched by name): saved index to current index.
   */
  restored(checkpoint: Checkpoint | undefined, savedOrder?: readonly number[]): void;
  /** Sources and sinks are started: begins periodic work (commits, transactions). */
  start(): void;
  /**
   * One output batch of one sink: sends it and returns its acknowledgement,
   * or takes it over (a transaction) and returns `undefined`.
   */
  write(sink: Sink<Row>, batch: Batch<Row>): Promise<void> | undefined;
  /**
   * A batch was applied; returns what to do once its outputs (and those of
   * every batch before it) are acknowledged.
   */
  applied(): (() => void) | undefined;
  /** After the batches of one hand-over are applied: what reading waits for (backpressure). */
  afterHandle?(): Promise<void> | undefined;
  /** Whether the delivery itself waits for Kafka to come back (the status line). */
  retrying(): boolean;
  /** How far restoring state from Kafka has come, where state lives there. */
  restoreProgress?(): { readonly restoring: boolean; readonly records: number } | undefined;
  /** Ends periodic work; nothing is sent after it but what {@linkcode shutdown} sends. */
  stop(): void;
  /** Sources are stopped and outputs acknowledged: delivers what is left (unless `failed`). */
  shutdown(failed: boolean): Promise<void>;
}

/** Commits positions to sources, skipping a commit identical to the source's last one. */
export class PositionCommitter {
  readonly #sources: readonly Source[];
  /** What was last committed to each source. */
  readonly #committed: string[];

  constructor(sources: readonly Source[]) {
    this.#sources = sources;
    this.#committed = sources.map(() => "");
  }

  /** Commits `positions` to source number `index` unless it holds them already. */
  async commit(index: number, positions: readonly Position[]): Promise<void> {
    const text = JSON.stringify(positions);
    if (positions.length === 0 || text === this.#committed[index]) return;
    await this.#sources[index].commit(positions);
    this.#committed[index] = text;
  }

  /**
   * Commits a checkpoint's positions (one list per source) as progress only:
   * where a restart resumes is the checkpoint's, so a failed commit (Kafka
   * unavailable) is logged, not a failure; the next checkpoint commits again.
   */
  async commitProgress(positions: readonly (readonly Position[])[], logger: Logger): Promise<void> {
    await Promise.all(
      positions.map((saved, index) =>
        this.commit(index, saved).catch((error) =>
          logger.warn(`Cannot commit offsets: ${messageOf(error)}`, {
            source: this.#sources[index].name,
          })
        )
      ),
    );
  }
}

/** An error's message, for a log line. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
