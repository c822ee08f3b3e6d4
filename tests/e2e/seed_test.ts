/**
 * The seed's example end to end on the local broker: csv in, integer, sum,
 * every change of the sum out as JSON, and the group-by variant with upserts.
 */
import assert from "node:assert/strict";
import * as rw from "../../mod.ts";
import { consumeAll, createTopics, produce, testBroker, uniqueTopic } from "../support/kafka.ts";
import { tablesFromRecords } from "../support/tables.ts";

const settings = (group: string) => ({ "bootstrap.servers": testBroker, "group.id": group });

/** The seed's stream: header, then 0..9 each followed by a commit marker. */
export const seedStream = [
  "value",
  ...Array.from({ length: 10 }, (_, i) => [String(i), "*COMMIT*"]).flat(),
];

/** Runs `pipeline` until `topic` holds `count` records, then stops it; returns the records. */
async function runUntil(pipeline: rw.Pipeline, topic: string, count: number) {
  const running = pipeline.run();
  try {
    return await consumeAll(topic, { count, timeoutMs: 30_000 });
  } finally {
    pipeline.stop();
    await running;
  }
}

function seedPipeline(input: string, output: string, options: { commitFrequency?: number } = {}) {
  const pipeline = new rw.Pipeline();
  const s = settings(`seed-${input}`);
  const t = rw.kafka.read(s, {
    topicNames: [input],
    format: "csv",
    valueColumns: ["value"],
    pipeline,
  });
  const values = t.select({ value: rw.apply((x: string) => parseInt(x), "value") });
  const sum = values.reduce({ sum: rw.reducers.sum("value") });
  const sink = { topicName: output, pipeline, commitFrequencyInMessages: options.commitFrequency };
  rw.kafka.write(sum, s, sink);
  return pipeline;
}

Deno.test("the seed's pipeline writes +0, then -0 +1, -1 +3 ... -36 +45 to the sum topic", async () => {
  const input = uniqueTopic("connector_example");
  const output = uniqueTopic("sum");
  await createTopics([input, output]);
  await produce(input, seedStream);
  const records = await runUntil(seedPipeline(input, output), output, 19);
  await new Promise((resolve) => setTimeout(resolve, 500));
  const all = await consumeAll(output, { timeoutMs: 3000 });
  assert.equal(all.length, 19, "nothing else is written");

  const values = records.map((r) => JSON.parse(r.value));
  const expected: [number, number][] = [[0, 1]];
  for (let i = 1, sum = 0; i <= 9; sum += i, i++) expected.push([sum, -1], [sum + i, 1]);
  assert.deepEqual(values.map((v) => [v.sum, v.diff]), expected);
  assert.ok(
    records.every((r) => r.key === records[0].key),
    "every change of the sum has the sum row's key",
  );
  for (let i = 1; i < values.length; i += 2) {
    assert.equal(values[i].time, values[i + 1].time, "retraction and insertion share a time");
    assert.ok(values[i].time > values[i - 1].time, "times increase from commit to commit");
  }
});

Deno.test("a group-by over json with upserts: the output's diffs rebuild the table after each commit", async () => {
  const input = uniqueTopic("orders");
  const output = uniqueTopic("totals");
  await createTopics([input, output]);
  const pipeline = new rw.Pipeline();
  const s = settings(`groupby-${input}`);
  const orders = rw.kafka.read(s, {
    topicNames: [input],
    format: "json",
    valueColumns: ["id", "customer", "amount"],
    primaryKey: ["id"],
    pipeline,
  });
  const totals = orders.groupby("customer").reduce({
    customer: "customer",
    count: rw.reducers.count(),
    total: rw.reducers.sum("amount"),
  });
  rw.kafka.write(totals, s, { topicName: output, pipeline });

  const commits = [
    [{ id: 1, customer: "ann", amount: 10 }, { id: 2, customer: "bob", amount: 5 }],
    [{ id: 1, customer: "ann", amount: 12 }, { id: 3, customer: "ann", amount: 1 }],
    [{ id: 2, customer: "ann", amount: 5 }],
    [{ id: 3, customer: "ann", amount: 1 }],
  ];
  const expected = [
    [{ customer: "ann", count: 1, total: 10 }, { customer: "bob", count: 1, total: 5 }],
    [{ customer: "ann", count: 2, total: 13 }, { customer: "bob", count: 1, total: 5 }],
    [{ customer: "ann", count: 3, total: 18 }],
  ];
  await produce(
    input,
    commits.flatMap((rows) => [...rows.map((r) => JSON.stringify(r)), "*COMMIT*"]),
  );
  // 2 records (ann +, bob +), then 2 (ann -, ann +), then 3 (ann -, ann +, bob -); the last
  // commit rewrites a row with the same values and changes nothing.
  const records = await runUntil(pipeline, output, 7);
  assert.deepEqual(tablesFromRecords(records), expected);
  assert.equal(
    (await consumeAll(output, { timeoutMs: 2000 })).length,
    7,
    "nothing else is written",
  );
});

Deno.test("commit_frequency_in_messages groups commits into fewer produce requests, same records", async () => {
  const stream = [
    "value",
    ...Array.from({ length: 20 }, (_, i) => [String(i), "*COMMIT*"]).flat(),
  ];
  const results: { requests: number; values: string[] }[] = [];
  for (const frequency of [1, 10]) {
    const input = uniqueTopic("freq-in");
    const output = uniqueTopic("freq-out");
    await createTopics([input, output]);
    await produce(input, stream);
    const pipeline = seedPipeline(input, output, { commitFrequency: frequency });
    const records = await runUntil(pipeline, output, 39);
    const sink = pipeline.sinks()[0] as unknown as { stats(): { produceRequests: number } };
    results.push({
      requests: sink.stats().produceRequests,
      values: records.map((r) => {
        const { time: _time, ...rest } = JSON.parse(r.value);
        return JSON.stringify(rest);
      }),
    });
  }
  assert.deepEqual(results[0].values, results[1].values, "the same records arrive");
  assert.equal(results[0].requests, 20, "one request per commit with N = 1");
  assert.ok(
    results[1].requests >= 2 && results[1].requests <= 4,
    `about 20 / 10 requests with N = 10, got ${results[1].requests}`,
  );
});
