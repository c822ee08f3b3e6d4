/**
 * The librdkafka keys rivulet honours rather than warns about: each becomes a
 * ClientConfig field (translation), and the ones that change what the broker
 * sees are checked against the real broker (isolation.level, batch.num.messages,
 * acks, compression in tests/e2e/compression_test.ts).
 */
import assert from "node:assert/strict";
import { translateSettings } from "../../../connectors/kafka/settings.ts";
import { KafkaSink } from "../../../connectors/kafka/sink.ts";
import { KafkaSource } from "../../../connectors/kafka/source.ts";
import { createTopics, testBroker, uniqueTopic } from "../../support/kafka.ts";
import { brokerTest, Collector, testClient, testParts, text } from "./_support.ts";

const base = { "bootstrap.servers": "127.0.0.1:9092" };
const noEnv = { env: () => undefined };

Deno.test("producer and consumer keys become client settings, with no warning", () => {
  const { config, warnings } = translateSettings({
    ...base,
    "compression.codec": "ZSTD",
    "acks": "all",
    "enable.idempotence": "true",
    "linger.ms": "0",
    "batch.num.messages": "500",
    "batch.size": "65536",
    "message.timeout.ms": "120000",
    "request.timeout.ms": "20000",
    "retry.backoff.ms": "250",
    "metadata.max.age.ms": "60000",
    "isolation.level": "read_uncommitted",
    "fetch.min.bytes": "10",
    "fetch.max.bytes": "1048576",
    "max.partition.fetch.bytes": "262144",
    "fetch.wait.max.ms": "200",
    "max.poll.interval.ms": "90000",
  }, noEnv);
  assert.deepEqual(warnings, []);
  assert.deepEqual(
    { ...config, brokers: undefined, clientId: undefined, autoOffsetReset: undefined },
    {
      brokers: undefined,
      clientId: undefined,
      autoOffsetReset: undefined,
      compression: "zstd",
      acks: -1,
      idempotence: true,
      lingerMs: 0,
      batchMaxMessages: 500,
      batchMaxBytes: 65536,
      deliveryTimeoutMs: 120000,
      requestTimeoutMs: 20000,
      retryBackoffMs: 250,
      metadataMaxAgeMs: 60000,
      isolationLevel: "read_uncommitted",
      fetchMinBytes: 10,
      fetchMaxBytes: 1048576,
      maxPartitionFetchBytes: 262144,
      fetchMaxWaitMs: 200,
      rebalanceTimeoutMs: 90000,
    },
  );
});

Deno.test("librdkafka's other names for the same settings are honoured too", () => {
  const { config, warnings } = translateSettings({
    ...base,
    "compression.type": "lz4",
    "request.required.acks": "1",
    "queue.buffering.max.ms": "7",
    "delivery.timeout.ms": "0",
    "socket.timeout.ms": "9000",
    "topic.metadata.refresh.interval.ms": "30000",
  }, noEnv);
  assert.equal(config.compression, "lz4");
  assert.equal(config.acks, 1);
  assert.equal(config.idempotence, false, "acks=1 turns idempotence off");
  assert.equal(config.lingerMs, 7);
  assert.equal(config.deliveryTimeoutMs, Number.MAX_SAFE_INTEGER, "0 means no limit");
  assert.equal(config.requestTimeoutMs, 9000);
  assert.equal(config.metadataMaxAgeMs, 30000);
  assert.equal(warnings.length, 1);
  assert.match(
    warnings[0],
    /"request\.required\.acks" is "1".*at-least-once promise no longer holds/,
  );
});

Deno.test("bad values of honoured keys are errors naming the key and what it must be, never the value", () => {
  const cases: [Record<string, string>, RegExp][] = [
    [
      { "compression.codec": "brotli" },
      /compression\.codec.*none, gzip, snappy, lz4 or zstd/,
    ],
    [{ acks: "2" }, /acks.*all, -1, 1 or 0/],
    [{ acks: "1", "enable.idempotence": "true" }, /enable\.idempotence.*needs acks=all/],
    [{ "isolation.level": "serializable" }, /isolation\.level.*read_committed or read_uncommitted/],
    [{ "batch.num.messages": "0" }, /batch\.num\.messages.*from 1/],
    [{ "linger.ms": "soon" }, /linger\.ms.*milliseconds/],
  ];
  for (const [settings, message] of cases) {
    assert.throws(() => translateSettings({ ...base, ...settings }, noEnv), message);
    assert.throws(
      () => translateSettings({ ...base, ...settings }, noEnv),
      (error: Error) => !error.message.includes('"brotli"') && !error.message.includes('"2"'),
    );
  }
});

Deno.test("OAUTHBEARER: exactly one token source, and OIDC is refused with the alternative", () => {
  const sasl = { ...base, "security.protocol": "sasl_ssl", "sasl.mechanism": "OAUTHBEARER" };
  const file = translateSettings({ ...sasl, "rivulet.sasl.oauthbearer.token.file": "/t" }, noEnv);
  assert.deepEqual(file.config.sasl?.oauthBearer, { kind: "file", path: "/t" });
  const command = translateSettings({
    ...sasl,
    "rivulet.sasl.oauthbearer.token.command": "get-token --audience kafka",
  }, noEnv);
  assert.deepEqual(command.config.sasl?.oauthBearer, {
    kind: "command",
    command: ["get-token", "--audience", "kafka"],
  });
  const jwt = translateSettings({
    ...sasl,
    "enable.sasl.oauthbearer.unsecure.jwt": "true",
    "sasl.oauthbearer.config": "principal=alice scope=read,write lifeSeconds=60",
  }, noEnv);
  assert.deepEqual(jwt.config.sasl?.oauthBearer, {
    kind: "unsecured-jwt",
    principal: "alice",
    scope: ["read", "write"],
    lifeSeconds: 60,
  });
  assert.throws(() => translateSettings(sasl, noEnv), /needs a token: set rivulet\.sasl/);
  assert.throws(
    () =>
      translateSettings({
        ...sasl,
        "rivulet.sasl.oauthbearer.token.file": "/t",
        "rivulet.sasl.oauthbearer.token.command": "x",
      }, noEnv),
    /cannot be given together/,
  );
  assert.throws(
    () => translateSettings({ ...sasl, "sasl.oauthbearer.method": "oidc" }, noEnv),
    /does not fetch OIDC tokens itself.*token\.command/,
  );
  assert.throws(
    () =>
      translateSettings({
        ...sasl,
        "enable.sasl.oauthbearer.unsecure.jwt": "true",
        "sasl.oauthbearer.config": "scope=x",
      }, noEnv),
    /needs principal=NAME/,
  );
});

Deno.test("keys rivulet cannot honour stay named warnings with the reason", () => {
  const { warnings } = translateSettings({
    ...base,
    retries: "3",
    "partition.assignment.strategy": "range",
    "sasl.oauthbearer.client.secret": "s3cr3t",
  }, noEnv);
  assert.equal(warnings.length, 3);
  assert.match(warnings[0], /"retries" .*retries a request for a time.*message\.timeout\.ms/);
  assert.match(
    warnings[1],
    /"partition\.assignment\.strategy" is a librdkafka setting rivulet ignores/,
  );
  assert.match(warnings[2], /"sasl\.oauthbearer\.client\.secret" .*does not fetch OIDC tokens/);
  assert.ok(!warnings.join().includes("s3cr3t"));
});

Deno.test({
  name: "isolation.level=read_uncommitted is honoured by the source: it sees an aborted record",
  ...brokerTest,
  fn: async () => {
    const topic = uniqueTopic("isolation");
    await createTopics([topic]);
    const client = testClient();
    const producer = client.transactionalProducer({ transactionalId: uniqueTopic("tx") });
    await producer.connect();
    const transaction = await producer.begin();
    await transaction.send([{ topic, records: [{ key: null, value: "aborted", partition: 0 }] }]);
    await transaction.abort();
    await producer.disconnect();
    const plain = client.producer();
    await plain.connect();
    await plain.send([{ topic, records: [{ key: null, value: "after", partition: 0 }] }]);
    await plain.disconnect();
    const read = async (isolation: string, count: number) => {
      const { config } = translateSettings({
        "bootstrap.servers": testBroker,
        "group.id": uniqueTopic("isolation-group"),
        "isolation.level": isolation,
      }, noEnv);
      const source = new KafkaSource({ config, client: testClient(config), topics: [topic] });
      const collector = new Collector();
      await source.start(collector.handler);
      try {
        await collector.waitFor(count);
        return collector.messages.map((m) => text(m.value));
      } finally {
        await source.stop();
      }
    };
    assert.deepEqual(await read("read_uncommitted", 2), ["aborted", "after"]);
    assert.deepEqual(await read("read_committed", 1), ["after"], "the default hides it");
  },
});

Deno.test({
  name: "batch.num.messages splits a commit's records into produce requests of at most N",
  ...brokerTest,
  fn: async () => {
    const topic = uniqueTopic("batch-num");
    const sink = new KafkaSink({
      ...testParts({ batchMaxMessages: 10, acks: 1, idempotence: false }),
      topic,
      encode: (change) => String(change.row.n),
    });
    await sink.open();
    const changes = Array.from({ length: 35 }, (_, n) => ({
      id: n.toString(16).padStart(32, "0"),
      row: { n },
      diff: 1,
    }));
    await sink.write({ time: 1, changes });
    const stats = sink.stats();
    await sink.close();
    assert.equal(stats.records, 35);
    assert.equal(stats.produceRequests, 4, "10 + 10 + 10 + 5");
  },
});
