/**
 * Engine benchmarks (see BENCHMARKS.md, section "Engine").
 *
 *   scripts/deno bench --allow-all bench/engine_bench.ts
 *   scripts/deno run --allow-all --v8-flags=--expose-gc bench/engine_bench.ts --memory
 *
 * Row ids are computed before timing, since the source, not the engine, makes
 * them; hashValues has its own benchmark.
 */
import { apply, Graph, hashValues, type InputTable, reducers } from "../engine/mod.ts";

const ROWS_PER_ITERATION = 100_000;
const ROWS_PER_COMMIT = 10_000;

const ids = Array.from({ length: ROWS_PER_ITERATION }, (_, i) => hashValues(["bench", 0, i]));
const values = Array.from({ length: ROWS_PER_ITERATION }, (_, i) => String(i % 1000));

// The seed's pipeline: csv `value` strings, parsed to integers, summed.
{
  const graph = new Graph();
  const input = graph.input<{ value: string }>({ name: "connector_example" });
  const sums = input.select({ value: apply((x: string) => parseInt(x), "value") })
    .reduce({ sum: reducers.sum("value") });
  let last = 0;
  graph.output(sums, (batch) => last = batch.changes.length);
  let time = 0;
  Deno.bench({
    name:
      `seed pipeline (select parseInt + global sum), ${ROWS_PER_ITERATION} rows in commits of ${ROWS_PER_COMMIT}`,
    group: "seed",
    fn() {
      for (let i = 0; i < ROWS_PER_ITERATION; i++) {
        input.insert(ids[i], { value: values[i] });
        if ((i + 1) % ROWS_PER_COMMIT === 0) graph.commit(++time);
      }
      if (last === 0) throw new Error("no output");
    },
  });
}

// The same with one row per commit, as the seed's generator sends it.
{
  const graph = new Graph();
  const input = graph.input<{ value: string }>({ name: "connector_example" });
  graph.output(
    input.select({ value: apply((x: string) => parseInt(x), "value") }).reduce({
      sum: reducers.sum("value"),
    }),
    () => {},
  );
  let time = 0;
  Deno.bench({
    name: "seed pipeline, 10000 rows, one commit per row",
    group: "seed",
    fn() {
      for (let i = 0; i < 10_000; i++) {
        input.insert(ids[i], { value: values[i] });
        graph.commit(++time);
      }
    },
  });
}

// Group-by sum over 10,000 groups.
{
  const graph = new Graph();
  const input = graph.input<{ k: number; v: number }>({ name: "t" });
  let changes = 0;
  graph.output(
    input.groupby("k").reduce({ k: "k", total: reducers.sum("v") }),
    (batch) => changes += batch.changes.length,
  );
  let time = 0;
  Deno.bench({
    name:
      `groupby(k).reduce(sum) over 10000 groups, ${ROWS_PER_ITERATION} rows in commits of ${ROWS_PER_COMMIT}`,
    group: "groupby",
    fn() {
      for (let i = 0; i < ROWS_PER_ITERATION; i++) {
        input.insert(ids[i], { k: i % 10_000, v: i });
        if ((i + 1) % ROWS_PER_COMMIT === 0) graph.commit(++time);
      }
    },
  });
  Deno.bench({
    name: `groupby(k).reduce(sum, min, max) over 10000 groups (keyed input, upserts)`,
    group: "groupby",
    fn: (() => {
      const g = new Graph();
      const keyed = g.input<{ k: number; v: number }>({ name: "t", keyed: true });
      g.output(
        keyed.groupby("k").reduce({
          k: "k",
          total: reducers.sum("v"),
          lo: reducers.min("v"),
          hi: reducers.max("v"),
        }),
        () => {},
      );
      let t = 0;
      let round = 0;
      return () => {
        round++;
        for (let i = 0; i < ROWS_PER_ITERATION; i++) {
          keyed.upsert(ids[i], { k: i % 10_000, v: i + round });
          if ((i + 1) % ROWS_PER_COMMIT === 0) g.commit(++t);
        }
      };
    })(),
  });
}

// Row ids for primary keys and derived rows.
{
  let sink = "";
  Deno.bench({
    name: "hashValues([topic, partition, offset]) x 100000",
    group: "hash",
    fn() {
      for (let i = 0; i < 100_000; i++) sink = hashValues(["connector_example", 0, i]);
    },
  });
  Deno.bench({
    name: "hashValues([a 36-char string key]) x 100000",
    group: "hash",
    fn() {
      for (let i = 0; i < 100_000; i++) {
        sink = hashValues([values[i % 1000] + "-customer-0000000000000000000000"]);
      }
    },
  });
  if (sink === "x") console.log(sink);
}

// One-row commit on a large and a small keyed table: the cost must not grow with the table.
// Built on the first call (a warm-up call), so the large table does not exist
// while the other benchmarks run.
function oneRowCommit(size: number): () => void {
  let step: (() => void) | undefined;
  return () => (step ??= buildOneRowCommit(size))();
}

function buildOneRowCommit(size: number): () => void {
  const graph = new Graph();
  const input: InputTable<{ k: number; v: number }> = graph.input({ name: "t", keyed: true });
  graph.output(
    input.filter((r) => r.v >= 0).groupby("k").reduce({
      k: "k",
      total: reducers.sum("v"),
      hi: reducers.max("v"),
    }),
    () => {},
  );
  graph.output(input.reduce({ n: reducers.count(), top: reducers.argmax("v") }), () => {});
  let time = 0;
  for (let start = 0; start < size; start += 100_000) {
    for (let i = start; i < Math.min(size, start + 100_000); i++) {
      input.insert(hashValues(["row", i]), { k: i % 1000, v: i });
    }
    graph.commit(++time);
  }
  const probe = hashValues(["row", 7]);
  let v = 0;
  return () => {
    input.upsert(probe, { k: 7, v: ++v % 5 });
    graph.commit(++time);
  };
}
for (const size of [1_000, 1_000_000]) {
  Deno.bench({
    name:
      `one-row commit on a ${size}-row keyed table (filter, groupby sum+max, global count+argmax)`,
    group: "one-row commit",
    baseline: size === 1_000,
    fn: oneRowCommit(size),
  });
}

/** Heap bytes per row of a 1,000,000-row keyed input (run with --expose-gc). */
function measureMemory(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error("Run with --v8-flags=--expose-gc to measure memory");
  const rows = 1_000_000;
  const rowIds = Array.from({ length: rows }, (_, i) => hashValues(["mem", i]));
  // hashValues returns a concatenated (rope) string that V8 flattens when it is first used
  // as a Map key; flatten now so that freeing the rope pieces does not count against a table.
  new Set(rowIds);
  const heap = () => {
    gc();
    gc();
    return Deno.memoryUsage().heapUsed;
  };
  const report = (label: string, build: (graph: Graph) => (i: number) => void) => {
    const before = heap();
    const graph = new Graph();
    const push = build(graph);
    for (let start = 0; start < rows; start += 100_000) {
      for (let i = start; i < start + 100_000; i++) push(i);
      graph.commit(start + 1);
    }
    const after = heap();
    console.log(`${label}: ${((after - before) / rows).toFixed(0)} bytes per row`);
    return graph; // kept alive until measured
  };
  const keep: Graph[] = [];
  keep.push(report("keyed input, rows { k: number, v: number }", (graph) => {
    const input = graph.input<{ k: number; v: number }>({ name: "t", keyed: true });
    graph.output(input.reduce({ n: reducers.count() }), () => {});
    return (i) => input.insert(rowIds[i], { k: i % 1000, v: i });
  }));
  keep.push(report("keyed input + groupby(k) min (a sorted multiset entry per row)", (graph) => {
    const input = graph.input<{ k: number; v: number }>({ name: "t", keyed: true });
    graph.output(input.groupby("k").reduce({ k: "k", lo: reducers.min("v") }), () => {});
    return (i) => input.insert(rowIds[i], { k: i % 1000, v: i });
  }));
  keep.push(report("unkeyed input + global sum (no per-row state)", (graph) => {
    const input = graph.input<{ k: number; v: number }>({ name: "t" });
    graph.output(input.reduce({ total: reducers.sum("v") }), () => {});
    return (i) => input.insert(rowIds[i], { k: i % 1000, v: i });
  }));
  console.log(`(ids are 32-char strings held by the caller too; graphs kept: ${keep.length})`);
}

if (Deno.args.includes("--memory")) measureMemory();
