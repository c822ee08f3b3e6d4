/**
 * The seed's transform: parse `value` as an integer and keep the sum of all
 * values. Run it without a broker on the seed's stream:
 *
 * ```sh
 * rivulet run --transform examples/sum.ts --input examples/connector_example.txt \
 *   --format csv --columns value
 * ```
 *
 * It imports rivulet for types only (erased when it runs): the API comes in
 * as `rw`, so the compiled rivulet can load this file too.
 *
 * @module
 */
import type * as Rivulet from "../mod.ts";

/** Sums the `value` column of the input, parsed as integers. */
export default function sum(
  input: Rivulet.Table<{ value: string }>,
  rw: typeof Rivulet,
): Rivulet.Table<{ sum: number }> {
  const values = input.select({ value: rw.apply((x: string) => parseInt(x, 10), "value") });
  return values.reduce({ sum: rw.reducers.sum("value") });
}
