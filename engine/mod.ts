/**
 * The incremental table engine of rivulet: keyed tables whose changes flow as
 * (id, row, diff) at logical times through operators a Pathway user
 * recognises (select, withColumns, filter, reduce, groupby, join, concat,
 * updateRows) and reducers (`reducers.sum`, ...). It is pure: no I/O and no
 * clock; whoever drives it pushes rows into inputs and calls `commit(time)`.
 *
 * Each commit costs work in proportion to what changed. Changes that cancel
 * within one commit never reach an output; a row updated to an identical
 * value gives no output at all.
 *
 * @example The seed's pipeline: parse `value` as an integer, reduce to `sum`.
 * ```ts
 * import { apply, Graph, hashValues, reducers } from "./mod.ts";
 *
 * const graph = new Graph();
 * const t = graph.input<{ value: string }>({ name: "connector_example" });
 * const sums = t
 *   .select({ value: apply((x: string) => parseInt(x), "value") })
 *   .reduce({ sum: reducers.sum("value") });
 * const seen: string[] = [];
 * graph.output(sums, (batch) => {
 *   for (const { row, diff } of batch.changes) seen.push(JSON.stringify({ ...row, diff }));
 * });
 * for (let i = 0; i < 3; i++) {
 *   t.insert(hashValues(["connector_example", 0, i]), { value: String(i) });
 *   graph.commit(i + 1);
 * }
 * console.log(seen);
 * // {"sum":0,"diff":1}, {"sum":0,"diff":-1}, {"sum":1,"diff":1}, {"sum":1,"diff":-1}, {"sum":3,"diff":1}
 * ```
 *
 * @module
 */

export { type ExchangeInfo, Graph, type GraphOptions, type InputOptions } from "./graph.ts";
export type { ExchangeHandler } from "./_node.ts";
export { type Applied, apply } from "./apply.ts";
export { type GroupedTable, InputTable, Table } from "./table.ts";
export type {
  AsValue,
  CheckApplied,
  ColumnOf,
  ColumnSpec,
  ColumnTypes,
  Flatten,
  GroupReduceSpec,
  JoinHow,
  JoinOptions,
  JoinRow,
  JoinSelectOptions,
  JoinSide,
  LeftMissing,
  ReduceResult,
  ReduceSpec,
  RightMissing,
  RightNames,
  RightSource,
  SelectResult,
  SelectSpec,
  WithColumnsResult,
} from "./schema.ts";
export { type Reducer, type ReducerKind, type ReducerOutput, reducers } from "./reducers.ts";
export { hashValue, hashValues } from "./hash.ts";
export { compareValues, equalRows, equalValues } from "./value.ts";
export { GLOBAL_REDUCE_ID } from "./_reduce.ts";
export { joinId } from "./_join.ts";
export {
  type InputIssue,
  type InputLocation,
  type IssueCode,
  UserFunctionError,
  type UserFunctionErrorOptions,
} from "./errors.ts";
export type { Batch, Change, Row, RowId, Time, Value } from "./types.ts";
