/**
 * The Kafka sink's output formats, as Pathway's `pw.io.kafka.write` writes them:
 *
 * | format      | record value                                                             | diff and time                                    |
 * | ----------- | ------------------------------------------------------------------------ | ------------------------------------------------ |
 * | `json`      | `{...columns,"diff":1,"time":123}` ({@linkcode encodeChange})            | in the value                                     |
 * | `dsv`       | every column, then time, then diff, each in double quotes, `delimiter`-separated: `"a","7","123","1"` | the last two fields                              |
 * | `plaintext` | one string column's text (UTF-8)                                         | headers `pathway_time`, `pathway_diff` (decimal) |
 * | `raw`       | one bytes column's bytes (a string column's UTF-8)                       | headers `pathway_time`, `pathway_diff` (decimal) |
 *
 * Besides the value, a record may take its key from a column (`key`: its text,
 * or its bytes for a bytes column; default: the row id), headers from columns
 * (`headers`: each named after its column, the text of its value; bytes as
 * they are; a null value leaves the header out), and its topic from a column
 * (`topicColumn`, dynamic topics: a string that is not empty).
 *
 * Text of a value, for dsv fields, keys and headers: a string as it is; a
 * number in JavaScript's shortest form (`NaN`, `Infinity` and `-Infinity` as
 * those words); a bigint's digits; `true`/`false`; a `Date` as ISO-8601; an
 * array or object as JSON ({@linkcode encodeJsonValue}). In dsv, bytes are
 * base64 (as Pathway writes them) and null is an empty field.
 *
 * Pathway's dsv writer also sends a header record (the column names) at the
 * start of every run; rivulet does not, because a restart would put a second
 * header in the middle of the change stream.
 *
 * @module
 */

import type { Change, Row, Time, Value } from "../engine/types.ts";
import { encodeChange, encodeJsonValue, toBase64 } from "./encode_json.ts";

/** The output formats of the Kafka sink. */
export type OutputFormatName = "json" | "dsv" | "plaintext" | "raw";

/** Every output format, in the order help texts list them. */
export const outputFormatNames: readonly OutputFormatName[] = ["json", "dsv", "plaintext", "raw"];

/** How changes become records: Pathway's `format`, `delimiter`, `key`, `value`, `headers`, `topic_name` column. */
export interface OutputRecordOptions {
  /** `json` (the default), `dsv`, `plaintext` or `raw`. */
  readonly format?: OutputFormatName;
  /** dsv's field delimiter, one character (default `,`). */
  readonly delimiter?: string;
  /** plaintext and raw: the value column (default: the table's only column). */
  readonly value?: string;
  /** The column whose value is the record key (default: the row id). */
  readonly key?: string;
  /** Columns sent as headers, each named after its column. */
  readonly headers?: readonly string[];
  /** The column naming each record's topic (dynamic topics). */
  readonly topicColumn?: string;
}

/** Bytes or text as a record takes them. */
export type RecordBytes = Uint8Array | string;

/** The functions a sink calls for each change; absent ones keep the sink's default. */
export interface OutputRecordEncoder<R extends Row = Row> {
  /** The record value. */
  readonly value: (change: Change<R>, time: Time) => RecordBytes;
  /** The record key (absent: the row id). */
  readonly key?: (change: Change<R>) => RecordBytes;
  /** The record headers (absent: none). */
  readonly headers?: (change: Change<R>, time: Time) => Readonly<Record<string, RecordBytes>>;
  /** The record's topic (absent: the sink's one topic). */
  readonly topic?: (change: Change<R>) => string;
}

/** An output option that cannot work with the table or the other options. */
export class OutputOptionsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "OutputOptionsError";
  }
}

const reservedHeaders = new Set(["pathway_time", "pathway_diff"]);

/**
 * Builds the per-change encoders for the options, checking them against the
 * table's columns when those are known.
 *
 * @throws {OutputOptionsError} for an unknown format, a bad delimiter, a column
 *   the table does not have, or options that do not go together.
 *
 * @example
 * ```ts
 * import { outputRecordEncoder } from "./encode_output.ts";
 * const encoder = outputRecordEncoder({ format: "dsv", delimiter: ";" }, ["name", "n"]);
 * encoder.value({ id: "0".repeat(32), row: { name: 'say "hi"', n: 7 }, diff: 1 }, 123);
 * // '"say ""hi""";"7";"123";"1"'
 * ```
 */
export function outputRecordEncoder<R extends Row = Row>(
  options: OutputRecordOptions,
  columns?: readonly string[],
): OutputRecordEncoder<R> {
  const format = options.format ?? "json";
  if (!(outputFormatNames as readonly string[]).includes(format)) {
    throw new OutputOptionsError(
      `Output format ${JSON.stringify(format)} is not one of ${outputFormatNames.join(", ")}`,
    );
  }
  const delimiter = options.delimiter ?? ",";
  if (options.delimiter !== undefined && format !== "dsv") {
    throw new OutputOptionsError(
      `The delimiter applies to the dsv output format only, not ${format}`,
    );
  }
  if ([...delimiter].length !== 1 || delimiter === '"' || delimiter === "\n") {
    throw new OutputOptionsError(
      `The dsv delimiter must be one character other than a double quote or a newline, not ${
        JSON.stringify(delimiter)
      }`,
    );
  }
  const known = (what: string, column: string) => {
    if (column === "") throw new OutputOptionsError(`The ${what} column name is empty`);
    if (columns !== undefined && !columns.includes(column)) {
      throw new OutputOptionsError(
        `The ${what} column ${JSON.stringify(column)} is not a column of the table (${
          columns.join(", ")
        })`,
      );
    }
    return column;
  };
  const headerColumns = (options.headers ?? []).map((c) => known("header", c));
  for (const [i, column] of headerColumns.entries()) {
    if (reservedHeaders.has(column)) {
      throw new OutputOptionsError(
        `Header column ${
          JSON.stringify(column)
        } clashes with the header rivulet writes itself: rename the column`,
      );
    }
    if (headerColumns.indexOf(column) !== i) {
      throw new OutputOptionsError(`Header column ${JSON.stringify(column)} is named twice`);
    }
  }
  const keyColumn = options.key === undefined ? undefined : known("key", options.key);
  const topicColumn = options.topicColumn === undefined
    ? undefined
    : known("topic", options.topicColumn);
  if (options.value !== undefined && format !== "plaintext" && format !== "raw") {
    throw new OutputOptionsError(
      `A value column applies to the plaintext and raw output formats, not ${format}: ` +
        `${format} writes every column`,
    );
  }

  let value: (change: Change<R>, time: Time) => RecordBytes;
  const singleColumn = format === "plaintext" || format === "raw";
  if (format === "json") {
    value = (change, time) => encodeChange(change.row, change.diff, time);
  } else if (format === "dsv") {
    value = (change, time) => encodeDsvChange(change.row, change.diff, time, delimiter);
  } else {
    const valueColumn = options.value !== undefined
      ? known("value", options.value)
      : onlyColumn(format, columns);
    const pick = format === "plaintext" ? plaintextValue : rawValue;
    value = (change) => pick(change, valueColumn ?? onlyRowColumn(format, change));
  }

  const headers = headerColumns.length === 0 && !singleColumn
    ? undefined
    : (change: Change<R>, time: Time) => {
      const result: Record<string, RecordBytes> = {};
      if (singleColumn) {
        result.pathway_time = String(time);
        result.pathway_diff = String(change.diff);
      }
      for (const column of headerColumns) {
        const v = change.row[column];
        if (v === null || v === undefined) continue;
        result[column] = v instanceof Uint8Array ? v : textOf(v, column);
      }
      return result;
    };
  return {
    value,
    ...(keyColumn === undefined ? {} : { key: (change: Change<R>) => keyOf(change, keyColumn) }),
    ...(headers === undefined ? {} : { headers }),
    ...(topicColumn === undefined
      ? {}
      : { topic: (change: Change<R>) => topicOf(change, topicColumn) }),
  };
}

/**
 * One change as a dsv line (no line break): every column's text in double
 * quotes (a quote inside doubled), then the time, then the diff, joined by
 * `delimiter`, as Pathway's dsv output.
 *
 * @example
 * ```ts
 * import { encodeDsvChange } from "./encode_output.ts";
 * encodeDsvChange({ word: "a,b", n: 2 }, -1, 17, ","); // '"a,b","2","17","-1"'
 * ```
 */
export function encodeDsvChange(row: Row, diff: number, time: Time, delimiter: string): string {
  let line = "";
  for (const column in row) {
    const v = row[column];
    const text = v === null || v === undefined
      ? ""
      : v instanceof Uint8Array
      ? toBase64(v)
      : textOf(v, column);
    line += `${quote(text)}${delimiter}`;
  }
  return `${line}"${time}"${delimiter}"${diff}"`;
}

/**
 * The text of a value, for dsv fields, keys and headers (see the module's
 * table). `column` names the column in errors.
 */
export function textOf(value: Value, column: string): string {
  switch (typeof value) {
    case "string":
      return value;
    case "number":
      return Object.is(value, -0) ? "0" : String(value);
    case "bigint":
      return value.toString();
    case "boolean":
      return value ? "true" : "false";
    default:
      if (value instanceof Date) return Number.isNaN(value.getTime()) ? "" : value.toISOString();
      if (value instanceof Uint8Array) return new TextDecoder().decode(value);
      return encodeJsonValue(value, column);
  }
}

function quote(text: string): string {
  return text.includes('"') ? `"${text.replaceAll('"', '""')}"` : `"${text}"`;
}

function onlyColumn(format: string, columns: readonly string[] | undefined): string | undefined {
  if (columns === undefined) return undefined;
  if (columns.length !== 1) {
    throw new OutputOptionsError(
      `The ${format} output format writes one column, but the table has ${columns.length} (${
        columns.join(", ")
      }): name the value column`,
    );
  }
  return columns[0];
}

function onlyRowColumn(format: string, change: Change): string {
  const names = Object.keys(change.row);
  if (names.length !== 1) {
    throw new Error(
      `The ${format} output format writes one column, but row ${change.id} has ${names.length} (${
        names.join(", ")
      }): name the value column`,
    );
  }
  return names[0];
}

function plaintextValue(change: Change, column: string): string {
  const v = change.row[column];
  if (typeof v !== "string") {
    throw new Error(
      `The plaintext output format writes text, but column ${
        JSON.stringify(column)
      } of row ${change.id} holds ${describe(v)}` +
        (v instanceof Uint8Array ? ": use the raw format for bytes" : ""),
    );
  }
  return v;
}

function rawValue(change: Change, column: string): RecordBytes {
  const v = change.row[column];
  if (!(v instanceof Uint8Array) && typeof v !== "string") {
    throw new Error(
      `The raw output format writes bytes, but column ${
        JSON.stringify(column)
      } of row ${change.id} holds ${describe(v)}`,
    );
  }
  return v;
}

function keyOf(change: Change, column: string): RecordBytes {
  const v = change.row[column];
  if (v === null || v === undefined) {
    throw new Error(
      `The key column ${JSON.stringify(column)} of row ${change.id} has no value (${
        v === null ? "null" : "missing"
      }): every record needs a key from it`,
    );
  }
  return v instanceof Uint8Array ? v : textOf(v, column);
}

function topicOf(change: Change, column: string): string {
  const v = change.row[column];
  if (typeof v !== "string" || v === "") {
    throw new Error(
      `The topic column ${JSON.stringify(column)} of row ${change.id} holds ${
        v === "" ? "an empty string" : describe(v)
      }: each record's topic must be a topic name`,
    );
  }
  return v;
}

function describe(v: Value | undefined): string {
  if (v === undefined) return "nothing (the column is missing)";
  if (v === null) return "null";
  if (v instanceof Uint8Array) return `${v.length} bytes`;
  if (v instanceof Date) return "a Date";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "object") return "an object";
  return `the ${typeof v} ${JSON.stringify(typeof v === "bigint" ? v.toString() : v)}`;
}
