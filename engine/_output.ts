/**
 * Output nodes: consolidate a table's changes of one commit into a batch with
 * diffs of exactly 1 or -1: every retraction first, then every insertion, each
 * in the order its id first changed. So a consumer applying a batch in order
 * never holds an old and a new version of a row at once.
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

  constructor(readonly onBatch: (batch: Batch<Row>) => void, readonly upstream: Node) {
    super(1);
  }

  run(time: Time): Change[] {
    const chunks = this.take(0);
    if (chunks.length === 0) return [];
    const consolidated = this.upstream.consolidated && chunks.length === 1
      ? chunks[0]
      : consolidate(chunks, equalRows);
    const changes: Change[] = [];
    for (const change of consolidated) if (change.diff < 0) pushUnits(changes, change);
    for (const change of consolidated) if (change.diff > 0) pushUnits(changes, change);
    if (changes.length > 0) this.batch = { time, changes };
    return [];
  }
}

/** Pushes a change as |diff| changes of diff ±1. */
function pushUnits(changes: Change[], change: Change): void {
  if (change.diff === 1 || change.diff === -1) changes.push(change);
  else {
    const unit = { id: change.id, row: change.row, diff: change.diff > 0 ? 1 : -1 };
    for (let i = 0; i < Math.abs(change.diff); i++) changes.push(unit);
  }
}
