/**
 * Choosing a Kafka client by name: the option, then `RIVULET_KAFKA_CLIENT`,
 * then the default; loading only the chosen adapter; a deferred client that
 * sources and sinks can hold before the pipeline opens it.
 */
import assert from "node:assert/strict";
import {
  createKafkaClient,
  defaultKafkaClientName,
  deferredKafkaClient,
  GroupProtocolUnsupportedError,
  kafkaClientNames,
  parseKafkaClientName,
  resolveKafkaClientName,
  UnknownKafkaClientError,
} from "../../../connectors/kafka/clients.ts";
import { KafkaClientError } from "../../../connectors/kafka/client.ts";
import type { ClientConfig } from "../../../connectors/kafka/config.ts";
import { brokerTest, testConfig } from "./_support.ts";

const config: ClientConfig = { brokers: ["k1:9092"], clientId: "t", autoOffsetReset: "earliest" };

Deno.test("the client is chosen by the option, then RIVULET_KAFKA_CLIENT, then the default", () => {
  const env = (value: string | undefined) => (name: string) =>
    name === "RIVULET_KAFKA_CLIENT" ? value : undefined;
  assert.equal(resolveKafkaClientName({ env: env(undefined) }), defaultKafkaClientName);
  assert.equal(resolveKafkaClientName({ env: env("") }), defaultKafkaClientName);
  assert.equal(resolveKafkaClientName({ env: env("platformatic") }), "platformatic");
  assert.equal(resolveKafkaClientName({ env: env(" KafkaJS ") }), "kafkajs");
  assert.equal(
    resolveKafkaClientName({ option: "kafkajs", env: env("platformatic") }),
    "kafkajs",
  );
  assert.deepEqual([...kafkaClientNames], ["kafkajs", "platformatic"]);
});

Deno.test("an unknown client name is an error naming where it came from and what was meant", () => {
  assert.throws(
    () => resolveKafkaClientName({ env: () => "platformatik" }),
    (error: unknown) => {
      assert.ok(error instanceof UnknownKafkaClientError);
      assert.equal(
        error.message,
        'Environment variable RIVULET_KAFKA_CLIENT must be kafkajs or platformatic, not "platformatik" (did you mean "platformatic"?)',
      );
      return true;
    },
  );
  assert.throws(() => parseKafkaClientName("librdkafka", 'Flag "--kafka-client"'), {
    message: 'Flag "--kafka-client" must be kafkajs or platformatic, not "librdkafka"',
  });
});

Deno.test("both clients load by name; kafkajs refuses group.protocol=consumer and says what to use", async () => {
  for (const name of kafkaClientNames) {
    const client = await createKafkaClient(name, config);
    assert.equal(typeof client.admin().listTopics, "function");
    await client.close();
  }
  const kip848: ClientConfig = { ...config, groupProtocol: "consumer" };
  await createKafkaClient("platformatic", kip848).then((client) => client.close());
  await assert.rejects(createKafkaClient("kafkajs", kip848), (error: unknown) => {
    assert.ok(error instanceof GroupProtocolUnsupportedError);
    assert.match(error.message, /group\.protocol consumer \(KIP-848\) needs the platformatic/);
    assert.match(error.message, /--kafka-client platformatic/);
    return true;
  });
});

Deno.test("a deferred client chooses when opened, refuses parts before, and closes once opened", async () => {
  let chosen = 0;
  const client = deferredKafkaClient(() => {
    chosen++;
    return "kafkajs";
  }, config);
  assert.equal(client.name, undefined);
  assert.throws(() => client.admin(), /The Kafka client is not open/);
  await Promise.all([client.open(), client.open()]);
  assert.equal(chosen, 1);
  assert.equal(client.name, "kafkajs");
  const admin = client.admin();
  assert.equal(typeof admin.listTopics, "function");
  await client.close();
  await client.close();
});

Deno.test("a deferred client whose choice cannot be made fails to open, and closes quietly", async () => {
  const client = deferredKafkaClient(() => "kafkajs", { ...config, groupProtocol: "consumer" });
  await assert.rejects(client.open(), GroupProtocolUnsupportedError);
  await client.close();
});

for (const name of kafkaClientNames) {
  Deno.test({
    name: `closing a ${name} client disconnects the parts its owners left connected`,
    ...brokerTest,
    fn: async () => {
      const client = await createKafkaClient(name, testConfig());
      const left = client.admin();
      await left.connect();
      const done = client.admin();
      await done.connect();
      await done.disconnect();
      assert.ok(Array.isArray(await left.listTopics()));
      await client.close();
      // A disconnected admin refuses requests (kafkajs' own would sometimes connect again).
      await assert.rejects(left.listTopics(), KafkaClientError);
    },
  });
}
