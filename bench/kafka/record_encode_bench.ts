/**
 * The produce path's per-record encoding, without a broker: kafkajs' own
 * record encoder against rivulet's replacement (`connectors/kafka/kafkajs/_patches.ts`, repair
 * 4), on the records rivulet's sink writes (a 32-hex-digit key and a JSON
 * change as value).
 *
 * ```sh
 * scripts/deno bench --allow-all bench/kafka/record_encode_bench.ts
 * ```
 *
 * @module
 */
import { createRequire } from "node:module";

const require = createRequire(import.meta.resolve("kafkajs"));
const recordPath = require.resolve("./src/protocol/recordBatch/record/v0/index.js");
// Loaded before the repairs, so this is kafkajs' own encoder.
const kafkajsRecord = require(recordPath) as (input: unknown) => unknown;
await import("../../connectors/kafka/kafkajs/_patches.ts");
const repairedRecord = require(recordPath) as (input: unknown) => unknown;
if (repairedRecord === kafkajsRecord) throw new Error("The record encoder was not replaced");

const records = Array.from({ length: 10_000 }, (_, i) => ({
  key: i.toString(16).padStart(32, "0"),
  value: `{"customer":"c${i % 1000}","count":${i % 17},"total":${
    i * 13
  },"diff":1,"time":1795590014323}`,
  offsetDelta: i,
  timestampDelta: 0,
}));

Deno.bench(
  "kafkajs record encoder, 10,000 sink records",
  { group: "record", baseline: true },
  () => {
    for (const record of records) kafkajsRecord(record);
  },
);

Deno.bench("repaired record encoder, 10,000 sink records", { group: "record" }, () => {
  for (const record of records) repairedRecord(record);
});
