/**
 * Tables and the operations a transform uses, typed so that a column that
 * does not exist is a compile-time error where the schema is known.
 *
 * @module
 */

import { InputNode } from "./_input.ts";
import { type JoinCombine, type JoinHow, JoinNode } from "./_join.ts";
import { ConcatNode, FilterNode, MapNode, type RowMapper } from "./_map.ts";
import type { Dataflow, Node } from "./_node.ts";
import { type OutputColumn, ReduceNode } from "./_reduce.ts";
import { UpdateRowsNode } from "./_update_rows.ts";
import type { Reducer, ReducerKind, ReducerOutput } from "./reducers.ts";
import type { Row, RowId, Value } from "./types.ts";

export type { JoinHow } from "./_join.ts";

/** The column names of a row type. */
export type ColumnOf<R> = keyof R & string;

/** Shows an intersection of object types as one object type. */
export type Flatten<T> = { [K in keyof T]: T[K] } & unknown;

/** A user function applied to columns, made by {@linkcode apply}. */
export interface Applied<
  T extends Value = Value,
  C extends string = string,
  Args extends readonly unknown[] = never,
  Columns extends readonly string[] = readonly string[],
> {
  /** Marks a spec value as an applied function. */
  readonly kind: "apply";
  /** The user function; gets the columns' values in order. */
  readonly fn: (...args: Value[]) => T;
  /** The columns whose values `fn` gets. */
  readonly columns: readonly C[];
  /** Type-level only: the function's parameter types, checked against the columns' types. */
  readonly parameters?: (args: Args) => void;
  /** Type-level only: the columns in order. */
  readonly columnTuple?: Columns;
}

/**
 * Applies a function to the values of columns, in order (Pathway's `pw.apply`).
 *
 * @example
 * ```ts
 * import { apply, Graph } from "./mod.ts";
 * const graph = new Graph();
 * const t = graph.input<{ value: string }>({ name: "t" });
 * const parsed = t.select({ value: apply((x: string) => parseInt(x), "value") });
 * ```
 */
export function apply<A extends unknown[], T extends Value, const C extends string[]>(
  fn: (...args: A) => T,
  ...columns: C
): Applied<T, C[number], A, C> {
  return { kind: "apply", fn: fn as unknown as (...args: Value[]) => T, columns };
}

/** The types of the columns `C` of rows `R`, as a tuple. */
export type ColumnTypes<R, C extends readonly string[]> = {
  -readonly [I in keyof C]: R[C[I] & keyof R];
};

/**
 * Checks that each `apply` in a spec gets columns whose types its function
 * accepts: `unknown` (no constraint) where it does, a descriptive error
 * property where it does not.
 */
export type CheckApplied<R, S> = {
  [K in keyof S]: S[K] extends Applied<Value, string, infer A, infer C>
    ? ([A] extends [never] ? unknown
      : ColumnTypes<R, C> extends A ? unknown
      : {
        parameters: (args: A) => void;
        error: "apply's function does not accept these columns' types";
        columnTypes: ColumnTypes<R, C>;
      })
    : unknown;
};

/** How one output column of select / withColumns is computed. */
export type ColumnSpec<R> = ColumnOf<R> | ((row: R) => Value) | Applied<Value, ColumnOf<R>>;

/** A select / withColumns spec: new column name to how it is computed. */
export type SelectSpec<R> = Record<string, ColumnSpec<R>>;

/** `T` when it is a column value type, else never. */
export type AsValue<T> = T extends Value ? T : never;

/** The row type a select spec produces. */
export type SelectResult<R, S> = {
  -readonly [K in keyof S & string]: S[K] extends ColumnOf<R> ? R[S[K]]
    : S[K] extends (row: R) => infer T ? AsValue<T>
    : S[K] extends Applied<infer T, string> ? AsValue<T>
    : never;
};

/** The row type withColumns produces: the old columns, replaced or extended by the spec's. */
export type WithColumnsResult<R, S> = Flatten<Omit<R, keyof S> & SelectResult<R, S>>;

/** A reduce spec: output column name to reducer. */
export type ReduceSpec<R> = Record<string, Reducer<ReducerKind, ColumnOf<R>>>;

/** A group-by reduce spec: output column name to reducer or grouping column. */
export type GroupReduceSpec<R, G extends string> = Record<
  string,
  Reducer<ReducerKind, ColumnOf<R>> | G
>;

/** The row type a reduce spec produces. */
export type ReduceResult<R, S> = {
  -readonly [K in keyof S & string]: S[K] extends Reducer<infer Kind, infer C>
    ? ReducerOutput<Kind, R[C & keyof R]>
    : S[K] extends keyof R ? R[S[K]]
    : never;
};

/** Whether the left side of a join may be missing. */
export type LeftMissing<How> = How extends "right" | "outer" ? true : false;
/** Whether the right side of a join may be missing. */
export type RightMissing<How> = How extends "left" | "outer" ? true : false;

/**
 * The default row of a join: every left column, then every right column; a
 * right column whose name is also a left column is renamed `right_<name>`.
 * The columns of a missing side (outer joins) are null.
 */
export type JoinRow<L, R, How extends JoinHow> = {
  [K in ColumnOf<L> | RightNames<L, R>]: K extends ColumnOf<L>
    ? AsValue<LeftMissing<How> extends true ? L[K] | null : L[K]>
    : AsValue<
      RightMissing<How> extends true ? R[RightSource<L, K> & keyof R] | null
        : R[RightSource<L, K> & keyof R]
    >;
};

/** The names right columns get in a join's output. */
export type RightNames<L, R> = {
  [K in ColumnOf<R>]: K extends keyof L ? `right_${K}` : K;
}[ColumnOf<R>];

/** The right column an output column of a join comes from. */
export type RightSource<L, K> = K extends `right_${infer C extends ColumnOf<L>}` ? C : K;

/** What a join's `select` gets for a side: the row, or null when it may be missing. */
export type JoinSide<R, Missing extends boolean> = Missing extends true ? R | null : R;

/** Options of a join. */
export interface JoinOptions<L, R, How extends JoinHow> {
  /** Pairs of equal columns, `[leftColumn, rightColumn]`. Null equals null. */
  on: readonly (readonly [ColumnOf<L>, ColumnOf<R>])[];
  /** Which unmatched rows to keep: "inner" (default), "left", "right" or "outer". */
  how?: How;
}

/** Options of a join that builds its own output rows. */
export interface JoinSelectOptions<L, R, How extends JoinHow, O> extends JoinOptions<L, R, How> {
  /** Builds the output row; a missing side is null. */
  select: (left: JoinSide<L, LeftMissing<How>>, right: JoinSide<R, RightMissing<How>>) => O;
}

/**
 * A table: a keyed collection of rows whose changes flow through the graph.
 * Operations return new tables; nothing runs until `graph.commit`.
 */
export class Table<R extends Row = Row> {
  /** @internal */
  readonly flow: Dataflow;
  /** @internal */
  readonly node: Node;
  /** The column names, when known (inputs given `columns`, and anything derived from them). */
  readonly columns: readonly string[] | undefined;

  /** @internal Tables are made by `Graph.input` and by operations. */
  constructor(flow: Dataflow, node: Node, columns: readonly string[] | undefined) {
    this.flow = flow;
    this.node = node;
    this.columns = columns;
  }

  /**
   * A table with the columns of `spec` only, same ids. A spec value is a
   * column name, a function of the row, or {@linkcode apply}.
   *
   * @example
   * ```ts
   * import { apply, Graph } from "./mod.ts";
   * const t = new Graph().input<{ a: number; b: string }>({ name: "t" });
   * const u = t.select({ b: "b", twice: (row) => row.a * 2, n: apply((b: string) => b.length, "b") });
   * ```
   */
  select<const S extends SelectSpec<R>>(spec: S & CheckApplied<R, S>): Table<SelectResult<R, S>> {
    return this.#map<SelectResult<R, S>>(
      "select",
      compileSpec(spec as unknown as SelectSpec<Row>, false),
      Object.keys(spec),
    );
  }

  /** Like {@linkcode select}, keeping the existing columns (a spec column replaces one of the same name). */
  withColumns<const S extends SelectSpec<R>>(
    spec: S & CheckApplied<R, S>,
  ): Table<WithColumnsResult<R, S>> {
    const columns = this.columns === undefined
      ? undefined
      : [...this.columns.filter((c) => !(c in spec)), ...Object.keys(spec)];
    return this.#map<WithColumnsResult<R, S>>(
      "withColumns",
      compileSpec(spec as unknown as SelectSpec<Row>, true),
      columns,
    );
  }

  /** The rows for which `predicate` is truthy. */
  filter(predicate: (row: R) => unknown): Table<R> {
    const node = this.flow.add(
      new FilterNode(this.flow, predicate as (row: Row) => unknown, this.node),
      [
        this.node,
      ],
    );
    return new Table(this.flow, node, this.columns);
  }

  /**
   * Reduces the whole table to one row (id `GLOBAL_REDUCE_ID`). An empty table
   * has no row, so the output appears with the first row and disappears with
   * the last.
   *
   * @example
   * ```ts
   * import { Graph, reducers } from "./mod.ts";
   * const t = new Graph().input<{ value: number }>({ name: "t" });
   * const total = t.reduce({ sum: reducers.sum("value"), rows: reducers.count() });
   * ```
   */
  reduce<const S extends ReduceSpec<R>>(spec: S): Table<ReduceResult<R, S>> {
    return this.#reduce([], spec);
  }

  /** Groups rows by the values of `columns`, to be reduced with `.reduce(spec)`. */
  groupby<const G extends ColumnOf<R>>(...columns: G[]): GroupedTable<R, G> {
    if (columns.length === 0) throw new Error("groupby needs at least one column");
    return {
      reduce: <const S extends GroupReduceSpec<R, G>>(spec: S) => this.#reduce(columns, spec),
    };
  }

  /**
   * Joins with `other` on equal columns. The output id is a hash of the left
   * and right row ids (`null` for a missing side): see `joinId`. Without
   * `select`, the output row is {@linkcode JoinRow}; a missing side's columns
   * must then be known (`columns` on the inputs).
   *
   * @example
   * ```ts
   * import { Graph } from "./mod.ts";
   * const graph = new Graph();
   * const orders = graph.input<{ customer: string; amount: number }>({ name: "orders" });
   * const customers = graph.input<{ customer: string; city: string }>({ name: "customers", keyed: true });
   * const withCity = orders.join(customers, { on: [["customer", "customer"]] });
   * const cityOrNull = orders.join(customers, {
   *   on: [["customer", "customer"]],
   *   how: "left",
   *   select: (order, customer) => ({ amount: order.amount, city: customer?.city ?? null }),
   * });
   * ```
   */
  join<R2 extends Row, O extends Row, const How extends JoinHow = "inner">(
    other: Table<R2>,
    options: JoinSelectOptions<R, R2, How, O>,
  ): Table<O>;
  /** Joins with `other` on equal columns; the output row is {@linkcode JoinRow}. */
  join<R2 extends Row, const How extends JoinHow = "inner">(
    other: Table<R2>,
    options: JoinOptions<R, R2, How>,
  ): Table<JoinRow<R, R2, How>>;
  join(
    other: Table<Row>,
    options: JoinOptions<Row, Row, JoinHow> & { select?: (left: never, right: never) => Row },
  ): Table<Row> {
    this.#sameGraph(other, "join");
    const how = options.how ?? "inner";
    if (!["inner", "left", "right", "outer"].includes(how)) {
      throw new Error(`Join "how" must be inner, left, right or outer, got ${JSON.stringify(how)}`);
    }
    if (options.on.length === 0) throw new Error('Join needs at least one pair of columns in "on"');
    let combine: JoinCombine;
    let columns: readonly string[] | undefined;
    if (options.select !== undefined) {
      combine = options.select as JoinCombine;
      columns = undefined;
    } else {
      const shape = joinShape(this.columns, other.columns, how);
      combine = shape.combine;
      columns = shape.columns;
    }
    const node = this.flow.add(
      new JoinNode(this.flow, {
        leftOn: options.on.map(([left]) => left),
        rightOn: options.on.map(([, right]) => right),
        how,
        combine,
      }),
      [this.node, other.node],
    );
    return new Table(this.flow, node, columns);
  }

  /**
   * The rows of this table and of `others`. The id of a row from input i
   * (this table is 0) is `hashValues([id, i])`, so ids cannot clash.
   */
  concat(...others: Table<R>[]): Table<R> {
    for (const other of others) this.#sameGraph(other, "concat");
    const node = this.flow.add(new ConcatNode(1 + others.length), [
      this.node,
      ...others.map((o) => o.node),
    ]);
    return new Table(this.flow, node, this.columns);
  }

  /** This table with the rows of `other` replacing or adding to its rows by id (Pathway's `update_rows`). */
  updateRows(other: Table<R>): Table<R> {
    this.#sameGraph(other, "updateRows");
    const node = this.flow.add(new UpdateRowsNode(), [this.node, other.node]);
    return new Table(this.flow, node, this.columns);
  }

  #map<O extends Row>(
    kind: string,
    map: RowMapper,
    columns: readonly string[] | undefined,
  ): Table<O> {
    const node = this.flow.add(new MapNode(kind, this.flow, map), [this.node]);
    return new Table(this.flow, node, columns);
  }

  #reduce<O extends Row>(
    groupColumns: readonly string[],
    spec: Record<string, Reducer | string>,
  ): Table<O> {
    const outputs: OutputColumn[] = Object.entries(spec).map(([name, value]) => {
      if (typeof value !== "string") return { name, reducer: value.reducer, column: value.column };
      const groupColumn = groupColumns.indexOf(value);
      if (groupColumn < 0) {
        throw new Error(
          `Reduce column ${JSON.stringify(name)} names ${
            JSON.stringify(value)
          }, which is not a grouping column`,
        );
      }
      return { name, groupColumn };
    });
    const node = this.flow.add(new ReduceNode(this.flow, groupColumns, outputs), [this.node]);
    return new Table(this.flow, node, Object.keys(spec));
  }

  #sameGraph(other: Table<Row>, operation: string): void {
    if (other.flow !== this.flow) throw new Error(`Cannot ${operation} tables of different graphs`);
  }
}

/** A table grouped by columns `G`, waiting for its reduce spec. */
export interface GroupedTable<R extends Row, G extends string> {
  /**
   * One row per group (id: `hashValues` of the group's values). A spec value
   * is a reducer or the name of a grouping column.
   *
   * @example
   * ```ts
   * import { Graph, reducers } from "./mod.ts";
   * const t = new Graph().input<{ word: string }>({ name: "words" });
   * const counts = t.groupby("word").reduce({ word: "word", count: reducers.count() });
   * ```
   */
  reduce<const S extends GroupReduceSpec<R, G>>(spec: S): Table<ReduceResult<R, S>>;
}

/** A table rows are pushed into; made by `Graph.input`. */
export class InputTable<R extends Row = Row> extends Table<R> {
  readonly #input: InputNode;

  /** @internal */
  constructor(flow: Dataflow, input: InputNode, columns: readonly string[] | undefined) {
    super(flow, input, columns);
    this.#input = input;
  }

  /** The input's name. */
  get name(): string {
    return this.#input.name;
  }

  /** Adds a row. On a keyed input an existing row of the same id is replaced (as upsert). */
  insert(id: RowId, row: R): void {
    this.#input.insert(id, row);
  }

  /** Keyed inputs: replaces the row of `id` (old retracted, new inserted); an identical row changes nothing. */
  upsert(id: RowId, row: R): void {
    this.#input.upsert(id, row);
  }

  /** Keyed inputs: retracts the current row of `id`, if any. */
  remove(id: RowId): void {
    this.#input.remove(id);
  }

  /**
   * Retracts a row given in full (a json source reading a `diff` column). On a
   * keyed input it removes the row of `id` only if it equals `row`.
   */
  retract(id: RowId, row: R): void {
    this.#input.retract(id, row);
  }
}

interface Step {
  name: string;
  column?: string;
  fn?: (row: Row) => Value;
  applied?: Applied;
}

function compileSpec(spec: SelectSpec<Row>, keepColumns: boolean): RowMapper {
  const steps = Object.entries(spec).map(([name, how]): Step => {
    if (typeof how === "string") return { name, column: how };
    if (typeof how === "function") return { name, fn: how };
    if (how?.kind === "apply") return { name, applied: how };
    throw new Error(
      `Column ${JSON.stringify(name)} must be a column name, a function or apply(...)`,
    );
  });
  return (row) => {
    const out: Row = keepColumns ? { ...row } : {};
    for (let i = 0; i < steps.length; i++) {
      const step = steps[i];
      let value: Value;
      if (step.column !== undefined) value = row[step.column] ?? null;
      else if (step.fn !== undefined) value = step.fn(row);
      else {
        const { fn, columns } = step.applied!;
        value = columns.length === 1
          ? fn(row[columns[0]] ?? null)
          : fn(...columns.map((column) => row[column] ?? null));
      }
      out[step.name] = value;
    }
    return out;
  };
}

/** The default join row builder (see {@linkcode JoinRow}) and its columns, when known. */
function joinShape(
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
