/**
 * Changelog topics on the real broker through the kafkajs adapter: created
 * with `cleanup.policy=compact` and the asked partition count, described
 * back, and refused by name when an existing topic does not fit.
 */
import assert from "node:assert/strict";
import { createKafkajsClient } from "../../../connectors/kafka/kafkajs/client.ts";
import {
  ChangelogTopicError,
  changelogTopicName,
  ensureChangelogTopic,
} from "../../../runtime/delivery/changelog.ts";
import { createTopics, uniqueTopic } from "../../support/kafka.ts";
import { brokerTest, testConfig } from "./_support.ts";

Deno.test({
  name: "kafkajs: a changelog topic is created compacted on first start and checked on the next",
  ...brokerTest,
  async fn() {
    const client = createKafkajsClient(testConfig());
    const admin = client.admin();
    await admin.connect();
    try {
      const topic = changelogTopicName(uniqueTopic("rivulet-app"), "reduce-2");
      assert.equal(await ensureChangelogTopic(admin, { topic, partitions: 3 }), "created");
      const described = await admin.describeTopic!(topic);
      assert.equal(described.partitions, 3);
      assert.equal(described.configs["cleanup.policy"], "compact");
      assert.equal(await ensureChangelogTopic(admin, { topic, partitions: 3 }), "checked");
    } finally {
      await admin.disconnect();
      await client.close();
    }
  },
});

Deno.test({
  name: "kafkajs: an existing topic with another partition count or without compaction is refused",
  ...brokerTest,
  async fn() {
    const client = createKafkajsClient(testConfig());
    const admin = client.admin();
    await admin.connect();
    try {
      const plain = uniqueTopic("rivulet-plain-changelog");
      await createTopics([plain], 2);
      const described = await admin.describeTopic!(plain);
      assert.equal(described.configs["cleanup.policy"], "delete", "the broker's default");
      await assert.rejects(
        ensureChangelogTopic(admin, { topic: plain, partitions: 3 }),
        (error: unknown) =>
          error instanceof ChangelogTopicError && error.topic === plain &&
          error.message.includes("has 2 partitions"),
      );
      await assert.rejects(
        ensureChangelogTopic(admin, { topic: plain, partitions: 2 }),
        /has cleanup.policy=delete, not compact/,
      );
    } finally {
      await admin.disconnect();
      await client.close();
    }
  },
});
