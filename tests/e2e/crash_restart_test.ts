/**
 * Restarts without a crash: after a clean stop a restart emits nothing that
 * was already emitted (both delivery modes), and the csv header stays known
 * after its message is long committed, even once it is deleted from the log.
 */
import assert from "node:assert/strict";
import * as rw from "../../mod.ts";
import {
  consumeAll,
  createTopics,
  produce,
  testBroker,
  testKafka,
  uniqueTopic,
} from "../support/kafka.ts";

const stream = (from: number, to: number) =>
  Array.from({ length: to - from }, (_, i) => [String(from + i), "*COMMIT*"]).flat();

/** The (sum, diff) pairs of the seed's pipeline over values from..to-1, after the sum of 0..from-1. */
function sums(from: number, to: number): [number, number][] {
  const out: [number, number][] = [];
  let sum = (from * (from - 1)) / 2;
  for (let i = from; i < to; i++) {
    if (i > 0) out.push([sum, -1]);
    sum += i;
    out.push([sum, 1]);
  }
  return out;
}

interface Topics {
  readonly input: string;
  readonly output: string;
  readonly group: string;
  readonly stateDir: string;
}

async function topics(prefix: string): Promise<Topics> {
  const input = uniqueTopic(`${prefix}-in`);
  const output = uniqueTopic(`${prefix}-out`);
  await createTopics([input, output]);
  return {
    input,
    output,
    group: `${prefix}-${input}`,
    stateDir: await Deno.makeTempDir({ prefix: "rivulet-restart-" }),
  };
}

/** Runs the seed's pipeline until the output holds `count` records, then stops it cleanly. */
async function runSeed(t: Topics, count: number, exactlyOnce: boolean): Promise<void> {
  const settings = {
    "bootstrap.servers": testBroker,
    "group.id": t.group,
    "session.timeout.ms": "6000",
  };
  const pipeline = new rw.Pipeline();
  const table = rw.kafka.read(settings, {
    topicNames: [t.input],
    format: "csv",
    valueColumns: ["value"],
    pipeline,
  });
  const values = table.select({ value: rw.apply((x: string) => parseInt(x), "value") });
  rw.kafka.write(values.reduce({ sum: rw.reducers.sum("value") }), settings, {
    topicName: t.output,
    pipeline,
  });
  const running = pipeline.run({ stateDir: t.stateDir, exactlyOnce, checkpointIntervalMs: 100 });
  try {
    const records = await consumeAll(t.output, { count, timeoutMs: 30_000 });
    assert.ok(records.length >= count, `${count} records arrive, got ${records.length}`);
  } finally {
    pipeline.stop();
    await running;
    await Promise.all(pipeline.sources().map((source) => source.close?.()));
  }
}

async function outputSums(topic: string): Promise<[number, number][]> {
  const records = await consumeAll(topic, { timeoutMs: 3000 });
  return records.map((r) => JSON.parse(r.value)).map((v) => [v.sum, v.diff]);
}

for (const exactlyOnce of [false, true]) {
  const mode = exactlyOnce ? "exactly-once" : "at-least-once";
  Deno.test({
    name: `${mode}: a restart after a clean stop emits nothing that was already emitted`,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      const t = await topics(`restart-${exactlyOnce ? "eo" : "alo"}`);
      await produce(t.input, ["value", ...stream(0, 5)]);
      await runSeed(t, 9, exactlyOnce);
      assert.deepEqual(await outputSums(t.output), sums(0, 5));
      await produce(t.input, stream(5, 8));
      await runSeed(t, 15, exactlyOnce);
      assert.deepEqual(await outputSums(t.output), sums(0, 8), "the second run only continues");
      await Deno.remove(t.stateDir, { recursive: true });
    },
  });
}

Deno.test({
  name:
    "a restart long after the csv header was committed, and deleted from the log, still parses rows",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const t = await topics("header");
    await produce(t.input, ["value", ...stream(0, 5)]);
    await runSeed(t, 9, false);
    const admin = testKafka().admin();
    await admin.connect();
    try {
      const [committed] = await admin.fetchOffsets({ groupId: t.group, topics: [t.input] });
      assert.equal(committed.partitions[0].offset, "11", "the header's offset is long committed");
      // Retention took the header away: only the checkpoint still knows it.
      await admin.deleteTopicRecords({
        topic: t.input,
        partitions: [{ partition: 0, offset: "5" }],
      });
    } finally {
      await admin.disconnect();
    }
    await produce(t.input, stream(5, 8));
    await runSeed(t, 15, false);
    assert.deepEqual(await outputSums(t.output), sums(0, 8));
    await Deno.remove(t.stateDir, { recursive: true });
  },
});
