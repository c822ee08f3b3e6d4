/**
 * The row types of operations, computed from the input's row type and the
 * spec, so that a column that does not exist (or an `apply` whose function
 * does not take the columns' types) is a compile-time error.
 *
 * @module
 */

import type { JoinHow } from "./_join.ts";
import type { Reducer, ReducerKind, ReducerOutput } from "./reducers.ts";
import type { Applied } from "./apply.ts";
import type { Value } from "./types.ts";

export type { JoinHow } from "./_join.ts";

/** The column names of a row type. */
export type ColumnOf<R> = keyof R & string;

/** Shows an intersection of object types as one object type. */
export type Flatten<T> = { [K in keyof T]: T[K] } & unknown;

/** The types of the columns `C` of rows `R`, as a tuple. */
export type ColumnTypes<R, C extends readonly string[]> = {
  -readonly [I in keyof C]: R[C[I] & keyof R];
};

/**
 * Checks that each `apply` in a spec gets columns whose types its function
 * accepts: `unknown` (no constraint) where it does, a descriptive error
 * property where it does not.
 */
export type CheckApplied<R, S> = {
  [K in keyof S]: S[K] extends Applied<Value, string, infer A, infer C>
    ? ([A] extends [never] ? unknown
      : ColumnTypes<R, C> extends A ? unknown
      : {
        parameters: (args: A) => void;
        error: "apply's function does not accept these columns' types";
        columnTypes: ColumnTypes<R, C>;
      })
    : unknown;
};

/** How one output column of select / withColumns is computed. */
export type ColumnSpec<R> = ColumnOf<R> | ((row: R) => Value) | Applied<Value, ColumnOf<R>>;

/** A select / withColumns spec: new column name to how it is computed. */
export type SelectSpec<R> = Record<string, ColumnSpec<R>>;

/** `T` when it is a column value type, else never. */
export type AsValue<T> = T extends Value ? T : never;

/** The row type a select spec produces. */
export type SelectResult<R, S> = {
  -readonly [K in keyof S & string]: S[K] extends ColumnOf<R> ? R[S[K]]
    : S[K] extends (row: R) => infer T ? AsValue<T>
    : S[K] extends Applied<infer T, string> ? AsValue<T>
    : never;
};

/** The row type withColumns produces: the old columns, replaced or extended by the spec's. */
export type WithColumnsResult<R, S> = Flatten<Omit<R, keyof S> & SelectResult<R, S>>;

/** A reduce spec: output column name to reducer. */
export type ReduceSpec<R> = Record<string, Reducer<ReducerKind, ColumnOf<R>>>;

/** A group-by reduce spec: output column name to reducer or grouping column. */
export type GroupReduceSpec<R, G extends string> = Record<
  string,
  Reducer<ReducerKind, ColumnOf<R>> | G
>;

/** The row type a reduce spec produces. */
export type ReduceResult<R, S> = {
  -readonly [K in keyof S & string]: S[K] extends Reducer<infer Kind, infer C>
    ? ReducerOutput<Kind, R[C & keyof R]>
    : S[K] extends keyof R ? R[S[K]]
    : never;
};

/** Whether the left side of a join may be missing. */
export type LeftMissing<How> = How extends "right" | "outer" ? true : false;
/** Whether the right side of a join may be missing. */
export type RightMissing<How> = How extends "left" | "outer" ? true : false;

/**
 * The default row of a join: every left column, then every right column; a
 * right column whose name is also a left column is renamed `right_<name>`.
 * The columns of a missing side (outer joins) are null.
 */
export type JoinRow<L, R, How extends JoinHow> = {
  [K in ColumnOf<L> | RightNames<L, R>]: K extends ColumnOf<L>
    ? AsValue<LeftMissing<How> extends true ? L[K] | null : L[K]>
    : AsValue<
      RightMissing<How> extends true ? R[RightSource<L, K> & keyof R] | null
        : R[RightSource<L, K> & keyof R]
    >;
};

/** The names right columns get in a join's output. */
export type RightNames<L, R> = {
  [K in ColumnOf<R>]: K extends keyof L ? `right_${K}` : K;
}[ColumnOf<R>];

/** The right column an output column of a join comes from. */
export type RightSource<L, K> = K extends `right_${infer C extends ColumnOf<L>}` ? C : K;

/** What a join's `select` gets for a side: the row, or null when it may be missing. */
export type JoinSide<R, Missing extends boolean> = Missing extends true ? R | null : R;

/** Options of a join. */
export interface JoinOptions<L, R, How extends JoinHow> {
  /** Pairs of equal columns, `[leftColumn, rightColumn]`. Null equals null. */
  on: readonly (readonly [ColumnOf<L>, ColumnOf<R>])[];
  /** Which unmatched rows to keep: "inner" (default), "left", "right" or "outer". */
  how?: How;
}

/** Options of a join that builds its own output rows. */
export interface JoinSelectOptions<L, R, How extends JoinHow, O> extends JoinOptions<L, R, How> {
  /** Builds the output row; a missing side is null. */
  select: (left: JoinSide<L, LeftMissing<How>>, right: JoinSide<R, RightMissing<How>>) => O;
}
