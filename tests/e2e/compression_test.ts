/**
 * gzip, snappy, lz4 and zstd on the real broker, both ways: rivulet's sink
 * writes batches with the codec (`compression.codec`), the broker's log
 * segment shows the codec on disk, and kcat (librdkafka) and rivulet's client
 * read them back; kcat writes batches with the codec and rivulet's client
 * reads them.
 */
import assert from "node:assert/strict";
import * as rw from "../../mod.ts";
import { consumeAll, createTopics, testBroker, uniqueTopic } from "../support/kafka.ts";
import { hexOf, kcatMissing, kcatRecords, sayMissing } from "../support/external_readers.ts";

const kcat = kcatMissing();
sayMissing("kcat", kcat);

const root = new URL("../../", import.meta.url).pathname;
const port = Deno.env.get("KAFKA_PORT") ?? "9092";
const kafkaHome = Deno.env.get("KAFKA_HOME_DIR") ?? `${root}.kafka/${port}`;

const codecs = ["gzip", "snappy", "lz4", "zstd"] as const;

/** Compressible lines: 3000 of them (several 64 KiB lz4 blocks, several snappy chunks), each a few dozen bytes of repeated text. */
const lines = Array.from(
  { length: 3000 },
  (_, i) => `line ${i}: ${"the quick brown fox ".repeat(1 + (i % 5))}`,
);

const codecNames = ["none", "gzip", "snappy", "lz4", "zstd"];

/**
 * The codecs of the record batches of partition 0, read from the broker's log
 * segment files: each v2 batch header holds its codec in the low three bits of
 * its attributes (offset 21), and the batch is 12 + batchLength bytes long.
 */
function codecsOnDisk(topic: string): Set<string> {
  const dir = `${kafkaHome}/data/${topic}-0`;
  const found = new Set<string>();
  for (const entry of Deno.readDirSync(dir)) {
    if (!entry.name.endsWith(".log")) continue;
    const bytes = Deno.readFileSync(`${dir}/${entry.name}`);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let at = 0; at + 23 <= bytes.length;) {
      const batchLength = view.getInt32(at + 8);
      assert.equal(view.getInt8(at + 16), 2, "record batch format v2");
      found.add(codecNames[view.getInt16(at + 21) & 7]);
      at += 12 + batchLength;
    }
  }
  return found;
}

for (const codec of codecs) {
  Deno.test({
    name: `${codec}: rivulet writes ${codec} batches that kcat and rivulet read back exactly`,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      const topic = uniqueTopic(`compressed-${codec}`);
      const file = await Deno.makeTempFile({ suffix: ".txt" });
      await Deno.writeTextFile(file, lines.join("\n") + "\n*COMMIT*\n");
      try {
        const pipeline = new rw.Pipeline();
        const t = rw.io.read(file, { format: "plaintext", pipeline });
        rw.kafka.write(t, {
          "bootstrap.servers": testBroker,
          "compression.codec": codec,
        }, { topicName: topic, format: "plaintext", value: "data", key: "data", pipeline });
        await pipeline.run();
      } finally {
        await Deno.remove(file);
      }
      assert.deepEqual([...codecsOnDisk(topic)], [codec], "the codec of every batch on disk");
      const read = await consumeAll(topic, { count: lines.length });
      assert.deepEqual(read.map((r) => r.value).sort(), [...lines].sort(), "rivulet's client");
      if (kcat === undefined) {
        const outside = await kcatRecords(topic);
        assert.deepEqual(
          outside.map((r) => r.value).sort(),
          lines.map((l) => hexOf(l)).sort(),
          "kcat",
        );
      }
    },
  });

  Deno.test({
    name: `${codec}: rivulet reads ${codec} batches that kcat (librdkafka) wrote`,
    ignore: kcat !== undefined,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      const topic = uniqueTopic(`compressed-in-${codec}`);
      await createTopics([topic]);
      const input = new TextEncoder().encode(lines.join("\n") + "\n");
      const child = new Deno.Command("kcat", {
        args: ["-P", "-b", testBroker, "-t", topic, "-z", codec, "-p", "0", "-X", "linger.ms=100"],
        stdin: "piped",
        stderr: "piped",
      }).spawn();
      const writer = child.stdin.getWriter();
      await writer.write(input);
      await writer.close();
      const { code, stderr } = await child.output();
      assert.equal(code, 0, new TextDecoder().decode(stderr));
      assert.deepEqual([...codecsOnDisk(topic)], [codec], "kcat wrote compressed batches");
      const read = await consumeAll(topic, { count: lines.length });
      assert.deepEqual(read.map((r) => r.value), lines);
    },
  });
}
