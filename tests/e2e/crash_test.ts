/**
 * Crash recovery: the seed's pipeline and a group-by pipeline over 100,000
 * messages, each killed with SIGKILL at random moments 20 times and restarted
 * from its state directory, on a broker of the test's own (so that a killed
 * member leaves its group after a second).
 */
import assert from "node:assert/strict";
import {
  checkOutput,
  type CrashInput,
  createTopics,
  groupbyInput,
  killRepeatedly,
  lastRecordTable,
  OwnBroker,
  type PipelineRun,
  seedInput,
} from "./fixtures/crash_harness.ts";

const kills = Number(Deno.env.get("CRASH_KILLS") ?? "20");

async function crashRun(
  broker: OwnBroker,
  options: {
    kind: PipelineRun["kind"];
    input: CrashInput;
    exactlyOnce: boolean;
    partitions?: number;
    kills?: number;
    stateStore?: "kafka";
  },
) {
  const id = crypto.randomUUID().slice(0, 8);
  const run: PipelineRun = {
    kind: options.kind,
    broker: broker.address,
    group: `crash-${options.kind}-${id}`,
    input: `crash-in-${options.kind}-${id}`,
    output: `crash-out-${options.kind}-${id}`,
    stateDir: await Deno.makeTempDir({ prefix: `rivulet-crash-state-${id}-` }),
    exactlyOnce: options.exactlyOnce,
    ...(options.stateStore === undefined ? {} : { stateStore: options.stateStore }),
  };
  const kafka = broker.kafka();
  await createTopics(kafka, [run.input], options.partitions ?? 1);
  await createTopics(kafka, [run.output]);
  try {
    return await killRepeatedly({
      kafka,
      run,
      input: options.input,
      kills: options.kills ?? kills,
      isolation: "read_committed",
      everyCommit: (options.partitions ?? 1) === 1,
    });
  } finally {
    await Deno.remove(run.stateDir, { recursive: true });
  }
}

const seed = () => seedInput({ values: 100_000, perCommit: 10, chunkCount: kills });
const orders = (partitions = 1) =>
  groupbyInput({ orders: 100_000, perCommit: 20, chunkCount: kills, partitions });

/** Runs `fn` with a broker of its own on free ports, removed afterwards. */
async function withBroker(fn: (broker: OwnBroker) => Promise<void>): Promise<void> {
  const broker = await OwnBroker.start();
  try {
    await fn(broker);
  } finally {
    await broker.remove();
  }
}

Deno.test({
  name:
    "at-least-once, killed 20 times: every repeat is exact and the output rebuilds every commit's table",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withBroker(async (broker) => {
      const inputs = { seed: seed(), groupby: orders() };
      const [sums, totals] = await Promise.all([
        crashRun(broker, { kind: "seed", input: inputs.seed, exactlyOnce: false }),
        crashRun(broker, { kind: "groupby", input: inputs.groupby, exactlyOnce: false }),
      ]);
      for (const [records, input] of [[sums, inputs.seed], [totals, inputs.groupby]] as const) {
        const check = checkOutput(records);
        assert.deepEqual(check.tables, input.tables, "the table after every commit");
        console.log(`  ${check.records} records, ${check.repeats} exact repeats`);
      }
    }),
});

Deno.test({
  name:
    "at-least-once over 3 partitions, killed 8 times: the replay follows the recorded order, so repeats are exact",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withBroker(async (broker) => {
      const input = orders(3);
      const records = await crashRun(broker, {
        kind: "groupby",
        input,
        exactlyOnce: false,
        partitions: 3,
        kills: 8,
      });
      // Partitions interleave freely, so only the final table is known in advance.
      const check = checkOutput(records);
      assert.equal(check.tables.at(-1), input.tables.at(-1));
      assert.equal(lastRecordTable(records), input.tables.at(-1));
      console.log(`  ${check.records} records, ${check.repeats} exact repeats`);
    }),
});

Deno.test({
  name:
    "exactly-once, killed 20 times: a read_committed reader sees each change once and every commit's table",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withBroker(async (broker) => {
      const inputs = { seed: seed(), groupby: orders() };
      const [sums, totals] = await Promise.all([
        crashRun(broker, { kind: "seed", input: inputs.seed, exactlyOnce: true }),
        crashRun(broker, { kind: "groupby", input: inputs.groupby, exactlyOnce: true }),
      ]);
      for (const [records, input] of [[sums, inputs.seed], [totals, inputs.groupby]] as const) {
        const check = checkOutput(records);
        assert.equal(check.repeats, 0, "no change is seen twice");
        assert.deepEqual(check.tables, input.tables, "the table after every commit");
        console.log(`  ${check.records} records, no repeats`);
      }
    }),
});

Deno.test({
  name:
    "exactly-once with state in Kafka, seed and group-by over 3 partitions, killed repeatedly with no local state: each change once, the final table",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withBroker(async (broker) => {
      const inputs = { seed: seed(), groupby: orders(3) };
      const [sums, totals] = await Promise.all([
        crashRun(broker, {
          kind: "seed",
          input: inputs.seed,
          exactlyOnce: true,
          partitions: 3,
          stateStore: "kafka",
        }),
        crashRun(broker, {
          kind: "groupby",
          input: inputs.groupby,
          exactlyOnce: true,
          partitions: 3,
          stateStore: "kafka",
        }),
      ]);
      for (const [records, input] of [[sums, inputs.seed], [totals, inputs.groupby]] as const) {
        const check = checkOutput(records);
        assert.equal(check.repeats, 0, "no change is seen twice");
        // The seed's input is all on partition 0: its every commit's table is known.
        if (input === inputs.seed) assert.deepEqual(check.tables, input.tables);
        assert.equal(check.tables.at(-1), input.tables.at(-1), "the final table");
        console.log(`  ${check.records} records, no repeats`);
      }
    }),
});
