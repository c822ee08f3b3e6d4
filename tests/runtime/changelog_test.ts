/** Changelog topics against the in-memory Kafka fake: created compacted, checked later. */
import assert from "node:assert/strict";
import { MemoryKafka } from "../../connectors/kafka/memory/client.ts";
import { type Admin, KafkaClientError } from "../../connectors/kafka/client.ts";
import {
  ChangelogTopicError,
  changelogTopicName,
  ensureChangelogTopic,
} from "../../runtime/delivery/changelog.ts";

Deno.test("a changelog topic is named from the group and the store; bad characters become _", () => {
  assert.equal(changelogTopicName("orders-app", "reduce-3"), "orders-app-reduce-3-changelog");
  assert.equal(changelogTopicName("team/app", "sum:1"), "team_app-sum_1-changelog");
  assert.throws(() => changelogTopicName("g".repeat(250), "s"), /249 characters/);
});

Deno.test("the first start creates the changelog compacted with the work's partition count; a later one checks it", async () => {
  const kafka = new MemoryKafka();
  const admin = kafka.admin();
  const topic = changelogTopicName("g", "sum");
  assert.equal(await ensureChangelogTopic(admin, { topic, partitions: 3 }), "created");
  const described = await admin.describeTopic(topic);
  assert.equal(described.partitions, 3);
  assert.equal(described.configs["cleanup.policy"], "compact");
  assert.equal(await ensureChangelogTopic(admin, { topic, partitions: 3 }), "checked");
});

Deno.test("a changelog with another partition count is refused, naming the topic", async () => {
  const kafka = new MemoryKafka();
  kafka.createTopic("g-sum-changelog", 2, { "cleanup.policy": "compact" });
  await assert.rejects(
    ensureChangelogTopic(kafka.admin(), { topic: "g-sum-changelog", partitions: 3 }),
    (error: unknown) =>
      error instanceof ChangelogTopicError && error.topic === "g-sum-changelog" &&
      /"g-sum-changelog" has 2 partitions, the work it belongs to has 3/.test(error.message),
  );
});

Deno.test("a changelog without compaction is refused, naming the topic and its policy", async () => {
  const kafka = new MemoryKafka();
  kafka.createTopic("g-sum-changelog", 1); // the fake's default: cleanup.policy=delete
  await assert.rejects(
    ensureChangelogTopic(kafka.admin(), { topic: "g-sum-changelog", partitions: 1 }),
    /Changelog topic "g-sum-changelog" has cleanup.policy=delete, not compact/,
  );
  kafka.createTopic("g-both-changelog", 1, { "cleanup.policy": "compact,delete" });
  assert.equal(
    await ensureChangelogTopic(kafka.admin(), { topic: "g-both-changelog", partitions: 1 }),
    "checked",
  );
});

Deno.test("a client that cannot describe topics is refused before anything is created", async () => {
  const kafka = new MemoryKafka();
  const admin = kafka.admin();
  const limited: Admin = {
    connect: () => admin.connect(),
    listTopics: () => admin.listTopics(),
    createTopic: (options) => admin.createTopic(options),
    partitionOffsets: (topic) => admin.partitionOffsets(topic),
    groupPositions: (group, topics) => admin.groupPositions(group, topics),
    disconnect: () => admin.disconnect(),
  };
  await assert.rejects(
    ensureChangelogTopic(limited, { topic: "g-sum-changelog", partitions: 1 }),
    /cannot describe topics, which changelog topic "g-sum-changelog" needs/,
  );
  assert.deepEqual(await admin.listTopics(), []);
});

Deno.test("a changelog topic the client may not create is refused naming the topic and --state-store local", async () => {
  const kafka = new MemoryKafka();
  const admin = kafka.admin();
  const refusing: Admin = {
    connect: () => admin.connect(),
    listTopics: () => admin.listTopics(),
    createTopic: () =>
      Promise.reject(
        new KafkaClientError("Topic authorization failed", { retriable: false }),
      ),
    partitionOffsets: (topic) => admin.partitionOffsets(topic),
    groupPositions: (group, topics) => admin.groupPositions(group, topics),
    describeTopic: (topic) => admin.describeTopic(topic),
    disconnect: () => admin.disconnect(),
  };
  await assert.rejects(
    ensureChangelogTopic(refusing, { topic: "g-state-changelog", partitions: 3 }),
    (error: unknown) =>
      error instanceof ChangelogTopicError && error.topic === "g-state-changelog" &&
      /Cannot create changelog topic "g-state-changelog".*Topic authorization failed/.test(
        error.message,
      ) && /--state-store local/.test(error.message) && /3 partitions/.test(error.message),
  );
});
