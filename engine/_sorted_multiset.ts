/**
 * A sorted multiset of keys with signed counts, stored as a list of small
 * sorted blocks. Adding or removing a key costs a binary search plus a move
 * within one block (at most {@linkcode MAX_BLOCK} entries), so min/max reducers
 * stay cheap when the current extreme is retracted, however large the group.
 *
 * Counts may go negative for a moment (a retraction that arrives before its
 * insertion within one commit); an entry disappears when its count is zero.
 *
 * @module
 */

/** One distinct key and how many times it is present. */
export interface MultisetEntry<K> {
  readonly key: K;
  count: number;
}

const MAX_BLOCK = 512;

/** A sorted multiset ordered by a comparator. */
export class SortedMultiset<K> {
  #blocks: MultisetEntry<K>[][] = [];
  #compare: (a: K, b: K) => number;
  #distinct = 0;

  constructor(compare: (a: K, b: K) => number) {
    this.#compare = compare;
  }

  /** Number of distinct keys present. */
  get distinct(): number {
    return this.#distinct;
  }

  /** Adds `diff` (positive or negative) to the count of `key`. */
  add(key: K, diff: number): void {
    const blocks = this.#blocks;
    const compare = this.#compare;
    if (blocks.length === 0) {
      blocks.push([{ key, count: diff }]);
      this.#distinct = 1;
      return;
    }
    // The first block whose last key is >= key (or the last block).
    let lo = 0, hi = blocks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const block = blocks[mid];
      if (compare(block[block.length - 1].key, key) < 0) lo = mid + 1;
      else hi = mid;
    }
    const b = lo;
    const block = blocks[b];
    let l = 0, h = block.length;
    while (l < h) {
      const mid = (l + h) >>> 1;
      if (compare(block[mid].key, key) < 0) l = mid + 1;
      else h = mid;
    }
    if (l < block.length && compare(block[l].key, key) === 0) {
      const entry = block[l];
      entry.count += diff;
      if (entry.count === 0) {
        removeAt(block, l);
        this.#distinct--;
        if (block.length === 0) blocks.splice(b, 1);
      }
      return;
    }
    insertAt(block, l, { key, count: diff });
    this.#distinct++;
    if (block.length > MAX_BLOCK) blocks.splice(b + 1, 0, block.splice(MAX_BLOCK >>> 1));
  }

  /** The smallest entry, or undefined when empty. */
  first(): MultisetEntry<K> | undefined {
    return this.#blocks[0]?.[0];
  }

  /** The largest entry, or undefined when empty. */
  last(): MultisetEntry<K> | undefined {
    const block = this.#blocks[this.#blocks.length - 1];
    return block?.[block.length - 1];
  }

  /** Every entry in ascending order. */
  *entries(): IterableIterator<MultisetEntry<K>> {
    for (const block of this.#blocks) yield* block;
  }

  /** Every key in ascending order, repeated by its count. */
  keys(): K[] {
    const out: K[] = [];
    for (const block of this.#blocks) {
      for (const entry of block) for (let i = 0; i < entry.count; i++) out.push(entry.key);
    }
    return out;
  }
}

// Hand-written moves: Array.prototype.splice allocates a result array on every call.
function insertAt<T>(array: T[], index: number, item: T): void {
  let i = array.length;
  array.push(item);
  for (; i > index; i--) array[i] = array[i - 1];
  array[index] = item;
}

function removeAt<T>(array: T[], index: number): void {
  const last = array.length - 1;
  for (let i = index; i < last; i++) array[i] = array[i + 1];
  array.pop();
}
