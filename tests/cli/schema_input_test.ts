/**
 * Issue 15 (input) on the command line, against the local broker: the
 * seed's NaN bug with and without `--schema`, schema files, and a compacted
 * topic of 100,000 keyed records read with `--key-as-row-id --until-end`.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createTopics, produce, testBroker, testKafka, uniqueTopic } from "../support/kafka.ts";
import { fixtures, records, rivulet, spawnRivulet } from "./_rivulet.ts";

async function settingsFile(group: string): Promise<string> {
  const path = await Deno.makeTempFile({ suffix: ".json" });
  await Deno.writeTextFile(
    path,
    JSON.stringify({ "bootstrap.servers": testBroker, "group.id": group }),
  );
  return path;
}

// The seed's stream, with a second header mid-stream (offset 5): the bug of issue 15.
const seedWithSecondHeader = ["value", "1", "*COMMIT*", "2", "*COMMIT*", "value", "3", "*COMMIT*"];

Deno.test("rivulet run --schema value:int stops at a second csv header, naming where and what, exit 3", async () => {
  const topic = uniqueTopic("cli-schema-seed");
  await createTopics([topic]);
  await produce(topic, seedWithSecondHeader);
  const result = await rivulet([
    "run",
    "--transform",
    "examples/sum_typed.ts",
    "--topic",
    topic,
    "--settings",
    await settingsFile(uniqueTopic("cli-schema-group")),
    "--format",
    "csv",
    "--schema",
    "value:int",
    "--until-end",
    "--quiet",
  ]);
  assert.equal(result.code, 3, result.stderr);
  assert.match(
    result.stderr,
    new RegExp(`${topic}-0@5 \\(column "value"\\): value "value" of column "value" is not an int`),
  );
  assert.deepEqual(records(result.stdout).map((r) => [r.sum, r.diff]), [
    [1, 1],
    [1, -1],
    [3, 1],
  ]);
});

Deno.test('rivulet run with the seed\'s parseInt transform stops at NaN instead of writing "NaN" and going silent', async () => {
  const topic = uniqueTopic("cli-nan-seed");
  await createTopics([topic]);
  await produce(topic, seedWithSecondHeader);
  const result = await rivulet([
    "run",
    "--transform",
    "examples/sum.ts",
    "--topic",
    topic,
    "--settings",
    await settingsFile(uniqueTopic("cli-nan-group")),
    "--format",
    "csv",
    "--columns",
    "value",
    "--until-end",
    "--quiet",
  ]);
  assert.equal(result.code, 3, result.stderr);
  assert.match(result.stderr, new RegExp(`${topic}-0@5 in select: .*returned NaN`));
  assert.ok(!result.stdout.includes("NaN"), "no NaN reaches the output");
});

Deno.test("rivulet run --schema-file: a file that is not JSON is named by line and column, its contents never quoted", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/schema.json`;
  await Deno.writeTextFile(path, '{\n  "value": "int",\n  "token": hunter2-secret\n}\n');
  const result = await rivulet([
    "run",
    "--transform",
    "examples/sum_typed.ts",
    "--input",
    "examples/connector_example.txt",
    "--format",
    "csv",
    "--schema-file",
    path,
  ]);
  assert.equal(result.code, 2, result.stderr);
  assert.match(
    result.stderr,
    /schema file ".*schema\.json" is not valid JSON: .* at line 3, column 12/,
  );
  assert.ok(!result.stderr.includes("hunter2"), "the file's contents stay out of the error");

  await Deno.writeTextFile(path, '{"value": "integer"}');
  const typo = await rivulet([
    "run",
    "--transform",
    "examples/sum_typed.ts",
    "--input",
    "examples/connector_example.txt",
    "--format",
    "csv",
    "--schema-file",
    path,
  ]);
  assert.equal(typo.code, 2, typo.stderr);
  assert.match(typo.stderr, /Schema column "value" has unknown type "integer"/);

  await Deno.writeTextFile(path, '{"value": "int"}');
  const ok = await rivulet([
    "run",
    "--transform",
    "examples/sum_typed.ts",
    "--input",
    "examples/connector_example.txt",
    "--format",
    "csv",
    "--schema-file",
    path,
    "--quiet",
  ]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.deepEqual(records(ok.stdout).at(-1)?.sum, 45);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a compacted topic of 100,000 keyed records with updates and tombstones, read with --key-as-row-id --until-end, is the latest value per key", async () => {
  const topic = uniqueTopic("cli-compacted");
  const admin = testKafka().admin();
  await admin.connect();
  try {
    await admin.createTopics({
      topics: [{
        topic,
        numPartitions: 3,
        configEntries: [
          { name: "cleanup.policy", value: "compact" },
          { name: "segment.bytes", value: String(1024 * 1024) },
          { name: "min.cleanable.dirty.ratio", value: "0.01" },
          { name: "segment.ms", value: "100" },
        ],
      }],
      waitForLeaders: true,
    });
  } finally {
    await admin.disconnect();
  }
  const total = 100_000;
  const keys = 10_000;
  const latest = new Map<string, string>();
  const producer = testKafka().producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    for (let start = 0; start < total; start += 5_000) {
      const messages = [];
      for (let i = start; i < start + 5_000; i++) {
        const key = `k${(i * 7919) % keys}`;
        // Every 9th record deletes its key; the others set it.
        const value = i % 9 === 8 ? null : `v${i}-${"x".repeat(i % 50)}`;
        if (value === null) latest.delete(key);
        else latest.set(key, value);
        messages.push({ key, value: value === null ? null : Buffer.from(value) });
      }
      await producer.send({ topic, messages });
    }
  } finally {
    await producer.disconnect();
  }

  const result = await rivulet([
    "run",
    "--transform",
    `${fixtures}identity.ts`,
    "--topic",
    topic,
    "--settings",
    await settingsFile(uniqueTopic("cli-compacted-group")),
    "--format",
    "plaintext",
    "--key-as-row-id",
    "--until-end",
    "--commit-interval",
    "200",
    "--quiet",
  ]);
  assert.equal(result.code, 0, result.stderr);
  const table = new Map<string, string>();
  for (const change of records(result.stdout)) {
    const key = change.key as string;
    if (change.diff === 1) {
      assert.ok(!table.has(key), `key ${key} inserted twice`);
      table.set(key, change.data as string);
    } else {
      assert.equal(table.get(key), change.data, `key ${key} retracted with its current value`);
      table.delete(key);
    }
  }
  assert.ok(latest.size > 1_000 && latest.size < keys, `some keys end deleted (${latest.size})`);
  assert.equal(table.size, latest.size);
  assert.deepEqual(table, latest);
});

Deno.test("rivulet run --until-end over a topic being written to stops at the end offsets it found at start, exit 0", async () => {
  const topic = uniqueTopic("cli-until-end");
  await createTopics([topic]);
  await produce(topic, Array.from({ length: 300 }, (_, i) => `before-${i}`));
  let writing = true;
  let written = 0;
  const writer = (async () => {
    while (writing) {
      await produce(topic, Array.from({ length: 10 }, (_, i) => `during-${written + i}`));
      written += 10;
    }
  })();
  try {
    const child = spawnRivulet([
      "run",
      "--transform",
      `${fixtures}identity.ts`,
      "--topic",
      topic,
      "--settings",
      await settingsFile(uniqueTopic("cli-until-end-group")),
      "--format",
      "plaintext",
      "--with-metadata",
      "--until-end",
      "--commit-interval",
      "50",
      "--log-format",
      "json",
    ]);
    const output = await child.output();
    const stderr = new TextDecoder().decode(output.stderr);
    assert.equal(output.code, 0, stderr);
    const found = stderr.split("\n").filter((line) => line.startsWith("{")).map((line) =>
      JSON.parse(line)
    ).find((line) => /until the end offsets/.test(line.message));
    assert.ok(found !== undefined, `the end offsets are logged: ${stderr}`);
    const end = Number(/-0@(\d+)$/.exec(found.ends)![1]);
    assert.ok(end >= 300, `the end covers what was written before the start (${end})`);
    const offsets = records(new TextDecoder().decode(output.stdout))
      .map((change) => (change._metadata as { offset: number }).offset)
      .sort((a, b) => a - b);
    assert.deepEqual(offsets, Array.from({ length: end }, (_, i) => i), "exactly offsets 0..end-1");
    // `written` counts a batch of 10 once all of it is acknowledged: the batch being written when
    // the run read its end offsets (partly before them, partly after) counts only once it is done.
    writing = false;
    await writer;
    assert.ok(written > 0 && 300 + written > end, "the topic grew past the end while it ran");
  } finally {
    writing = false;
    await writer;
  }
});

Deno.test("rivulet run --start-from-timestamp (ISO 8601) skips exactly the earlier records", async () => {
  const topic = uniqueTopic("cli-from-timestamp");
  await createTopics([topic]);
  const t0 = Date.parse("2026-03-01T00:00:00Z");
  const producer = testKafka().producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    await producer.send({
      topic,
      messages: Array.from({ length: 10 }, (_, i) => ({
        value: `r${i}`,
        timestamp: String(t0 + i * 60_000),
      })),
    });
  } finally {
    await producer.disconnect();
  }
  const result = await rivulet([
    "run",
    "--transform",
    `${fixtures}identity.ts`,
    "--topic",
    topic,
    "--settings",
    await settingsFile(uniqueTopic("cli-from-timestamp-group")),
    "--start-from-timestamp",
    "2026-03-01T00:04:00Z",
    "--until-end",
    "--commit-interval",
    "50",
    "--quiet",
  ]);
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(records(result.stdout).map((r) => r.data), ["r4", "r5", "r6", "r7", "r8", "r9"]);
});
