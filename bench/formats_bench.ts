/**
 * Decode throughput of the csv and json formats and the cost of encoding one
 * sink record. Each bench handles one message or record per iteration.
 *
 * csv is compared with csv-parse (sync API), a widely used npm CSV parser,
 * to justify the hand-written parser. Run with
 * `scripts/deno bench --allow-all --no-lock bench/formats_bench.ts`.
 *
 * @module
 */

// A comparison target for this bench only, not a dependency of rivulet: kept
// inline so that deno.json's imports list only what rivulet itself needs.
// deno-lint-ignore no-import-prefix
import { parse as csvParse } from "npm:csv-parse@5.6.0/sync";
import { csv } from "../formats/csv.ts";
import { encodeChange } from "../formats/encode_json.ts";
import { json } from "../formats/json.ts";
import { raw } from "../formats/raw.ts";

const encoder = new TextEncoder();
const info = { topic: "bench", partition: 0, offset: "1" };

// Distinct messages, so no engine can cache a single input.
const oneValueMessages = Array.from({ length: 1024 }, (_, i) => encoder.encode(String(i * 7)));
const threeColumnMessages = Array.from(
  { length: 1024 },
  (_, i) => encoder.encode(`${i},"name ${i}, quoted",${i / 4}`),
);
const hundredLineMessage = encoder.encode(
  Array.from({ length: 100 }, (_, i) => `${i},name${i},${i * 3}`).join("\n"),
);
const jsonMessages = Array.from(
  { length: 1024 },
  (_, i) => encoder.encode(`{"user":"user${i}","clicks":${i},"ok":true,"extra":[1,2]}`),
);
const jsonBigMessages = Array.from(
  { length: 1024 },
  (_, i) => encoder.encode(`{"id":${12345678901234567890n + BigInt(i)},"clicks":${i}}`),
);
const ndjsonMessage = encoder.encode(
  Array.from({ length: 100 }, (_, i) => `{"user":"u${i}","clicks":${i}}`).join("\n"),
);

const csvOneValue = csv.open("bench", { header: ["value"], valueColumns: ["value"] });
const csvThree = csv.open("bench", { header: ["id", "name", "score"] });
const jsonSelect = json.open("bench", { valueColumns: ["user", "clicks"] });
const jsonAll = json.open("bench", {});
const rawDecoder = raw.open("bench", {});
const textDecoder = new TextDecoder("utf-8", { fatal: true });

let i = 0;
const next = () => (i = (i + 1) & 1023);

Deno.bench("TextDecoder alone, one-value message (baseline)", { group: "csv one value" }, () => {
  textDecoder.decode(oneValueMessages[next()]);
});
Deno.bench("csv decode, one-value message", { group: "csv one value", baseline: true }, () => {
  csvOneValue.decode(oneValueMessages[next()], info);
});
Deno.bench("csv-parse sync + row, one-value message", { group: "csv one value" }, () => {
  const records: string[][] = csvParse(textDecoder.decode(oneValueMessages[next()]));
  records.map((record) => ({ value: record[0] }));
});

Deno.bench("csv decode, three columns with a quoted field", {
  group: "csv three columns",
  baseline: true,
}, () => {
  csvThree.decode(threeColumnMessages[next()], info);
});
Deno.bench("csv-parse sync + row, three columns with a quoted field", {
  group: "csv three columns",
}, () => {
  const records: string[][] = csvParse(textDecoder.decode(threeColumnMessages[next()]));
  records.map((record) => ({ id: record[0], name: record[1], score: record[2] }));
});

Deno.bench("csv decode, 100-line message", { group: "csv 100 lines", baseline: true }, () => {
  csvThree.decode(hundredLineMessage, info);
});
Deno.bench("csv-parse sync + rows, 100-line message", { group: "csv 100 lines" }, () => {
  const records: string[][] = csvParse(textDecoder.decode(hundredLineMessage));
  records.map((record) => ({ id: record[0], name: record[1], score: record[2] }));
});

Deno.bench("json decode, selecting 2 of 4 fields", { group: "json", baseline: true }, () => {
  jsonSelect.decode(jsonMessages[next()], info);
});
Deno.bench("json decode, all fields", { group: "json" }, () => {
  jsonAll.decode(jsonMessages[next()], info);
});
Deno.bench("json decode, an integer beyond 2^53 (bigint path)", { group: "json" }, () => {
  jsonAll.decode(jsonBigMessages[next()], info);
});
Deno.bench("json decode, 100-object NDJSON message", { group: "json" }, () => {
  jsonSelect.decode(ndjsonMessage, info);
});

Deno.bench("raw decode", { group: "raw" }, () => {
  rawDecoder.decode(oneValueMessages[next()], info);
});

const sumRows = Array.from({ length: 1024 }, (_, k) => ({ sum: k * 45 }));
const wideRows = Array.from(
  { length: 1024 },
  (_, k) => ({ user: `user${k}`, clicks: k, ratio: k / 3, ok: k % 2 === 0, note: null }),
);
const specialRows = Array.from(
  { length: 1024 },
  (_, k) => ({ id: 12345678901234567890n + BigInt(k), at: new Date(k), score: k / 3 }),
);

Deno.bench("encodeChange, the seed's { sum }", { group: "encode", baseline: true }, () => {
  encodeChange(sumRows[next()], 1, 1700000000000);
});
Deno.bench("encodeChange, five plain columns", { group: "encode" }, () => {
  encodeChange(wideRows[next()], -1, 1700000000000);
});
Deno.bench("encodeChange, bigint and Date columns (slow path)", { group: "encode" }, () => {
  encodeChange(specialRows[next()], 1, 1700000000000);
});
