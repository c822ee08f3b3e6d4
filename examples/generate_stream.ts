/**
 * The seed's stream generator (`generating_kafka_stream.py`) on rivulet's Kafka
 * client (`RIVULET_KAFKA_CLIENT` chooses which):
 * sends the csv header `value` to partition 0 of `connector_example`, then
 * the values 0 to 9, each followed by a `*COMMIT*` message.
 *
 * Reads librdkafka settings from the JSON file named by `RIVULET_SETTINGS`
 * (only `bootstrap.servers` and the security keys matter here); without it,
 * the local broker at 127.0.0.1:9092. `STREAM_DELAY_MS` sets the pause between
 * values (default 1000, the seed's `time.sleep(1)`).
 *
 * Run: scripts/deno run --allow-net --allow-read --allow-env examples/generate_stream.ts
 *
 * @module
 */
import { loadSettingsFile, translateSettings } from "../connectors/kafka/settings.ts";
import { createKafkaClient, resolveKafkaClientName } from "../connectors/kafka/clients.ts";

const topic = Deno.env.get("STREAM_TOPIC") ?? "connector_example";
const delayMs = Number(Deno.env.get("STREAM_DELAY_MS") ?? "1000");
const settingsFile = Deno.env.get("RIVULET_SETTINGS");
const settings = settingsFile === undefined
  ? { "bootstrap.servers": "127.0.0.1:9092" }
  : await loadSettingsFile(settingsFile);

const { config } = translateSettings(settings, {
  readFile: Deno.readTextFileSync,
  env: Deno.env.get,
});
const client = await createKafkaClient(resolveKafkaClientName(), config);
const admin = client.admin();
await admin.connect();
await admin.createTopic({ topic, partitions: 1 });
await admin.disconnect();
const producer = client.producer();
await producer.connect();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const send = (value: string) =>
  producer.send([{ topic, records: [{ key: null, value, partition: 0 }] }]);

await send("value");
await sleep(Math.min(delayMs * 5, 5000));
for (let i = 0; i < 10; i++) {
  await sleep(delayMs);
  await send(String(i));
  await send("*COMMIT*");
}
await producer.disconnect();
console.log(`generate_stream: sent the header, 10 values and 10 commits to "${topic}"`);
