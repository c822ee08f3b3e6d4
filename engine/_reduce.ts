/**
 * reduce and groupby().reduce: one output row per group, updated from the
 * changes of each commit. Only groups that changed are recomputed, and a
 * group whose output row did not change emits nothing.
 *
 * @module
 */

import { GroupMap } from "./_group_map.ts";
import { consolidate, type Dataflow, Node } from "./_node.ts";
import { hashValues } from "./hash.ts";
import { reducedValue, type ReducerImpl, reducerImpls, type ReducerKind } from "./reducers.ts";
import type { ReducerState } from "./reducers.ts";
import type { Change, Row, RowId, Time, Value } from "./types.ts";
import { equalRows } from "./value.ts";

/** One output column of a reduce: a reducer, or (group-by) a grouping column. */
export type OutputColumn =
  | { readonly name: string; readonly reducer: ReducerKind; readonly column: string | undefined }
  | { readonly name: string; readonly groupColumn: number };

interface Group {
  readonly id: RowId;
  readonly key: readonly Value[];
  count: number;
  readonly states: ReducerState[];
  emitted: Row | null;
  dirty: boolean;
}

/** The id of the single row a global reduce produces. */
export const GLOBAL_REDUCE_ID: RowId = hashValues([]);

/** Reduces groups of rows (all rows when there are no grouping columns). */
export class ReduceNode extends Node {
  readonly kind = "reduce";
  /** One state per slot: reducers that can share a state on the same column share a slot. */
  readonly #impls: ReducerImpl[];
  readonly #reducerColumns: (string | undefined)[];
  /** For each reducer output column, in order: how to read its value and from which slot. */
  readonly #results: { impl: ReducerImpl; slot: number }[];
  readonly #consolidateInput: boolean;
  readonly #checked: { check: (value: Value) => void; column: string | undefined }[];
  #groups = new GroupMap<Group>();
  #global: Group | undefined;

  constructor(
    readonly flow: Dataflow,
    readonly groupColumns: readonly string[],
    readonly outputs: readonly OutputColumn[],
  ) {
    super(1);
    // One retraction and one insertion of different rows per group and run.
    this.consolidated = true;
    const slots = new Map<string, number>();
    this.#impls = [];
    this.#reducerColumns = [];
    this.#results = [];
    for (const output of outputs) {
      if (!("reducer" in output)) continue;
      const impl = reducerImpls[output.reducer];
      const share = `${impl.shareAs}\0${output.column ?? ""}`;
      let slot = slots.get(share);
      if (slot === undefined) {
        slots.set(share, slot = this.#impls.length);
        this.#impls.push(impl);
        this.#reducerColumns.push(output.column);
      }
      this.#results.push({ impl, slot });
    }
    this.#consolidateInput = this.#impls.some((impl) => impl.needsConsolidatedInput);
    this.#checked = this.#impls.flatMap((impl, slot) =>
      impl.check === undefined ? [] : [{ check: impl.check, column: this.#reducerColumns[slot] }]
    );
  }

  run(time: Time): Change[] {
    const chunks = this.take(0);
    if (chunks.length === 0) return [];
    const input = this.#consolidateInput ? [consolidate(chunks, equalRows)] : chunks;
    const dirty: Group[] = [];
    const impls = this.#impls;
    const columns = this.#reducerColumns;
    const grouped = this.groupColumns.length > 0;
    for (const chunk of input) {
      for (let c = 0; c < chunk.length; c++) {
        const { id, row, diff } = chunk[c];
        if (this.#checked.length > 0 && !this.#check(id, row, diff)) continue;
        const group = grouped
          ? this.#group(row)
          : this.#global ??= this.#newGroup(GLOBAL_REDUCE_ID, []);
        group.count += diff;
        const states = group.states;
        for (let i = 0; i < impls.length; i++) {
          states[i].update(reducedValue(row, columns[i]), id, time, diff);
        }
        if (!group.dirty) {
          group.dirty = true;
          dirty.push(group);
        }
      }
    }
    const out: Change[] = [];
    for (const group of dirty) {
      group.dirty = false;
      const row = group.count > 0 ? this.#outputRow(group) : null;
      const old = group.emitted;
      if (old !== null && row !== null && equalRows(old, row)) continue;
      if (old !== null) out.push({ id: group.id, row: old, diff: -1 });
      if (row !== null) out.push({ id: group.id, row, diff: 1 });
      group.emitted = row;
      if (group.count === 0) this.#forget(group);
    }
    return out;
  }

  /** Runs the reducers' input checks; reports and returns false when one throws. */
  #check(id: RowId, row: Row, diff: number): boolean {
    try {
      for (const { check, column } of this.#checked) check(reducedValue(row, column));
      return true;
    } catch (cause) {
      this.flow.reportError("reduce", id, row, cause, diff);
      return false;
    }
  }

  #group(row: Row): Group {
    if (this.groupColumns.length === 1) {
      const value = row[this.groupColumns[0]] ?? null;
      const group = this.#groups.getOne(value);
      if (group !== undefined) return group;
    }
    const key = this.groupColumns.map((column) => row[column] ?? null);
    return this.#groups.getOrCreate(key, () => this.#newGroup(hashValues(key), key));
  }

  #newGroup(id: RowId, key: readonly Value[]): Group {
    return {
      id,
      key,
      count: 0,
      states: this.#impls.map((impl) => impl.create()),
      emitted: null,
      dirty: false,
    };
  }

  #forget(group: Group): void {
    if (this.groupColumns.length === 0) this.#global = undefined;
    else this.#groups.delete(group.key);
  }

  #outputRow(group: Group): Row {
    const row: Row = {};
    let r = 0;
    for (const output of this.outputs) {
      if ("reducer" in output) {
        const { impl, slot } = this.#results[r++];
        row[output.name] = impl.result(group.states[slot]);
      } else row[output.name] = group.key[output.groupColumn];
    }
    return row;
  }

  override snapshot(): unknown {
    const groups = this.#global === undefined ? [...this.#groups.values()] : [this.#global];
    return groups.map((g) => ({
      key: g.key,
      count: g.count,
      emitted: g.emitted,
      states: g.states.map((state) => state.save()),
    }));
  }

  override restore(state: unknown): void {
    this.#groups = new GroupMap();
    this.#global = undefined;
    for (
      const saved of state as {
        key: Value[];
        count: number;
        emitted: Row | null;
        states: unknown[];
      }[]
    ) {
      const grouped = this.groupColumns.length > 0;
      const group: Group = {
        id: grouped ? hashValues(saved.key) : GLOBAL_REDUCE_ID,
        key: saved.key,
        count: saved.count,
        emitted: saved.emitted,
        dirty: false,
        states: saved.states.map((s, i) => this.#impls[i].load(s)),
      };
      if (grouped) this.#groups.getOrCreate(saved.key, () => group);
      else this.#global = group;
    }
  }
}
