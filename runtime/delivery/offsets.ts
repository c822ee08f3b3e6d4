/**
 * At-least-once delivery without a state directory: outputs are sent as they
 * come, and the positions of batches whose outputs are acknowledged are
 * committed to the sources (the consumer groups) on an interval and at the
 * end. A restart starts from empty state at the group's committed offsets.
 *
 * @module
 */
import type { Batch, Row } from "../../engine/types.ts";
import type { Sink } from "../../connectors/types.ts";
import type { Checkpoint } from "./checkpoint.ts";
import { type Delivery, type DeliveryContext, messageOf, PositionCommitter } from "./delivery.ts";

/** Options of {@linkcode OffsetsDelivery}. */
export interface OffsetsDeliveryOptions {
  /** How often acknowledged offsets are committed (default 1,000 ms). */
  readonly offsetCommitIntervalMs?: number;
}

/** Offset commits of acknowledged positions; no state survives a restart. */
export class OffsetsDelivery implements Delivery {
  readonly #context: DeliveryContext;
  readonly #intervalMs: number;
  readonly #committer: PositionCommitter;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(context: DeliveryContext, options: OffsetsDeliveryOptions = {}) {
    this.#context = context;
    this.#intervalMs = options.offsetCommitIntervalMs ?? 1000;
    this.#committer = new PositionCommitter(context.sources);
  }

  /** Nothing to resume from: empty state. */
  load(): Promise<Checkpoint | undefined> {
    return Promise.resolve(undefined);
  }

  restored(): void {}

  start(): void {
    this.#timer = setInterval(() => this.#commitOffsets(), this.#intervalMs);
  }

  write(sink: Sink<Row>, batch: Batch<Row>): Promise<void> {
    return sink.write(batch);
  }

  applied(): undefined {
    return undefined;
  }

  retrying(): boolean {
    return false;
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Commits what is acknowledged, also after a failure (acknowledged outputs are out). */
  shutdown(): Promise<void> {
    return this.#commitOffsets();
  }

  #commitOffsets(): Promise<void> {
    const positions = this.#context.acknowledgedPositions();
    return Promise.all(positions.map((p, index) => this.#committer.commit(index, p))).then(
      () => {},
      (error) => {
        // A failed offset commit loses nothing: the next one covers it.
        this.#context.logger.warn(`Cannot commit offsets: ${messageOf(error)}`);
      },
    );
  }
}
