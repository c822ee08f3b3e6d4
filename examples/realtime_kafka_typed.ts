/**
 * The seed's `realtime_kafka.py` with a typed schema: read `connector_example`
 * as csv with one int column `value` (a value that is not an int is bad input,
 * stopping the run with its topic, partition, offset, column and value), reduce to `sum`,
 * write every change of the sum to the `sum` topic as JSON, run until stopped.
 *
 * Settings: the librdkafka settings in the JSON file named by
 * `RIVULET_SETTINGS`; without it, the local broker at 127.0.0.1:9092.
 * State (the sum, offsets, the csv header) lives in `RIVULET_STATE_DIR`
 * (default `.state/realtime_kafka_typed`), so a restart continues where it stopped.
 *
 * Run: scripts/deno run --allow-net --allow-read --allow-write=.state --allow-env examples/realtime_kafka_typed.ts
 *
 * @module
 */
import * as rw from "../mod.ts";

const settingsFile = Deno.env.get("RIVULET_SETTINGS");
const rdkafkaSettings: rw.KafkaSettings = settingsFile === undefined
  ? { "bootstrap.servers": "127.0.0.1:9092", "group.id": "rivulet-realtime-kafka-typed" }
  : await rw.loadSettingsFile(settingsFile);

// We use the Kafka connector to listen to the "connector_example" topic.
const t = rw.kafka.read(rdkafkaSettings, {
  topicNames: [Deno.env.get("RIVULET_INPUT_TOPIC") ?? "connector_example"],
  format: "csv",
  schema: { value: "int" }, // t: rw.Table<{ value: number }>
});

// We compute the sum: `value` is already an int.
const sum = t.reduce({ sum: rw.reducers.sum("value") });

// We use the Kafka connector to send the resulting output stream containing the sum.
rw.kafka.write(sum, rdkafkaSettings, {
  topicName: Deno.env.get("RIVULET_OUTPUT_TOPIC") ?? "sum",
  format: "json",
});

// We launch the computation; it runs until SIGINT or SIGTERM.
await rw.run({ stateDir: Deno.env.get("RIVULET_STATE_DIR") ?? ".state/realtime_kafka_typed" });
