/**
 * Pathway's output shapes on the real broker: each format (json, dsv,
 * plaintext, raw) with key and header columns, read back by kcat (librdkafka)
 * and by kafka-python byte for byte; dynamic topics over three topics; keys on
 * the partition the Kafka Java client picks.
 */
import assert from "node:assert/strict";
import * as rw from "../../mod.ts";
import { consumeAll, createTopics, testBroker, uniqueTopic } from "../support/kafka.ts";
import {
  hexOf,
  kafkaPythonMissing,
  kafkaPythonRecords,
  kcatMissing,
  kcatRecords,
  type OutsideRecord,
  sayMissing,
} from "../support/external_readers.ts";

const kcat = kcatMissing();
const kafkaPython = kafkaPythonMissing();
sayMissing("kcat", kcat);
sayMissing("kafka-python", kafkaPython);

const settings = { "bootstrap.servers": testBroker };

/**
 * Two commits of people: commit 1 (time 1) inserts alice 1 and bob 2; commit 2
 * (time 2) replaces alice's row (primary key `name`) with alice 3.
 */
const people = [
  '{"name":"alice","n":1}',
  '{"name":"bob","n":2}',
  "*COMMIT*",
  '{"name":"alice","n":3}',
  "*COMMIT*",
].join("\n") + "\n";

type Person = { name: string; n: number };

/** Runs people.jsonl through `build`'s transform into Kafka, until the file is read. */
async function writePeople(
  build: (table: rw.Table<Person>, pipeline: rw.Pipeline) => void,
): Promise<void> {
  const file = await Deno.makeTempFile({ suffix: ".jsonl" });
  try {
    await Deno.writeTextFile(file, people);
    const pipeline = new rw.Pipeline();
    const table = rw.io.read(file, {
      format: "json",
      valueColumns: ["name", "n"],
      primaryKey: ["name"],
      pipeline,
    }) as unknown as rw.Table<Person>;
    build(table, pipeline);
    await pipeline.run();
  } finally {
    await Deno.remove(file);
  }
}

/** A record as expected: text or bytes, turned into the readers' hex. */
function record(
  topic: string,
  key: string | Uint8Array,
  value: string | Uint8Array,
  headers: [string, string][] = [],
  partition = 0,
): OutsideRecord {
  return {
    topic,
    partition,
    key: hexOf(key),
    value: hexOf(value),
    headers: headers.map(([name, v]) => [name, hexOf(v)] as const),
  };
}

/** Records in a canonical order: the order within a commit is not part of the contract. */
const canonical = (records: readonly OutsideRecord[]) =>
  records.map((r) => JSON.stringify(r)).sort();

/** Both outside readers see exactly `expected`. */
async function assertReadBack(topic: string, expected: OutsideRecord[]) {
  if (kcat === undefined) {
    assert.deepEqual(canonical(await kcatRecords(topic)), canonical(expected), "kcat");
  }
  if (kafkaPython === undefined) {
    assert.deepEqual(
      canonical(await kafkaPythonRecords(topic)),
      canonical(expected),
      "kafka-python",
    );
  }
}

const readersMissing = kcat !== undefined && kafkaPython !== undefined;

Deno.test({
  name: "json output (row id keys) is read back exactly by kcat and kafka-python",
  ignore: readersMissing,
  fn: async () => {
    const topic = uniqueTopic("out-json");
    await writePeople((t, pipeline) =>
      rw.kafka.write(t, settings, { topicName: topic, format: "json", pipeline })
    );
    // The key is the row id: read it from kafkajs, then expect it byte for byte.
    const seen = await consumeAll(topic, { count: 4 });
    const idOf = (name: string) => seen.find((r) => r.value.includes(`"${name}"`))!.key!;
    assert.match(idOf("alice"), /^[0-9a-f]{32}$/);
    await assertReadBack(topic, [
      record(topic, idOf("alice"), '{"name":"alice","n":1,"diff":1,"time":1}'),
      record(topic, idOf("bob"), '{"name":"bob","n":2,"diff":1,"time":1}'),
      record(topic, idOf("alice"), '{"name":"alice","n":1,"diff":-1,"time":2}'),
      record(topic, idOf("alice"), '{"name":"alice","n":3,"diff":1,"time":2}'),
    ]);
  },
});

Deno.test({
  name: "dsv output with a delimiter, a key column and a header column, read back exactly",
  ignore: readersMissing,
  fn: async () => {
    const topic = uniqueTopic("out-dsv");
    await writePeople((t, pipeline) =>
      rw.kafka.write(t.select({ name: "name", n: "n", note: () => 'say "hi"; ok' }), settings, {
        topicName: topic,
        format: "dsv",
        delimiter: ";",
        key: "name",
        headers: ["n"],
        pipeline,
      })
    );
    await assertReadBack(topic, [
      record(topic, "alice", '"alice";"1";"say ""hi""; ok";"1";"1"', [["n", "1"]]),
      record(topic, "bob", '"bob";"2";"say ""hi""; ok";"1";"1"', [["n", "2"]]),
      record(topic, "alice", '"alice";"1";"say ""hi""; ok";"2";"-1"', [["n", "1"]]),
      record(topic, "alice", '"alice";"3";"say ""hi""; ok";"2";"1"', [["n", "3"]]),
    ]);
  },
});

Deno.test({
  name: "plaintext output: one text column, pathway_time/pathway_diff headers, read back exactly",
  ignore: readersMissing,
  fn: async () => {
    const topic = uniqueTopic("out-plaintext");
    await writePeople((t, pipeline) =>
      rw.kafka.write(t.select({ who: (r) => `${r.name} ✓`, name: "name", n: "n" }), settings, {
        topicName: topic,
        format: "plaintext",
        value: "who",
        key: "name",
        headers: ["n"],
        pipeline,
      })
    );
    const headers = (time: number, diff: number, n: number): [string, string][] => [
      ["pathway_time", String(time)],
      ["pathway_diff", String(diff)],
      ["n", String(n)],
    ];
    await assertReadBack(topic, [
      record(topic, "alice", "alice ✓", headers(1, 1, 1)),
      record(topic, "bob", "bob ✓", headers(1, 1, 2)),
      record(topic, "alice", "alice ✓", headers(2, -1, 1)),
      record(topic, "alice", "alice ✓", headers(2, 1, 3)),
    ]);
  },
});

Deno.test({
  name: "raw output: bytes that are not UTF-8 go out untouched as value and key",
  ignore: readersMissing,
  fn: async () => {
    const topic = uniqueTopic("out-raw");
    const bytes = (name: string, n: number) =>
      Uint8Array.from([...new TextEncoder().encode(name), 0xff, 0x00, n]);
    const keyBytes = (name: string) => Uint8Array.from([0xc3, ...new TextEncoder().encode(name)]);
    await writePeople((t, pipeline) =>
      rw.kafka.write(
        t.select({
          data: rw.apply((name: string, n: number) => bytes(name, n), "name", "n"),
          k: rw.apply((name: string) => keyBytes(name), "name"),
        }),
        settings,
        { topicName: topic, format: "raw", value: "data", key: "k", pipeline },
      )
    );
    const headers = (time: number, diff: number): [string, string][] => [
      ["pathway_time", String(time)],
      ["pathway_diff", String(diff)],
    ];
    await assertReadBack(topic, [
      record(topic, keyBytes("alice"), bytes("alice", 1), headers(1, 1)),
      record(topic, keyBytes("bob"), bytes("bob", 2), headers(1, 1)),
      record(topic, keyBytes("alice"), bytes("alice", 1), headers(2, -1)),
      record(topic, keyBytes("alice"), bytes("alice", 3), headers(2, 1)),
    ]);
  },
});

Deno.test({
  name: "dynamic topics: each row's topic column spreads the output over three topics",
  fn: async () => {
    const prefix = uniqueTopic("out-dyn");
    const topics = ["a", "b", "c"].map((s) => `${prefix}-${s}`);
    const file = await Deno.makeTempFile({ suffix: ".jsonl" });
    const lines: string[] = [];
    for (let i = 0; i < 30; i++) {
      lines.push(JSON.stringify({ id: i, topic: topics[i % 3] }));
      if (i % 10 === 9) lines.push("*COMMIT*");
    }
    await Deno.writeTextFile(file, lines.join("\n") + "\n");
    try {
      const pipeline = new rw.Pipeline();
      const t = rw.io.read(file, {
        format: "json",
        valueColumns: ["id", "topic"],
        primaryKey: ["id"],
        pipeline,
      });
      rw.kafka.write(t, settings, {
        topicColumn: "topic",
        format: "dsv",
        key: "id",
        commitMarkers: true,
        pipeline,
      });
      await pipeline.run();
    } finally {
      await Deno.remove(file);
    }
    for (const [index, topic] of topics.entries()) {
      const expected: string[] = [];
      for (let i = index; i < 30; i += 3) {
        expected.push(`${i} "${i}","${topic}","${Math.floor(i / 10) + 1}","1"`);
      }
      const read = await consumeAll(topic, { count: 13 });
      const markers = read.filter((r) => r.value === "*COMMIT*");
      assert.equal(markers.length, 3, `${topic}: one *COMMIT* per commit that wrote to it`);
      assert.ok(markers.every((m) => m.key === null));
      assert.deepEqual(
        read.filter((r) => r.value !== "*COMMIT*").map((r) => `${r.key} ${r.value}`).sort(),
        expected.sort(),
        topic,
      );
    }
  },
});

Deno.test({
  name: "dynamic topics: an empty topic value stops the pipeline with an error naming the column",
  fn: async () => {
    const file = await Deno.makeTempFile({ suffix: ".jsonl" });
    await Deno.writeTextFile(file, '{"id":1,"topic":""}\n*COMMIT*\n');
    try {
      const pipeline = new rw.Pipeline();
      const t = rw.io.read(file, { format: "json", valueColumns: ["id", "topic"], pipeline });
      rw.kafka.write(t, settings, { topicColumn: "topic", pipeline });
      await assert.rejects(
        pipeline.run(),
        /topic column "topic" of row [0-9a-f]{32} holds an empty string/,
      );
    } finally {
      await Deno.remove(file);
    }
  },
});

Deno.test({
  name: "keys land on the partition the Kafka Java client picks (murmur2) on a 6-partition topic",
  fn: async () => {
    const topic = uniqueTopic("out-partitions");
    await createTopics([topic], 6);
    const file = await Deno.makeTempFile({ suffix: ".jsonl" });
    const keys = Array.from({ length: 120 }, (_, i) => `user-${i * 7919}`);
    await Deno.writeTextFile(
      file,
      keys.map((k) => JSON.stringify({ k })).join("\n") + "\n*COMMIT*\n",
    );
    try {
      const pipeline = new rw.Pipeline();
      const t = rw.io.read(file, { format: "json", valueColumns: ["k"], pipeline });
      rw.kafka.write(t, settings, {
        topicName: topic,
        format: "plaintext",
        key: "k",
        commitMarkers: true,
        pipeline,
      });
      await pipeline.run();
    } finally {
      await Deno.remove(file);
    }
    const read = await consumeAll(topic, { count: keys.length + 6 });
    const data = read.filter((r) => r.key !== null);
    assert.equal(data.length, keys.length);
    const javaPartitions = await javaPartitionsOf(keys, 6);
    const partitionsUsed = new Set<number>();
    for (const r of data) {
      assert.equal(r.partition, javaPartitions.get(r.key!), `partition of key ${r.key}`);
      assert.equal(r.value, r.key);
      partitionsUsed.add(r.partition);
    }
    assert.equal(partitionsUsed.size, 6, "120 keys spread over all 6 partitions");
    // Each partition that got records in the commit also got its *COMMIT*.
    const markers = read.filter((r) => r.key === null).map((r) => r.partition).sort();
    assert.deepEqual(markers, [0, 1, 2, 3, 4, 5]);
  },
});

/** The partition the Kafka Java client's built-in partitioner gives each key (the real jar). */
async function javaPartitionsOf(
  keys: readonly string[],
  partitions: number,
): Promise<Map<string, number>> {
  const root = new URL("../../", import.meta.url).pathname;
  const version = Deno.env.get("KAFKA_VERSION") ?? "4.4.0";
  const libs = `${root}.cache/kafka/${version}/libs`;
  const classes = await Deno.makeTempDir({ prefix: "rivulet-partitions-" });
  try {
    const javac = await new Deno.Command("javac", {
      args: [
        "-d",
        classes,
        "-cp",
        `${libs}/*`,
        `${root}tests/connectors/kafka/java/KafkaPartitions.java`,
      ],
      stderr: "piped",
    }).output();
    assert.equal(javac.code, 0, new TextDecoder().decode(javac.stderr));
    const child = new Deno.Command("java", {
      args: ["-cp", `${classes}:${libs}/*`, "KafkaPartitions"],
      stdin: "piped",
      stdout: "piped",
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(keys.map((k) => `${hexOf(k)}\n`).join("")));
    await writer.close();
    const lines = new TextDecoder().decode((await child.output()).stdout).trimEnd().split("\n");
    return new Map(keys.map((k, i) => [k, Number(lines[i].split("\t")[partitions])]));
  } finally {
    await Deno.remove(classes, { recursive: true });
  }
}
