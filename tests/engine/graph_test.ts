/** Unit tests for the engine's edge cases, errors and snapshots. */
import assert from "node:assert/strict";
import { deserialize, serialize } from "node:v8";
import {
  apply,
  type Batch,
  GLOBAL_REDUCE_ID,
  Graph,
  type GraphOptions,
  hashValues,
  joinId,
  reducers,
  type Row,
  type Table,
  UserFunctionError,
} from "../../engine/mod.ts";

const id = (n: number) => hashValues(["test", n]);

/** Records every batch of a table as `{...row, diff}` lines per commit. */
function record<R extends Row>(graph: Graph, table: Table<R>): Batch<R>[] {
  const batches: Batch<R>[] = [];
  graph.output(table, (batch) => batches.push(batch));
  return batches;
}

function lines(batch: Batch<Row> | undefined): Row[] {
  return batch === undefined ? [] : batch.changes.map(({ row, diff }) => ({ ...row, diff }));
}

function seedPipeline(options?: GraphOptions) {
  const graph = new Graph(options);
  const input = graph.input<{ value: string }>({ name: "connector_example" });
  const sums = input
    .select({ value: apply((x: string) => parseInt(x), "value") })
    .reduce({ sum: reducers.sum("value") });
  return { graph, input, batches: record(graph, sums) };
}

Deno.test("seed pipeline emits sum 0, then a retraction and the new sum per commit, up to 45", () => {
  const { graph, input, batches } = seedPipeline();
  for (let i = 0; i < 10; i++) {
    input.insert(id(i), { value: String(i) });
    graph.commit(1000 + i);
  }
  assert.deepEqual(lines(batches[0]), [{ sum: 0, diff: 1 }]);
  assert.deepEqual(lines(batches[1]), [{ sum: 0, diff: -1 }, { sum: 1, diff: 1 }]);
  assert.deepEqual(lines(batches[9]), [{ sum: 36, diff: -1 }, { sum: 45, diff: 1 }]);
  assert.deepEqual(batches.map((b) => b.time), Array.from({ length: 10 }, (_, i) => 1000 + i));
  assert.ok(batches.every((b) => b.changes.every((c) => c.id === GLOBAL_REDUCE_ID)));
});

Deno.test("global reduce of an empty table has no row, and loses it when the last row goes", () => {
  const graph = new Graph();
  const input = graph.input<{ v: number }>({ name: "t", keyed: true });
  const batches = record(graph, input.reduce({ total: reducers.sum("v"), n: reducers.count() }));
  graph.commit(1);
  assert.equal(batches.length, 0);
  input.insert(id(1), { v: 5 });
  graph.commit(2);
  input.remove(id(1));
  graph.commit(3);
  assert.deepEqual(batches.map(lines), [[{ total: 5, n: 1, diff: 1 }], [{
    total: 5,
    n: 1,
    diff: -1,
  }]]);
});

Deno.test("groupby retracts a group's row when its last row is removed", () => {
  const graph = new Graph();
  const input = graph.input<{ k: string; v: number }>({ name: "t", keyed: true });
  const batches = record(graph, input.groupby("k").reduce({ k: "k", total: reducers.sum("v") }));
  input.insert(id(1), { k: "a", v: 1 });
  input.insert(id(2), { k: "b", v: 2 });
  graph.commit(1);
  input.remove(id(2));
  graph.commit(2);
  assert.deepEqual(lines(batches[1]), [{ k: "b", total: 2, diff: -1 }]);
  assert.equal(batches[1].changes[0].id, hashValues(["b"]));
});

Deno.test("min, max, argmin and argmax stay correct when the current extreme is retracted", () => {
  const graph = new Graph();
  const input = graph.input<{ v: number }>({ name: "t", keyed: true });
  const batches = record(
    graph,
    input.reduce({
      min: reducers.min("v"),
      max: reducers.max("v"),
      argmin: reducers.argmin("v"),
      argmax: reducers.argmax("v"),
    }),
  );
  // Ids in increasing order: id 1 < id 2 < ... as strings is not guaranteed, so sort them.
  const [a, b, c, d] = [1, 2, 3, 4].map(id).sort();
  input.insert(a, { v: 5 });
  input.insert(b, { v: 1 });
  input.insert(c, { v: 9 });
  input.insert(d, { v: 9 });
  graph.commit(1);
  assert.deepEqual(lines(batches[0]), [{ min: 1, max: 9, argmin: b, argmax: c, diff: 1 }]);
  input.remove(b);
  input.remove(c);
  graph.commit(2);
  assert.deepEqual(lines(batches[1]).at(-1), { min: 5, max: 9, argmin: a, argmax: d, diff: 1 });
  input.remove(d);
  graph.commit(3);
  assert.deepEqual(lines(batches[2]).at(-1), { min: 5, max: 5, argmin: a, argmax: a, diff: 1 });
});

Deno.test("a join row moves when the join key of a row changes", () => {
  const graph = new Graph();
  const orders = graph.input<{ customer: string; amount: number }>({ name: "orders", keyed: true });
  const customers = graph.input<{ customer: string; city: string }>({
    name: "customers",
    keyed: true,
  });
  const batches = record(graph, orders.join(customers, { on: [["customer", "customer"]] }));
  customers.insert(id(10), { customer: "ann", city: "Oslo" });
  customers.insert(id(11), { customer: "bob", city: "Rome" });
  orders.insert(id(1), { customer: "ann", amount: 3 });
  graph.commit(1);
  assert.deepEqual(lines(batches[0]), [{
    customer: "ann",
    amount: 3,
    right_customer: "ann",
    city: "Oslo",
    diff: 1,
  }]);
  orders.upsert(id(1), { customer: "bob", amount: 3 });
  graph.commit(2);
  assert.deepEqual(lines(batches[1]), [
    { customer: "ann", amount: 3, right_customer: "ann", city: "Oslo", diff: -1 },
    { customer: "bob", amount: 3, right_customer: "bob", city: "Rome", diff: 1 },
  ]);
  assert.deepEqual(batches[1].changes.map((c) => c.id), [
    joinId(id(1), id(10)),
    joinId(id(1), id(11)),
  ]);
});

Deno.test("a left join pads a row until a partner arrives, then replaces the padded row", () => {
  const graph = new Graph();
  const left = graph.input<{ k: number; a: string }>({ name: "l", keyed: true });
  const right = graph.input<{ k: number; b: string }>({
    name: "r",
    keyed: true,
    columns: ["k", "b"],
  });
  const batches = record(graph, left.join(right, { on: [["k", "k"]], how: "left" }));
  left.insert(id(1), { k: 1, a: "x" });
  graph.commit(1);
  assert.deepEqual(lines(batches[0]), [{ k: 1, a: "x", right_k: null, b: null, diff: 1 }]);
  right.insert(id(2), { k: 1, b: "y" });
  graph.commit(2);
  assert.deepEqual(lines(batches[1]), [
    { k: 1, a: "x", right_k: null, b: null, diff: -1 },
    { k: 1, a: "x", right_k: 1, b: "y", diff: 1 },
  ]);
});

Deno.test("a row updated to an identical value gives no output", () => {
  const graph = new Graph();
  const input = graph.input<{ v: number }>({ name: "t", keyed: true });
  const batches = record(graph, input.select({ v: "v" }));
  input.upsert(id(1), { v: 1 });
  graph.commit(1);
  input.upsert(id(1), { v: 1 });
  graph.commit(2);
  input.upsert(id(1), { v: 2 });
  input.upsert(id(1), { v: 1 });
  graph.commit(3);
  assert.equal(batches.length, 1);
});

Deno.test("changes that cancel within a commit never reach an output", () => {
  const graph = new Graph();
  const input = graph.input<{ v: number }>({ name: "t", keyed: true });
  const batches = record(graph, input.groupby("v").reduce({ v: "v", n: reducers.count() }));
  input.insert(id(1), { v: 1 });
  input.remove(id(1));
  graph.commit(1);
  assert.equal(batches.length, 0);
});

Deno.test("a user function that throws is reported with operation, id and row, and its row is skipped", () => {
  const errors: UserFunctionError[] = [];
  const bad = { value: "x" };
  const parseStrict = (x: string) => {
    if (!/^\d+$/.test(x)) throw new Error(`not a number: ${x}`);
    return parseInt(x);
  };
  const strictGraph = new Graph({ onError: (error) => void errors.push(error) });
  const strictInput = strictGraph.input<{ value: string }>({ name: "t", keyed: true });
  const strictBatches = record(strictGraph, strictInput.select({ n: apply(parseStrict, "value") }));
  strictInput.insert(id(1), bad);
  strictInput.insert(id(2), { value: "4" });
  strictGraph.commit(1);
  assert.equal(errors.length, 1);
  assert.equal(errors[0].operation, "select");
  assert.equal(errors[0].id, id(1));
  assert.deepEqual(errors[0].row, bad);
  assert.match(String((errors[0].cause as Error).message), /not a number: x/);
  assert.deepEqual(lines(strictBatches[0]), [{ n: 4, diff: 1 }]);
  // The bad row's retraction fails again and is dropped without a second report.
  strictInput.remove(id(1));
  strictGraph.commit(2);
  assert.equal(errors.length, 1);
  assert.equal(strictBatches.length, 1);
});

Deno.test("by default a throwing user function makes commit throw and the graph refuse more commits", () => {
  const graph = new Graph();
  const input = graph.input<{ v: number }>({ name: "t" });
  record(
    graph,
    input.filter(() => {
      throw new Error("boom");
    }),
  );
  input.insert(id(1), { v: 1 });
  assert.throws(() => graph.commit(1), (error: unknown) => {
    assert.ok(error instanceof UserFunctionError);
    assert.equal(error.operation, "filter");
    assert.match(error.message, /boom/);
    return true;
  });
  assert.throws(() => graph.commit(2), /earlier commit failed/);
  assert.throws(() => graph.snapshot(), /last commit failed/);
});

Deno.test("a graph whose commit failed carries on from a restored snapshot", () => {
  let failing = false;
  const graph = new Graph();
  const input = graph.input<{ v: number }>({ name: "t", keyed: true });
  const checked = input.filter((row) => {
    if (failing && row.v < 0) throw new Error("negative");
    return true;
  });
  const batches = record(graph, checked.reduce({ total: reducers.sum("v") }));
  input.insert(id(1), { v: 1 });
  graph.commit(1);
  const saved = deserialize(serialize(graph.snapshot()));
  failing = true;
  input.insert(id(2), { v: -5 });
  assert.throws(() => graph.commit(2), /negative/);
  graph.restore(saved);
  input.insert(id(3), { v: 2 });
  graph.commit(3);
  assert.deepEqual(lines(batches.at(-1)), [{ total: 1, diff: -1 }, { total: 3, diff: 1 }]);
});

Deno.test("a reducer given a value it cannot reduce is reported as a reduce error", () => {
  const errors: UserFunctionError[] = [];
  const graph = new Graph({ onError: (error) => void errors.push(error) });
  const input = graph.input<{ v: number | string }>({ name: "t" });
  const batches = record(graph, input.reduce({ total: reducers.sum("v") }));
  input.insert(id(1), { v: "seven" });
  input.insert(id(2), { v: 2 });
  graph.commit(1);
  assert.equal(errors[0].operation, "reduce");
  assert.match(errors[0].message, /Reducer sum needs numbers, got "seven"/);
  assert.deepEqual(lines(batches[0]), [{ total: 2, diff: 1 }]);
});

Deno.test("a graph restored from a snapshot continues exactly as the original", () => {
  const build = () => {
    const graph = new Graph();
    const left = graph.input<{ k: number; v: number }>({ name: "l", keyed: true });
    const right = graph.input<{ k: number; w: string }>({
      name: "r",
      keyed: true,
      columns: ["k", "w"],
    });
    const grouped = left.groupby("k").reduce({
      k: "k",
      low: reducers.min("v"),
      first: reducers.earliest("v"),
      all: reducers.tuple("v"),
    });
    const joined = grouped.join(right, { on: [["k", "k"]], how: "outer" }).concat(
      left.updateRows(left.filter((r) => r.v > 2).withColumns({ v: (r) => r.v * 10 }))
        .select({
          k: "k",
          low: "v",
          first: "v",
          all: (r) => [r.v],
          right_k: "k",
          w: (r) => String(r.k),
        }),
    );
    return { graph, left, right, batches: record(graph, joined) };
  };
  const original = build();
  const drive = (run: ReturnType<typeof build>, step: number) => {
    run.left.upsert(id(step % 5), { k: step % 3, v: (step * 7) % 11 });
    if (step % 2 === 0) run.right.upsert(id(100 + (step % 4)), { k: step % 3, w: `w${step}` });
    if (step % 3 === 0) run.left.remove(id((step + 1) % 5));
    run.graph.commit(step);
  };
  for (let step = 1; step <= 10; step++) drive(original, step);
  const saved = deserialize(serialize(original.graph.snapshot()));
  const restored = build();
  restored.graph.restore(saved);
  assert.equal(restored.graph.time, 10);
  for (let step = 11; step <= 30; step++) {
    drive(original, step);
    drive(restored, step);
  }
  assert.deepEqual(
    restored.batches,
    original.batches.slice(original.batches.length - restored.batches.length),
  );
  assert.ok(restored.batches.length >= 15);
});

Deno.test("restoring a snapshot into a graph of another shape fails with a clear error", () => {
  const { graph } = seedPipeline();
  const other = new Graph();
  const input = other.input<{ v: number }>({ name: "t" });
  other.output(input.filter(() => true).reduce({ n: reducers.count() }), () => {});
  assert.throws(
    () => other.restore(graph.snapshot()),
    /operator 1 is "select" in the snapshot but "filter"/,
  );
  assert.throws(() => other.restore({}), /not an engine snapshot/);
});

Deno.test("commit times must increase", () => {
  const graph = new Graph();
  graph.commit(5);
  assert.throws(
    () => graph.commit(5),
    /Commit time 5 must be greater than the previous commit's time 5/,
  );
  graph.commit(6);
});

Deno.test("upsert and remove on an unkeyed input fail and name the input", () => {
  const graph = new Graph();
  const input = graph.input<{ v: number }>({ name: "events" });
  assert.throws(
    () => input.upsert(id(1), { v: 1 }),
    /Cannot upsert in input "events": it is not keyed/,
  );
  assert.throws(() => input.remove(id(1)), /Cannot remove in input "events"/);
});

Deno.test("retract on an unkeyed input takes back a row given in full", () => {
  const graph = new Graph();
  const input = graph.input<{ v: number }>({ name: "chained" });
  const batches = record(graph, input.reduce({ total: reducers.sum("v") }));
  input.insert(id(1), { v: 4 });
  input.insert(id(2), { v: 6 });
  graph.commit(1);
  input.retract(id(1), { v: 4 });
  graph.commit(2);
  assert.deepEqual(lines(batches[1]), [{ total: 10, diff: -1 }, { total: 6, diff: 1 }]);
});

Deno.test("unique is null when values differ and countDistinct counts deep-equal values once", () => {
  const graph = new Graph();
  const input = graph.input<{ v: readonly number[] }>({ name: "t", keyed: true });
  const batches = record(
    graph,
    input.reduce({ u: reducers.unique("v"), d: reducers.countDistinct("v") }),
  );
  input.insert(id(1), { v: [1, 2] });
  input.insert(id(2), { v: [1, 2] });
  graph.commit(1);
  input.insert(id(3), { v: [3] });
  graph.commit(2);
  assert.deepEqual(lines(batches[0]), [{ u: [1, 2], d: 1, diff: 1 }]);
  assert.deepEqual(lines(batches[1]).at(-1), { u: null, d: 2, diff: 1 });
});

Deno.test("earliest and latest follow the commit in which each row was inserted", () => {
  const graph = new Graph();
  const input = graph.input<{ v: string }>({ name: "t", keyed: true });
  const batches = record(
    graph,
    input.reduce({ first: reducers.earliest("v"), last: reducers.latest("v") }),
  );
  input.insert(id(1), { v: "old" });
  graph.commit(1);
  input.insert(id(2), { v: "new" });
  graph.commit(2);
  input.upsert(id(1), { v: "renewed" });
  graph.commit(3);
  assert.deepEqual(lines(batches[1]).at(-1), { first: "old", last: "new", diff: 1 });
  assert.deepEqual(lines(batches[2]).at(-1), { first: "new", last: "renewed", diff: 1 });
});

Deno.test("concat gives rows of different inputs different ids", () => {
  const graph = new Graph();
  const a = graph.input<{ v: number }>({ name: "a" });
  const b = graph.input<{ v: number }>({ name: "b" });
  const batches = record(graph, a.concat(b));
  a.insert(id(1), { v: 1 });
  b.insert(id(1), { v: 2 });
  graph.commit(1);
  assert.deepEqual(batches[0].changes.map((c) => c.id), [
    hashValues([id(1), 0]),
    hashValues([id(1), 1]),
  ]);
});

Deno.test("an outer join without select needs the columns of both inputs", () => {
  const graph = new Graph();
  const a = graph.input<{ k: number }>({ name: "a" });
  const b = graph.input<{ k: number }>({ name: "b" });
  assert.throws(
    () => a.join(b, { on: [["k", "k"]], how: "outer" }),
    /needs the left table's columns/,
  );
});
