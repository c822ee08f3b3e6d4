/**
 * Output nodes: consolidate a table's changes of one commit into a batch with
 * diffs of exactly 1 or -1, each id's retractions before its insertions.
 *
 * @module
 */

import { consolidate, Node } from "./_node.ts";
import type { Batch, Change, Row, Time } from "./types.ts";
import { equalRows } from "./value.ts";

/** Collects the batch of one commit for a callback the graph calls after the commit. */
export class OutputNode extends Node {
  readonly kind = "output";
  /** The batch of the current commit, if the table changed. */
  batch: Batch | undefined;

  constructor(readonly onBatch: (batch: Batch<Row>) => void) {
    super(1);
  }

  run(time: Time): Change[] {
    const chunks = this.take(0);
    if (chunks.length === 0) return [];
    const consolidated = consolidate(chunks, equalRows);
    const changes: Change[] = [];
    for (const change of consolidated) {
      if (change.diff === 1 || change.diff === -1) changes.push(change);
      else {
        const one = change.diff > 0 ? 1 : -1;
        const unit = { id: change.id, row: change.row, diff: one };
        for (let i = 0; i < Math.abs(change.diff); i++) changes.push(unit);
      }
    }
    if (changes.length > 0) this.batch = { time, changes };
    return [];
  }
}
