/**
 * Waits until the local broker serves clients: creates a topic, lists it, and
 * exits 0. Exits 1 after the deadline. Used by scripts/kafka.sh.
 *
 * Usage: deno run --allow-net=127.0.0.1 --allow-env scripts/kafka_ready.ts BROKER SECONDS
 */
import { Kafka, logLevel } from "kafkajs";

const [broker = "127.0.0.1:9092", seconds = "60"] = Deno.args;
const deadline = Date.now() + Number(seconds) * 1000;
const topic = "rivulet-ready";
let lastError = "";

while (Date.now() < deadline) {
  const kafka = new Kafka({
    clientId: "rivulet-ready",
    brokers: [broker],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1000,
    retry: { retries: 0 },
  });
  const admin = kafka.admin();
  try {
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
    const topics = await admin.listTopics();
    if (topics.includes(topic)) {
      await admin.disconnect();
      console.log(`kafka_ready: broker ${broker} created and listed topic "${topic}"`);
      Deno.exit(0);
    }
    lastError = `topic "${topic}" not listed yet`;
  } catch (error) {
    lastError = error instanceof Error ? error.message : String(error);
  }
  await admin.disconnect().catch(() => {});
  await new Promise((resolve) => setTimeout(resolve, 500));
}
console.error(`kafka_ready: broker ${broker} not ready after ${seconds}s: ${lastError}`);
Deno.exit(1);
