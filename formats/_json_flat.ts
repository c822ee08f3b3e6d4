/**
 * A reader of the commonest json message straight from its bytes: one flat
 * object in compact form (`{"k":1234,"v":56}`) whose fields are exactly the
 * value columns, each a small integer, a plain ASCII string, `true`, `false`
 * or `null`. It makes the row without the message's text, `JSON.parse`'s
 * object or the copy into the row. Anything else (white space, nested
 * values, decimals, escapes, non-ASCII, a missing or extra field) is left to
 * `JSON.parse`: the reader answers `undefined` and the decoder goes on as
 * before, so a message it takes gives the row `JSON.parse` would.
 *
 * @module
 */
import type { Row, Value } from "../engine/types.ts";

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN = 0x7b;
const CLOSE = 0x7d;
const MINUS = 0x2d;
const ZERO = 0x30;
const NINE = 0x39;

/** Digits that always make an exact double (2^53 has 16): longer integers go to JSON.parse. */
const MAX_DIGITS = 15;
/** Longer text goes to JSON.parse (and TextDecoder), faster there. */
const MAX_TEXT = 256;

/** Reads flat json objects whose fields are the given columns. */
export class FlatObjectReader {
  /** The columns' names as bytes (ASCII names only: see {@linkcode FlatObjectReader.for}). */
  readonly #names: readonly Uint8Array[];
  readonly #columns: readonly string[];
  /** Values of the message being read, by column (reused). */
  readonly #values: Value[];
  readonly #seen: boolean[];

  private constructor(columns: readonly string[]) {
    this.#columns = columns;
    this.#names = columns.map((name) => Uint8Array.from(name, (c) => c.charCodeAt(0)));
    this.#values = new Array(columns.length).fill(null);
    this.#seen = new Array(columns.length).fill(false);
  }

  /** A reader for these columns, or undefined when a name needs escaping or is not ASCII. */
  static for(columns: readonly string[]): FlatObjectReader | undefined {
    if (columns.length === 0) return undefined;
    for (const name of columns) {
      for (let i = 0; i < name.length; i++) {
        const code = name.charCodeAt(i);
        if (code < 0x20 || code > 0x7e || code === QUOTE || code === BACKSLASH) return undefined;
      }
    }
    if (new Set(columns).size !== columns.length) return undefined;
    return new FlatObjectReader(columns);
  }

  /** The row of `bytes` in column order, or undefined when JSON.parse must read them. */
  read(bytes: Uint8Array): Row | undefined {
    const n = bytes.length;
    if (n < 2 || bytes[0] !== OPEN || bytes[n - 1] !== CLOSE) return undefined;
    const names = this.#names;
    const values = this.#values;
    const seen = this.#seen;
    seen.fill(false);
    let found = 0;
    let i = 1;
    for (;;) {
      // A field name: one of the columns, exactly.
      if (bytes[i] !== QUOTE) return undefined;
      i++;
      const start = i;
      while (i < n && bytes[i] !== QUOTE) {
        const byte = bytes[i];
        if (byte === BACKSLASH || byte < 0x20 || byte > 0x7e) return undefined;
        i++;
      }
      if (i >= n) return undefined;
      const column = this.#column(bytes, start, i);
      // A field of no column, or one given twice (JSON.parse keeps the last): JSON.parse.
      if (column === -1 || seen[column]) return undefined;
      i++;
      if (bytes[i] !== COLON) return undefined;
      i++;
      const end = this.#value(bytes, i, column);
      if (end === -1) return undefined;
      seen[column] = true;
      found++;
      i = end;
      if (bytes[i] === COMMA) {
        i++;
        continue;
      }
      if (bytes[i] === CLOSE && i === n - 1) break;
      return undefined;
    }
    if (found !== names.length) return undefined;
    const columns = this.#columns;
    const row: Row = {};
    for (let c = 0; c < columns.length; c++) row[columns[c]] = values[c];
    return row;
  }

  /** The index of the column named by `bytes[start, end)`, or -1. */
  #column(bytes: Uint8Array, start: number, end: number): number {
    const names = this.#names;
    const length = end - start;
    for (let c = 0; c < names.length; c++) {
      const name = names[c];
      if (name.length !== length) continue;
      let same = true;
      for (let j = 0; j < length; j++) {
        if (name[j] !== bytes[start + j]) {
          same = false;
          break;
        }
      }
      if (same) return c;
    }
    return -1;
  }

  /** Reads the value at `i` into column `column`; returns where it ends, or -1. */
  #value(bytes: Uint8Array, i: number, column: number): number {
    const n = bytes.length;
    const first = bytes[i];
    if (first === QUOTE) {
      const start = ++i;
      while (i < n && bytes[i] !== QUOTE) {
        const byte = bytes[i];
        if (byte === BACKSLASH || byte < 0x20 || byte > 0x7e) return -1;
        i++;
      }
      if (i >= n || i - start > MAX_TEXT) return -1;
      this.#values[column] = asciiText(bytes, start, i);
      return i + 1;
    }
    if (first === MINUS || (first >= ZERO && first <= NINE)) {
      const negative = first === MINUS;
      if (negative) i++;
      const start = i;
      let value = 0;
      while (i < n && bytes[i] >= ZERO && bytes[i] <= NINE) {
        value = value * 10 + (bytes[i] - ZERO);
        i++;
      }
      const digits = i - start;
      // No digits, a leading zero (invalid JSON), too many digits, or a fraction or
      // exponent next: JSON.parse.
      if (digits === 0 || digits > MAX_DIGITS || (bytes[start] === ZERO && digits > 1)) return -1;
      const next = bytes[i];
      if (next !== COMMA && next !== CLOSE) return -1;
      this.#values[column] = negative ? -value : value;
      return i;
    }
    if (matches(bytes, i, "true")) {
      this.#values[column] = true;
      return i + 4;
    }
    if (matches(bytes, i, "false")) {
      this.#values[column] = false;
      return i + 5;
    }
    if (matches(bytes, i, "null")) {
      this.#values[column] = null;
      return i + 4;
    }
    return -1;
  }
}

function matches(bytes: Uint8Array, at: number, word: string): boolean {
  if (at + word.length > bytes.length) return false;
  for (let j = 0; j < word.length; j++) if (bytes[at + j] !== word.charCodeAt(j)) return false;
  return true;
}

function asciiText(bytes: Uint8Array, start: number, end: number): string {
  if (end - start > 8) {
    return String.fromCharCode.apply(null, bytes.subarray(start, end) as unknown as number[]);
  }
  let text = "";
  for (let j = start; j < end; j++) text += String.fromCharCode(bytes[j]);
  return text;
}
