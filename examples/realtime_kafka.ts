/**
 * The seed's `realtime_kafka.py` in TypeScript: read `connector_example` as
 * csv with one column `value`, turn `value` into an integer, reduce to `sum`,
 * write every change of the sum to the `sum` topic as JSON, run until stopped.
 *
 * Settings: the librdkafka settings in the JSON file named by
 * `RIVULET_SETTINGS`; without it, the local broker at 127.0.0.1:9092.
 * State (the sum, offsets, the csv header) lives in `RIVULET_STATE_DIR`
 * (default `.state/realtime_kafka`), so a restart continues where it stopped.
 * `RIVULET_KAFKA_CLIENT` (kafkajs or platformatic) chooses the Kafka client.
 *
 * Run: scripts/deno run --allow-net --allow-read --allow-write=.state --allow-env examples/realtime_kafka.ts
 *
 * @module
 */
import * as rw from "../mod.ts";

const settingsFile = Deno.env.get("RIVULET_SETTINGS");
const rdkafkaSettings: rw.KafkaSettings = settingsFile === undefined
  ? { "bootstrap.servers": "127.0.0.1:9092", "group.id": "rivulet-realtime-kafka" }
  : await rw.loadSettingsFile(settingsFile);

// We use the Kafka connector to listen to the "connector_example" topic.
const t = rw.kafka.read(rdkafkaSettings, {
  topicNames: [Deno.env.get("RIVULET_INPUT_TOPIC") ?? "connector_example"],
  valueColumns: ["value"],
  format: "csv",
});

// We compute the sum (this part is independent of the connectors).
// The typed form reads `value` as an int, so no parseInt, and a value that is
// not one (a second header) is reported as bad input instead of becoming NaN:
//   const t = rw.kafka.read(rdkafkaSettings, { ..., format: "csv", schema: { value: "int" } });
//   const sum = t.reduce({ sum: rw.reducers.sum("value") });
// (examples/realtime_kafka_typed.ts runs it.) Here, as in the seed, the literal form:
const values = t.select({ value: rw.apply((x: string) => parseInt(x), "value") });
const sum = values.reduce({ sum: rw.reducers.sum("value") });

// We use the Kafka connector to send the resulting output stream containing the sum.
rw.kafka.write(sum, rdkafkaSettings, {
  topicName: Deno.env.get("RIVULET_OUTPUT_TOPIC") ?? "sum",
  format: "json",
});

// We launch the computation; it runs until SIGINT or SIGTERM.
await rw.run({ stateDir: Deno.env.get("RIVULET_STATE_DIR") ?? ".state/realtime_kafka" });
