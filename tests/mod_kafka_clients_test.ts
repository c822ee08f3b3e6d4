/**
 * The library's Kafka client wiring: one client per settings object per
 * pipeline, shared by the source, its dead-letter sink and the sinks given the
 * same object, chosen when the pipeline starts (read/write option, then
 * run()'s option, then `RIVULET_KAFKA_CLIENT`) and closed once when it stops.
 * Nothing here connects: a choice that cannot load fails before any connection.
 */
import assert from "node:assert/strict";
import * as rw from "../mod.ts";
import type { SharedResource } from "../runtime/pipeline.ts";
import { KafkaClientUnavailableError } from "../connectors/kafka/clients.ts";

/** The resources a pipeline is given to share, each with the number of times it was closed. */
function sharedBy(pipeline: rw.Pipeline): { resource: SharedResource; closed: number }[] {
  const shared: { resource: SharedResource; closed: number }[] = [];
  const share = pipeline.share.bind(pipeline);
  pipeline.share = (resource) => {
    const entry = { resource, closed: 0 };
    const close = resource.close.bind(resource);
    resource.close = () => {
      entry.closed++;
      return close();
    };
    shared.push(entry);
    share(resource);
  };
  return shared;
}

const settings = () => ({ "bootstrap.servers": "127.0.0.1:1", "group.id": "rivulet-wiring" });

Deno.test("a pipeline makes one Kafka client per settings object, shared by source, dead letters and sink", () => {
  const pipeline = new rw.Pipeline();
  const shared = sharedBy(pipeline);
  const same = settings();
  const input = rw.kafka.read(same, {
    topicNames: ["in"],
    format: "raw",
    errorPolicy: "dead-letter",
    deadLetterTopic: "in.dlq",
    pipeline,
  });
  rw.kafka.write(input, same, { topicName: "out", pipeline });
  assert.equal(shared.length, 1, "source, dead letters and sink of one settings object share one");
  rw.kafka.write(input, settings(), { topicName: "out-2", pipeline });
  assert.equal(shared.length, 2, "another settings object gets its own client");
  rw.kafka.write(input, same, { topicName: "out-3", pipeline, kafkaClient: "kafkajs" });
  assert.equal(shared.length, 3, "a sink that names its client gets a client of that name");
  rw.kafka.write(input, same, { topicName: "out-4", pipeline, kafkaClient: "kafkajs" });
  assert.equal(shared.length, 3, "and shares it with the next that names the same");

  const other = new rw.Pipeline();
  const otherShared = sharedBy(other);
  rw.kafka.read(same, { topicNames: ["in"], format: "raw", pipeline: other });
  assert.equal(otherShared.length, 1, "another pipeline makes its own client");
});

Deno.test("a client made by the caller is used as it is, and the pipeline does not close it", () => {
  const pipeline = new rw.Pipeline();
  const shared = sharedBy(pipeline);
  const own: rw.KafkaClient = {
    consumer: () => assert.fail("nothing connects here"),
    producer: () => assert.fail("nothing connects here"),
    transactionalProducer: () => assert.fail("nothing connects here"),
    admin: () => assert.fail("nothing connects here"),
    close: () => assert.fail("the caller closes its own client"),
  };
  const input = rw.kafka.read(settings(), {
    topicNames: ["in"],
    format: "raw",
    kafkaClient: own,
    pipeline,
  });
  rw.kafka.write(input, settings(), { topicName: "out", pipeline, kafkaClient: own });
  assert.equal(shared.length, 0);
});

Deno.test("an unknown client name is refused where the source is declared", () => {
  assert.throws(
    () =>
      rw.kafka.read(settings(), {
        topicNames: ["in"],
        format: "raw",
        kafkaClient: "rdkafka" as rw.KafkaClientName,
        pipeline: new rw.Pipeline(),
      }),
    { message: 'Option "kafkaClient" must be kafkajs or platformatic, not "rdkafka"' },
  );
});

Deno.test("run()'s client choice reaches the pipeline's clients before anything connects, and each closes once", async () => {
  const pipeline = new rw.Pipeline();
  const shared = sharedBy(pipeline);
  const input = rw.kafka.read(settings(), { topicNames: ["in"], format: "raw", pipeline });
  rw.io.write(input, { pipeline, writable: new WritableStream() });
  await assert.rejects(
    rw.run({ pipeline, kafkaClient: "platformatic" }),
    KafkaClientUnavailableError,
  );
  assert.deepEqual(shared.map((s) => s.closed), [1]);
});

Deno.test("RIVULET_KAFKA_CLIENT chooses the client when no option does", async () => {
  const before = Deno.env.get("RIVULET_KAFKA_CLIENT");
  Deno.env.set("RIVULET_KAFKA_CLIENT", "platformatic");
  try {
    const pipeline = new rw.Pipeline();
    const input = rw.kafka.read(settings(), { topicNames: ["in"], format: "raw", pipeline });
    rw.io.write(input, { pipeline, writable: new WritableStream() });
    await assert.rejects(rw.run({ pipeline }), KafkaClientUnavailableError);
  } finally {
    if (before === undefined) Deno.env.delete("RIVULET_KAFKA_CLIENT");
    else Deno.env.set("RIVULET_KAFKA_CLIENT", before);
  }
});
