/**
 * Exchange nodes: where a partitioned graph is cut into stages. A graph built
 * with `partitioned: true` puts one in front of every operator whose state is
 * keyed differently from its input (a group-by or global reduce, a join,
 * `updateRows`), so that one task per partition can run each stage: the
 * changes reaching an exchange leave the task (the runtime sends them,
 * routed by {@linkcode ExchangeNode.route}, to the task that owns their key),
 * and the changes another task sent arrive through {@linkcode ExchangeNode.receive}.
 * A graph built without `partitioned` has no exchange nodes at all.
 *
 * @module
 */

import { consolidate, type ExchangeHandler, Node } from "./_node.ts";
import type { Change, Time } from "./types.ts";
import { equalRows } from "./value.ts";

/** The routing key of a change: changes with equal keys go to the same task. */
export type Route = (change: Change) => string;

/** The cut in front of one input port of a stateful operator. */
export class ExchangeNode extends Node {
  readonly kind = "exchange";
  /** Changes received from other tasks, emitted at the next commit. */
  #received: Change[] = [];

  /**
   * `index`: the exchange's place among the graph's exchanges (the same in
   * every task built by the same code); `stage`: the stage it feeds, shared
   * by the exchanges of one operator (a join's two sides).
   */
  constructor(
    readonly index: number,
    readonly stage: number,
    readonly route: Route,
    readonly send: ExchangeHandler,
  ) {
    super(1);
  }

  /** Changes another task sent here, applied at the next commit. */
  receive(changes: readonly Change[]): void {
    for (const change of changes) this.#received.push(change);
  }

  /** Whether received changes wait for the next commit. */
  get dirty(): boolean {
    return this.#received.length > 0;
  }

  /** Restoring a snapshot drops what was received and not committed, as inputs drop their rows. */
  override restore(_state: unknown): void {
    this.#received = [];
  }

  run(time: Time): Change[] {
    const chunks = this.take(0);
    if (chunks.length > 0) {
      const changes = consolidate(chunks, equalRows);
      if (changes.length > 0) this.send(this, changes, time);
    }
    const received = this.#received;
    if (received.length === 0) return received;
    this.#received = [];
    return received;
  }
}
