/**
 * Reducers for `reduce` and `groupby(...).reduce`, as in Pathway's
 * `pw.reducers`. Each is incremental: a commit updates a group's state with the
 * rows that changed, never by re-reading the group.
 *
 * Definitions (deterministic; "order" is the value order of `value.ts`):
 * - `sum(col)`: the sum of the non-null values; `0` for none. Numbers add as
 *   float64; bigints add exactly (a mix of both gives a number). Other values
 *   are bad input. Integer sums are exact up to 2^53; a float sum that had
 *   rows retracted may differ in its last bits from summing the remaining rows
 *   afresh (a group's totals restart from zero when it empties).
 * - `count()`: the number of rows.
 * - `min(col)` / `max(col)`: the smallest / largest value in order.
 * - `avg(col)`: the mean of the non-null numeric values, `null` for none.
 * - `any(col)`: the value of the row with the smallest id.
 * - `tuple(col)`: all values, in row id order.
 * - `sortedTuple(col)`: all values, in value order.
 * - `unique(col)`: the value when every row has the same value, else `null`.
 * - `countDistinct(col)`: the number of distinct values.
 * - `earliest(col)` / `latest(col)`: the value of the row inserted at the
 *   smallest / largest logical time (ties: smallest / largest id). A row's time
 *   is the commit in which that row, as the reducer sees it, last changed.
 * - `argmin(col)` / `argmax(col)`: the id of the row with the smallest /
 *   largest value; ties go to the smaller id.
 *
 * min, max, any, tuple, sortedTuple, earliest, latest, argmin and argmax keep
 * a sorted multiset per group (memory per row); sum, count and avg keep only
 * running totals, so an append-only table reduced by them uses constant memory.
 *
 * @module
 */

import { SortedMultiset } from "./_sorted_multiset.ts";
import type { Row, RowId, Time, Value } from "./types.ts";
import { compareValues } from "./value.ts";

/** The names of the reducers. */
export type ReducerKind =
  | "sum"
  | "count"
  | "min"
  | "max"
  | "avg"
  | "any"
  | "tuple"
  | "sortedTuple"
  | "unique"
  | "countDistinct"
  | "earliest"
  | "latest"
  | "argmin"
  | "argmax";

/** A reducer applied to a column, as written in a reduce spec. */
export interface Reducer<Kind extends ReducerKind = ReducerKind, C extends string = string> {
  /** Which reducer. */
  readonly reducer: Kind;
  /** The column reduced; undefined for `count()`. */
  readonly column: C | undefined;
}

/** The type a reducer yields for a column of type `T`. */
export type ReducerOutput<Kind extends ReducerKind, T> = Kind extends "sum"
  ? (T extends bigint ? bigint : number)
  : Kind extends "count" | "countDistinct" ? number
  : Kind extends "avg" ? number | null
  : Kind extends "min" | "max" | "any" | "earliest" | "latest" ? T
  : Kind extends "tuple" | "sortedTuple" ? T[]
  : Kind extends "unique" ? T | null
  : Kind extends "argmin" | "argmax" ? RowId
  : never;

function reducer<Kind extends ReducerKind>(kind: Kind) {
  return <const C extends string>(column: C): Reducer<Kind, C> => ({ reducer: kind, column });
}

/**
 * The reducers, used in reduce specs.
 *
 * @example
 * ```ts
 * import { Graph, reducers } from "./mod.ts";
 * const graph = new Graph();
 * const sales = graph.input<{ shop: string; amount: number }>({ name: "sales" });
 * const perShop = sales.groupby("shop").reduce({
 *   shop: "shop",
 *   total: reducers.sum("amount"),
 *   biggest: reducers.max("amount"),
 *   rows: reducers.count(),
 * });
 * graph.output(perShop, (batch) => console.log(batch.changes));
 * sales.insert("0".repeat(32), { shop: "north", amount: 5 });
 * graph.commit(1);
 * ```
 */
export const reducers = {
  /** Sum of the non-null values; 0 for none. */
  sum: reducer("sum"),
  /** Number of rows. */
  count: (): Reducer<"count", never> => ({ reducer: "count", column: undefined }),
  /** Smallest value. */
  min: reducer("min"),
  /** Largest value. */
  max: reducer("max"),
  /** Mean of the non-null values, null for none. */
  avg: reducer("avg"),
  /** Value of the row with the smallest id. */
  any: reducer("any"),
  /** All values in row id order. */
  tuple: reducer("tuple"),
  /** All values in value order. */
  sortedTuple: reducer("sortedTuple"),
  /** The common value of all rows, or null when they differ. */
  unique: reducer("unique"),
  /** Number of distinct values. */
  countDistinct: reducer("countDistinct"),
  /** Value of the row inserted first (smallest time, then smallest id). */
  earliest: reducer("earliest"),
  /** Value of the row inserted last (largest time, then largest id). */
  latest: reducer("latest"),
  /** Id of the row with the smallest value (ties: smaller id). */
  argmin: reducer("argmin"),
  /** Id of the row with the largest value (ties: smaller id). */
  argmax: reducer("argmax"),
};

/** The running state of one reducer (or several that share it) in one group. */
export interface ReducerState {
  update(value: Value, id: RowId, time: Time, diff: number): void;
  /** Plain, structured-cloneable data for a snapshot. */
  save(): unknown;
}

/** How the engine runs one reducer kind. */
export interface ReducerImpl {
  /** Whether rows must reach the reducer consolidated (it records insertion times). */
  readonly needsConsolidatedInput: boolean;
  /** Throws when the value cannot be reduced, before any state changes (absent: any value). */
  readonly check?: (value: Value) => void;
  /**
   * Reducers with the same `shareAs` on the same column keep one state
   * between them (min, max, argmin and sortedTuple of a column share one
   * sorted multiset).
   */
  readonly shareAs: string;
  create(): ReducerState;
  load(saved: unknown): ReducerState;
  /** The reducer's value for a group's state. */
  result(state: ReducerState): Value;
}

function describe(value: Value): string {
  if (typeof value === "bigint") return `${value}n`;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

function checkNumeric(name: string) {
  return (value: Value): void => {
    if (value !== null && typeof value !== "number" && typeof value !== "bigint") {
      throw new TypeError(`Reducer ${name} needs numbers, got ${describe(value)}`);
    }
  };
}

class SumState implements ReducerState {
  constructor(public num = 0, public big = 0n, public nums = 0) {}
  update(value: Value, _id: RowId, _time: Time, diff: number): void {
    if (typeof value === "number") {
      this.num += diff === 1 ? value : diff === -1 ? -value : value * diff;
      this.nums += diff;
    } else if (typeof value === "bigint") this.big += value * BigInt(diff);
  }
  result(): Value {
    if (this.big !== 0n && this.nums === 0) return this.big;
    return this.big === 0n ? this.num : this.num + Number(this.big);
  }
  save(): unknown {
    return [this.num, this.big, this.nums];
  }
}

class CountState implements ReducerState {
  constructor(public n = 0) {}
  update(_value: Value, _id: RowId, _time: Time, diff: number): void {
    this.n += diff;
  }
  result(): Value {
    return this.n;
  }
  save(): unknown {
    return this.n;
  }
}

class AvgState implements ReducerState {
  constructor(public sum = 0, public n = 0) {}
  update(value: Value, _id: RowId, _time: Time, diff: number): void {
    if (value === null) return;
    this.sum += Number(value) * diff;
    this.n += diff;
  }
  result(): Value {
    return this.n > 0 ? this.sum / this.n : null;
  }
  save(): unknown {
    return [this.sum, this.n];
  }
}

/** A row's value and id, the element of the sorted multisets. */
interface Item {
  readonly value: Value;
  readonly id: RowId;
}

const byValueThenId = (a: Item, b: Item): number =>
  compareValues(a.value, b.value) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
const byValueThenIdDescending = (a: Item, b: Item): number =>
  compareValues(a.value, b.value) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
const byIdThenValue = (a: Item, b: Item): number =>
  (a.id < b.id ? -1 : a.id > b.id ? 1 : 0) || compareValues(a.value, b.value);

type Pick = (set: SortedMultiset<Item>) => Value;

/** Reducers answered from a multiset of (value, id) items in some order. */
class OrderedState implements ReducerState {
  readonly set: SortedMultiset<Item>;
  constructor(compare: (a: Item, b: Item) => number) {
    this.set = new SortedMultiset(compare);
  }
  update(value: Value, id: RowId, _time: Time, diff: number): void {
    this.set.add({ value, id }, diff);
  }
  save(): unknown {
    return [...this.set.entries()].map((e) => [e.key.value, e.key.id, e.count]);
  }
}

function ordered(order: string, compare: (a: Item, b: Item) => number, pick: Pick): ReducerImpl {
  return {
    needsConsolidatedInput: false,
    shareAs: `ordered ${order}`,
    create: () => new OrderedState(compare),
    result: (state) => pick((state as OrderedState).set),
    load(saved) {
      const state = new OrderedState(compare);
      for (const [value, id, count] of saved as [Value, RowId, number][]) {
        state.set.add({ value, id }, count);
      }
      return state;
    },
  };
}

const firstValue: Pick = (set) => set.first()?.key.value ?? null;
const lastValue: Pick = (set) => set.last()?.key.value ?? null;
const allValues: Pick = (set) => set.keys().map((item) => item.value);

/** Counts of distinct values, kept in value order (so deep-equal values count once). */
class DistinctState implements ReducerState {
  readonly set = new SortedMultiset<Value>(compareValues);
  update(value: Value, _id: RowId, _time: Time, diff: number): void {
    this.set.add(value, diff);
  }
  save(): unknown {
    return [...this.set.entries()].map((e) => [e.key, e.count]);
  }
}

function distinct(answer: (set: SortedMultiset<Value>) => Value): ReducerImpl {
  return {
    needsConsolidatedInput: false,
    shareAs: "distinct",
    create: () => new DistinctState(),
    result: (state) => answer((state as DistinctState).set),
    load(saved) {
      const state = new DistinctState();
      for (const [value, count] of saved as [Value, number][]) state.set.add(value, count);
      return state;
    },
  };
}

interface TimedItem {
  readonly time: Time;
  readonly id: RowId;
  readonly value: Value;
}

// Ties of time and id (one id's two rows, see TimedState) are broken by value.
const byTimeThenId = (a: TimedItem, b: TimedItem): number =>
  a.time - b.time || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0) || compareValues(a.value, b.value);

/**
 * earliest / latest: items ordered by insertion time; the id finds an item's
 * time on retraction. An id has one item, except in a partitioned graph while
 * its new row, sent by one upstream task, has arrived before its old row's
 * retraction, sent by another: a retraction then takes the item of its value.
 */
class TimedState implements ReducerState {
  readonly set = new SortedMultiset<TimedItem>(byTimeThenId);
  /** Each id's items with their counts. */
  readonly byId = new Map<RowId, [TimedItem, number][]>();
  update(value: Value, id: RowId, time: Time, diff: number): void {
    let items = this.byId.get(id);
    if (diff > 0) {
      const item = { time, id, value };
      if (items === undefined) this.byId.set(id, items = []);
      items.push([item, diff]);
      this.set.add(item, diff);
      return;
    }
    if (items === undefined) return;
    const found = items.findIndex(([item]) => compareValues(item.value, value) === 0);
    const i = found < 0 ? 0 : found;
    const taken = Math.min(-diff, items[i][1]);
    this.set.add(items[i][0], -taken);
    if ((items[i][1] -= taken) === 0) items.splice(i, 1);
    if (items.length === 0) this.byId.delete(id);
  }
  save(): unknown {
    const saved: [Time, RowId, Value][] = [];
    for (const items of this.byId.values()) {
      for (const [item, count] of items) {
        for (let n = 0; n < count; n++) saved.push([item.time, item.id, item.value]);
      }
    }
    return saved;
  }
}

function timed(latest: boolean): ReducerImpl {
  return {
    needsConsolidatedInput: true,
    shareAs: "timed",
    create: () => new TimedState(),
    result: (state) => {
      const set = (state as TimedState).set;
      return (latest ? set.last() : set.first())?.key.value ?? null;
    },
    load(saved) {
      const state = new TimedState();
      for (const [time, id, value] of saved as [Time, RowId, Value][]) {
        state.update(value, id, time, 1);
      }
      return state;
    },
  };
}

/** The implementation of every reducer kind. */
export const reducerImpls: Readonly<Record<ReducerKind, ReducerImpl>> = {
  sum: {
    needsConsolidatedInput: false,
    check: checkNumeric("sum"),
    shareAs: "sum",
    create: () => new SumState(),
    load: (saved) => new SumState(...(saved as [number, bigint, number])),
    result: (state) => (state as SumState).result(),
  },
  count: {
    needsConsolidatedInput: false,
    shareAs: "count",
    create: () => new CountState(),
    load: (saved) => new CountState(saved as number),
    result: (state) => (state as CountState).n,
  },
  avg: {
    needsConsolidatedInput: false,
    check: checkNumeric("avg"),
    shareAs: "avg",
    create: () => new AvgState(),
    load: (saved) => new AvgState(...(saved as [number, number])),
    result: (state) => (state as AvgState).result(),
  },
  min: ordered("byValueThenId", byValueThenId, firstValue),
  max: ordered("byValueThenId", byValueThenId, lastValue),
  any: ordered("byIdThenValue", byIdThenValue, firstValue),
  tuple: ordered("byIdThenValue", byIdThenValue, allValues),
  sortedTuple: ordered("byValueThenId", byValueThenId, allValues),
  argmin: ordered("byValueThenId", byValueThenId, (set) => set.first()?.key.id ?? null),
  argmax: ordered(
    "byValueThenIdDescending",
    byValueThenIdDescending,
    (set) => set.last()?.key.id ?? null,
  ),
  unique: distinct((set) => set.distinct === 1 ? set.first()!.key : null),
  countDistinct: distinct((set) => set.distinct),
  earliest: timed(false),
  latest: timed(true),
};

/** Reads a reducer's column from a row (`null` when absent, and for `count`). */
export function reducedValue(row: Row, column: string | undefined): Value {
  return column === undefined ? null : row[column] ?? null;
}
