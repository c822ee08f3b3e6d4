/**
 * join on equal columns, inner, left, right or outer. Rows are indexed by
 * join key on both sides; a commit joins the left changes with the old right
 * rows and the right changes with the new left rows (ΔL⋈R + L'⋈ΔR), so the
 * work is proportional to the changed rows and their matches.
 *
 * Rows of a side with no match on the other (left/right/outer joins) appear
 * padded with a missing partner. Padding changes only for keys whose other
 * side was touched this commit, and only when it became or stopped being empty.
 *
 * @module
 */

import { GroupMap } from "./_group_map.ts";
import { consolidate, type Dataflow, Node } from "./_node.ts";
import { type Counted, RowsById } from "./_rows_by_id.ts";
import { hashValues } from "./hash.ts";
import type { Change, Row, RowId, Value } from "./types.ts";
import { equalRows } from "./value.ts";

/** Which unmatched rows a join keeps. */
export type JoinHow = "inner" | "left" | "right" | "outer";

/** Builds an output row from a left and a right row (null: no partner). */
export type JoinCombine = (left: Row | null, right: Row | null) => Row;

interface Bucket {
  readonly key: readonly Value[];
  /** The rows of each side by id (a multiset: see `_rows_by_id.ts`). */
  readonly left: RowsById;
  readonly right: RowsById;
  /** The commit that last touched this bucket, and what it brought. */
  stamp: number;
  leftChanges: Change[];
  rightChanges: Change[];
  leftWasEmpty: boolean;
  rightWasEmpty: boolean;
}

/** A bucket in a snapshot. */
interface SavedBucket {
  key: Value[];
  left: Map<RowId, Row>;
  right: Map<RowId, Row>;
  leftMany?: Map<RowId, Counted[]>;
  rightMany?: Map<RowId, Counted[]>;
}

/** Options of a {@linkcode JoinNode}. */
export interface JoinNodeOptions {
  leftOn: readonly string[];
  rightOn: readonly string[];
  how: JoinHow;
  combine: JoinCombine;
}

/** The id of a join's output row for a left and a right row id (null: no partner). */
export function joinId(leftId: RowId | null, rightId: RowId | null): RowId {
  return hashValues([leftId, rightId]);
}

/** Joins two tables; port 0 is the left table, port 1 the right one. */
export class JoinNode extends Node {
  readonly kind = "join";
  #buckets = new GroupMap<Bucket>();
  #stamp = 0;
  readonly #padLeft: boolean;
  readonly #padRight: boolean;

  constructor(readonly flow: Dataflow, readonly options: JoinNodeOptions) {
    super(2);
    this.#padLeft = options.how === "left" || options.how === "outer";
    this.#padRight = options.how === "right" || options.how === "outer";
  }

  run(): Change[] {
    const leftChunks = this.take(0);
    const rightChunks = this.take(1);
    if (leftChunks.length === 0 && rightChunks.length === 0) return [];
    const stamp = ++this.#stamp;
    const touched: Bucket[] = [];
    const collect = (changes: Change[], on: readonly string[], isLeft: boolean) => {
      for (const change of changes) {
        const key = on.map((column) => change.row[column] ?? null);
        const bucket = this.#buckets.getOrCreate(key, () => ({
          key,
          left: new RowsById(),
          right: new RowsById(),
          stamp: 0,
          leftChanges: [],
          rightChanges: [],
          leftWasEmpty: true,
          rightWasEmpty: true,
        }));
        if (bucket.stamp !== stamp) {
          bucket.stamp = stamp;
          bucket.leftChanges = [];
          bucket.rightChanges = [];
          bucket.leftWasEmpty = bucket.left.empty;
          bucket.rightWasEmpty = bucket.right.empty;
          touched.push(bucket);
        }
        (isLeft ? bucket.leftChanges : bucket.rightChanges).push(change);
      }
    };
    collect(consolidate(leftChunks, equalRows), this.options.leftOn, true);
    collect(consolidate(rightChunks, equalRows), this.options.rightOn, false);

    const out: Change[] = [];
    for (const bucket of touched) {
      for (const change of bucket.leftChanges) {
        for (const [rightId, right, count] of bucket.right.entries()) {
          this.#emit(out, change.id, change.row, rightId, right, change.diff * count);
        }
        bucket.left.apply(change);
      }
      for (const change of bucket.rightChanges) {
        for (const [leftId, left, count] of bucket.left.entries()) {
          this.#emit(out, leftId, left, change.id, change.row, change.diff * count);
        }
        bucket.right.apply(change);
      }
      if (this.#padLeft) {
        this.#pad(
          out,
          bucket.left,
          bucket.leftChanges,
          bucket.rightWasEmpty,
          bucket.right.empty,
          true,
        );
      }
      if (this.#padRight) {
        this.#pad(
          out,
          bucket.right,
          bucket.rightChanges,
          bucket.leftWasEmpty,
          bucket.left.empty,
          false,
        );
      }
      if (bucket.left.empty && bucket.right.empty) this.#buckets.delete(bucket.key);
    }
    return out;
  }

  /**
   * Updates the padded rows of one side of a bucket. They exist while the
   * other side is empty: emit the side's changes while it stays empty, retract
   * the old rows when it fills (-new + changes = -old), add the rows when it empties.
   */
  #pad(
    out: Change[],
    rows: RowsById,
    changes: Change[],
    otherWasEmpty: boolean,
    otherIsEmpty: boolean,
    isLeft: boolean,
  ): void {
    const emit = (id: RowId, row: Row, diff: number) =>
      isLeft
        ? this.#emit(out, id, row, null, null, diff)
        : this.#emit(out, null, null, id, row, diff);
    if (otherWasEmpty && !otherIsEmpty) {
      for (const [id, row, count] of rows.entries()) emit(id, row, -count);
    }
    if (otherWasEmpty) { for (const change of changes) emit(change.id, change.row, change.diff); }
    if (!otherWasEmpty && otherIsEmpty) {
      for (const [id, row, count] of rows.entries()) emit(id, row, count);
    }
  }

  #emit(
    out: Change[],
    leftId: RowId | null,
    left: Row | null,
    rightId: RowId | null,
    right: Row | null,
    diff: number,
  ): void {
    const id = joinId(leftId, rightId);
    let row: Row;
    try {
      row = this.options.combine(left, right);
    } catch (cause) {
      this.flow.reportError("join", id, (left ?? right)!, cause, diff);
      return;
    }
    out.push({ id, row, diff });
  }

  override snapshot(): unknown {
    // `left` / `right`: ids with one row once; `leftMany` / `rightMany` only when some id has more.
    return [...this.#buckets.values()].map((bucket) => {
      const left = bucket.left.snapshot();
      const right = bucket.right.snapshot();
      return {
        key: bucket.key,
        left: left.one,
        right: right.one,
        ...(left.many === undefined ? {} : { leftMany: left.many }),
        ...(right.many === undefined ? {} : { rightMany: right.many }),
      };
    });
  }

  override restore(state: unknown): void {
    this.#buckets = new GroupMap();
    this.#stamp = 0;
    for (const saved of state as SavedBucket[]) {
      this.#buckets.getOrCreate(saved.key, () => ({
        key: saved.key,
        left: new RowsById({ one: saved.left, many: saved.leftMany }),
        right: new RowsById({ one: saved.right, many: saved.rightMany }),
        stamp: 0,
        leftChanges: [],
        rightChanges: [],
        leftWasEmpty: false,
        rightWasEmpty: false,
      }));
    }
  }
}

/** The default join row builder (see {@linkcode JoinRow}) and its columns, when known. */
export function joinShape(
  leftColumns: readonly string[] | undefined,
  rightColumns: readonly string[] | undefined,
  how: JoinHow,
): { combine: JoinCombine; columns: readonly string[] | undefined } {
  if ((how === "right" || how === "outer") && leftColumns === undefined) {
    throw new Error(
      `A ${how} join without "select" needs the left table's columns: give "columns" to its input`,
    );
  }
  if ((how === "left" || how === "outer") && rightColumns === undefined) {
    throw new Error(
      `A ${how} join without "select" needs the right table's columns: give "columns" to its input`,
    );
  }
  const renamed = (column: string, left: Row | null) =>
    (leftColumns !== undefined ? leftColumns.includes(column) : left !== null && column in left)
      ? `right_${column}`
      : column;
  const combine: JoinCombine = (left, right) => {
    const out: Row = {};
    if (left !== null) Object.assign(out, left);
    else for (const column of leftColumns!) out[column] = null;
    if (right !== null) { for (const column in right) out[renamed(column, left)] = right[column]; }
    else for (const column of rightColumns!) out[renamed(column, left)] = null;
    return out;
  };
  const columns = leftColumns !== undefined && rightColumns !== undefined
    ? [...leftColumns, ...rightColumns.map((column) => renamed(column, null))]
    : undefined;
  return { combine, columns };
}
