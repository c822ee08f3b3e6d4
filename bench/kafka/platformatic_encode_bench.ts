/**
 * The platformatic adapter's produce request encoding, without a broker:
 * @platformatic/kafka's own Produce v11 encoder (keys and values turned into
 * `Buffer`s first, as the adapter had to) against the adapter's encoder
 * (`connectors/kafka/platformatic/produce_request.ts`, text written
 * straight into the request), on the records rivulet's sink writes (a
 * 32-hex-digit key and a JSON change as value), 10,000 to a request.
 *
 * ```sh
 * scripts/deno bench --allow-all bench/kafka/platformatic_encode_bench.ts
 * ```
 *
 * @module
 */
import { Buffer } from "node:buffer";
import {
  encodeProduceRequest,
  libraryProduceRequest,
  type ProduceApiMessage,
} from "../../connectors/kafka/platformatic/produce_request.ts";

const records = Array.from({ length: 10_000 }, (_, i) => ({
  key: i.toString(16).padStart(32, "0"),
  value: `{"customer":"c${i % 1000}","count":${i % 17},"total":${
    i * 13
  },"diff":1,"time":1795590014323}`,
}));
const options = {
  producerId: 4_711n,
  producerEpoch: 0,
  sequences: { getWithDefault: () => 0 },
};

Deno.bench(
  "library's produce request (Buffers per key and value), 10,000 sink records",
  { group: "request", baseline: true },
  () => {
    const messages: ProduceApiMessage[] = records.map((r) => ({
      topic: "out",
      partition: 0,
      key: Buffer.from(r.key),
      value: Buffer.from(r.value),
      headers: new Map(),
    }));
    libraryProduceRequest(11, -1, 30_000, messages, options);
  },
);

Deno.bench(
  "adapter's produce request (text as it is), 10,000 sink records",
  { group: "request" },
  () => {
    const messages: ProduceApiMessage[] = records.map((r) => ({
      topic: "out",
      partition: 0,
      key: r.key,
      value: r.value,
      headers: new Map(),
    }));
    encodeProduceRequest(-1, 30_000, messages, options).buffer;
  },
);
