/**
 * A total order and a deep equality over {@linkcode Value}s, so that reducers
 * (min, max, sortedTuple, ...) and consolidation behave the same on every run.
 *
 * The order, from smallest to largest kind:
 * `null` < booleans (`false` < `true`) < numbers and bigints (numerically; `NaN`
 * first; at equal magnitude a number sorts before a bigint) < strings (UTF-16
 * code unit order) < `Date`s (by time) < `Uint8Array`s (bytes, then length) <
 * arrays (element by element, then length) < objects (entries sorted by key,
 * compared key then value, then number of entries).
 *
 * Equality agrees with the order: `equalValues(a, b)` is `compareValues(a, b) === 0`.
 * `0` equals `-0`, `NaN` equals `NaN`, `1` does not equal `1n` or `"1"`.
 *
 * @module
 */

import type { Row, Value } from "./types.ts";

const enum Kind {
  Null = 0,
  Boolean = 1,
  Numeric = 2,
  String = 3,
  Date = 4,
  Bytes = 5,
  Array = 6,
  Object = 7,
}

function kindOf(value: Value): Kind {
  if (value === null) return Kind.Null;
  switch (typeof value) {
    case "boolean":
      return Kind.Boolean;
    case "number":
    case "bigint":
      return Kind.Numeric;
    case "string":
      return Kind.String;
  }
  if (value instanceof Date) return Kind.Date;
  if (value instanceof Uint8Array) return Kind.Bytes;
  if (Array.isArray(value)) return Kind.Array;
  return Kind.Object;
}

function compareNumeric(a: number | bigint, b: number | bigint): number {
  if (typeof a === "number" && typeof b === "number") {
    if (a < b) return -1;
    if (a > b) return 1;
    if (a === b) return 0;
    // At least one NaN: NaN sorts first.
    const aNaN = Number.isNaN(a);
    const bNaN = Number.isNaN(b);
    return aNaN === bNaN ? 0 : aNaN ? -1 : 1;
  }
  if (typeof a === "bigint" && typeof b === "bigint") return a < b ? -1 : a > b ? 1 : 0;
  if (typeof a === "number" && Number.isNaN(a)) return -1;
  if (typeof b === "number" && Number.isNaN(b)) return 1;
  // Mixed: compare exactly where possible, then put the number first.
  const aBig = typeof a === "bigint";
  const x = aBig ? a : b as bigint;
  const y = aBig ? b as number : a as number;
  let order: number; // order of the bigint x relative to the number y
  if (y === Infinity) order = -1;
  else if (y === -Infinity) order = 1;
  else {
    const floor = BigInt(Math.floor(y));
    order = x < floor ? -1 : x > floor ? 1 : y === Math.floor(y) ? 0 : -1;
  }
  if (order === 0) order = 1; // the bigint sorts after an equal number
  return aBig ? order : -order;
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Compares two values in the total order described in this module's doc. */
export function compareValues(a: Value, b: Value): number {
  if (a === b) return 0;
  const ka = kindOf(a);
  const kb = kindOf(b);
  if (ka !== kb) return ka - kb;
  switch (ka) {
    case Kind.Null:
      return 0;
    case Kind.Boolean:
      return a ? 1 : -1; // not identical, so one is true and one is false
    case Kind.Numeric:
      return compareNumeric(a as number | bigint, b as number | bigint);
    case Kind.String:
      return compareStrings(a as string, b as string);
    case Kind.Date:
      return compareNumeric((a as Date).getTime(), (b as Date).getTime());
    case Kind.Bytes: {
      const x = a as Uint8Array;
      const y = b as Uint8Array;
      const n = Math.min(x.length, y.length);
      for (let i = 0; i < n; i++) if (x[i] !== y[i]) return x[i] - y[i];
      return x.length - y.length;
    }
    case Kind.Array: {
      const x = a as readonly Value[];
      const y = b as readonly Value[];
      const n = Math.min(x.length, y.length);
      for (let i = 0; i < n; i++) {
        const c = compareValues(x[i], y[i]);
        if (c !== 0) return c;
      }
      return x.length - y.length;
    }
    case Kind.Object:
      return compareObjects(a as Record<string, Value>, b as Record<string, Value>);
  }
}

function compareObjects(a: Record<string, Value>, b: Record<string, Value>): number {
  const ka = Object.keys(a).sort();
  const kb = Object.keys(b).sort();
  const n = Math.min(ka.length, kb.length);
  for (let i = 0; i < n; i++) {
    const c = compareStrings(ka[i], kb[i]) || compareValues(a[ka[i]], b[kb[i]]);
    if (c !== 0) return c;
  }
  return ka.length - kb.length;
}

/** Deep equality that agrees with {@linkcode compareValues}. */
export function equalValues(a: Value, b: Value): boolean {
  if (a === b) return true;
  const type = typeof a;
  if (type !== "object" || a === null || b === null || typeof b !== "object") {
    // Primitives that are not identical: equal only for NaN/NaN.
    return type === "number" && typeof b === "number" && a !== a && b !== b;
  }
  return compareValues(a, b) === 0;
}

/** Whether two rows have the same columns with equal values (column order ignored). */
export function equalRows(a: Row, b: Row): boolean {
  if (a === b) return true;
  let count = 0;
  for (const key in a) {
    if (!(key in b) || !equalValues(a[key], b[key])) return false;
    count++;
  }
  for (const _ in b) count--;
  return count === 0;
}
