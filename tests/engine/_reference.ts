/**
 * A from-scratch, non-incremental reference for the engine's operations, and
 * the harness that drives a graph with random commits and checks it against
 * the reference after every commit.
 *
 * @module
 */
import assert from "node:assert/strict";
import { deserialize, serialize } from "node:v8";
import {
  compareValues,
  equalRows,
  GLOBAL_REDUCE_ID,
  Graph,
  hashValues,
  type InputTable,
  joinId,
  type ReducerKind,
  type Row,
  type RowId,
  type Table,
  type Value,
} from "../../engine/mod.ts";

/** The rows the property tests push: a small group key, a number (sometimes null), a short string. */
export type TestRow = { k: number; v: number | null; s: string };

/** A seeded PRNG (mulberry32), so a failing case can be replayed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A current row of an input and the time it last changed. */
export interface Entry {
  id: RowId;
  row: TestRow;
  time: number;
}

/** What the inputs hold after the commits so far. */
export interface World {
  left: Map<RowId, Entry>;
  right: Map<RowId, Entry>;
}

/** A pipeline under test: how to build it and what it must compute. */
export interface Case {
  name: string;
  build(left: InputTable<TestRow>, right: InputTable<TestRow>): Table<Row>;
  reference(world: World): Map<RowId, Row>;
}

/** Runs a reducer over a group's entries, the slow obvious way. */
export function referenceReducer(
  kind: ReducerKind,
  column: string | undefined,
  entries: Entry[],
): Value {
  const value = (e: Entry): Value => column === undefined ? null : (e.row as Row)[column] ?? null;
  const byId = [...entries].sort((a, b) => (a.id < b.id ? -1 : 1));
  const byValue = [...byId].sort((a, b) => compareValues(value(a), value(b)));
  const numbers = entries.map(value).filter((v): v is number => typeof v === "number");
  switch (kind) {
    case "sum":
      return numbers.reduce((a, b) => a + b, 0);
    case "count":
      return entries.length;
    case "avg":
      return numbers.length === 0 ? null : numbers.reduce((a, b) => a + b, 0) / numbers.length;
    case "min":
      return value(byValue[0]);
    case "max":
      return value(byValue[byValue.length - 1]);
    case "any":
      return value(byId[0]);
    case "tuple":
      return byId.map(value);
    case "sortedTuple":
      return byValue.map(value);
    case "unique": {
      const first = value(byId[0]);
      return byId.every((e) => compareValues(value(e), first) === 0) ? first : null;
    }
    case "countDistinct":
      return byValue.filter((e, i) =>
        i === 0 || compareValues(value(byValue[i - 1]), value(e)) !== 0
      )
        .length;
    case "earliest":
    case "latest": {
      const byTime = [...byId].sort((a, b) => a.time - b.time);
      return value(kind === "earliest" ? byTime[0] : byTime[byTime.length - 1]);
    }
    case "argmin":
      return byValue[0].id;
    case "argmax": {
      const max = value(byValue[byValue.length - 1]);
      return byValue.find((e) => compareValues(value(e), max) === 0)!.id;
    }
  }
}

/** Groups entries by the values of columns; the group id is hashValues of the values. */
export function referenceGroups(
  entries: Iterable<Entry>,
  columns: readonly (keyof TestRow)[],
): Map<RowId, { key: Value[]; entries: Entry[] }> {
  const groups = new Map<RowId, { key: Value[]; entries: Entry[] }>();
  for (const entry of entries) {
    const key = columns.map((c) => entry.row[c]);
    const id = columns.length === 0 ? GLOBAL_REDUCE_ID : hashValues(key);
    let group = groups.get(id);
    if (group === undefined) groups.set(id, group = { key, entries: [] });
    group.entries.push(entry);
  }
  return groups;
}

/** The join of two sets of entries, with `combine` building rows; ids as the engine's joinId. */
export function referenceJoin(
  left: Iterable<Entry>,
  right: Iterable<Entry>,
  on: keyof TestRow,
  how: "inner" | "left" | "right" | "outer",
  combine: (l: TestRow | null, r: TestRow | null) => Row,
): Map<RowId, Row> {
  const out = new Map<RowId, Row>();
  const ls = [...left];
  const rs = [...right];
  for (const l of ls) {
    const matches = rs.filter((r) => compareValues(l.row[on], r.row[on]) === 0);
    for (const r of matches) out.set(joinId(l.id, r.id), combine(l.row, r.row));
    if (matches.length === 0 && (how === "left" || how === "outer")) {
      out.set(joinId(l.id, null), combine(l.row, null));
    }
  }
  if (how === "right" || how === "outer") {
    for (const r of rs) {
      if (!ls.some((l) => compareValues(l.row[on], r.row[on]) === 0)) {
        out.set(joinId(null, r.id), combine(null, r.row));
      }
    }
  }
  return out;
}

function randomRow(random: () => number): TestRow {
  return {
    k: Math.floor(random() * 4),
    v: random() < 0.1 ? null : Math.floor(random() * 10) - 3,
    s: ["a", "bb", "ccc", "a"][Math.floor(random() * 4)],
  };
}

/** The state a consumer rebuilds from the output batches, checked change by change. */
class Rebuilt {
  rows = new Map<RowId, Row>();
  apply(changes: readonly { id: RowId; row: Row; diff: number }[], label: string): void {
    assert.ok(changes.length > 0, `${label}: an output batch is never empty`);
    const inserted = new Set<RowId>();
    for (const { id, row, diff } of changes) {
      if (diff === -1) {
        assert.equal(inserted.size, 0, `${label}: retractions come before insertions`);
        const old = this.rows.get(id);
        assert.ok(
          old !== undefined && equalRows(old, row),
          `${label}: retracted row ${id} is the current row`,
        );
        this.rows.delete(id);
      } else {
        assert.equal(diff, 1, `${label}: diff is 1 or -1`);
        assert.ok(!this.rows.has(id), `${label}: inserted row ${id} is not present already`);
        this.rows.set(id, row);
        inserted.add(id);
      }
    }
  }
}

function assertSameRows(actual: Map<RowId, Row>, expected: Map<RowId, Row>, label: string): void {
  const sort = (m: Map<RowId, Row>) => [...m.entries()].sort(([a], [b]) => (a < b ? -1 : 1));
  const same = actual.size === expected.size &&
    [...expected].every(([id, row]) => actual.has(id) && equalRows(actual.get(id)!, row));
  if (!same) assert.deepEqual(sort(actual), sort(expected), label);
}

/** Options of {@linkcode checkAgainstReference}. */
export interface CheckOptions {
  seeds: number;
  commits: number;
  /**
   * Make the right input unkeyed and drive it with insert and retract only, as
   * a json source reading a `diff` column does: an upsert becomes a retraction
   * of the old row and an insertion of the new one.
   */
  unkeyedRight?: boolean;
  /** Skip rows a user function throws on (the skip policy) instead of stopping. */
  skipErrors?: boolean;
}

/**
 * Drives `testCase` with random commits of inserts, upserts (sometimes to an
 * identical row) and removes on both inputs; after every commit the state
 * rebuilt from all output batches must equal the reference on the inputs so
 * far. Halfway, the graph is replaced by a fresh one restored from a
 * v8-serialized snapshot, which must carry on identically.
 */
export function checkAgainstReference(testCase: Case, options: CheckOptions): void {
  for (let seed = 1; seed <= options.seeds; seed++) {
    const random = prng(seed * 7919);
    const world: World = { left: new Map(), right: new Map() };
    const rebuilt = new Rebuilt();
    let counter = 0;
    const start = () => {
      const graph = new Graph(options.skipErrors ? { onError: () => {} } : {});
      const left = graph.input<TestRow>({ name: "left", keyed: true, columns: ["k", "v", "s"] });
      const right = graph.input<TestRow>({
        name: "right",
        keyed: !options.unkeyedRight,
        columns: ["k", "v", "s"],
      });
      let label = "";
      graph.output(testCase.build(left, right), (batch) => rebuilt.apply(batch.changes, label));
      return { graph, left, right, setLabel: (l: string) => label = l };
    };
    let run = start();
    for (let commit = 1; commit <= options.commits; commit++) {
      const time = commit * 10;
      const label = `${testCase.name}, seed ${seed}, commit ${commit}`;
      run.setLabel(label);
      const before = { left: new Map(world.left), right: new Map(world.right) };
      const operations = 1 + Math.floor(random() * 6);
      for (let i = 0; i < operations; i++) {
        const useLeft = random() < 0.6;
        const side = useLeft ? world.left : world.right;
        const input = useLeft ? run.left : run.right;
        const ids = [...side.keys()];
        const dice = random();
        if (dice < 0.45 || ids.length === 0) {
          const id = hashValues([useLeft ? "left" : "right", counter++]);
          const row = randomRow(random);
          input.insert(id, row);
          side.set(id, { id, row, time });
        } else if (dice < 0.8) {
          const id = ids[Math.floor(random() * ids.length)];
          const old = side.get(id)!;
          const row = random() < 0.25 ? { ...old.row } : randomRow(random);
          if (!useLeft && options.unkeyedRight) {
            input.retract(id, old.row);
            input.insert(id, row);
          } else input.upsert(id, row);
          side.set(id, { id, row, time });
        } else {
          const id = ids[Math.floor(random() * ids.length)];
          if (!useLeft && options.unkeyedRight) input.retract(id, side.get(id)!.row);
          else input.remove(id);
          side.delete(id);
        }
      }
      // A row changed and changed back within the commit keeps its time, as nothing changed.
      for (const side of ["left", "right"] as const) {
        for (const entry of world[side].values()) {
          const old = before[side].get(entry.id);
          if (old !== undefined && equalRows(old.row, entry.row)) entry.time = old.time;
        }
      }
      run.graph.commit(time);
      assertSameRows(rebuilt.rows, testCase.reference(world), label);
      if (commit === Math.floor(options.commits / 2)) {
        const saved = deserialize(serialize(run.graph.snapshot()));
        run = start();
        run.graph.restore(saved);
      }
    }
  }
}
