/**
 * The rows of a table by id, kept as a multiset of (id, row) with counts, for
 * the operators that index their input by id (join sides, updateRows).
 *
 * An id has one row at a time in a graph's own input. In a partitioned graph
 * it need not: when an id moves from one upstream task to another (a join row
 * whose join key changed, say), the new task's insertion and the old task's
 * retraction arrive through different partitions, in either order. Until both
 * have arrived the id has two rows, and a retraction must remove the row it
 * names, not whatever row the id has now; counting (id, row) pairs gives the
 * right state once every change has arrived, whatever the order.
 *
 * @module
 */

import type { Change, Row, RowId } from "./types.ts";
import { equalRows } from "./value.ts";

/** A row and how many times it is present (non-zero; negative only for a retraction that came first). */
export type Counted = [row: Row, count: number];

/** Snapshot form: ids with one row once, and the others (absent when there are none). */
export interface RowsByIdState {
  one: Map<RowId, Row>;
  many?: Map<RowId, Counted[]>;
}

/** Rows by id as a multiset; an id with one row once (the common case) costs one map entry. */
export class RowsById {
  /** Ids whose only row is present once. */
  readonly #one: Map<RowId, Row>;
  /** Every other id: several rows, or a count other than 1. */
  readonly #many: Map<RowId, Counted[]>;

  constructor(state?: RowsByIdState) {
    this.#one = new Map(state?.one);
    this.#many = new Map();
    for (const [id, rows] of state?.many ?? []) {
      this.#many.set(id, rows.map(([row, count]): Counted => [row, count]));
    }
  }

  /** Whether no id has a row. */
  get empty(): boolean {
    return this.#one.size === 0 && this.#many.size === 0;
  }

  /** Adds `change.diff` to the count of (`change.id`, `change.row`). */
  apply(change: Change): void {
    const { id, row, diff } = change;
    const many = this.#many.get(id);
    if (many !== undefined) {
      this.#settle(id, add(many, row, diff));
      return;
    }
    const one = this.#one.get(id);
    if (one === undefined) {
      if (diff === 1) this.#one.set(id, row);
      else this.#many.set(id, [[row, diff]]);
    } else if (diff === -1 && (one === row || equalRows(one, row))) {
      this.#one.delete(id);
    } else {
      this.#one.delete(id);
      this.#settle(id, add([[one, 1]], row, diff));
    }
  }

  /** The rows of `id` with their counts (empty when it has none). */
  rows(id: RowId): Counted[] {
    const one = this.#one.get(id);
    if (one !== undefined) return [[one, 1]];
    return this.#many.get(id) ?? [];
  }

  /** Every (id, row, count). */
  *entries(): IterableIterator<[RowId, Row, number]> {
    for (const [id, row] of this.#one) yield [id, row, 1];
    for (const [id, rows] of this.#many) for (const [row, count] of rows) yield [id, row, count];
  }

  /** A copy for a snapshot (`many` only when some id has one). */
  snapshot(): RowsByIdState {
    if (this.#many.size === 0) return { one: new Map(this.#one) };
    const many = new Map<RowId, Counted[]>();
    for (const [id, rows] of this.#many) {
      many.set(id, rows.map(([row, count]): Counted => [row, count]));
    }
    return { one: new Map(this.#one), many };
  }

  #settle(id: RowId, rows: Counted[]): void {
    if (rows.length === 0) this.#many.delete(id);
    else if (rows.length === 1 && rows[0][1] === 1) {
      this.#many.delete(id);
      this.#one.set(id, rows[0][0]);
    } else this.#many.set(id, rows);
  }
}

/** Adds `diff` to the count of `row` in `rows`, dropping it at zero; returns `rows`. */
function add(rows: Counted[], row: Row, diff: number): Counted[] {
  const i = rows.findIndex(([r]) => r === row || equalRows(r, row));
  if (i < 0) rows.push([row, diff]);
  else if ((rows[i][1] += diff) === 0) rows.splice(i, 1);
  return rows;
}
