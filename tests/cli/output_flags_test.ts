/**
 * The command's output flags against the real broker (`--output-format`,
 * `--output-delimiter`, `--output-key`, `--output-headers`,
 * `--output-topic-column`) and their usage errors.
 */
import assert from "node:assert/strict";
import { consumeAll, testBroker, uniqueTopic } from "../support/kafka.ts";
import { rivulet } from "./_rivulet.ts";
import { parseRunArgs } from "../../cli/run_plan.ts";

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
  ]);
  assert.ok(!parsed.help && parsed.plan.pipeline.kind === "transform");
  if (!parsed.help && parsed.plan.pipeline.kind === "transform") {
    assert.equal(parsed.plan.pipeline.outputTopicColumn, "t");
    assert.deepEqual(parsed.plan.pipeline.output, {
      format: "dsv",
      delimiter: "\t",
      key: "k",
      headers: ["a", "b"],
    });
  }
});
