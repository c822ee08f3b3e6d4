/**
 * The JSON encoding of the sink's records: one change of a table becomes
 * `{...columns,"diff":1,"time":123}`, columns first in the row's key order,
 * then `diff`, then `time`.
 *
 * Values JSON cannot hold as they are get a fixed, documented encoding, so
 * nothing is silently mangled:
 *
 * | value                        | written as                                              |
 * | ---------------------------- | ------------------------------------------------------- |
 * | `bigint`                     | a JSON number with all its digits (`12345678901234567890`) |
 * | `NaN`, `Infinity`, `-Infinity` | the strings `"NaN"`, `"Infinity"`, `"-Infinity"`      |
 * | `-0`                         | `0`                                                     |
 * | `Date`                       | its ISO-8601 string (`"2024-01-02T03:04:05.000Z"`); an invalid date is `null` |
 * | `Uint8Array`                 | a base64 string (standard alphabet, padded)             |
 * | `undefined`                  | `null` (the column is kept, not dropped)                |
 * | arrays, plain objects        | encoded recursively with the same rules                 |
 *
 * A bigint is written as exact digits because JSON numbers have no size limit:
 * rivulet's json format reads such an integer back as the same bigint (so
 * pipelines chain exactly), while `JSON.parse` elsewhere reads it as the
 * nearest double. Other objects (Map, class instances), functions and symbols
 * have no faithful JSON form and are refused with an error naming the column,
 * as is a column named `diff` or `time` (it would clash with the added fields).
 *
 * @module
 */

import type { Row, Time, Value } from "../engine/types.ts";

/**
 * Encodes one change as the JSON text of a sink record.
 *
 * @example
 * ```ts
 * import { encodeChange } from "./encode_json.ts";
 * encodeChange({ sum: 45 }, 1, 1700000000000); // '{"sum":45,"diff":1,"time":1700000000000}'
 * encodeChange({ id: 12345678901234567890n, ratio: NaN }, -1, 7);
 * // '{"id":12345678901234567890,"ratio":"NaN","diff":-1,"time":7}'
 * ```
 */
export function encodeChange(row: Row, diff: number, time: Time): string {
  const tail = `"diff":${diff},"time":${time}}`;
  // Finite numbers, strings, booleans and null: JSON.stringify writes them as
  // we would (-0 as 0 included), and much faster than a hand-written loop.
  let plain = true;
  let empty = true;
  for (const column in row) {
    empty = false;
    if (column === "diff" || column === "time") throw clashError(column);
    const value = row[column];
    const type = typeof value;
    if (
      !(type === "string" || type === "boolean" || value === null ||
        (type === "number" && Number.isFinite(value)))
    ) {
      plain = false;
    }
  }
  if (empty) return `{${tail}`;
  if (plain) {
    const columns = JSON.stringify(row);
    return `${columns.slice(0, -1)},${tail}`;
  }
  let text = "{";
  for (const column in row) {
    text += `${JSON.stringify(column)}:${encodeValue(row[column], column)},`;
  }
  return text + tail;
}

/**
 * Encodes one value as JSON text with the rules of {@linkcode encodeChange}
 * (`path` names the column in errors). The other output formats use it for
 * arrays and objects.
 */
export function encodeJsonValue(value: Value | undefined, path: string): string {
  return encodeValue(value, path);
}

function encodeValue(value: Value | undefined, path: string): string {
  switch (typeof value) {
    case "string":
      return JSON.stringify(value);
    case "number":
      if (Number.isFinite(value)) return Object.is(value, -0) ? "0" : String(value);
      return Number.isNaN(value) ? '"NaN"' : value > 0 ? '"Infinity"' : '"-Infinity"';
    case "boolean":
      return value ? "true" : "false";
    case "bigint":
      return value.toString();
    case "undefined":
      return "null";
    case "object":
      return encodeObject(value, path);
    default:
      throw unencodableError(path, `a ${typeof value}`);
  }
}

function encodeObject(value: object | null, path: string): string {
  if (value === null) return "null";
  if (value instanceof Date) {
    return Number.isNaN(value.getTime()) ? "null" : `"${value.toISOString()}"`;
  }
  if (value instanceof Uint8Array) return `"${toBase64(value)}"`;
  if (Array.isArray(value)) {
    let text = "[";
    for (let i = 0; i < value.length; i++) {
      if (i > 0) text += ",";
      text += encodeValue(value[i], `${path}[${i}]`);
    }
    return `${text}]`;
  }
  const prototype = Object.getPrototypeOf(value);
  if (prototype !== Object.prototype && prototype !== null) {
    throw unencodableError(path, `an instance of ${value.constructor?.name ?? "a class"}`);
  }
  const record = value as Record<string, Value>;
  let text = "{";
  let first = true;
  for (const key in record) {
    if (!first) text += ",";
    first = false;
    text += `${JSON.stringify(key)}:${encodeValue(record[key], `${path}.${key}`)}`;
  }
  return `${text}}`;
}

// Uint8Array.prototype.toBase64 is in V8 (Deno 2.x) but not yet in the lib types.
const nativeBase64 = (Uint8Array.prototype as { toBase64?: (this: Uint8Array) => string })
  .toBase64;

/** Standard base64 of bytes (how JSON output carries a bytes value). */
export function toBase64(bytes: Uint8Array): string {
  if (nativeBase64 !== undefined) return nativeBase64.call(bytes);
  let binary = "";
  for (let i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i]);
  return btoa(binary);
}

function clashError(column: string): Error {
  return new Error(
    `Column ${JSON.stringify(column)} clashes with the ${JSON.stringify(column)} field the ` +
      `sink adds to every record: rename the column before writing the table`,
  );
}

function unencodableError(path: string, what: string): TypeError {
  return new TypeError(
    `Cannot encode column ${JSON.stringify(path)} as JSON: it holds ${what}, ` +
      `which is not a rivulet value`,
  );
}
