/**
 * The `json` format: each message is one JSON object, or several objects one
 * per line (NDJSON). A message that parses as one JSON value is taken whole
 * (so a pretty-printed object spanning lines is one object); otherwise each
 * non-blank line must be an object.
 *
 * - JSON types are kept: strings, numbers, booleans, null, arrays, objects.
 * - An integer written outside the safe range (|n| > 2^53 - 1, no fraction or
 *   exponent, e.g. `12345678901234567890`) becomes a `bigint` with its exact
 *   value, instead of a rounded number. Other numbers stay numbers.
 * - With `valueColumns`, rows hold exactly those columns: one the object lacks
 *   is `missing_column` (a present `null` is a value), extra fields are ignored.
 *   Without it, rows hold every field of the object.
 * - Bad JSON, or a JSON value that is not an object, is `malformed`; so is a
 *   message with no object at all (empty or blank), since nothing is dropped
 *   silently.
 *
 * @module
 */

import { decodeUtf8 } from "./_utf8.ts";
import {
  type Decoder,
  type DecodeResult,
  type Format,
  FormatError,
  type FormatOptions,
} from "./format.ts";
import type { Row, Value } from "../engine/types.ts";

/**
 * The `json` format. It has no state.
 *
 * @example
 * ```ts
 * import { json } from "./json.ts";
 * const decoder = json.open("events", { valueColumns: ["user", "clicks"] });
 * const bytes = new TextEncoder().encode('{"user":"ada","clicks":3,"ignored":true}');
 * decoder.decode(bytes, { topic: "events", partition: 0, offset: "0" });
 * // { kind: "rows", rows: [{ user: "ada", clicks: 3 }] }
 * ```
 */
export const json: Format = {
  name: "json",
  open(topic: string, options: FormatOptions): Decoder {
    return new JsonDecoder(topic, options);
  },
};

/**
 * Splits a JSON Pointer (RFC 6901) into its reference tokens; a pointer that
 * is not one (not empty, not starting with "/") throws an Error naming the column.
 */
export function parseJsonPointer(column: string, pointer: string): string[] {
  if (pointer === "") return [];
  if (!pointer.startsWith("/")) {
    throw new Error(
      `The JSON Pointer ${JSON.stringify(pointer)} of column ${JSON.stringify(column)} ` +
        `must start with "/" (e.g. "/address/city")`,
    );
  }
  return pointer.slice(1).split("/").map((token) => {
    if (/~[^01]|~$/.test(token)) {
      throw new Error(
        `The JSON Pointer ${JSON.stringify(pointer)} of column ${JSON.stringify(column)} ` +
          `has a "~" not followed by 0 or 1 (write ~0 for "~" and ~1 for "/")`,
      );
    }
    return token.replaceAll("~1", "/").replaceAll("~0", "~");
  });
}

/** The value a pointer's tokens lead to in `value`, or undefined when there is none. */
function resolvePointer(value: unknown, tokens: readonly string[]): Value | undefined {
  let current: unknown = value;
  for (const token of tokens) {
    if (Array.isArray(current)) {
      if (!/^(0|[1-9]\d*)$/.test(token)) return undefined;
      current = current[Number(token)];
    } else if (typeof current === "object" && current !== null && Object.hasOwn(current, token)) {
      current = (current as Record<string, unknown>)[token];
    } else {
      return undefined;
    }
    if (current === undefined) return undefined;
  }
  return current as Value;
}

class JsonDecoder implements Decoder {
  readonly #topic: string;
  readonly #valueColumns: readonly string[] | undefined;
  /** Per value column: the pointer's tokens, or undefined for the top-level field. */
  readonly #paths: (readonly string[] | undefined)[] | undefined;
  readonly #pointers: Readonly<Record<string, string>>;
  readonly #optional: ReadonlySet<string>;

  constructor(topic: string, options: FormatOptions) {
    const valueColumns = options.valueColumns ??
      (options.fieldPaths === undefined ? undefined : Object.keys(options.fieldPaths));
    this.#pointers = options.fieldPaths ?? {};
    this.#optional = new Set(options.optionalColumns ?? []);
    const stray = Object.keys(this.#pointers).find((name) => !valueColumns?.includes(name));
    if (stray !== undefined) {
      throw new Error(
        `Column ${JSON.stringify(stray)} has a JSON Pointer but is not a value column ` +
          `(topic ${JSON.stringify(topic)})`,
      );
    }
    this.#paths = options.fieldPaths === undefined
      ? undefined
      : valueColumns!.map((name) =>
        Object.hasOwn(this.#pointers, name)
          ? parseJsonPointer(name, this.#pointers[name])
          : undefined
      );
    if (valueColumns?.includes("__proto__")) {
      throw new Error(
        `Value column "__proto__" is not allowed (topic ${JSON.stringify(topic)}): ` +
          `it would set a row's prototype instead of a column`,
      );
    }
    this.#topic = topic;
    this.#valueColumns = valueColumns === undefined ? undefined : [...valueColumns];
  }

  decode(value: Uint8Array): DecodeResult {
    const text = decodeUtf8(value);
    let whole: unknown;
    try {
      whole = parseJson(text);
    } catch (error) {
      if (!(error instanceof SyntaxError)) throw error;
      if (text.indexOf("\n") === -1) {
        throw new FormatError("malformed", describeSyntaxError(text, error));
      }
      return { kind: "rows", rows: this.#decodeLines(text) };
    }
    return { kind: "rows", rows: [this.#row(whole, "The message")] };
  }

  decodeRow(value: Uint8Array): Row | undefined {
    const text = decodeUtf8(value);
    let whole: unknown;
    try {
      whole = parseJson(text);
    } catch (error) {
      if (!(error instanceof SyntaxError)) throw error;
      return undefined; // Lines of JSON, or bad input: decode() tells which.
    }
    return this.#row(whole, "The message");
  }

  save(): null {
    return null;
  }

  #decodeLines(text: string): Row[] {
    const rows: Row[] = [];
    const lines = text.split("\n");
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i];
      if (line.trim() === "") continue;
      let parsed: unknown;
      try {
        parsed = parseJson(line);
      } catch (error) {
        if (!(error instanceof SyntaxError)) throw error;
        throw new FormatError("malformed", `Line ${i + 1}: ${describeSyntaxError(line, error)}`);
      }
      rows.push(this.#row(parsed, `Line ${i + 1} of the message`));
    }
    if (rows.length === 0) {
      throw new FormatError("malformed", "The message holds no JSON object (it is blank)");
    }
    return rows;
  }

  #row(parsed: unknown, what: string): Row {
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
      throw new FormatError(
        "malformed",
        `${what} is ${describeJsonType(parsed)}, not a JSON object`,
      );
    }
    const object = parsed as Row;
    const columns = this.#valueColumns;
    if (columns === undefined) return object;
    const row: Row = {};
    const paths = this.#paths;
    for (let i = 0; i < columns.length; i++) {
      const name = columns[i];
      const path = paths?.[i];
      if (path !== undefined) {
        const found = resolvePointer(object, path);
        if (found !== undefined) row[name] = found;
        else if (!this.#optional.has(name)) {
          throw new FormatError(
            "missing_column",
            `${what} has no value at JSON Pointer ${JSON.stringify(this.#pointers[name])} ` +
              `(topic ${JSON.stringify(this.#topic)})`,
            { column: name },
          );
        }
        continue;
      }
      if (!Object.hasOwn(object, name)) {
        if (this.#optional.has(name)) continue;
        throw new FormatError(
          "missing_column",
          `${what} has no field ${JSON.stringify(name)} (topic ${JSON.stringify(this.#topic)})`,
          { column: name },
        );
      }
      row[name] = object[name];
    }
    return row;
  }
}

// A run of 16 digits is the shortest text that can be an unsafe integer
// (2^53 has 16 digits). Only such messages pay for the slower parse.
const MAY_HOLD_BIG_INTEGER = /\d{16}/;
const INTEGER_TEXT = /^-?\d+$/;

/** JSON.parse, keeping integers beyond 2^53 exact as bigint. */
function parseJson(text: string): unknown {
  if (!MAY_HOLD_BIG_INTEGER.test(text)) return JSON.parse(text);
  return JSON.parse(text, keepBigIntegers as Parameters<typeof JSON.parse>[1]);
}

// The reviver's third argument (the value's source text) is JSON.parse source
// text access, shipped in V8 11.4; the lib types do not know it yet.
function keepBigIntegers(_key: string, value: unknown, context?: { source?: string }): unknown {
  if (
    typeof value === "number" && !Number.isSafeInteger(value) && context?.source !== undefined &&
    INTEGER_TEXT.test(context.source)
  ) {
    return BigInt(context.source);
  }
  return value;
}

function describeJsonType(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return "a string";
  if (typeof value === "number") return "a number";
  if (typeof value === "boolean") return "a boolean";
  return typeof value;
}

function describeSyntaxError(text: string, error: SyntaxError): string {
  if (text.trim() === "") return "the message holds no JSON object (it is empty)";
  const preview = text.length > 80 ? `${text.slice(0, 80)}…` : text;
  return `not valid JSON (${error.message}): ${JSON.stringify(preview)}`;
}
