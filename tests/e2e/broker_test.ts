import assert from "node:assert/strict";
import { consumeAll, createTopics, produce, testKafka, uniqueTopic } from "../support/kafka.ts";

Deno.test("local broker creates a topic and returns what was produced, in order", async () => {
  const topic = uniqueTopic("broker-roundtrip");
  await createTopics([topic]);
  const admin = testKafka().admin();
  await admin.connect();
  const topics = await admin.listTopics();
  await admin.disconnect();
  assert.ok(topics.includes(topic), `topic ${topic} is listed`);

  const values = ["value", ...Array.from({ length: 10 }, (_, i) => String(i)), "*COMMIT*"];
  await produce(topic, values);
  const records = await consumeAll(topic, { count: values.length });
  assert.deepEqual(records.map((r) => r.value), values);
  assert.deepEqual(records.map((r) => r.offset), values.map((_, i) => String(i)));
});
