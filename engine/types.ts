/**
 * The vocabulary every part of rivulet shares: values, rows, row ids, changes
 * and logical times. Formats produce {@linkcode Row}s, the engine moves
 * {@linkcode Change}s, sinks encode them.
 *
 * @module
 */

/** A value a column can hold. JSON's types, plus `bigint`, `Date` and bytes. */
export type Value =
  | null
  | boolean
  | number
  | bigint
  | string
  | Date
  | Uint8Array
  | readonly Value[]
  | { readonly [key: string]: Value };

/** One row of a table: column name to value. */
export type Row = Record<string, Value>;

/** A row id: 32 lower-case hex digits (128 bits). */
export type RowId = string;

/** A logical time in milliseconds. Times of successive commits never decrease. */
export type Time = number;

/**
 * One change of a table: a row with an id, added (`diff` > 0) or retracted
 * (`diff` < 0). Outside the engine `diff` is always 1 or -1.
 */
export interface Change<R extends Row = Row> {
  /** The row's id. */
  readonly id: RowId;
  /** The row's values (for a retraction: the values retracted). */
  readonly row: R;
  /** +1 for an insertion, -1 for a retraction (inside the engine, any non-zero count). */
  readonly diff: number;
}

/** The changes of one table at one logical time, already consolidated. */
export interface Batch<R extends Row = Row> {
  /** The logical time of the commit. */
  readonly time: Time;
  /** The changes, each id's retraction before its insertion. */
  readonly changes: readonly Change<R>[];
}
