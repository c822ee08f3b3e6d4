import assert from "node:assert/strict";
import { deadLetterHeaders, KafkaDeadLetterSink } from "../../../connectors/kafka/dead_letter.ts";
import { KafkaSource } from "../../../connectors/kafka/source.ts";
import type { SourceMessage } from "../../../connectors/types.ts";
import { uniqueTopic } from "../../support/kafka.ts";
import { brokerTest, Collector, testParts, text } from "./_support.ts";

Deno.test({
  name: "dead-letter record keeps the original key, bytes and headers and names reason and origin",
  ...brokerTest,
  fn: async () => {
    const topic = uniqueTopic("dead-letters");
    // Not UTF-8: the bytes must arrive as they were, not as text.
    const value = new Uint8Array([0xff, 0xfe, 0x00, 0x41]);
    const original: SourceMessage = {
      topic: "orders",
      partition: 2,
      offset: "17",
      timestamp: "1700000000123",
      key: new TextEncoder().encode("order-9"),
      value,
      headers: { trace: "abc" },
    };
    const deadLetters = new KafkaDeadLetterSink({ ...testParts(), topic });
    const reason = "Bad input at orders-2@17: invalid UTF-8";
    await deadLetters.send(original, reason);
    await deadLetters.close();

    const source = new KafkaSource({ ...testParts(), topics: [topic] });
    const collector = new Collector();
    await source.start(collector.handler);
    try {
      await collector.waitFor(1);
      const [record] = collector.messages;
      assert.deepEqual(new Uint8Array(record.value!), value);
      assert.equal(text(record.key), "order-9");
      assert.deepEqual({ ...record.headers }, {
        trace: "abc",
        [deadLetterHeaders.error]: reason,
        [deadLetterHeaders.topic]: "orders",
        [deadLetterHeaders.partition]: "2",
        [deadLetterHeaders.offset]: "17",
        [deadLetterHeaders.timestamp]: "1700000000123",
      });
    } finally {
      await source.close();
    }
  },
});
