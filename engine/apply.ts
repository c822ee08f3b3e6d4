/**
 * `apply`: a user function applied to the values of columns, the seed's
 * `pw.apply(lambda x: int(x), t.value)`.
 *
 * @module
 */

import type { Value } from "./types.ts";

/** A user function applied to columns, made by {@linkcode apply}. */
export interface Applied<
  T extends Value = Value,
  C extends string = string,
  Args extends readonly unknown[] = never,
  Columns extends readonly string[] = readonly string[],
> {
  /** Marks a spec value as an applied function. */
  readonly kind: "apply";
  /** The user function; gets the columns' values in order. */
  readonly fn: (...args: Value[]) => T;
  /** The columns whose values `fn` gets. */
  readonly columns: readonly C[];
  /** Type-level only: the function's parameter types, checked against the columns' types. */
  readonly parameters?: (args: Args) => void;
  /** Type-level only: the columns in order. */
  readonly columnTuple?: Columns;
}

/**
 * Applies a function to the values of columns, in order (Pathway's `pw.apply`).
 *
 * @example
 * ```ts
 * import { apply, Graph } from "./mod.ts";
 * const graph = new Graph();
 * const t = graph.input<{ value: string }>({ name: "t" });
 * const parsed = t.select({ value: apply((x: string) => parseInt(x), "value") });
 * ```
 */
export function apply<A extends unknown[], T extends Value, const C extends string[]>(
  fn: (...args: A) => T,
  ...columns: C
): Applied<T, C[number], A, C> {
  return { kind: "apply", fn: fn as unknown as (...args: Value[]) => T, columns };
}
