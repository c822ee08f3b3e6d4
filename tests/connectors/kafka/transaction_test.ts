import assert from "node:assert/strict";
import { consumeAll, createTopics, testKafka, uniqueTopic } from "../../support/kafka.ts";
import { brokerTest, testClient } from "./_support.ts";

Deno.test({
  name: "a read_committed reader sees a committed transaction's records and not an aborted one's",
  ...brokerTest,
  fn: async () => {
    const output = uniqueTopic("tx-output");
    const input = uniqueTopic("tx-input");
    await createTopics([output, input]);
    const groupId = uniqueTopic("tx-group");
    const client = testClient();
    const producer = client.transactionalProducer({ transactionalId: uniqueTopic("tx-id") });
    await producer.connect();
    try {
      const committed = await producer.begin();
      await committed.send([{
        topic: output,
        records: [{ key: "a", value: "kept-1" }, { key: "a", value: "kept-2" }],
      }]);
      await committed.sendOffsets(groupId, [{ topic: input, partition: 0, offset: "5" }]);
      await committed.commit();

      const aborted = await producer.begin();
      await aborted.send([{ topic: output, records: [{ key: "a", value: "dropped" }] }]);
      await aborted.sendOffsets(groupId, [{ topic: input, partition: 0, offset: "9" }]);
      await aborted.abort();

      const last = await producer.begin();
      await last.send([{ topic: output, records: [{ key: "a", value: "kept-3" }] }]);
      await last.commit();
    } finally {
      await producer.disconnect();
    }

    const readCommitted = await consumeAll(output, { count: 3, isolation: "read_committed" });
    assert.deepEqual(readCommitted.map((r) => r.value), ["kept-1", "kept-2", "kept-3"]);
    // Without isolation the aborted record is visible: the test can tell the difference.
    const readUncommitted = await consumeAll(output, { count: 4, isolation: "read_uncommitted" });
    assert.deepEqual(readUncommitted.map((r) => r.value), [
      "kept-1",
      "kept-2",
      "dropped",
      "kept-3",
    ]);

    const admin = testKafka().admin();
    await admin.connect();
    const [offsets] = await admin.fetchOffsets({ groupId, topics: [input] });
    await admin.disconnect();
    assert.equal(offsets.partitions[0].offset, "5");
  },
});
