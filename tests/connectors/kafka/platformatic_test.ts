/**
 * What only the platformatic adapter does: its connection options, and the
 * consumer group protocol of KIP-848 (`group.protocol=consumer`), checked on
 * the broker: a member of such a group is no member of a classic group.
 */
import assert from "node:assert/strict";
import {
  baseOptions,
  createPlatformaticClient,
} from "../../../connectors/kafka/platformatic/client.ts";
import { translateSettings } from "../../../connectors/kafka/settings.ts";
import { SettingsError } from "../../../connectors/kafka/_settings_error.ts";
import { createTopics, testKafka, uniqueTopic } from "../../support/kafka.ts";
import { brokerTest, testConfig, text } from "./_support.ts";

const noEnv = { env: () => undefined };

Deno.test("platformatic options carry brokers, client id, TLS material and SASL credentials", () => {
  const options = baseOptions({
    brokers: ["k1:9093", "k2:9093"],
    clientId: "rivulet-x",
    autoOffsetReset: "earliest",
    connectionTimeoutMs: 2_500,
    tls: { ca: "CA PEM", cert: "CERT PEM", key: "KEY PEM", verifyCertificates: true },
    sasl: { mechanism: "scram-sha-512", username: "alice", password: "s3cret" },
  });
  assert.deepEqual(options.bootstrapBrokers, ["k1:9093", "k2:9093"]);
  assert.equal(options.clientId, "rivulet-x");
  assert.equal(options.connectTimeout, 2_500);
  assert.deepEqual(options.tls, {
    rejectUnauthorized: true,
    ca: ["CA PEM"],
    cert: "CERT PEM",
    key: "KEY PEM",
  });
  assert.deepEqual(options.sasl, {
    mechanism: "SCRAM-SHA-512",
    username: "alice",
    password: "s3cret",
  });
  const unverified = baseOptions({
    brokers: ["k1:9093"],
    clientId: "c",
    autoOffsetReset: "earliest",
    tls: { verifyCertificates: false },
  });
  assert.equal(unverified.tls?.rejectUnauthorized, false);
  assert.equal(unverified.tls?.checkServerIdentity?.("k1", {} as never), undefined);
  assert.equal(baseOptions(testConfig()).sasl, undefined);
});

Deno.test("group.protocol is translated: classic or consumer, anything else names the key", () => {
  const base = { "bootstrap.servers": "k1:9092", "group.id": "g" };
  assert.equal(translateSettings(base, noEnv).config.groupProtocol, undefined);
  assert.equal(
    translateSettings({ ...base, "group.protocol": "CONSUMER" }, noEnv).config.groupProtocol,
    "consumer",
  );
  assert.equal(
    translateSettings({ ...base, "group.protocol": "classic" }, noEnv).config.groupProtocol,
    "classic",
  );
  assert.throws(
    () => translateSettings({ ...base, "group.protocol": "cooperative" }, noEnv),
    (error: unknown) =>
      error instanceof SettingsError && /group\.protocol/.test(error.message) &&
      /"cooperative"/.test(error.message),
  );
});

/** The group as the classic DescribeGroups call sees it while one member of `protocol` runs. */
async function classicView(protocol: "classic" | "consumer") {
  const config = testConfig({ groupProtocol: protocol });
  const groupId = config.groupId!;
  const client = createPlatformaticClient(config);
  const consumer = client.consumer({
    groupId,
    topics: ["rivulet-ready"],
    autoOffsetReset: "earliest",
  });
  let assigned!: () => void;
  const hasPartition = new Promise<void>((resolve) => (assigned = resolve));
  await consumer.connect();
  const admin = testKafka().admin();
  await admin.connect();
  try {
    await consumer.run({ onBatch: () => Promise.resolve(), onAssigned: () => assigned() });
    await hasPartition;
    const { groups: [group] } = await admin.describeGroups([groupId]);
    return { state: group.state, members: group.members.length };
  } finally {
    await admin.disconnect();
    await consumer.disconnect();
  }
}

Deno.test({
  name: "group.protocol=consumer joins by KIP-848: no classic group exists while the member reads",
  ...brokerTest,
  ignore: Deno.env.get("KAFKA_VERSION")?.startsWith("3.") === true,
  fn: async () => {
    assert.deepEqual(await classicView("classic"), { state: "Stable", members: 1 });
    // A consumer-protocol group is not a classic one: the classic call finds no such group.
    assert.deepEqual(await classicView("consumer"), { state: "Dead", members: 0 });
  },
});

/**
 * The adapter's producers encode their requests themselves
 * (`platformatic/produce_request.ts`) and pass text keys and values of records
 * with a partition as text; compressed batches and records the library
 * partitions go through the library's own encoder, the text turned into
 * bytes first. Each way, what the broker stores is what was sent.
 */
for (const compression of ["none", "gzip", "lz4", "snappy"] as const) {
  Deno.test({
    name:
      `platformatic producer, compression ${compression}: text and bytes reach the broker intact`,
    ...brokerTest,
    fn: async () => {
      const topic = uniqueTopic(`platformatic-produce-${compression}`);
      await createTopics([topic], 2);
      const config = testConfig({ compression });
      const client = createPlatformaticClient(config);
      try {
        const producer = client.producer({ idempotent: true });
        await producer.connect();
        await producer.send([{
          topic,
          records: [
            { key: "0123abcd", value: '{"sum":1}', partition: 0 },
            { key: "grüße", value: "東京 🚀", partition: 0, headers: { h: "é" } },
            { key: new Uint8Array([0, 255]), value: "", partition: 1 },
            { key: null, value: "x".repeat(5_000), partition: 1 },
            // No partition: the library hashes the key's bytes to choose one.
            { key: "by-key", value: "partitioned by the library" },
          ],
        }]);
        await producer.disconnect();
        const consumer = client.consumer({
          groupId: config.groupId!,
          topics: [topic],
          autoOffsetReset: "earliest",
        });
        await consumer.connect();
        const seen: string[] = [];
        let all!: () => void;
        const arrived = new Promise<void>((resolve) => (all = resolve));
        const timer = setTimeout(all, 30_000);
        await consumer.run({
          onBatch: (batch) => {
            for (const m of batch.messages) {
              const key = m.key === null ? "null" : [...m.key].join(",");
              seen.push(`${key} ${text(m.value)} ${JSON.stringify(m.headers)}`);
            }
            if (seen.length >= 5) all();
            return Promise.resolve();
          },
        });
        await arrived;
        clearTimeout(timer);
        await consumer.disconnect();
        const bytes = (s: string) => [...new TextEncoder().encode(s)].join(",");
        assert.deepEqual(
          seen.sort(),
          [
            `${bytes("0123abcd")} {"sum":1} {}`,
            `${bytes("by-key")} partitioned by the library {}`,
            `${bytes("grüße")} 東京 🚀 {"h":"é"}`,
            `0,255  {}`,
            `null ${"x".repeat(5_000)} {}`,
          ].sort(),
        );
      } finally {
        await client.close();
      }
    },
  });
}
