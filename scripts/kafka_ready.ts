/**
 * Waits until the local broker serves clients: creates a topic, lists it, and
 * exits 0. Exits 1 after the deadline. Used by scripts/kafka.sh.
 *
 * It talks to the broker through rivulet's own Kafka client (the one
 * `RIVULET_KAFKA_CLIENT` chooses, kafkajs by default, with rivulet's repairs:
 * no TimeoutNegativeWarning on every start). Until the port accepts
 * connections it only knocks on it, every 250 ms, so a start is noticed at
 * once rather than after a client's connection backoff.
 *
 * Usage: deno run --allow-net=127.0.0.1 --allow-env --allow-read scripts/kafka_ready.ts BROKER SECONDS
 *
 * @module
 */
import { createKafkaClient, resolveKafkaClientName } from "../connectors/kafka/clients.ts";
import type { ClientConfig } from "../connectors/kafka/config.ts";

const [broker = "127.0.0.1:9092", seconds = "60"] = Deno.args;
const deadline = Date.now() + Number(seconds) * 1000;
const topic = "rivulet-ready";
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
let lastError = "";

/** Whether something accepts TCP connections at the broker's address. */
async function portOpen(): Promise<boolean> {
  const at = broker.lastIndexOf(":");
  try {
    const connection = await Deno.connect({
      hostname: broker.slice(0, at),
      port: Number(broker.slice(at + 1)),
    });
    connection.close();
    return true;
  } catch (error) {
    lastError = error instanceof Error ? error.message : String(error);
    return false;
  }
}

const config: ClientConfig = {
  brokers: [broker],
  clientId: "rivulet-ready",
  autoOffsetReset: "earliest",
  connectionTimeoutMs: 1000,
};
const client = await createKafkaClient(resolveKafkaClientName(), config);

while (Date.now() < deadline) {
  if (!(await portOpen())) {
    await sleep(250);
    continue;
  }
  const admin = client.admin();
  try {
    await admin.connect();
    await admin.createTopic({ topic, partitions: 1 });
    if ((await admin.listTopics()).includes(topic)) {
      await admin.disconnect();
      await client.close();
      console.log(`kafka_ready: broker ${broker} created and listed topic "${topic}"`);
      Deno.exit(0);
    }
    lastError = `topic "${topic}" not listed yet`;
  } catch (error) {
    lastError = error instanceof Error ? error.message : String(error);
  }
  await admin.disconnect().catch(() => {});
  await sleep(500);
}
await client.close();
console.error(`kafka_ready: broker ${broker} not ready after ${seconds}s: ${lastError}`);
Deno.exit(1);
