/**
 * `--partitioned`: what the flag needs and refuses, and runs on the local
 * broker — the seed's example gives the same 19 records as a run without it,
 * two instances share the tasks and rebuild exactly the right tables, a
 * restart resumes from the changelog instead of starting over, and bad input
 * names its topic, partition and offset. The kill-and-replace runs of several
 * instances are in tests/e2e/instances_test.ts.
 */
import assert from "node:assert/strict";
import { parseRunArgs } from "../../cli/run_plan.ts";
import { consumeAll, createTopics, produce, testBroker, uniqueTopic } from "../support/kafka.ts";
import { fixtures, seedSumArgs, spawnRivulet } from "./_rivulet.ts";

const base = ["--transform", "t.ts", "--topic", "t", "--settings", "s.json", "--output-topic", "o"];

Deno.test("--partitioned needs Kafka input and output, and refuses what does not apply to it", async () => {
  const parsed = await parseRunArgs("rivulet run", [...base, "--partitioned", "--exactly-once"]);
  assert.ok(!parsed.help);
  assert.ok(parsed.plan.pipeline.kind === "transform" && parsed.plan.pipeline.partitioned);
  assert.equal(parsed.plan.exactlyOnce, true, "state in Kafka: no --state-dir needed");
  await assert.rejects(
    () =>
      parseRunArgs("rivulet run", [
        "--transform",
        "t.ts",
        "--topic",
        "t",
        "--settings",
        "s.json",
        "--partitioned",
      ]),
    /--partitioned .* needs --topic and --output-topic/,
  );
  await assert.rejects(
    () => parseRunArgs("rivulet run", [...base, "--partitioned", "--state-dir", "x"]),
    /--state-dir does not apply with --partitioned: each task's state lives in the changelog topic/,
  );
  await assert.rejects(
    () => parseRunArgs("rivulet run", [...base, "--partitioned", "--reset-state"]),
    /--reset-state does not apply with --partitioned/,
  );
  await assert.rejects(
    () => parseRunArgs("rivulet run", [...base, "--partitioned", "--commit-markers"]),
    /--commit-markers cannot be combined with --partitioned yet/,
  );
});

const settingsFile = async (group: string, extra: Record<string, string> = {}) => {
  const path = await Deno.makeTempFile({ prefix: "rivulet-partitioned-", suffix: ".json" });
  await Deno.writeTextFile(
    path,
    JSON.stringify({ "bootstrap.servers": testBroker, "group.id": group, ...extra }),
  );
  return path;
};

/** A running `rivulet run` and its standard error, collected to the end. */
function start(args: readonly string[]) {
  const child = spawnRivulet(args, { env: { NO_COLOR: "1" } });
  const done = child.output().then((output) => ({
    code: output.code,
    stderr: new TextDecoder().decode(output.stderr),
  }));
  return {
    done,
    stop: async () => {
      try {
        child.kill("SIGTERM");
      } catch {
        // It ended already.
      }
      return await done;
    },
  };
}

/** `rivulet run` of the seed's sum over csv from Kafka topic `input` to `output`. */
/** Waits until `topic` holds `count` records (and a moment more for anything extra); returns them all. */
async function readWhenComplete(topic: string, count: number) {
  const first = await consumeAll(topic, { count, timeoutMs: 60_000 });
  assert.ok(first.length >= count, `${topic}: ${first.length} records, expected ${count}`);
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  return await consumeAll(topic, { timeoutMs: 3_000 });
}

Deno.test("the seed's example gives the same 19 records with --partitioned as without it", async () => {
  const input = uniqueTopic("connector_example");
  await createTopics([input]);
  await produce(input, [
    "value",
    ...Array.from({ length: 10 }, (_, i) => [String(i), "*COMMIT*"]).flat(),
  ]);
  const outputs: Record<string, unknown>[][] = [];
  for (const mode of [[], ["--partitioned"]]) {
    const output = uniqueTopic("sum");
    await createTopics([output]);
    const settings = await settingsFile(uniqueTopic("seed-group"));
    const run = start([...seedSumArgs(input, output, settings), "--state-store", "kafka", ...mode]);
    const records = await readWhenComplete(output, 19);
    const { code, stderr } = await run.stop();
    assert.equal(code, 0, stderr);
    assert.equal(records.length, 19, `${mode.join(" ")}: nothing else is written`);
    outputs.push(records.map((r) => ({ key: r.key, ...JSON.parse(r.value) })));
  }
  const [plain, partitioned] = outputs;
  assert.deepEqual(partitioned, plain, "same keys, sums, diffs and times");
  assert.deepEqual(plain.at(-1), { ...plain.at(-1), sum: 45, diff: 1 });
});

/** Rows {id, cat, v} on 4 partitions, each commit on its partition; the expected tables. */
function catInput(commitsPerPartition: number, rowsPerCommit: number) {
  const records: { value: string; partition: number }[] = [];
  const cats = new Map<string, { rows: number; total: number }>();
  let id = 0;
  for (let commit = 0; commit < commitsPerPartition; commit++) {
    for (let partition = 0; partition < 4; partition++) {
      for (let row = 0; row < rowsPerCommit; row++, id++) {
        const cat = `c${(id * 7) % 5}`;
        records.push({ partition, value: JSON.stringify({ id: `r${id}`, cat, v: id }) });
        const known = cats.get(cat) ?? { rows: 0, total: 0 };
        known.rows++;
        known.total += id;
        cats.set(cat, known);
      }
      records.push({ partition, value: "*COMMIT*" });
    }
  }
  const expected = new Map<string, string>();
  let rows = 0;
  let total = 0;
  for (const [cat, value] of cats) {
    expected.set(cat, JSON.stringify({ table: "cat", cat, ...value }));
    rows += value.rows;
    total += value.total;
  }
  expected.set("all", JSON.stringify({ table: "all", cat: null, rows, total }));
  return { records, expected, total };
}

/**
 * The output's table: exact repeats (same key and value) dropped, every
 * retraction checked against the row it retracts.
 */
function rebuild(records: readonly { key: string | null; value: string }[]) {
  const seen = new Set<string>();
  const rows = new Map<string, string>();
  let repeats = 0;
  for (const record of records) {
    const signature = `${record.key}\0${record.value}`;
    if (seen.has(signature)) {
      repeats++;
      continue;
    }
    seen.add(signature);
    const { diff, time: _time, ...row } = JSON.parse(record.value);
    const text = JSON.stringify(row);
    const key = record.key!;
    if (diff === 1) {
      assert.equal(rows.get(key), undefined, `an insertion of ${key} while it has a row`);
      rows.set(key, text);
    } else {
      assert.equal(rows.get(key), text, `a retraction of ${key} that is not its row`);
      rows.delete(key);
    }
  }
  const byName = new Map<string, string>();
  for (const text of rows.values()) {
    const row = JSON.parse(text);
    byName.set(row.table === "all" ? "all" : row.cat, text);
  }
  return { byName, repeats };
}

const transformArgs = (input: string, output: string, settings: string) => [
  "run",
  "--transform",
  `${fixtures}by_cat_total.ts`,
  "--topic",
  input,
  "--settings",
  settings,
  "--format",
  "json",
  "--columns",
  "id,cat,v",
  "--output-topic",
  output,
  "--output-partitions",
  "2",
  "--partitioned",
];

/** Waits until the output's "all" row has `total`; returns the output's records. */
async function waitForTotal(output: string, total: number) {
  const deadline = Date.now() + 90_000;
  for (;;) {
    const records = await consumeAll(output, { timeoutMs: 1_500 });
    const { byName } = rebuild(records);
    const all = byName.get("all");
    if (all !== undefined && JSON.parse(all).total === total) return records;
    if (Date.now() > deadline) throw new Error(`The "all" row did not reach ${total}: ${all}`);
  }
}

Deno.test("two instances with one group.id share the tasks and rebuild exactly the right tables", async () => {
  const input = uniqueTopic("cats");
  const output = uniqueTopic("cat-totals");
  await createTopics([input], 4);
  await createTopics([output], 2);
  const { records, expected, total } = catInput(10, 5);
  await produce(input, records);
  const settings = await settingsFile(uniqueTopic("cats-group"));
  const first = start(transformArgs(input, output, settings));
  const second = start(transformArgs(input, output, settings));
  const written = await waitForTotal(output, total);
  const results = [await first.stop(), await second.stop()];
  for (const { code, stderr } of results) assert.equal(code, 0, stderr);
  const { byName } = rebuild(written);
  assert.deepEqual(new Map([...byName].sort()), new Map([...expected].sort()));
  const assigned = results.map(({ stderr }) =>
    stderr.split("\n").filter((line) => line.includes("Tasks assigned")).at(-1) ?? ""
  );
  assert.ok(
    assigned.every((line) => line.includes(input)),
    `each instance runs some of the input's tasks:\n${assigned.join("\n")}`,
  );
});

Deno.test("a restarted instance resumes every task from the changelog instead of starting over", async () => {
  const input = uniqueTopic("cats-restart");
  const output = uniqueTopic("cat-totals-restart");
  await createTopics([input], 4);
  await createTopics([output], 2);
  const { records, total } = catInput(6, 5);
  const half = records.length / 2;
  await produce(input, records.slice(0, half));
  const halfTotal = records.slice(0, half).reduce(
    (sum, r) => sum + (r.value === "*COMMIT*" ? 0 : JSON.parse(r.value).v),
    0,
  );
  const settings = await settingsFile(uniqueTopic("cats-restart-group"));
  const first = start(transformArgs(input, output, settings));
  const before = await waitForTotal(output, halfTotal);
  // A checkpoint every second: wait for one after the last commit, then stop gracefully.
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  assert.equal((await first.stop()).code, 0);
  await produce(input, records.slice(half));
  const second = start(transformArgs(input, output, settings));
  const after = await waitForTotal(output, total);
  const { code, stderr } = await second.stop();
  assert.equal(code, 0, stderr);
  assert.match(stderr, /Task restored/);
  assert.doesNotMatch(stderr, /Task starts/, "every task had a checkpoint");
  const beforeSet = new Set(before.map((r) => `${r.key}\0${r.value}`));
  const repeated = after.filter((r) => beforeSet.has(`${r.key}\0${r.value}`));
  assert.equal(
    repeated.length,
    before.length,
    "the restarted run wrote none of the first run's records again",
  );
});

Deno.test("bad input in a partitioned run names its topic, partition and offset, and stops the run", async () => {
  const input = uniqueTopic("cats-bad");
  const output = uniqueTopic("cat-totals-bad");
  await createTopics([input], 2);
  await produce(input, [
    { partition: 1, value: JSON.stringify({ id: "a", cat: "x", v: 1 }) },
    { partition: 1, value: "{not json" },
    { partition: 1, value: "*COMMIT*" },
  ]);
  const settings = await settingsFile(uniqueTopic("cats-bad-group"));
  const run = start(transformArgs(input, output, settings));
  const { code, stderr } = await run.done;
  assert.equal(code, 3, stderr);
  assert.ok(stderr.includes(`${input}-1@1`), `names ${input}-1@1:\n${stderr}`);
});

Deno.test("a csv input of several partitions needs its header up front with --partitioned", async () => {
  const input = uniqueTopic("csv-parts");
  const output = uniqueTopic("csv-parts-out");
  await createTopics([input], 2);
  const settings = await settingsFile(uniqueTopic("csv-parts-group"));
  const run = start([...seedSumArgs(input, output, settings), "--partitioned"]);
  const { code, stderr } = await run.done;
  assert.notEqual(code, 0);
  assert.match(stderr, /has 2 partitions: give its column names up front \(--header a,b/);
});

Deno.test("a group whose offsets were committed without --partitioned is refused: its task state is not there", async () => {
  const input = uniqueTopic("cats-switch");
  const output = uniqueTopic("cat-totals-switch");
  await createTopics([input], 2);
  await createTopics([output], 2);
  await produce(input, [
    { partition: 0, value: JSON.stringify({ id: "a", cat: "x", v: 1 }) },
    { partition: 0, value: "*COMMIT*" },
  ]);
  const settings = await settingsFile(uniqueTopic("cats-switch-group"));
  const args = transformArgs(input, output, settings).filter((arg) => arg !== "--partitioned");
  const plain = start([...args, "--state-store", "kafka"]);
  await waitForTotal(output, 1);
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  assert.equal((await plain.stop()).code, 0);
  const { code, stderr } = await start([...args, "--partitioned"]).done;
  assert.notEqual(code, 0);
  assert.match(stderr, /has a committed offset for .* but .*-tasks-changelog holds no state/);
});
