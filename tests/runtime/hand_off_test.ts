/**
 * The pieces of a task's hand-over, on the in-memory cluster: the changelog
 * reader follows state entries and hand-off markers as they are committed
 * and refuses a marker it cannot read, naming where it is; a transaction
 * writer after `stopRetrying` commits on the producer as registered, never
 * registers it again (which would fence the task's next owner), and does
 * not retry a failing transaction.
 */
import assert from "node:assert/strict";
import { MemoryKafka } from "../../connectors/kafka/memory/client.ts";
import { silentLogger } from "../../connectors/types.ts";
import { TransactionWriter } from "../../runtime/delivery/transactions.ts";
import { ChangelogReader, handOffRecord } from "../../runtime/tasks/changelog_reader.ts";

const changelog = "g-tasks-changelog";

function setUp() {
  const kafka = new MemoryKafka();
  kafka.createTopic(changelog, 2, { "cleanup.policy": "compact" });
  const producer = kafka.producer();
  const reader = new ChangelogReader({
    client: kafka,
    groupId: "g",
    topic: changelog,
    partitions: 2,
    send: (records) => producer.send([{ topic: changelog, records }]),
  });
  return { kafka, producer, reader };
}

function writer(kafka: MemoryKafka, transactionalId: string) {
  return new TransactionWriter({
    producer: () => kafka.transactionalProducer({ transactionalId }),
    transactionalId,
    logger: silentLogger,
    maxRequestBytes: 1_000_000,
    retryForMs: 5_000,
  });
}

Deno.test("the changelog reader reads state entries and hand-off markers to the end, then follows what is committed", async () => {
  const { kafka, producer, reader } = setUp();
  await producer.connect();
  await producer.send([{
    topic: changelog,
    records: [
      { key: "in:0/a", value: "1", partition: 0 },
      { key: "in:0/b", value: "2", partition: 0 },
      { key: "in:0/a", value: null, partition: 0 },
      handOffRecord("in:0", { state: "claimed", member: "m-1" }, 0),
      handOffRecord("in:1", { state: "released" }, 1),
    ],
  }]);
  await reader.open();
  try {
    await reader.readToEnd();
    assert.deepEqual(
      [...reader.state("in:0")!].map(([k, v]) => [k, new TextDecoder().decode(v)]),
      [["b", "2"]],
    );
    assert.equal(reader.state("in:1"), undefined, "a marker is not state");
    assert.deepEqual(reader.handOff("in:0"), { state: "claimed", member: "m-1" });
    assert.deepEqual(reader.handOff("in:1"), { state: "released" });
    assert.equal(reader.handOff("in:2"), undefined);
    // The former owner releases in:0 in a transaction: the reader sees it once committed.
    const former = writer(kafka, "t-in:0");
    await former.settle();
    former.stopRetrying();
    const releasing = former.run({
      records: [{
        topic: changelog,
        records: [handOffRecord("in:0", { state: "released" }, 0)],
      }],
      offsets: [],
      beforeCommit: () => Promise.resolve(),
      committed: () => Promise.resolve(false),
    });
    const deadline = Date.now() + 5_000;
    while (reader.handOff("in:0")?.state !== "released") {
      assert.ok(Date.now() < deadline, "the release is read");
      await reader.changed(100);
    }
    await releasing;
    await former.close();
  } finally {
    await reader.close();
  }
});

Deno.test("the changelog reader refuses a hand-off marker it cannot read, naming the topic, partition and task", async () => {
  const { producer, reader } = setUp();
  await producer.connect();
  await producer.send([{
    topic: changelog,
    records: [{ key: "hand-off:in:1", value: "{not json", partition: 1 }],
  }]);
  await reader.open();
  try {
    await assert.rejects(
      reader.readToEnd(),
      (error: Error) =>
        error.message.includes(`Changelog "${changelog}" partition 1`) &&
        error.message.includes("task in:1") && error.message.includes("{not json"),
    );
  } finally {
    await reader.close();
  }
});

Deno.test("after stopRetrying a writer commits on the producer as registered; fenced by a newer registration it fails as fenced and does not register again", async () => {
  const kafka = new MemoryKafka();
  kafka.createTopic("out", 1);
  const unregistered = writer(kafka, "t");
  unregistered.stopRetrying();
  await assert.rejects(
    unregistered.run({
      records: [],
      offsets: [],
      beforeCommit: () => Promise.resolve(),
      committed: () => Promise.resolve(false),
    }),
    /not connected/,
    "it never connects (registers) itself",
  );
  const former = writer(kafka, "t");
  await former.settle();
  former.stopRetrying();
  const content = (value: string) => ({
    records: [{ topic: "out", records: [{ key: "k", value, partition: 0 }] }],
    offsets: [],
    beforeCommit: () => Promise.resolve(),
    committed: () => Promise.resolve(false),
  });
  await former.run(content("first"));
  // The next owner registers the id: the former owner's next transaction is refused.
  const next = writer(kafka, "t");
  await next.settle();
  await assert.rejects(
    former.run(content("late")),
    (error: Error & { classification?: { kind: string } }) =>
      error.classification?.kind === "fenced",
  );
  // Still the next owner's: its transaction commits.
  await next.run(content("second"));
  const values = kafka.records("out").map((m) => new TextDecoder().decode(m.value!));
  assert.deepEqual(values, ["first", "second"]);
  await former.close();
  await next.close();
});

Deno.test("stopRetrying: a transaction that fails for a reason that heals is not retried (a retry would register the id again); before it, it is", async () => {
  const kafka = new MemoryKafka();
  kafka.createTopic("out", 1);
  const content = (value: string) => ({
    records: [{ topic: "out", records: [{ key: "k", value, partition: 0 }] }],
    offsets: [],
    beforeCommit: () => Promise.resolve(),
    committed: () => Promise.resolve(false),
  });
  const retrying = writer(kafka, "t");
  await retrying.settle();
  kafka.failNext("transaction.send", { retriable: true });
  await retrying.run(content("retried"));
  const stopped = writer(kafka, "u");
  await stopped.settle();
  stopped.stopRetrying();
  kafka.failNext("transaction.send", { retriable: true });
  await assert.rejects(stopped.run(content("not retried")));
  const values = kafka.records("out").map((m) => new TextDecoder().decode(m.value!));
  assert.deepEqual(values, ["retried"]);
  await retrying.close();
  await stopped.close();
});
