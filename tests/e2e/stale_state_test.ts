/**
 * Saved state that no longer fits its topics is refused, through the command:
 * the seed's example runs to 45 with a state directory, its topic is deleted
 * and created again (fewer messages; three partitions instead of one), and the
 * restart exits 2 naming the state directory and `--reset-state` instead of
 * printing nothing (offset 21 beyond the new end) or a wrong sum (72 for 45).
 * `--reset-state` then gives the right table.
 */
import assert from "node:assert/strict";
import {
  consumeAll,
  createTopics,
  produce,
  testBroker,
  testKafka,
  type TestRecord,
  uniqueTopic,
} from "../support/kafka.ts";
import { root, spawnRivulet } from "../cli/_rivulet.ts";

/** The seed's generator: a header, then 0..9 each followed by *COMMIT*, on partition 0 (21 messages). */
const seedMessages = [
  "value",
  ...Array.from({ length: 10 }, (_, i) => [String(i), "*COMMIT*"]).flat(),
];

interface Setup {
  readonly input: string;
  readonly settings: string;
  readonly cwd: string;
}

async function setup(prefix: string, messages = seedMessages): Promise<Setup> {
  const input = uniqueTopic(`${prefix}-in`);
  await createTopics([input]);
  await produce(input, messages);
  const settings = await Deno.makeTempFile({ suffix: ".json" });
  await Deno.writeTextFile(
    settings,
    JSON.stringify({
      "bootstrap.servers": testBroker,
      "group.id": uniqueTopic(`${prefix}-group`),
      "auto.offset.reset": "earliest",
    }),
  );
  return { input, settings, cwd: await Deno.makeTempDir({ prefix: "rivulet-stale-" }) };
}

function args(s: Setup, output: string, extra: string[] = []): string[] {
  // The three-partition scenario names the column up front (a csv header is known per topic and
  // partitions are read in no fixed order); the seed's stream carries a header message.
  const header = s.input.startsWith("stale-partitions") ? ["--header", "value"] : [];
  return [
    "run",
    "--transform",
    `${root}examples/sum.ts`,
    "--topic",
    s.input,
    "--settings",
    s.settings,
    "--format",
    "csv",
    "--output-topic",
    output,
    "--state-dir",
    ".state/sum",
    "--quiet",
    ...header,
    ...extra,
  ];
}

/** Runs the command until `output` holds `count` records, stops it (SIGTERM), returns the final sum. */
async function runUntil(s: Setup, count: number, extra: string[] = []): Promise<number> {
  const output = uniqueTopic("stale-out");
  await createTopics([output]);
  const child = spawnRivulet(args(s, output, extra), {
    flags: ["--allow-write=.state"],
    cwd: s.cwd,
  });
  let got;
  try {
    got = await consumeAll(output, { count, timeoutMs: 60_000 });
  } finally {
    try {
      child.kill("SIGTERM");
    } catch {
      // It ended by itself: its exit status and output say why.
    }
  }
  const ended = await child.output();
  assert.equal(ended.code, 0, new TextDecoder().decode(ended.stderr));
  assert.equal(got.length, count, `${count} changes arrive`);
  // The table: the rows whose insertions are not retracted.
  const rows = new Map<number, number>();
  for (const r of got.map((r) => JSON.parse(r.value) as { sum: number; diff: number })) {
    rows.set(r.sum, (rows.get(r.sum) ?? 0) + r.diff);
  }
  const live = [...rows].filter(([, n]) => n !== 0);
  assert.equal(live.length, 1, `one row in the table: ${JSON.stringify(live)}`);
  assert.equal(live[0][1], 1);
  return live[0][0];
}

/** Runs the command once more with the saved state; it must refuse. */
async function refused(s: Setup): Promise<string> {
  const output = uniqueTopic("stale-refused");
  const child = spawnRivulet(args(s, output), { flags: ["--allow-write=.state"], cwd: s.cwd });
  const ended = await child.output();
  const stderr = new TextDecoder().decode(ended.stderr);
  assert.equal(ended.code, 2, stderr);
  assert.equal(new TextDecoder().decode(ended.stdout), "");
  assert.match(stderr, /\.state\/sum/, "names the state directory");
  assert.match(stderr, /--reset-state/, "names the way out");
  return stderr;
}

/** Deletes a topic and creates it again with `partitions` partitions (retrying while deletion completes). */
async function recreate(topic: string, partitions: number): Promise<void> {
  const admin = testKafka().admin();
  await admin.connect();
  try {
    await admin.deleteTopics({ topics: [topic] });
    const deadline = Date.now() + 60_000;
    while ((await admin.listTopics()).includes(topic)) {
      if (Date.now() > deadline) throw new Error(`Topic ${topic} is still listed after deletion`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  } finally {
    await admin.disconnect();
  }
  for (;;) {
    try {
      return await createTopics([topic], partitions);
    } catch (error) {
      // The broker may still be removing the old incarnation's logs.
      if (!String(error).includes("already exists")) throw error;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}

Deno.test("a topic created again with fewer messages: the saved offset 21 lies beyond its end; exit 2, then --reset-state gives sum 3", async () => {
  const s = await setup("stale-fewer");
  assert.equal(await runUntil(s, 19), 45);
  await recreate(s.input, 1);
  await produce(s.input, ["value", "0", "*COMMIT*", "1", "*COMMIT*", "2", "*COMMIT*"]);
  const stderr = await refused(s);
  assert.match(stderr, /position_beyond_end|topic_incarnation/);
  assert.match(stderr, /partition 0/);
  // +0, then -0 +1, -1 +3.
  assert.equal(await runUntil(s, 5, ["--reset-state"]), 3);
});

Deno.test("a topic created again with three partitions instead of one: exit 2 (not a sum of 72), then --reset-state gives 45", async () => {
  const s = await setup("stale-partitions", seedMessages.slice(1));
  assert.equal(await runUntil(s, 19), 45);
  await recreate(s.input, 3);
  // The same values spread over three partitions with commit markers.
  const spread: TestRecord[] = [0, 1, 2].flatMap((partition) => [
    ...Array.from({ length: 10 }, (_, i) => i).filter((i) => i % 3 === partition).flatMap((i) => [
      { value: String(i), partition },
      { value: "*COMMIT*", partition },
    ]),
  ]);
  await produce(s.input, spread);
  const stderr = await refused(s);
  assert.match(stderr, /partition_count/);
  assert.match(stderr, /1 partition\(s\) when saved, 3 now/);
  // Ten commits: +0 once, then a retraction and an insertion each.
  assert.equal(await runUntil(s, 19, ["--reset-state"]), 45);
});
