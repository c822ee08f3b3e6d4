/**
 * The command's output flags against the real broker (`--output-format`,
 * `--output-delimiter`, `--output-key`, `--output-headers`,
 * `--output-topic-column`, `--output-partitions`) and their usage errors.
 */
import assert from "node:assert/strict";
import { consumeAll, testBroker, uniqueTopic } from "../support/kafka.ts";
import { rivulet } from "./_rivulet.ts";
import { parseRunArgs } from "../../cli/run_plan.ts";
import { keyPartition } from "../../connectors/kafka/murmur2.ts";

async function settingsFile(): Promise<string> {
  const path = await Deno.makeTempFile({ suffix: ".json" });
  await Deno.writeTextFile(path, JSON.stringify({ "bootstrap.servers": testBroker }));
  return path;
}

const seedRun = [
  "run",
  "--transform",
  "examples/sum.ts",
  "--input",
  "examples/connector_example.txt",
];

Deno.test("rivulet run --output-format dsv --output-delimiter ';' --output-key sum --output-headers sum writes Pathway's dsv records", async () => {
  const topic = uniqueTopic("cli-dsv");
  const settings = await settingsFile();
  try {
    const result = await rivulet([
      ...seedRun,
      "--format",
      "csv",
      "--columns",
      "value",
      "--settings",
      settings,
      "--output-topic",
      topic,
      "--output-format",
      "dsv",
      "--output-delimiter",
      ";",
      "--output-key",
      "sum",
      "--output-headers",
      "sum",
      "--quiet",
    ]);
    assert.equal(result.code, 0, result.stderr);
    const read = await consumeAll(topic, { count: 19 });
    // The seed's sums: +0 at time 1, then at time i+1: -previous, +previous+i.
    const expected: string[] = ['0 "0";"1";"1" sum=0'];
    for (let i = 1, sum = 0; i <= 9; sum += i, i++) {
      expected.push(`${sum} "${sum}";"${i + 1}";"-1" sum=${sum}`);
      expected.push(`${sum + i} "${sum + i}";"${i + 1}";"1" sum=${sum + i}`);
    }
    assert.deepEqual(
      read.map((r) =>
        `${r.key} ${r.value} ${Object.entries(r.headers).map(([k, v]) => `${k}=${v}`)}`
      ),
      expected,
    );
  } finally {
    await Deno.remove(settings);
  }
});

Deno.test("rivulet run --output-topic-column writes each row to the topic it names", async () => {
  const prefix = uniqueTopic("cli-dyn");
  const settings = await settingsFile();
  const transform = await Deno.makeTempFile({ suffix: ".ts" });
  await Deno.writeTextFile(
    transform,
    `export default (input, rw) => input.select({
      line: "data",
      topic: rw.apply((d) => ${
      JSON.stringify(prefix)
    } + "-" + (Number(d) % 2 === 0 ? "even" : "odd"), "data"),
    });\n`,
  );
  try {
    const result = await rivulet([
      "run",
      "--transform",
      transform,
      "--input",
      "-",
      "--settings",
      settings,
      "--output-topic-column",
      "topic",
      "--output-format",
      "plaintext",
      "--output-value",
      "line",
      "--quiet",
    ], { stdin: "1\n2\n3\n4\n*COMMIT*\n" });
    assert.equal(result.code, 0, result.stderr);
    const even = await consumeAll(`${prefix}-even`, { count: 2 });
    const odd = await consumeAll(`${prefix}-odd`, { count: 2 });
    assert.deepEqual(even.map((r) => r.value).sort(), ["2", "4"]);
    assert.deepEqual(odd.map((r) => r.value).sort(), ["1", "3"]);
    assert.deepEqual(even[0].headers, { pathway_time: "1", pathway_diff: "1" });
  } finally {
    await Deno.remove(settings);
    await Deno.remove(transform);
  }
});

Deno.test("rivulet run --output-partitions 3 creates the output topic with 3 partitions, each key on its murmur2 partition", async () => {
  const topic = uniqueTopic("cli-partitions");
  const settings = await settingsFile();
  const transform = await Deno.makeTempFile({ suffix: ".ts" });
  await Deno.writeTextFile(
    transform,
    `export default (input, rw) => input.groupby("data").reduce({ word: "data", n: rw.reducers.count() });\n`,
  );
  const run = (partitions: string) =>
    rivulet([
      "run",
      "--transform",
      transform,
      "--input",
      "-",
      "--settings",
      settings,
      "--output-topic",
      topic,
      "--output-key",
      "word",
      "--output-partitions",
      partitions,
      "--quiet",
    ], { stdin: "a\nb\nc\nd\ne\nf\ng\nh\n*COMMIT*\n" });
  try {
    const result = await run("3");
    assert.equal(result.code, 0, result.stderr);
    const read = await consumeAll(topic, { count: 8 });
    const words = read.map((r) => r.key!).sort();
    assert.deepEqual(words, ["a", "b", "c", "d", "e", "f", "g", "h"]);
    for (const record of read) {
      assert.equal(
        record.partition,
        keyPartition(new TextEncoder().encode(record.key!), 3),
        `key ${record.key}`,
      );
    }
    assert.ok(new Set(read.map((r) => r.partition)).size > 1, "the keys spread over partitions");
    // The topic exists with 3 partitions now: asking for 2 would move keys, so it is refused.
    const again = await run("2");
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /has 3 partitions, not the 2 asked for/);
  } finally {
    await Deno.remove(settings);
    await Deno.remove(transform);
  }
});

Deno.test("output flags: usage errors name the flag", async () => {
  const base = [...seedRun.slice(1), "--settings", "s.json"];
  const cases: [string[], RegExp][] = [
    [
      ["--output-topic", "t", "--output-format", "xml"],
      /--output-format" must be json, dsv, plaintext or raw, not "xml"/,
    ],
    [["--output-format", "dsv"], /--output-format shape Kafka records: add --output-topic/],
    [["--output-topic", "t", "--output-topic-column", "c"], /not both/],
    [
      ["--output-topic", "t", "--output-delimiter", ";"],
      /--output-delimiter applies to --output-format dsv/,
    ],
    [
      ["--output-topic", "t", "--output-value", "v"],
      /--output-value applies to --output-format plaintext or raw/,
    ],
    [["--output-partitions", "3"], /--output-partitions shape Kafka records: add --output-topic/],
    [
      ["--output-topic", "t", "--output-partitions", "0"],
      /"--output-partitions" must be a whole number from 1 to 100000, not "0"/,
    ],
  ];
  for (const [flags, message] of cases) {
    await assert.rejects(parseRunArgs("rivulet run", [...base, ...flags]), message);
  }
  const parsed = await parseRunArgs("rivulet run", [
    ...base,
    "--output-topic-column",
    "t",
    "--output-format",
    "dsv",
    "--output-delimiter",
    "\\t",
    "--output-key",
    "k",
    "--output-headers",
    "a,b",
    "--output-partitions",
    "6",
  ]);
  assert.ok(!parsed.help && parsed.plan.pipeline.kind === "transform");
  if (!parsed.help && parsed.plan.pipeline.kind === "transform") {
    assert.equal(parsed.plan.pipeline.outputTopicColumn, "t");
    assert.deepEqual(parsed.plan.pipeline.output, {
      format: "dsv",
      delimiter: "\t",
      key: "k",
      headers: ["a", "b"],
      partitions: 6,
    });
  }
});
