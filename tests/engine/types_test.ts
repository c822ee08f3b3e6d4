/**
 * Compile-time checks: where the schema is known, a column that does not
 * exist is a type error. `deno test` type-checks this file, so an expected
 * error that does not happen fails the run.
 */
import assert from "node:assert/strict";
import { apply, Graph, reducers } from "../../engine/mod.ts";

Deno.test("a misspelled column is a compile-time error in every operation", () => {
  const graph = new Graph();
  const t = graph.input<{ value: string; n: number }>({ name: "t" });
  const u = graph.input<{ key: number; label: string }>({ name: "u", columns: ["key", "label"] });

  // Never run: only type-checked.
  const misspelled = () => {
    // @ts-expect-error: "valeu" is not a column of t
    t.select({ v: "valeu" });
    // @ts-expect-error: apply reads a column that does not exist
    t.select({ v: apply((x: string) => x.length, "valeu") });
    // @ts-expect-error: the row function reads a column that does not exist
    t.withColumns({ v: (row) => row.valeu });
    // @ts-expect-error: reducers check their column
    t.reduce({ total: reducers.sum("nn") });
    // @ts-expect-error: groupby checks its columns
    t.groupby("nope");
    // @ts-expect-error: a reduce spec may only name grouping columns
    t.groupby("value").reduce({ n: "n" });
    // @ts-expect-error: apply's function must accept the columns' types (value is a string)
    t.select({ v: apply((x: number) => x + 1, "value") });
    // @ts-expect-error: ... in the order the columns are given
    t.withColumns({ v: apply((a: number, b: string) => a + b.length, "value", "n") });
    // @ts-expect-error: join columns are checked on both sides
    t.join(u, { on: [["n", "kee"]] });
  };
  assert.equal(typeof misspelled, "function");

  t.select({ both: apply((a: number, b: string) => a + b.length, "n", "value") });
  t.select({ wide: apply((x: string | number) => String(x), "n") });
  const parsed = t.select({ value: apply((x: string) => parseInt(x), "value") });
  const sum = parsed.reduce({ sum: reducers.sum("value"), top: reducers.argmax("value") });
  const joined = t.join(u, { on: [["n", "key"]], how: "left" });
  // The result types follow: sum is a number, argmax an id, a left join's right columns nullable.
  const check: [
    typeof sum extends import("../../engine/mod.ts").Table<{ sum: number; top: string }> ? true
      : false,
    typeof joined extends import("../../engine/mod.ts").Table<
      { value: string; n: number; key: number | null; label: string | null }
    > ? true
      : false,
  ] = [true, true];
  assert.deepEqual(check, [true, true]);
});
