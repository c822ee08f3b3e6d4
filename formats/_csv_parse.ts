/**
 * A small RFC 4180 CSV parser for the `csv` format: one message of text in,
 * its records out. Hand-written because a message is usually one short line
 * ("17"), where a general parser's set-up costs more than the parsing; see
 * bench/formats_bench.ts for the comparison with csv-parse.
 *
 * @module
 */

const QUOTE = 34; // "
const COMMA = 44; // ,
const LF = 10; // \n
const CR = 13; // \r

/** Why a message is not valid CSV; the caller turns it into a FormatError. */
export class CsvSyntaxError extends Error {
  /** The line of the message (1-based) where the problem is. */
  readonly line: number;
  constructor(line: number, reason: string) {
    super(`Line ${line}: ${reason}`);
    this.name = "CsvSyntaxError";
    this.line = line;
  }
}

/**
 * Splits CSV text into records of fields. Lines end with `\n` or `\r\n`.
 * Empty lines are skipped (a one-column empty value is written `""`). A field
 * in double quotes may hold commas, line breaks and doubled quotes (`""`); a
 * quote inside an unquoted field is kept as it is. Whitespace is data.
 *
 * `lines`, when given, receives the 1-based line number of each record, for
 * error messages.
 *
 * @example
 * ```ts
 * import { parseCsv } from "./_csv_parse.ts";
 * parseCsv('a,b\n"x, y",2\n'); // [["a", "b"], ["x, y", "2"]]
 * ```
 */
export function parseCsv(text: string, lines?: number[]): string[][] {
  // Most messages hold no quotes at all: plain splitting is several times faster.
  return text.indexOf('"') === -1 ? parseUnquoted(text, lines) : parseQuoted(text, lines);
}

function parseUnquoted(text: string, lines: number[] | undefined): string[][] {
  const records: string[][] = [];
  const length = text.length;
  let start = 0;
  let line = 1;
  while (start < length) {
    let end = text.indexOf("\n", start);
    if (end === -1) end = length;
    let contentEnd = end;
    if (contentEnd > start && text.charCodeAt(contentEnd - 1) === CR) contentEnd--;
    if (contentEnd > start) {
      const content = start === 0 && contentEnd === length ? text : text.slice(start, contentEnd);
      records.push(content.split(","));
      lines?.push(line);
    }
    start = end + 1;
    line++;
  }
  return records;
}

function parseQuoted(text: string, lines: number[] | undefined): string[][] {
  const records: string[][] = [];
  const length = text.length;
  let record: string[] = [];
  let position = 0;
  let line = 1;
  let recordLine = 1;
  // A record is emitted at its line end; an empty line (no field started) is skipped.
  let lineHasContent = false;
  while (position < length) {
    const code = text.charCodeAt(position);
    if (code === QUOTE) {
      // A quoted field: runs to the next lone quote, doubled quotes are one quote.
      const fieldLine = line;
      let value = "";
      let chunkStart = position + 1;
      let cursor = chunkStart;
      for (;;) {
        const quote = text.indexOf('"', cursor);
        if (quote === -1) {
          throw new CsvSyntaxError(fieldLine, "a quoted field is not closed");
        }
        for (let i = cursor; i < quote; i++) if (text.charCodeAt(i) === LF) line++;
        if (text.charCodeAt(quote + 1) === QUOTE) {
          value += text.slice(chunkStart, quote + 1);
          chunkStart = cursor = quote + 2;
          continue;
        }
        value += text.slice(chunkStart, quote);
        position = quote + 1;
        break;
      }
      record.push(value);
      lineHasContent = true;
      const next = position < length ? text.charCodeAt(position) : LF;
      if (next === COMMA) {
        position++;
        if (position === length) record.push("");
      } else if (next === CR && text.charCodeAt(position + 1) === LF) {
        position += 2;
        records.push(record);
        lines?.push(recordLine);
        record = [];
        lineHasContent = false;
        recordLine = ++line;
      } else if (next === LF) {
        position++;
        records.push(record);
        lines?.push(recordLine);
        record = [];
        lineHasContent = false;
        recordLine = ++line;
      } else {
        throw new CsvSyntaxError(
          line,
          `unexpected ${JSON.stringify(text[position])} after the closing quote of a field`,
        );
      }
      continue;
    }
    // An unquoted field: runs to the next comma or line end.
    let end = position;
    while (end < length) {
      const c = text.charCodeAt(end);
      if (c === COMMA || c === LF) break;
      if (c === CR && text.charCodeAt(end + 1) === LF) break;
      end++;
    }
    const terminator = end < length ? text.charCodeAt(end) : LF;
    if (terminator === COMMA) {
      record.push(text.slice(position, end));
      lineHasContent = true;
      position = end + 1;
      if (position === length) record.push("");
      continue;
    }
    // Line end (or end of text).
    if (end > position || lineHasContent) {
      record.push(text.slice(position, end));
      records.push(record);
      lines?.push(recordLine);
      record = [];
    }
    lineHasContent = false;
    position = end + (terminator === CR ? 2 : 1);
    recordLine = ++line;
  }
  if (record.length > 0) {
    records.push(record);
    lines?.push(recordLine);
  }
  return records;
}
