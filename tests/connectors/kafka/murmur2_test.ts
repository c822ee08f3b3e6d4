/**
 * rivulet's partitioner against the Kafka Java client's own: a small Java
 * program (java/KafkaPartitions.java) is compiled against the kafka-clients jar
 * the local broker runs on and prints Utils.murmur2 and the built-in
 * partitioner's choice for the same keys; both must agree on every key.
 */
import assert from "node:assert/strict";
import { keyPartition, murmur2 } from "../../../connectors/kafka/murmur2.ts";

const root = new URL("../../../", import.meta.url).pathname;

/** The kafka-clients jar of the broker scripts/kafka.sh fetched (any version). */
function clientsJarDir(): string | undefined {
  const cache = `${root}.cache/kafka`;
  const preferred = Deno.env.get("KAFKA_VERSION") ?? "4.4.0";
  const versions = [preferred];
  try {
    for (const entry of Deno.readDirSync(cache)) versions.push(entry.name);
  } catch {
    return undefined;
  }
  for (const version of versions) {
    const libs = `${cache}/${version}/libs`;
    try {
      if ([...Deno.readDirSync(libs)].some((e) => /^kafka-clients-.*\.jar$/.test(e.name))) {
        return libs;
      }
    } catch {
      // not fetched
    }
  }
  return undefined;
}

function hex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Keys of every length from 0 to 40 (each tail case), text keys, row ids, random bytes. */
function sampleKeys(): Uint8Array[] {
  const encoder = new TextEncoder();
  const keys: Uint8Array[] = [];
  let state = 12345;
  const next = () => (state = (Math.imul(state, 1103515245) + 12345) >>> 0) >>> 24;
  for (let length = 0; length <= 40; length++) {
    keys.push(Uint8Array.from({ length }, next));
  }
  for (let i = 0; i < 300; i++) keys.push(encoder.encode(`key-${i}`));
  for (const text of ["", "a", "21", "user:42", "ünïcødé ✓", "0".repeat(32), "ff".repeat(16)]) {
    keys.push(encoder.encode(text));
  }
  for (let i = 0; i < 200; i++) keys.push(Uint8Array.from({ length: 1 + (i % 37) }, next));
  return keys;
}

Deno.test("murmur2 partitioner agrees with the Kafka Java client on every key", async () => {
  const libs = clientsJarDir();
  if (libs === undefined) {
    throw new Error(
      "No kafka-clients jar in .cache/kafka: start the broker once (scripts/kafka.sh start)",
    );
  }
  const classes = await Deno.makeTempDir({ prefix: "rivulet-murmur2-" });
  try {
    const compiled = await new Deno.Command("javac", {
      args: [
        "-d",
        classes,
        "-cp",
        `${libs}/*`,
        `${root}tests/connectors/kafka/java/KafkaPartitions.java`,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(compiled.code, 0, new TextDecoder().decode(compiled.stderr));
    const keys = sampleKeys();
    const child = new Deno.Command("java", {
      args: ["-cp", `${classes}:${libs}/*`, "KafkaPartitions"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(keys.map((k) => `${hex(k)}\n`).join("")));
    await writer.close();
    const { code, stdout, stderr } = await child.output();
    assert.equal(code, 0, new TextDecoder().decode(stderr));
    const lines = new TextDecoder().decode(stdout).trimEnd().split("\n");
    assert.equal(lines.length, keys.length);
    let compared = 0;
    for (let i = 0; i < keys.length; i++) {
      const [javaHash, ...javaPartitions] = lines[i].split("\t").map(Number);
      assert.equal(murmur2(keys[i]), javaHash, `murmur2 of key ${hex(keys[i])}`);
      for (let partitions = 1; partitions <= 12; partitions++) {
        assert.equal(
          keyPartition(keys[i], partitions),
          javaPartitions[partitions - 1],
          `partition of key ${hex(keys[i])} among ${partitions}`,
        );
        compared++;
      }
    }
    assert.equal(compared, keys.length * 12);
  } finally {
    await Deno.remove(classes, { recursive: true });
  }
});

Deno.test("keyPartition refuses a partition count below one", () => {
  assert.throws(() => keyPartition(new Uint8Array([1]), 0), /at least one partition/);
});
