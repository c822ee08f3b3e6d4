/**
 * Stable 128-bit row ids from values: MurmurHash3 (x86, 128-bit, seed 0) over
 * a typed encoding of the values, as 32 lowercase hex digits. The same values
 * give the same id on every run and machine, which is what makes replays exact
 * and primary keys work.
 *
 * The encoding is a sequence of 32-bit little-endian words. Every value starts
 * with a type tag, so `1`, `1n`, `"1"` and `true` all hash differently; a
 * string or byte array carries its length, so `["ab", "c"]` and `["a", "bc"]`
 * differ. Numbers that are 32-bit integers are written as one word, other
 * numbers as their float64 bits (`-0` counts as `0`, every `NaN` is the same);
 * object entries are written sorted by key.
 *
 * @module
 */

import type { RowId, Value } from "./types.ts";

const enum Tag {
  Null = 1,
  False = 2,
  True = 3,
  Int32 = 4,
  Float = 5,
  BigInt = 6,
  String = 7,
  Date = 8,
  Bytes = 9,
  Array = 10,
  Object = 11,
}

let words = new Uint32Array(256);
let length = 0;
const floatView = new Float64Array(1);
const floatWords = new Uint32Array(floatView.buffer);

function reserve(extra: number): void {
  if (length + extra <= words.length) return;
  let size = words.length * 2;
  while (size < length + extra) size *= 2;
  const bigger = new Uint32Array(size);
  bigger.set(words.subarray(0, length));
  words = bigger;
}

function writeString(tag: Tag, text: string): void {
  const n = text.length;
  reserve(2 + ((n + 1) >>> 1));
  words[length++] = tag;
  words[length++] = n;
  let i = 0;
  for (; i + 1 < n; i += 2) words[length++] = text.charCodeAt(i) | (text.charCodeAt(i + 1) << 16);
  if (i < n) words[length++] = text.charCodeAt(i);
}

function writeFloat(tag: Tag, x: number): void {
  reserve(3);
  words[length++] = tag;
  if (x !== x) {
    words[length++] = 0;
    words[length++] = 0x7ff80000;
    return;
  }
  floatView[0] = x === 0 ? 0 : x;
  words[length++] = floatWords[0];
  words[length++] = floatWords[1];
}

function writeValue(value: Value): void {
  switch (typeof value) {
    case "string":
      writeString(Tag.String, value);
      return;
    case "number":
      if ((value | 0) === value || (value === 0)) {
        reserve(2);
        words[length++] = Tag.Int32;
        words[length++] = value | 0;
      } else writeFloat(Tag.Float, value);
      return;
    case "boolean":
      reserve(1);
      words[length++] = value ? Tag.True : Tag.False;
      return;
    case "bigint":
      writeString(Tag.BigInt, value.toString(16));
      return;
  }
  if (value === null) {
    reserve(1);
    words[length++] = Tag.Null;
  } else if (value instanceof Date) {
    writeFloat(Tag.Date, value.getTime());
  } else if (value instanceof Uint8Array) {
    const n = value.length;
    reserve(2 + ((n + 3) >>> 2));
    words[length++] = Tag.Bytes;
    words[length++] = n;
    for (let i = 0; i < n; i += 4) {
      words[length++] = value[i] | ((value[i + 1] ?? 0) << 8) | ((value[i + 2] ?? 0) << 16) |
        ((value[i + 3] ?? 0) << 24);
    }
  } else if (Array.isArray(value)) {
    reserve(2);
    words[length++] = Tag.Array;
    words[length++] = value.length;
    for (const item of value) writeValue(item);
  } else {
    const object = value as Record<string, Value>;
    const keys = Object.keys(object).sort();
    reserve(2);
    words[length++] = Tag.Object;
    words[length++] = keys.length;
    for (const key of keys) {
      writeString(Tag.String, key);
      writeValue(object[key]);
    }
  }
}

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

function hexWord(word: number): string {
  return HEX[word >>> 24] + HEX[(word >>> 16) & 255] + HEX[(word >>> 8) & 255] + HEX[word & 255];
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

function rotl(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}

const C1 = 0x239b961b;
const C2 = 0xab0e9789;
const C3 = 0x38b34ae5;
const C4 = 0xa1e38b93;

/** MurmurHash3_x86_128 of words[0..length) read as little-endian bytes. */
function murmurWords(): RowId {
  let h1 = 0, h2 = 0, h3 = 0, h4 = 0;
  const blocks = length >>> 2;
  let i = 0;
  for (let b = 0; b < blocks; b++, i += 4) {
    let k1 = words[i], k2 = words[i + 1], k3 = words[i + 2], k4 = words[i + 3];
    k1 = Math.imul(rotl(Math.imul(k1, C1), 15), C2);
    h1 ^= k1;
    h1 = (Math.imul(rotl(h1, 19) + h2, 5) + 0x561ccd1b) | 0;
    k2 = Math.imul(rotl(Math.imul(k2, C2), 16), C3);
    h2 ^= k2;
    h2 = (Math.imul(rotl(h2, 17) + h3, 5) + 0x0bcaa747) | 0;
    k3 = Math.imul(rotl(Math.imul(k3, C3), 17), C4);
    h3 ^= k3;
    h3 = (Math.imul(rotl(h3, 15) + h4, 5) + 0x96cd1c35) | 0;
    k4 = Math.imul(rotl(Math.imul(k4, C4), 18), C1);
    h4 ^= k4;
    h4 = (Math.imul(rotl(h4, 13) + h1, 5) + 0x32ac3b17) | 0;
  }
  const tail = length & 3;
  if (tail >= 3) h3 ^= Math.imul(rotl(Math.imul(words[i + 2], C3), 17), C4);
  if (tail >= 2) h2 ^= Math.imul(rotl(Math.imul(words[i + 1], C2), 16), C3);
  if (tail >= 1) h1 ^= Math.imul(rotl(Math.imul(words[i], C1), 15), C2);
  const bytes = length * 4;
  h1 ^= bytes;
  h2 ^= bytes;
  h3 ^= bytes;
  h4 ^= bytes;
  h1 = (h1 + h2 + h3 + h4) | 0;
  h2 = (h2 + h1) | 0;
  h3 = (h3 + h1) | 0;
  h4 = (h4 + h1) | 0;
  h1 = fmix32(h1);
  h2 = fmix32(h2);
  h3 = fmix32(h3);
  h4 = fmix32(h4);
  h1 = (h1 + h2 + h3 + h4) | 0;
  h2 = (h2 + h1) | 0;
  h3 = (h3 + h1) | 0;
  h4 = (h4 + h1) | 0;
  return hexWord(h1 >>> 0) + hexWord(h2 >>> 0) + hexWord(h3 >>> 0) + hexWord(h4 >>> 0);
}

/**
 * A stable 128-bit id of a sequence of values, as 32 lowercase hex digits.
 * Used for primary keys, group-by keys and join outputs.
 *
 * @example
 * ```ts
 * import { hashValues } from "./hash.ts";
 * const id = hashValues(["alice", 42]);
 * console.assert(id.length === 32 && id === hashValues(["alice", 42]));
 * console.assert(hashValues([1]) !== hashValues(["1"]));
 * ```
 */
export function hashValues(values: readonly Value[]): RowId {
  length = 0;
  for (let i = 0; i < values.length; i++) writeValue(values[i]);
  return murmurWords();
}

/** The id of one value; the same as `hashValues([value])`. */
export function hashValue(value: Value): RowId {
  length = 0;
  writeValue(value);
  return murmurWords();
}
