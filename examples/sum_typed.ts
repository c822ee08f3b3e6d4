/**
 * The seed's transform with a typed schema: `value` arrives as an int, so
 * there is no `parseInt` and no NaN. A value that is not an int (a second
 * csv header mid-stream, a typo) is bad input, reported with its topic,
 * partition, offset, column and value under the error policy:
 *
 * ```sh
 * rivulet run --transform examples/sum_typed.ts --input examples/connector_example.txt \
 *   --format csv --schema value:int
 * ```
 *
 * In a pipeline script the schema types the table:
 *
 * ```ts ignore
 * const t = rw.kafka.read(settings, {
 *   topicNames: ["connector_example"],
 *   format: "csv",
 *   schema: { value: "int" },
 * }); // rw.Table<{ value: number }>
 * const sum = t.reduce({ sum: rw.reducers.sum("value") });
 * ```
 *
 * @module
 */
import type * as Rivulet from "../mod.ts";

/** Sums the `value` column, typed as an int by `--schema value:int`. */
export default function sumTyped(
  input: Rivulet.Table<{ value: number }>,
  rw: typeof Rivulet,
): Rivulet.Table<{ sum: number }> {
  return input.reduce({ sum: rw.reducers.sum("value") });
}
