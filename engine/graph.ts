/**
 * The graph: inputs, operators and outputs, advanced one commit (one logical
 * time) at a time by whoever drives it (the runtime, or a test).
 *
 * @module
 */

import { ExchangeNode } from "./_exchange.ts";
import { InputNode } from "./_input.ts";
import { Dataflow, type ExchangeHandler } from "./_node.ts";
import { OutputNode } from "./_output.ts";
import type { UserFunctionError } from "./errors.ts";
import { InputTable, type Table } from "./table.ts";
import type { Batch, Change, Row, Time } from "./types.ts";

/** Options of a {@linkcode Graph}. */
export interface GraphOptions {
  /**
   * Called when a user function (select/withColumns/filter/apply/join select,
   * or a reducer given a value it cannot reduce) throws on a row. If it
   * returns, the row is dropped from that operator's output (skip /
   * dead-letter policies). If it throws, `commit()` throws (stop policy).
   * Default: throw the {@linkcode UserFunctionError}.
   */
  onError?: (error: UserFunctionError) => void;
  /**
   * Makes a partitioned graph, cut into stages that run as one task per
   * partition: every operator whose state is keyed differently from its input
   * (a group-by or global reduce, a join, `updateRows`) is fed through an
   * exchange, which hands the changes reaching it, with their routing keys, to
   * this handler during `commit` instead of passing them on. Changes other
   * tasks routed to this one enter with {@linkcode Graph.receive}. Without it
   * the graph has no exchanges.
   */
  onExchange?: ExchangeHandler;
}

/** One exchange of a partitioned graph. */
export interface ExchangeInfo {
  /** Its number, the same in every graph built by the same code. */
  readonly index: number;
  /** The stage it feeds (1 and up; stage 0 reads the inputs). */
  readonly stage: number;
}

/** Options of {@linkcode Graph.input}. */
export interface InputOptions {
  /** A name for errors and snapshots. */
  name: string;
  /**
   * Remember the current row of each id, so that upsert / remove can retract
   * it (memory per row). Unkeyed inputs keep no per-row state.
   */
  keyed?: boolean;
  /** The column names, if known; a join without `select` needs them for a side that may be missing. */
  columns?: readonly string[];
}

const SNAPSHOT_FORMAT = "rivulet-engine-snapshot/1";

interface Snapshot {
  format: typeof SNAPSHOT_FORMAT;
  time: Time;
  /** `name`: an input's name, so that inputs created in another order find their state. */
  nodes: { kind: string; state: unknown; name?: string }[];
}

/**
 * A dataflow graph of tables. Build it once (inputs, operations, outputs),
 * then push rows into inputs and `commit` them, one logical time each.
 *
 * @example
 * ```ts
 * import { apply, Graph, reducers } from "./mod.ts";
 * const graph = new Graph();
 * const t = graph.input<{ value: string }>({ name: "connector_example" });
 * const sums = t.select({ value: apply((x: string) => parseInt(x), "value") })
 *   .reduce({ sum: reducers.sum("value") });
 * graph.output(sums, (batch) => console.log(batch.time, batch.changes));
 * t.insert("00000000000000000000000000000001", { value: "7" });
 * graph.commit(1); // 1 [ { id: "…", row: { sum: 7 }, diff: 1 } ]
 * ```
 */
export class Graph {
  readonly #flow: Dataflow;
  readonly #outputs: OutputNode[] = [];
  #time: Time = -Infinity;
  #failed = false;

  /** An empty graph; `options.onError` decides what a throwing user function does. */
  constructor(options: GraphOptions = {}) {
    this.#flow = new Dataflow(options.onError, options.onExchange);
  }

  /** The stages of a partitioned graph: 1 + its exchanges' stages (1 when not partitioned). */
  get stages(): number {
    return this.#flow.stages;
  }

  /** The exchanges of a partitioned graph, in index order. */
  exchanges(): ExchangeInfo[] {
    return this.#exchangeNodes().map(({ index, stage }) => ({ index, stage }));
  }

  /** Changes another task routed to exchange `index`: they enter at the next commit. */
  receive(index: number, changes: readonly Change[]): void {
    const node = this.#exchangeNodes()[index];
    if (node === undefined) throw new RangeError(`This graph has no exchange ${index}`);
    node.receive(changes);
  }

  #exchangeNodes(): ExchangeNode[] {
    return this.#flow.nodes.filter((node): node is ExchangeNode => node instanceof ExchangeNode);
  }

  /** The time of the last commit (-Infinity before the first). */
  get time(): Time {
    return this.#time;
  }

  /**
   * A new input table. `keyed`: remember current rows so that upsert/remove
   * can retract them (memory per row); unkeyed inputs keep no per-row state,
   * so an append-only source reduced by sum/count/avg uses constant memory.
   */
  input<R extends Row>(options: InputOptions): InputTable<R> {
    const node = this.#flow.add(new InputNode(options.name, options.keyed ?? false), []);
    return new InputTable<R>(this.#flow, node, options.columns);
  }

  /**
   * Calls `onBatch` after each commit in which `table` changed, with its
   * consolidated changes: diffs of 1 or -1, changes that cancel removed, all
   * retractions before all insertions. Rows are shared with the engine's
   * state: read them, do not modify them.
   */
  output<R extends Row>(table: Table<R>, onBatch: (batch: Batch<R>) => void): void {
    if (table.flow !== this.#flow) throw new Error("Cannot output a table of another graph");
    const node = this.#flow.add(
      new OutputNode(onBatch as (batch: Batch<Row>) => void, table.node),
      [
        table.node,
      ],
    );
    this.#outputs.push(node);
  }

  /**
   * Propagates everything pushed into inputs since the last commit as one
   * logical time `time`, which must be greater than the previous commit's.
   * Then calls the outputs' callbacks, in the order they were added.
   * If a user function's error stops it (see `GraphOptions.onError`), the
   * graph is left part-way and refuses further commits: restore a snapshot
   * into a new graph instead.
   */
  commit(time: Time): void {
    if (this.#failed) {
      throw new Error(
        "Cannot commit: an earlier commit failed part-way; restore a snapshot into a new graph",
      );
    }
    if (typeof time !== "number" || Number.isNaN(time) || !(time > this.#time)) {
      throw new RangeError(
        `Commit time ${time} must be greater than the previous commit's time ${this.#time}`,
      );
    }
    this.#time = time;
    try {
      for (const node of this.#flow.nodes) {
        const out = node.run(time);
        if (out.length === 0) continue;
        for (const { node: next, port } of node.downstream) next.pending[port].push(out);
      }
    } catch (error) {
      this.#failed = true;
      throw error;
    }
    const ready = this.#outputs.filter((output) => output.batch !== undefined);
    const batches = ready.map((output) => output.batch!);
    for (const output of ready) output.batch = undefined;
    ready.forEach((output, i) => output.onBatch(batches[i]));
  }

  /**
   * All operator and input state, as structured-cloneable data (Maps, arrays,
   * rows) that `node:v8` serialize can store. Take it between commits: rows
   * pushed but not committed are refused.
   */
  snapshot(): unknown {
    if (this.#failed) throw new Error("Cannot snapshot: the last commit failed part-way");
    for (const node of this.#flow.nodes) {
      if (node instanceof InputNode && node.dirty) {
        throw new Error(`Cannot snapshot: input ${JSON.stringify(node.name)} has uncommitted rows`);
      }
      if (node instanceof ExchangeNode && node.dirty) {
        throw new Error(`Cannot snapshot: exchange ${node.index} has uncommitted changes`);
      }
    }
    const snapshot: Snapshot = {
      format: SNAPSHOT_FORMAT,
      time: this.#time,
      nodes: this.#flow.nodes.map((node) =>
        node instanceof InputNode
          ? { kind: node.kind, state: node.snapshot(), name: node.name }
          : { kind: node.kind, state: node.snapshot() }
      ),
    };
    return snapshot;
  }

  /**
   * Restores a snapshot into a graph built by the same code (the same
   * operations in the same order). Throws if the shape differs. Rows pushed
   * since the last commit are dropped, and a graph whose commit failed can
   * commit again.
   */
  restore(state: unknown): void {
    const snapshot = state as Partial<Snapshot> | null;
    if (snapshot?.format !== SNAPSHOT_FORMAT || !Array.isArray(snapshot.nodes)) {
      throw new Error(
        `Cannot restore: not an engine snapshot (expected format ${
          JSON.stringify(SNAPSHOT_FORMAT)
        })`,
      );
    }
    const nodes = this.#flow.nodes;
    if (snapshot.nodes.length !== nodes.length) {
      throw new Error(
        `Cannot restore: the snapshot has ${snapshot.nodes.length} operators, this graph has ${nodes.length}`,
      );
    }
    snapshot.nodes.forEach((saved, i) => {
      if (saved.kind !== nodes[i].kind) {
        throw new Error(
          `Cannot restore: operator ${i} is ${JSON.stringify(saved.kind)} in the snapshot ` +
            `but ${JSON.stringify(nodes[i].kind)} in this graph`,
        );
      }
    });
    for (const node of nodes) {
      for (let port = 0; port < node.pending.length; port++) node.pending[port] = [];
    }
    const inputs = inputsByName(snapshot.nodes, nodes);
    snapshot.nodes.forEach((saved, i) => {
      const node = nodes[i];
      if (node instanceof InputNode && inputs !== undefined) {
        node.restore(inputs.get(node.name));
      } else {
        node.restore(saved.state);
      }
    });
    this.#time = snapshot.time ?? -Infinity;
    this.#failed = false;
  }
}

/**
 * The saved state of each input by name, when every input on both sides has
 * a unique name and the names agree (a script that reads its sources in
 * another order); undefined otherwise (inputs are then restored in order).
 */
function inputsByName(
  saved: readonly { kind: string; state: unknown; name?: string }[],
  nodes: readonly { kind: string }[],
): Map<string, unknown> | undefined {
  const savedInputs = saved.filter((node) => node.kind === "input");
  const names = nodes.filter((node): node is InputNode => node instanceof InputNode)
    .map((node) => node.name);
  const byName = new Map<string, unknown>();
  for (const node of savedInputs) {
    if (node.name === undefined || byName.has(node.name)) return undefined;
    byName.set(node.name, node.state);
  }
  if (new Set(names).size !== names.length || !names.every((name) => byName.has(name))) {
    return undefined;
  }
  return byName;
}
