/**
 * The command against the real broker: `rivulet run --topic ... --output-topic`
 * on the seed's stream, then `rivulet tail` rebuilding the result table.
 */
import assert from "node:assert/strict";
import { consumeAll, createTopics, produce, testBroker, uniqueTopic } from "../support/kafka.ts";
import { records, rivulet, seedSumArgs, seedSumStream, spawnRivulet } from "./_rivulet.ts";

/** The seed's generator: a header, then 0..9 each followed by *COMMIT*, all on partition 0. */
const seedMessages = [
  "value",
  ...Array.from({ length: 10 }, (_, i) => [String(i), "*COMMIT*"]).flat(),
];

/** A loopback port nothing listens on right now. */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

async function settingsFile(group: string): Promise<string> {
  const path = await Deno.makeTempFile({ suffix: ".json" });
  await Deno.writeTextFile(
    path,
    JSON.stringify({ "bootstrap.servers": testBroker, "group.id": group }),
  );
  return path;
}

Deno.test("rivulet run --topic --output-topic writes the seed's sums to Kafka, the same stream as the local run, reports lag; tail shows the table", async () => {
  const input = uniqueTopic("cli-connector-example");
  const output = uniqueTopic("cli-sum");
  await createTopics([input, output]);
  await produce(input, seedMessages);
  const settings = await settingsFile(uniqueTopic("cli-group"));
  const port = freePort();

  const flags = ["--columns", "value", "--quiet", "--metrics-port", `${port}`];
  const child = spawnRivulet(seedSumArgs(input, output, settings, ...flags));
  let written;
  let lag: number | undefined;
  try {
    written = await consumeAll(output, { count: 19, timeoutMs: 30_000 });
    // The source's lag is asked every 2 s, so a value taken while the input was still being
    // read can stand for up to 2 s: wait (boundedly, 10 s) for it to reach 0, then check it.
    for (let attempt = 0; attempt < 100 && lag !== 0; attempt++) {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      const match = /^rivulet_consumer_lag (\d+)$/m.exec(text);
      if (match !== null) lag = Number(match[1]);
      if (lag !== 0) await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } finally {
    child.kill("SIGTERM");
  }
  const ended = await child.output();
  const stderr = new TextDecoder().decode(ended.stderr);
  assert.equal(ended.code, 0, `SIGTERM stops the run gracefully, exit 0\n${stderr}`);

  assert.equal(lag, 0, "every input message was read");

  const values = written.map((r) => JSON.parse(r.value));
  const local = seedSumStream();
  assert.deepEqual(values.map((v) => [v.sum, v.diff]), local.map((v) => [v.sum, v.diff]));
  for (let i = 1; i < values.length; i += 2) {
    assert.equal(values[i].time, values[i + 1].time, "a retraction and its insertion share a time");
    assert.ok(values[i].time >= values[i - 1].time, "times never decrease");
  }
  assert.ok(
    written.every((r) => r.key !== null && /^[0-9a-f]{32}$/.test(r.key)),
    "the key is the row id",
  );

  const tail = await rivulet([
    "tail",
    output,
    "--settings",
    settings,
    "--from-beginning",
    "--exit-after-idle",
    "1500",
  ]);
  assert.equal(tail.code, 0, tail.stderr);
  const blocks = tail.stdout.trim().split(/\n(?=time )/);
  const last = blocks.at(-1)!.split("\n");
  assert.match(last[0], /^time \d+: 1 row$/);
  assert.deepEqual(records(last.slice(1).join("\n")), [{ sum: 45 }]);
  assert.match(
    blocks[0],
    /^time \d+: 1 row\n\{"sum":0\}$/,
    "the first block is the first commit's table",
  );
});

Deno.test("rivulet tail rebuilds a keyed table from inserts and retractions", async () => {
  const topic = uniqueTopic("cli-tail");
  await createTopics([topic]);
  const key = (n: number) => n.toString(16).padStart(32, "0");
  await produce(topic, [
    { key: key(1), value: JSON.stringify({ word: "a", count: 1, diff: 1, time: 5 }) },
    { key: key(2), value: JSON.stringify({ word: "b", count: 1, diff: 1, time: 5 }) },
    "*COMMIT*",
    { key: key(1), value: JSON.stringify({ word: "a", count: 1, diff: -1, time: 9 }) },
    { key: key(1), value: JSON.stringify({ word: "a", count: 2, diff: 1, time: 9 }) },
    { key: key(2), value: JSON.stringify({ word: "b", count: 1, diff: -1, time: 9 }) },
    "*COMMIT*",
  ]);
  const settings = await settingsFile(uniqueTopic("cli-tail-group"));
  const tail = await rivulet([
    "tail",
    topic,
    "--settings",
    settings,
    "--from-beginning",
    "--exit-after-idle",
    "1500",
  ]);
  assert.equal(tail.code, 0, tail.stderr);
  assert.equal(
    tail.stdout,
    'time 5: 2 rows\n{"word":"a","count":1}\n{"word":"b","count":1}\ntime 9: 1 row\n{"word":"a","count":2}\n',
  );
});

Deno.test("rivulet tail names a topic that does not exist, exit 2", async () => {
  const settings = await settingsFile(uniqueTopic("cli-tail-group"));
  const result = await rivulet(["tail", uniqueTopic("cli-no-such-topic"), "--settings", settings]);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /Topic "cli-no-such-topic-[0-9a-f]+" does not exist/);
});

Deno.test("rivulet run runs the library-mode example examples/realtime_kafka.ts against the broker", async () => {
  const input = uniqueTopic("cli-realtime-in");
  const output = uniqueTopic("cli-realtime-sum");
  await createTopics([input, output]);
  await produce(input, seedMessages);
  const state = await Deno.makeTempDir();
  const child = spawnRivulet([
    "run",
    "examples/realtime_kafka.ts",
  ], {
    flags: [`--allow-write=${state}`],
    env: {
      RIVULET_SETTINGS: await settingsFile(uniqueTopic("cli-realtime-group")),
      RIVULET_INPUT_TOPIC: input,
      RIVULET_OUTPUT_TOPIC: output,
      RIVULET_STATE_DIR: `${state}/realtime`,
    },
  });
  let written;
  try {
    written = await consumeAll(output, { count: 19, timeoutMs: 30_000 });
  } finally {
    child.kill("SIGINT");
  }
  const ended = await child.output();
  assert.equal(ended.code, 0, new TextDecoder().decode(ended.stderr));
  assert.deepEqual(
    written.map((r) => JSON.parse(r.value)).map((v) => [v.sum, v.diff]),
    seedSumStream().map((v) => [v.sum, v.diff]),
  );
});

Deno.test("the typed example examples/realtime_kafka_typed.ts gives the seed's sums without parseInt", async () => {
  const input = uniqueTopic("cli-realtime-typed-in");
  const output = uniqueTopic("cli-realtime-typed-sum");
  await createTopics([input, output]);
  await produce(input, seedMessages);
  const state = await Deno.makeTempDir();
  const child = spawnRivulet(["run", "examples/realtime_kafka_typed.ts"], {
    flags: [`--allow-write=${state}`],
    env: {
      RIVULET_SETTINGS: await settingsFile(uniqueTopic("cli-realtime-typed-group")),
      RIVULET_INPUT_TOPIC: input,
      RIVULET_OUTPUT_TOPIC: output,
      RIVULET_STATE_DIR: `${state}/realtime`,
    },
  });
  let written;
  try {
    written = await consumeAll(output, { count: 19, timeoutMs: 30_000 });
  } finally {
    child.kill("SIGINT");
  }
  const ended = await child.output();
  assert.equal(ended.code, 0, new TextDecoder().decode(ended.stderr));
  assert.deepEqual(
    written.map((r) => JSON.parse(r.value)).map((v) => [v.sum, v.diff]),
    seedSumStream().map((v) => [v.sum, v.diff]),
  );
});

Deno.test("rivulet run --exactly-once writes the seed's sums in transactions: a read_committed reader sees each change once", async () => {
  const input = uniqueTopic("cli-eos-in");
  const output = uniqueTopic("cli-eos-out");
  await createTopics([input, output]);
  await produce(input, seedMessages);
  const settings = await settingsFile(uniqueTopic("cli-eos-group"));
  const cwd = await Deno.makeTempDir();
  const child = spawnRivulet(
    seedSumArgs(input, output, settings, "--state-dir", ".state/eos", "--exactly-once", "--quiet"),
    { flags: ["--allow-write=.state"], cwd },
  );
  let committed;
  try {
    committed = await consumeAll(output, { count: 19, timeoutMs: 30_000 });
  } finally {
    child.kill("SIGTERM");
  }
  const ended = await child.output();
  assert.equal(ended.code, 0, new TextDecoder().decode(ended.stderr));
  const sums = committed.map((r) => JSON.parse(r.value)).map((r) => [r.sum, r.diff]);
  const expected = seedSumStream().map((r) => [r.sum, r.diff]);
  assert.deepEqual(sums, expected);
  const everything = await consumeAll(output, { isolation: "read_uncommitted", timeoutMs: 2000 });
  assert.equal(everything.length, 19, "no aborted or repeated records either");
});

Deno.test("rivulet run --exactly-once without --state-dir is a usage error", async () => {
  const result = await rivulet([
    "run",
    "--transform",
    "examples/sum.ts",
    "--input",
    "examples/connector_example.txt",
    "--exactly-once",
  ]);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /"--exactly-once" needs "--state-dir"/);
});
