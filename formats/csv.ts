/**
 * The `csv` format, as the seed describes it: the first message of partition 0
 * of a topic starts with the header (column names, comma-separated), and every
 * other line of every message is a row.
 *
 * - A message may hold several lines (`\n` or `\r\n`); empty lines are skipped.
 * - Quoting follows RFC 4180: `"a,b"` is one field, `""` inside quotes is a quote.
 * - The header is read once per topic: a second header is an ordinary row.
 * - Rows from other partitions that arrive before the header get `wait`: the
 *   runtime offers them again once partition 0 has delivered the header.
 * - The header is durable state (`save()` → `{ header: [...] }`), so a reader
 *   that restarts past it still knows it. The message at partition 0, offset 0
 *   is always read as the header message, also when a restored reader replays
 *   it, so a replay never turns the header into a row.
 * - A reader that starts past the header (partition 0's first message is not
 *   at offset 0) and knows none fails with `header_missing`, telling the user
 *   to give the columns up front (`header` option), instead of taking a row
 *   for the header. From then on every row of the topic fails the same way
 *   rather than wait for a header that will not come.
 * - With `header` given up front no header message is expected.
 * - Values stay strings; a row with a field count other than the header's is
 *   `malformed`; a value column the header lacks is `missing_column`.
 *
 * @module
 */

import { CsvSyntaxError, parseCsv } from "./_csv_parse.ts";
import { decodeUtf8 } from "./_utf8.ts";
import {
  type Decoder,
  type DecodeResult,
  type Format,
  FormatError,
  type FormatOptions,
  type MessageInfo,
} from "./format.ts";
import type { Row } from "../engine/types.ts";

/** The durable state of a csv decoder: the header it learned. */
export interface CsvState {
  readonly header: readonly string[];
}

/**
 * The `csv` format.
 *
 * @example
 * ```ts
 * import { csv } from "./csv.ts";
 * const decoder = csv.open("connector_example", { valueColumns: ["value"] });
 * const text = (s: string) => new TextEncoder().encode(s);
 * decoder.decode(text("value"), { topic: "connector_example", partition: 0, offset: "0" });
 * // { kind: "rows", rows: [] }
 * decoder.decode(text("17"), { topic: "connector_example", partition: 0, offset: "1" });
 * // { kind: "rows", rows: [{ value: "17" }] }
 * decoder.save(); // { header: ["value"] }
 * ```
 */
export const csv: Format = {
  name: "csv",
  open(topic: string, options: FormatOptions, saved?: unknown): Decoder {
    return new CsvDecoder(topic, options, saved);
  },
};

const WAIT: DecodeResult = { kind: "wait" };

class CsvDecoder implements Decoder {
  readonly #topic: string;
  readonly #valueColumns: readonly string[] | undefined;
  /** Given up front: then no message is a header. */
  readonly #headerGiven: boolean;
  #header: readonly string[] | undefined;
  /** Why no header is known and waiting will not bring one: messages fail with it until 0@0 comes. */
  #headerUnavailable: string | undefined;
  /** Names of the row's columns and where each sits in a record. */
  #names: string[] = [];
  #indices: number[] = [];
  /** A value column the header lacks: every row is bad input. */
  #missingColumn: string | undefined;

  constructor(topic: string, options: FormatOptions, saved: unknown) {
    this.#topic = topic;
    this.#valueColumns = options.valueColumns;
    this.#headerGiven = options.header !== undefined;
    if (options.header !== undefined) {
      const problem = headerProblem(options.header);
      if (problem !== undefined) {
        throw new Error(`Invalid csv header given for topic ${JSON.stringify(topic)}: ${problem}`);
      }
      this.#useHeader(options.header);
      if (this.#missingColumn !== undefined) {
        throw new Error(
          `Value column ${JSON.stringify(this.#missingColumn)} is not in the csv header given ` +
            `for topic ${JSON.stringify(topic)} (${describeHeader(options.header)})`,
        );
      }
    } else if (saved !== undefined && saved !== null) {
      this.#useHeader(savedHeader(topic, saved));
    }
  }

  decode(value: Uint8Array, message: MessageInfo): DecodeResult {
    // The message at 0@0 holds the header even when the header is already known
    // (restored state, then a replay from offset 0): it must never become a row.
    if (message.offset === "0" && message.partition === 0 && !this.#headerGiven) {
      return this.#decodeHeaderMessage(value);
    }
    if (this.#header === undefined) return this.#decodeBeforeHeader(message);
    return this.#rows(this.#parse(value));
  }

  decodeRow(value: Uint8Array, message: MessageInfo): Row | undefined {
    if (
      this.#header === undefined || this.#missingColumn !== undefined || value.length === 0 ||
      (message.offset === "0" && message.partition === 0 && !this.#headerGiven)
    ) {
      return undefined;
    }
    const text = decodeUtf8(value);
    // One line without quotes: what parseCsv makes of it is a split at commas.
    if (
      text.indexOf('"') !== -1 || text.indexOf("\n") !== -1 || text.indexOf("\r") !== -1
    ) {
      return undefined;
    }
    const names = this.#names;
    const width = this.#header.length;
    if (width === 1) {
      if (text.indexOf(",") !== -1) return undefined;
      const row: Row = {};
      // Every value column is the header's one column.
      for (let c = 0; c < names.length; c++) row[names[c]] = text;
      return row;
    }
    const fields = text.split(",");
    if (fields.length !== width) return undefined;
    const indices = this.#indices;
    const row: Row = {};
    for (let c = 0; c < names.length; c++) row[names[c]] = fields[indices[c]];
    return row;
  }

  save(): CsvState | null {
    return this.#header === undefined ? null : { header: [...this.#header] };
  }

  #decodeBeforeHeader(message: MessageInfo): DecodeResult {
    if (this.#headerUnavailable !== undefined) {
      throw new FormatError("header_missing", this.#headerUnavailable);
    }
    if (message.partition !== 0) return WAIT;
    this.#headerUnavailable = `No csv header is known for topic ${JSON.stringify(this.#topic)}: ` +
      `reading of partition 0 started at offset ${message.offset}, past the header ` +
      `message at offset 0. Give the column names up front (the "header" option, ` +
      `--columns on the command line) or read the topic from its beginning`;
    throw new FormatError("header_missing", this.#headerUnavailable);
  }

  #decodeHeaderMessage(value: Uint8Array): DecodeResult {
    const records = this.#parse(value);
    const header = records[0];
    this.#header = undefined;
    this.#headerUnavailable = undefined;
    if (header === undefined) {
      this.#headerUnavailable =
        `No csv header is known for topic ${JSON.stringify(this.#topic)}: ` +
        `the first message of partition 0 (offset 0) is empty. Give the column names up ` +
        `front (the "header" option, --columns on the command line)`;
      throw new FormatError("header_missing", this.#headerUnavailable);
    }
    const problem = headerProblem(header);
    if (problem !== undefined) {
      this.#headerUnavailable = `The csv header of topic ${JSON.stringify(this.#topic)} ` +
        `(partition 0, offset 0) is invalid: ${problem}`;
      throw new FormatError("malformed", this.#headerUnavailable);
    }
    this.#useHeader(header);
    // Said at the header rather than at the first row: the user learns of it at once.
    if (this.#missingColumn !== undefined) throw this.#missingColumnError();
    return this.#rows(records.slice(1));
  }

  #useHeader(header: readonly string[]): void {
    this.#header = header;
    const names = this.#valueColumns ?? header;
    this.#names = [...names];
    this.#indices = names.map((name) => header.indexOf(name));
    const missing = this.#indices.indexOf(-1);
    this.#missingColumn = missing === -1 ? undefined : names[missing];
  }

  #parse(value: Uint8Array): string[][] {
    const text = decodeUtf8(value);
    try {
      return parseCsv(text);
    } catch (error) {
      if (error instanceof CsvSyntaxError) throw new FormatError("malformed", error.message);
      throw error;
    }
  }

  #rows(records: readonly string[][]): DecodeResult {
    if (records.length === 0) return { kind: "rows", rows: [] };
    const header = this.#header!;
    if (this.#missingColumn !== undefined) throw this.#missingColumnError();
    const names = this.#names;
    const indices = this.#indices;
    const width = header.length;
    const rows: Row[] = new Array(records.length);
    for (let r = 0; r < records.length; r++) {
      const fields = records[r];
      if (fields.length !== width) throw this.#fieldCountError(records, r);
      const row: Row = {};
      for (let c = 0; c < names.length; c++) row[names[c]] = fields[indices[c]];
      rows[r] = row;
    }
    return { kind: "rows", rows };
  }

  #missingColumnError(): FormatError {
    return new FormatError(
      "missing_column",
      `The csv header of topic ${JSON.stringify(this.#topic)} has no column ` +
        `${JSON.stringify(this.#missingColumn)} (${describeHeader(this.#header!)})`,
      { column: this.#missingColumn },
    );
  }

  #fieldCountError(records: readonly string[][], index: number): FormatError {
    const fields = records[index];
    return new FormatError(
      "malformed",
      `Row ${index + 1} of the message has ${fields.length} field${
        fields.length === 1 ? "" : "s"
      } (${JSON.stringify(fields.join(","))}) but the header has ${this.#header!.length} ` +
        `(${describeHeader(this.#header!)})`,
    );
  }
}

/** Why a list of names cannot be a header, or undefined when it can. */
function headerProblem(header: readonly string[]): string | undefined {
  if (header.length === 0) return "it names no column";
  const seen = new Set<string>();
  for (const name of header) {
    // A row is a plain object: this name would set its prototype, not a column.
    if (name === "__proto__") return `column name "__proto__" is not allowed`;
    if (seen.has(name)) return `it names column ${JSON.stringify(name)} twice`;
    seen.add(name);
  }
  return undefined;
}

function describeHeader(header: readonly string[]): string {
  return `header: ${header.map((name) => JSON.stringify(name)).join(", ")}`;
}

function savedHeader(topic: string, saved: unknown): readonly string[] {
  const header = (saved as { header?: unknown }).header;
  if (
    typeof saved === "object" && Array.isArray(header) &&
    header.every((name) => typeof name === "string") && headerProblem(header) === undefined
  ) {
    return header;
  }
  throw new Error(
    `Saved csv state for topic ${JSON.stringify(topic)} is not a header: ` +
      `expected { "header": [names] }, got ${JSON.stringify(saved)}`,
  );
}
