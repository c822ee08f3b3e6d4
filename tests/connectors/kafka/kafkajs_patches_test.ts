import assert from "node:assert/strict";
import "../../../connectors/kafka/kafkajs/client.ts";
// @ts-types="../../../connectors/kafka/kafkajs/_encoder.d.ts"
import Encoder from "kafkajs/src/protocol/encoder.js";
// @ts-types="./_kafkajs_decoder.d.ts"
import Decoder from "kafkajs/src/protocol/decoder.js";
import { createKafkajsClient } from "../../../connectors/kafka/kafkajs/client.ts";
import { KafkaSource } from "../../../connectors/kafka/source.ts";
import { createTopics, uniqueTopic } from "../../support/kafka.ts";
import { brokerTest, Collector, testConfig, testParts } from "./_support.ts";

const ints = [
  0,
  1,
  -1,
  63,
  -64,
  64,
  127,
  128,
  300,
  -300,
  2 ** 20,
  2 ** 30 - 1,
  2 ** 30,
  -(2 ** 31),
  2 ** 31 - 1,
];
const longs = [
  ...ints.map(BigInt),
  2n ** 53n,
  -(2n ** 53n),
  1700000000123n,
  2n ** 63n - 1n,
  -(2n ** 63n),
];

Deno.test("patched kafkajs encoder writes varints and varlongs that kafkajs' decoder reads back", () => {
  const encoder = new Encoder();
  for (const value of ints) encoder.writeVarInt(value);
  for (const value of longs) encoder.writeVarLong(value);
  const decoder = new Decoder(encoder.buffer);
  assert.deepEqual(ints.map(() => decoder.readVarInt()), ints);
  assert.deepEqual(longs.map(() => BigInt(decoder.readVarLong().toString())), longs);
});

Deno.test("the kafkajs adapter refuses to load after kafkajs, whose producer kept its own functions", async () => {
  const program = new URL("./_kafkajs_loaded_first.ts", import.meta.url).pathname;
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", program],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const output = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
  assert.notEqual(code, 0, output);
  assert.match(output, /kafkajs loaded first: function/);
  assert.doesNotMatch(output, /the adapter loaded/);
  assert.match(
    output,
    /KafkajsPatchError: rivulet's kafkajs repair "produce grouping" did not take effect: kafkajs' src\/producer\/sendMessages\.js was loaded before the repair/,
  );
});

Deno.test({
  name:
    "one produce request with records for several partitions puts each on its partition in order",
  ...brokerTest,
  fn: async () => {
    const topic = uniqueTopic("patched-grouping");
    await createTopics([topic], 3);
    const producer = createKafkajsClient(testConfig()).producer();
    await producer.connect();
    const records = Array.from({ length: 3_000 }, (_, i) => ({
      key: null,
      value: `r${i}`,
      partition: i % 3,
    }));
    await producer.send([{ topic, records }]);
    await producer.disconnect();
    const source = new KafkaSource({ ...testParts(), topics: [topic] });
    const collector = new Collector();
    await source.start(collector.handler);
    try {
      await collector.waitFor(3_000);
      const byPartition = collector.byPartition();
      for (const partition of [0, 1, 2]) {
        assert.deepEqual(
          byPartition.get(`${topic}-${partition}`),
          records.filter((r) => r.partition === partition).map((r) => r.value),
        );
      }
    } finally {
      await source.close();
    }
  },
});
