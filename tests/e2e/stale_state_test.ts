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
  // The kafka state store needs no local directory: none is given, so none is used.
  const stateDir = extra.includes("--state-store") ? [] : ["--state-dir", ".state/sum"];
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
    ...stateDir,
    "--quiet",
    ...header,
    ...extra,
  ];
}

/** The result table of a change stream: the rows whose insertions are not retracted. */
function tableOf(records: { value: string }[]): [number, number][] {
  const rows = new Map<number, number>();
  for (const r of records.map((r) => JSON.parse(r.value) as { sum: number; diff: number })) {
    rows.set(r.sum, (rows.get(r.sum) ?? 0) + r.diff);
  }
  return [...rows].filter(([, n]) => n !== 0);
}

/**
 * Runs the command until its output's table is the one row `expected` (or 60 s
 * passed), stops it (SIGTERM), and returns the table it left. How many changes
 * lead there depends on how the partitions' commits were batched, so the table
 * is what is compared.
 */
async function runUntil(
  s: Setup,
  expected: number,
  extra: string[] = [],
): Promise<[number, number][]> {
  const output = uniqueTopic("stale-out");
  await createTopics([output]);
  const child = spawnRivulet(args(s, output, extra), {
    flags: ["--allow-write=.state"],
    cwd: s.cwd,
  });
  try {
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      const table = tableOf(await consumeAll(output, { timeoutMs: 2_000 }));
      if (table.length === 1 && table[0][0] === expected) break;
    }
  } finally {
    try {
      child.kill("SIGTERM");
    } catch {
      // It ended by itself: its exit status and output say why.
    }
  }
  const ended = await child.output();
  assert.equal(ended.code, 0, new TextDecoder().decode(ended.stderr));
  return tableOf(await consumeAll(output, { timeoutMs: 2_000 }));
}

/** Runs the command once more with the saved state; it must refuse, naming where the state is. */
async function refused(s: Setup, extra: string[] = [], place = /\.state\/sum/): Promise<string> {
  const output = uniqueTopic("stale-refused");
  const child = spawnRivulet(args(s, output, extra), {
    flags: ["--allow-write=.state"],
    cwd: s.cwd,
  });
  // A run that accepts the state reads forever: bounded, so it fails the test instead of hanging it.
  const timer = setTimeout(() => child.kill("SIGTERM"), 60_000);
  const ended = await child.output();
  clearTimeout(timer);
  const stderr = new TextDecoder().decode(ended.stderr);
  assert.equal(ended.code, 2, stderr);
  assert.equal(new TextDecoder().decode(ended.stdout), "");
  assert.match(stderr, place, "names where the state is");
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
  assert.deepEqual(await runUntil(s, 45), [[45, 1]]);
  await recreate(s.input, 1);
  await produce(s.input, ["value", "0", "*COMMIT*", "1", "*COMMIT*", "2", "*COMMIT*"]);
  const stderr = await refused(s);
  assert.match(stderr, /position_beyond_end|topic_incarnation/);
  assert.match(stderr, /partition 0/);
  // +0, then -0 +1, -1 +3.
  assert.deepEqual(await runUntil(s, 3, ["--reset-state"]), [[3, 1]]);
});

Deno.test("a topic created again with three partitions instead of one: exit 2 (not a sum of 72), then --reset-state gives 45", async () => {
  const s = await setup("stale-partitions", seedMessages.slice(1));
  assert.deepEqual(await runUntil(s, 45), [[45, 1]]);
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
  assert.deepEqual(await runUntil(s, 45, ["--reset-state"]), [[45, 1]]);
});

Deno.test("exactly-once: a topic created again leaves committed offsets that match no checkpoint; exit 2, then --reset-state gives sum 3", async () => {
  const s = await setup("stale-eos");
  assert.deepEqual(await runUntil(s, 45, ["--exactly-once"]), [[45, 1]]);
  await recreate(s.input, 1);
  await produce(s.input, ["value", "0", "*COMMIT*", "1", "*COMMIT*", "2", "*COMMIT*"]);
  const stderr = await refused(s, ["--exactly-once"]);
  assert.match(stderr, /match no checkpoint/);
  assert.deepEqual(await runUntil(s, 3, ["--exactly-once", "--reset-state"]), [[3, 1]]);
});

Deno.test("kafka state store: a topic created again no longer fits the changelog's state; exit 2 naming the changelog topic, then --reset-state gives sum 3", async () => {
  const s = await setup("stale-store");
  const kafkaStore = ["--exactly-once", "--state-store", "kafka"];
  assert.deepEqual(await runUntil(s, 45, kafkaStore), [[45, 1]]);
  await recreate(s.input, 1);
  await produce(s.input, ["value", "0", "*COMMIT*", "1", "*COMMIT*", "2", "*COMMIT*"]);
  await refused(s, kafkaStore, /changelog topic "stale-store-group[^"]*-state-changelog"/);
  assert.deepEqual(await runUntil(s, 3, [...kafkaStore, "--reset-state"]), [[3, 1]]);
});

Deno.test("kafka state store, at-least-once: a topic created again no longer fits the changelog's state; exit 2 naming the changelog topic, then --reset-state gives sum 3", async () => {
  const s = await setup("stale-store-alos");
  const kafkaStore = ["--state-store", "kafka"];
  assert.deepEqual(await runUntil(s, 45, kafkaStore), [[45, 1]]);
  await recreate(s.input, 1);
  await produce(s.input, ["value", "0", "*COMMIT*", "1", "*COMMIT*", "2", "*COMMIT*"]);
  await refused(s, kafkaStore, /changelog topic "stale-store-alos-group[^"]*-state-changelog"/);
  assert.deepEqual(await runUntil(s, 3, [...kafkaStore, "--reset-state"]), [[3, 1]]);
});
