/**
 * Tables and the operations a transform uses. Each operation adds an
 * operator to the graph and returns a new table; the row types come from
 * `schema.ts`.
 *
 * @module
 */

import { ExchangeNode, type Route } from "./_exchange.ts";
import { hashValues } from "./hash.ts";
import { InputNode } from "./_input.ts";
import { type JoinCombine, type JoinHow, JoinNode, joinShape } from "./_join.ts";
import { compileSpec, ConcatNode, FilterNode, MapNode, type RowMapper } from "./_map.ts";
import type { Dataflow, Node } from "./_node.ts";
import { type OutputColumn, ReduceNode } from "./_reduce.ts";
import { UpdateRowsNode } from "./_update_rows.ts";
import type { Reducer } from "./reducers.ts";
import type {
  CheckApplied,
  ColumnOf,
  GroupReduceSpec,
  JoinOptions,
  JoinRow,
  JoinSelectOptions,
  ReduceResult,
  ReduceSpec,
  SelectResult,
  SelectSpec,
  WithColumnsResult,
} from "./schema.ts";
import type { Row, RowId } from "./types.ts";

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
    const leftOn = options.on.map(([left]) => left);
    const rightOn = options.on.map(([, right]) => right);
    const stage = newStage(this.flow);
    const node = this.flow.add(new JoinNode(this.flow, { leftOn, rightOn, how, combine }), [
      exchanged(this.flow, this.node, stage, byColumns(leftOn)),
      exchanged(this.flow, other.node, stage, byColumns(rightOn)),
    ]);
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
    const stage = newStage(this.flow);
    const node = this.flow.add(new UpdateRowsNode(), [
      exchanged(this.flow, this.node, stage, byId),
      exchanged(this.flow, other.node, stage, byId),
    ]);
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
    const input = exchanged(
      this.flow,
      this.node,
      newStage(this.flow),
      groupColumns.length === 0 ? toOneTask : byColumns(groupColumns),
    );
    const node = this.flow.add(new ReduceNode(this.flow, groupColumns, outputs), [input]);
    return new Table(this.flow, node, Object.keys(spec));
  }

  #sameGraph(other: Table<Row>, operation: string): void {
    if (other.flow !== this.flow) throw new Error(`Cannot ${operation} tables of different graphs`);
  }
}

/** A new stage of a partitioned graph (undefined otherwise: no exchanges are made). */
function newStage(flow: Dataflow): number {
  return flow.exchangeHandler === undefined ? 0 : flow.stages++;
}

/**
 * `node`, or in a partitioned graph an exchange fed by it, in front of one
 * port of a stateful operator of stage `stage`.
 */
function exchanged(flow: Dataflow, node: Node, stage: number, route: Route): Node {
  const send = flow.exchangeHandler;
  if (send === undefined) return node;
  return flow.add(new ExchangeNode(flow.exchanges++, stage, route, send), [node]);
}

/** Routes by the values of `columns`: a group or a join key meets its equals in one task. */
function byColumns(columns: readonly string[]): Route {
  return (change) => hashValues(columns.map((column) => change.row[column] ?? null));
}

/** Routes by row id (`updateRows` matches rows by id). */
const byId: Route = (change) => change.id;

/** A global reduce: every change to one task. */
const toOneTask: Route = () => "";

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
