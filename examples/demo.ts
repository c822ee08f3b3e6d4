/**
 * The README's first command: runs the seed's example on the local broker and
 * shows the `sum` topic's records as they arrive. It empties the topics
 * `connector_example` and `sum` and the example's state first, starts
 * `realtime_kafka.ts` as its own process, runs the stream generator, prints
 * each record of `sum` until the sum reaches 45, then stops the pipeline with
 * SIGTERM.
 *
 * Run through `scripts/demo.sh`, which also starts and stops the broker.
 *
 * @module
 */
// rivulet's kafkajs adapter before kafkajs itself: it repairs kafkajs as it loads. kafkajs is
// used directly only to delete the topics, which rivulet's client interface does not do.
import { createKafkajsClient } from "../connectors/kafka/kafkajs/client.ts";
import { translateSettings } from "../connectors/kafka/settings.ts";
import { Kafka, logLevel } from "kafkajs";

const broker = `127.0.0.1:${Deno.env.get("KAFKA_PORT") ?? "9092"}`;
const stateDir = ".state/demo";
const here = new URL(".", import.meta.url).pathname;
const settingsFile = `${stateDir}.settings.json`;

// Start from empty topics and state, so the stream ends at 45 on every run.
const kafka = new Kafka({
  clientId: "rivulet-demo",
  brokers: [broker],
  logLevel: logLevel.NOTHING,
});
const admin = kafka.admin();
await admin.connect();
const existing = await admin.listTopics();
const stale = ["connector_example", "sum"].filter((t) => existing.includes(t));
if (stale.length > 0) await admin.deleteTopics({ topics: stale });
await admin.disconnect();
await Deno.remove(stateDir, { recursive: true }).catch(() => {});
await Deno.mkdir(".state", { recursive: true });
await Deno.writeTextFile(
  settingsFile,
  JSON.stringify({ "bootstrap.servers": broker, "group.id": `rivulet-demo-${Date.now()}` }),
);
const { config } = translateSettings({ "bootstrap.servers": broker });
const setup = createKafkajsClient(config).admin();
await setup.connect();
for (const topic of ["connector_example", "sum"]) {
  // A deleted topic takes a moment to go; creating it again retries until then.
  for (let attempt = 0;; attempt++) {
    try {
      await setup.createTopic({ topic, partitions: 1 });
      break;
    } catch (error) {
      if (attempt > 20) throw error;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}
await setup.disconnect();

const env = { RIVULET_SETTINGS: settingsFile, RIVULET_STATE_DIR: stateDir, STREAM_DELAY_MS: "300" };
const deno = Deno.execPath();
console.log("demo: starting examples/realtime_kafka.ts (connector_example -> sum)");
const pipeline = new Deno.Command(deno, {
  args: [
    "run",
    `--allow-net=${broker}`,
    "--allow-read",
    "--allow-write=.state",
    "--allow-env",
    `${here}realtime_kafka.ts`,
  ],
  env,
  stdout: "inherit",
  stderr: "inherit",
}).spawn();

console.log(
  "demo: producing the seed's stream: header `value`, then 0..9 each followed by *COMMIT*",
);
const generator = new Deno.Command(deno, {
  args: [
    "run",
    `--allow-net=${broker}`,
    "--allow-read",
    "--allow-env",
    `${here}generate_stream.ts`,
  ],
  env,
  stdout: "inherit",
  stderr: "inherit",
}).spawn();

console.log('demo: records of topic "sum" as they arrive:');
const consumer = kafka.consumer({ groupId: `rivulet-demo-reader-${Date.now()}` });
await consumer.connect();
await consumer.subscribe({ topic: "sum", fromBeginning: true });
let reached!: () => void;
const done = new Promise<void>((resolve) => (reached = resolve));
await consumer.run({
  eachMessage: ({ message }) => {
    const text = message.value?.toString() ?? "";
    console.log(`  ${text}`);
    const record = JSON.parse(text);
    if (record.sum === 45 && record.diff === 1) reached();
    return Promise.resolve();
  },
});
const timeout = setTimeout(() => {
  console.error("demo: the sum did not reach 45 within 120 s");
  Deno.exit(1);
}, 120_000);
await done;
clearTimeout(timeout);
await consumer.disconnect();
await generator.status;
pipeline.kill("SIGTERM");
const { code } = await pipeline.status;
console.log(`demo: the sum reached 45; the pipeline stopped on SIGTERM with exit code ${code}`);
Deno.exit(code);
