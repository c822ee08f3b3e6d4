import assert from "node:assert/strict";
import { csv } from "../../formats/csv.ts";
import { type DecodeResult, FormatError, type FormatOptions } from "../../formats/format.ts";
import { parseCsv } from "../../formats/_csv_parse.ts";

const encoder = new TextEncoder();
const TOPIC = "connector_example";

/** Decodes `text` as message `partition@offset` of the test topic. */
function decodeAt(
  decoder: ReturnType<typeof csv.open>,
  text: string,
  partition: number,
  offset: number | string,
): DecodeResult {
  return decoder.decode(encoder.encode(text), { topic: TOPIC, partition, offset: String(offset) });
}

function rows(...list: Record<string, string>[]): DecodeResult {
  return { kind: "rows", rows: list };
}

function open(options: FormatOptions = {}, saved?: unknown) {
  return csv.open(TOPIC, options, saved);
}

function formatError(fn: () => unknown): FormatError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof FormatError, `expected a FormatError, got ${error}`);
    return error;
  }
  assert.fail("expected bad input to throw");
}

Deno.test("csv format reads the seed's stream: a header message, then one value per message", () => {
  const decoder = open({ valueColumns: ["value"] });
  assert.deepEqual(decodeAt(decoder, "value", 0, 0), rows());
  for (let i = 0; i < 10; i++) {
    assert.deepEqual(decodeAt(decoder, String(i), 0, i + 1), rows({ value: String(i) }));
  }
});

Deno.test("csv format takes the lines after the header in the first message as rows", () => {
  const decoder = open();
  assert.deepEqual(
    decodeAt(decoder, "a,b\n1,2\n3,4", 0, 0),
    rows({ a: "1", b: "2" }, { a: "3", b: "4" }),
  );
});

Deno.test("csv format treats a second header as a row", () => {
  const decoder = open({ valueColumns: ["value"] });
  decodeAt(decoder, "value", 0, 0);
  assert.deepEqual(decodeAt(decoder, "value", 0, 1), rows({ value: "value" }));
});

Deno.test("csv format makes rows from other partitions wait for the header", () => {
  const decoder = open({ valueColumns: ["value"] });
  assert.deepEqual(decodeAt(decoder, "5", 1, 0), { kind: "wait" });
  assert.deepEqual(decodeAt(decoder, "6", 2, 0), { kind: "wait" });
  assert.deepEqual(decodeAt(decoder, "value\n1", 0, 0), rows({ value: "1" }));
  assert.deepEqual(decodeAt(decoder, "5", 1, 0), rows({ value: "5" }));
  assert.deepEqual(decodeAt(decoder, "6", 2, 0), rows({ value: "6" }));
});

Deno.test("csv format splits a message into rows on \\n and \\r\\n and skips empty lines", () => {
  const decoder = open({ header: ["x"] });
  assert.deepEqual(
    decodeAt(decoder, "1\r\n2\n\n3\r\n\r\n", 0, 0),
    rows({ x: "1" }, { x: "2" }, { x: "3" }),
  );
  assert.deepEqual(decodeAt(decoder, "", 0, 1), rows());
});

Deno.test("csv format parses quoted fields holding commas, doubled quotes and line breaks", () => {
  const decoder = open({ header: ["a", "b"] });
  assert.deepEqual(
    decodeAt(decoder, '"x, y","say ""hi"""\n"multi\nline",""\r\nplain,"end"', 0, 0),
    rows(
      { a: "x, y", b: 'say "hi"' },
      { a: "multi\nline", b: "" },
      { a: "plain", b: "end" },
    ),
  );
});

Deno.test("csv format keeps values as strings, whitespace and inner quotes included", () => {
  const decoder = open({ header: ["a", "b", "c"] });
  assert.deepEqual(
    decodeAt(decoder, ' 1 ,2.50,5"6', 0, 0),
    rows({ a: " 1 ", b: "2.50", c: '5"6' }),
  );
});

Deno.test("csv format reads an empty one-column value written as two quotes", () => {
  const decoder = open({ header: ["value"] });
  assert.deepEqual(decodeAt(decoder, '""', 0, 0), rows({ value: "" }));
});

Deno.test("csv format rejects a row with the wrong number of fields, naming the row", () => {
  const decoder = open({ header: ["a", "b"] });
  const error = formatError(() => decodeAt(decoder, "1,2\n3", 0, 0));
  assert.equal(error.code, "malformed");
  assert.match(error.message, /Row 2 of the message has 1 field \("3"\) but the header has 2/);
  const extra = formatError(() => decodeAt(decoder, "1,2,3", 0, 1));
  assert.match(extra.message, /has 3 fields/);
});

Deno.test("csv format reports an unclosed quote as malformed with its line", () => {
  const decoder = open({ header: ["a", "b"] });
  const error = formatError(() => decodeAt(decoder, '1,2\n3,"open', 0, 0));
  assert.equal(error.code, "malformed");
  assert.match(error.message, /Line 2: a quoted field is not closed/);
  const after = formatError(() => decodeAt(decoder, '"a"b,c', 0, 1));
  assert.match(after.message, /unexpected "b" after the closing quote/);
});

Deno.test("csv format reports a value column missing from the header, at the header and every row", () => {
  const decoder = open({ valueColumns: ["value"] });
  const atHeader = formatError(() => decodeAt(decoder, "amount\n1", 0, 0));
  assert.equal(atHeader.code, "missing_column");
  assert.equal(atHeader.column, "value");
  assert.match(atHeader.message, /has no column "value" \(header: "amount"\)/);
  const atRow = formatError(() => decodeAt(decoder, "2", 1, 0));
  assert.equal(atRow.code, "missing_column");
  assert.deepEqual(decoder.save(), { header: ["amount"] });
});

Deno.test("csv format keeps every header column, in order, when no value columns are given", () => {
  const decoder = open();
  decodeAt(decoder, "z,a,m", 0, 0);
  const result = decodeAt(decoder, "1,2,3", 0, 1);
  assert.equal(result.kind, "rows");
  assert.deepEqual(result.kind === "rows" ? Object.keys(result.rows[0]) : [], ["z", "a", "m"]);
});

Deno.test("csv format with a header given up front takes the first message as a row", () => {
  const decoder = open({ header: ["value"], valueColumns: ["value"] });
  assert.deepEqual(decodeAt(decoder, "value", 0, 0), rows({ value: "value" }));
  assert.deepEqual(decodeAt(decoder, "7", 3, 12), rows({ value: "7" }));
});

Deno.test("csv format refuses a header given up front that lacks a value column", () => {
  assert.throws(
    () => open({ header: ["a"], valueColumns: ["value"] }),
    /Value column "value" is not in the csv header given for topic "connector_example" \(header: "a"\)/,
  );
  assert.throws(() => open({ header: ["a", "a"] }), /names column "a" twice/);
});

Deno.test("csv format saves its header and a reopened decoder reads rows past it", () => {
  const first = open({ valueColumns: ["value"] });
  assert.equal(first.save(), null);
  decodeAt(first, "value\n1", 0, 0);
  const saved = JSON.parse(JSON.stringify(first.save()));
  assert.deepEqual(saved, { header: ["value"] });
  const resumed = open({ valueColumns: ["value"] }, saved);
  assert.deepEqual(decodeAt(resumed, "2", 0, 7), rows({ value: "2" }));
  assert.deepEqual(decodeAt(resumed, "3", 1, 0), rows({ value: "3" }));
});

Deno.test("csv format says the header is missing when partition 0 starts past offset 0", () => {
  const decoder = open({ valueColumns: ["value"] });
  assert.deepEqual(decodeAt(decoder, "4", 1, 3), { kind: "wait" });
  const error = formatError(() => decodeAt(decoder, "5", 0, 42));
  assert.equal(error.code, "header_missing");
  assert.match(error.message, /started at offset 42, past the header/);
  assert.match(error.message, /"header" option, --columns/);
  // Rows that waited cannot wait for ever: they now fail the same way.
  assert.equal(formatError(() => decodeAt(decoder, "4", 1, 3)).code, "header_missing");
  assert.equal(decoder.save(), null);
});

Deno.test("csv format reports an empty first message as a missing header", () => {
  const decoder = open();
  const error = formatError(() => decodeAt(decoder, "\n", 0, 0));
  assert.equal(error.code, "header_missing");
  assert.match(error.message, /first message of partition 0 \(offset 0\) is empty/);
});

Deno.test("csv format rejects a header naming a column twice", () => {
  const decoder = open();
  const error = formatError(() => decodeAt(decoder, "a,b,a", 0, 0));
  assert.equal(error.code, "malformed");
  assert.match(error.message, /names column "a" twice/);
  // No usable header will come: later rows say so instead of waiting.
  const later = formatError(() => decodeAt(decoder, "1,2,3", 2, 0));
  assert.equal(later.code, "header_missing");
  assert.match(
    later.message,
    /header of topic "connector_example" \(partition 0, offset 0\) is invalid/,
  );
});

Deno.test("csv format refuses saved state that is not a header", () => {
  assert.throws(
    () => open({}, { header: "value" }),
    /Saved csv state for topic "connector_example"/,
  );
  assert.throws(() => open({}, ["value"]), /expected \{ "header": \[names\] \}/);
});

Deno.test("csv format reports bytes that are not UTF-8 as invalid_utf8", () => {
  const decoder = open({ header: ["value"] });
  const error = formatError(() =>
    decoder.decode(new Uint8Array([0x31, 0xff]), { topic: TOPIC, partition: 0, offset: "0" })
  );
  assert.equal(error.code, "invalid_utf8");
  assert.match(error.message, /not valid UTF-8 \(2 bytes, starting "31ff"\)/);
});

/** A small CSV writer: quotes a field only when it must. */
function writeCsv(records: string[][]): string {
  const field = (value: string) =>
    /[",\r\n]/.test(value) || value === "" ? `"${value.replaceAll('"', '""')}"` : value;
  return records.map((record) => record.map(field).join(",")).join("\r\n");
}

Deno.test("csv parser reads back what a CSV writer wrote, for random fields", () => {
  const alphabet = ['"', ",", "\n", "\r", "a", "b", " ", "é", "1"];
  let seed = 7;
  const random = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  for (let trial = 0; trial < 500; trial++) {
    const width = 1 + random(4);
    const records: string[][] = [];
    for (let r = 0; r < 1 + random(4); r++) {
      const record: string[] = [];
      for (let c = 0; c < width; c++) {
        let value = "";
        for (let k = random(6); k > 0; k--) value += alphabet[random(alphabet.length)];
        record.push(value);
      }
      records.push(record);
    }
    const text = writeCsv(records);
    assert.deepEqual(parseCsv(text), records, `trial ${trial}: ${JSON.stringify(text)}`);
  }
});

Deno.test("csv parser gives the line number of each record", () => {
  const lines: number[] = [];
  parseCsv('a\n\n"b\nc"\nd', lines);
  assert.deepEqual(lines, [1, 3, 5]);
  const plain: number[] = [];
  parseCsv("a\n\nb\r\nc", plain);
  assert.deepEqual(plain, [1, 3, 4]);
});

Deno.test("csv format reads the header message again when a restored reader replays offset 0", () => {
  const first = open({ valueColumns: ["value"] });
  decodeAt(first, "value", 0, 0);
  const resumed = open({ valueColumns: ["value"] }, JSON.parse(JSON.stringify(first.save())));
  // State was saved before the header's batch was committed: the replay starts at 0@0.
  assert.deepEqual(decodeAt(resumed, "value\n1", 0, 0), rows({ value: "1" }));
  assert.deepEqual(decodeAt(resumed, "value", 0, 1), rows({ value: "value" }));
});

Deno.test("csv format drops a UTF-8 byte order mark before the header", () => {
  const decoder = open({ valueColumns: ["value"] });
  const withBom = new Uint8Array([0xef, 0xbb, 0xbf, ...encoder.encode("value\n3")]);
  assert.deepEqual(
    decoder.decode(withBom, { topic: TOPIC, partition: 0, offset: "0" }),
    rows({ value: "3" }),
  );
});
