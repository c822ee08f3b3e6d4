/**
 * The pipeline of the several-instances benchmark (`bench/kafka/instances.ts`):
 * rows `{id, cat, v}` grouped by `cat` (not the input's partitioning, so a
 * repartition), then a global sum over the groups (one task for the whole
 * result): three stages. Both tables come out as one, `table` saying which
 * ("cat" rows, one "all" row). The same transform as the CLI tests' fixture
 * `tests/cli/fixtures/by_cat_total.ts`, kept here so the figures do not move
 * when a test changes.
 *
 * @module
 */
import type * as rivulet from "../../../mod.ts";
import type { Row, Table } from "../../../mod.ts";

/** The transform: `rivulet run --transform bench/kafka/programs/by_cat_total.ts`. */
export default (input: Table<Row>, rw: typeof rivulet): Table<Row> => {
  const byCat = input.groupby("cat").reduce({
    cat: "cat",
    rows: rw.reducers.count(),
    total: rw.reducers.sum("v"),
  });
  const all = byCat.reduce({ rows: rw.reducers.sum("rows"), total: rw.reducers.sum("total") });
  const cats = byCat.select({ table: () => "cat", cat: "cat", rows: "rows", total: "total" });
  const one = all.select({ table: () => "all", cat: () => null, rows: "rows", total: "total" });
  return cats.concat(one) as Table<Row>;
};
