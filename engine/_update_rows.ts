/**
 * updateRows: the rows of a second table replace or add to the rows of the
 * first by id (Pathway's `update_rows`). Both tables' current rows are kept;
 * only ids changed in a commit are looked at.
 *
 * @module
 */

import { consolidate, Node } from "./_node.ts";
import { type Counted, RowsById } from "./_rows_by_id.ts";
import type { Change, Row, RowId } from "./types.ts";
import { equalRows } from "./value.ts";

/** Update rows: port 0 is the base table, port 1 the rows that replace or add to it by id. */
export class UpdateRowsNode extends Node {
  readonly kind = "updateRows";
  /** Each table's rows by id (multisets: see `_rows_by_id.ts`). */
  #base = new RowsById();
  #updates = new RowsById();

  constructor() {
    super(2);
    // Per touched id, the old rows retracted and the new ones inserted, equal rows cancelled.
    this.consolidated = true;
  }

  run(): Change[] {
    const baseChanges = consolidate(this.take(0), equalRows);
    const updateChanges = consolidate(this.take(1), equalRows);
    if (baseChanges.length === 0 && updateChanges.length === 0) return [];
    const before = new Map<RowId, Counted[]>();
    const remember = (change: Change) => {
      if (!before.has(change.id)) before.set(change.id, this.#current(change.id));
    };
    for (const change of baseChanges) remember(change);
    for (const change of updateChanges) remember(change);
    for (const change of baseChanges) this.#base.apply(change);
    for (const change of updateChanges) this.#updates.apply(change);
    const out: Change[] = [];
    for (const [id, old] of before) {
      const rows = this.#current(id);
      for (const [row, count] of old) {
        const now = rows.find(([r]) => r === row || equalRows(r, row))?.[1] ?? 0;
        if (now !== count) out.push({ id, row, diff: now - count });
      }
      for (const [row, count] of rows) {
        if (!old.some(([r]) => r === row || equalRows(r, row))) out.push({ id, row, diff: count });
      }
    }
    return out;
  }

  /** The rows of `id` in the output: its rows in the updating table, or else in the base table. */
  #current(id: RowId): Counted[] {
    const updates = this.#updates.rows(id);
    return (updates.length > 0 ? updates : this.#base.rows(id)).map(([row, count]): Counted => [
      row,
      count,
    ]);
  }

  override snapshot(): unknown {
    // `base` / `updates`: ids with one row once; `baseMany` / `updatesMany`: the others.
    const base = this.#base.snapshot();
    const updates = this.#updates.snapshot();
    return {
      base: base.one,
      updates: updates.one,
      baseMany: base.many ?? new Map(),
      updatesMany: updates.many ?? new Map(),
    };
  }

  override restore(state: unknown): void {
    const saved = state as {
      base: Map<RowId, Row>;
      updates: Map<RowId, Row>;
      baseMany?: Map<RowId, Counted[]>;
      updatesMany?: Map<RowId, Counted[]>;
    };
    this.#base = new RowsById({ one: saved.base, many: saved.baseMany });
    this.#updates = new RowsById({ one: saved.updates, many: saved.updatesMany });
  }
}
