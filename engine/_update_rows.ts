/**
 * updateRows: the rows of a second table replace or add to the rows of the
 * first by id (Pathway's `update_rows`). Both tables' current rows are kept;
 * only ids changed in a commit are looked at.
 *
 * @module
 */

import { applyToRows, consolidate, Node } from "./_node.ts";
import type { Change, Row, RowId } from "./types.ts";
import { equalRows } from "./value.ts";

/** Update rows: port 0 is the base table, port 1 the rows that replace or add to it by id. */
export class UpdateRowsNode extends Node {
  readonly kind = "updateRows";
  #base = new Map<RowId, Row>();
  #updates = new Map<RowId, Row>();

  constructor() {
    super(2);
    // One retraction and one insertion of different rows per touched id.
    this.consolidated = true;
  }

  run(): Change[] {
    const baseChanges = consolidate(this.take(0), equalRows);
    const updateChanges = consolidate(this.take(1), equalRows);
    if (baseChanges.length === 0 && updateChanges.length === 0) return [];
    const before = new Map<RowId, Row | null>();
    const remember = (change: Change) => {
      if (!before.has(change.id)) before.set(change.id, this.#current(change.id));
    };
    for (const change of baseChanges) remember(change);
    for (const change of updateChanges) remember(change);
    for (const change of baseChanges) applyToRows(this.#base, change);
    for (const change of updateChanges) applyToRows(this.#updates, change);
    const out: Change[] = [];
    for (const [id, old] of before) {
      const row = this.#current(id);
      if (old !== null && row !== null && equalRows(old, row)) continue;
      if (old !== null) out.push({ id, row: old, diff: -1 });
      if (row !== null) out.push({ id, row, diff: 1 });
    }
    return out;
  }

  #current(id: RowId): Row | null {
    return this.#updates.get(id) ?? this.#base.get(id) ?? null;
  }

  override snapshot(): unknown {
    return { base: new Map(this.#base), updates: new Map(this.#updates) };
  }

  override restore(state: unknown): void {
    const saved = state as { base: Map<RowId, Row>; updates: Map<RowId, Row> };
    this.#base = new Map(saved.base);
    this.#updates = new Map(saved.updates);
  }
}
