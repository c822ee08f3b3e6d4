/**
 * A map from tuples of values (group-by keys, join keys) to entries. A single
 * primitive value is its own map key, which is the common case and needs no
 * hashing; anything else is keyed by its 128-bit hash.
 *
 * @module
 */

import { hashValues } from "./hash.ts";
import type { Value } from "./types.ts";

function isPrimitive(value: Value): boolean {
  return value === null || typeof value !== "object";
}

/** Entries by key tuple. */
export class GroupMap<T> {
  readonly #byValue = new Map<Value, T>();
  readonly #byHash = new Map<string, T>();

  /** The entry for `key`, created with `create` when absent. */
  getOrCreate(key: readonly Value[], create: () => T): T {
    if (key.length === 1 && isPrimitive(key[0])) {
      let entry = this.#byValue.get(key[0]);
      if (entry === undefined) this.#byValue.set(key[0], entry = create());
      return entry;
    }
    const hash = hashValues(key);
    let entry = this.#byHash.get(hash);
    if (entry === undefined) this.#byHash.set(hash, entry = create());
    return entry;
  }

  /** The entry for the one-value key `[value]` if it is a primitive that is present (no allocation). */
  getOne(value: Value): T | undefined {
    return isPrimitive(value) ? this.#byValue.get(value) : undefined;
  }

  /** Removes the entry for `key`. */
  delete(key: readonly Value[]): void {
    if (key.length === 1 && isPrimitive(key[0])) this.#byValue.delete(key[0]);
    else this.#byHash.delete(hashValues(key));
  }

  /** Every entry. */
  *values(): IterableIterator<T> {
    yield* this.#byValue.values();
    yield* this.#byHash.values();
  }
}
