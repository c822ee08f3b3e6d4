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
  readPartitions,
  seedInput,
} from "./fixtures/crash_harness.ts";

const kills = Number(Deno.env.get("CRASH_KILLS") ?? "20");
/**
 * The at-least-once state-in-Kafka tests kill 5 times (well under 2 minutes
 * each); RIVULET_FULL_FAULTS=1 (or CRASH_KILLS) kills 20 times.
 */
const kafkaStoreKills = Number(
  Deno.env.get("CRASH_KILLS") ?? (Deno.env.get("RIVULET_FULL_FAULTS") === "1" ? "20" : "5"),
);

async function crashRun(
  broker: OwnBroker,
  options: {
    kind: PipelineRun["kind"];
    input: CrashInput;
    exactlyOnce: boolean;
    partitions?: number;
    kills?: number;
    stateStore?: "kafka";
    /** With the kafka state store: keep the state directory as its local cache. */
    stateCache?: boolean;
    /** Receives each pipeline process's log lines. */
    logs?: string[][];
    /** Called while the pipeline of round `k` runs, before it is killed, with the state directory. */
    during?: (round: number, stateDir: string) => Promise<void>;
    /** Deletes the whole state directory before each restart (with `stateCache`: it holds the cache). */
    wipeState?: boolean;
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
    ...(options.stateCache ? { stateCache: true } : {}),
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
      ...(options.logs === undefined ? {} : { logs: options.logs }),
      ...(options.during === undefined
        ? {}
        : { during: (round: number) => options.during!(round, run.stateDir) }),
      ...(options.wipeState
        ? {
          beforeRestart: async () => {
            await Deno.remove(run.stateDir, { recursive: true }).catch(() => {});
            await Deno.mkdir(run.stateDir, { recursive: true });
          },
        }
        : {}),
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

/** The fields of each "restored state from the changelog" line of one process's log. */
function restoreLines(lines: readonly string[]): Record<string, unknown>[] {
  const prefix = "info restored state from the changelog ";
  return lines.filter((line) => line.startsWith(prefix)).map((line) =>
    JSON.parse(line.slice(prefix.length))
  );
}

/**
 * Group-by over 3 partitions with state in Kafka and the local cache kept,
 * killed 5 times: every restart restores from the cache and reads only the
 * changelog's tail (records restored at most those written after the cache).
 */
async function cachedRestarts(broker: OwnBroker, exactlyOnce: boolean): Promise<void> {
  const input = groupbyInput({ orders: 20_000, perCommit: 20, chunkCount: 5, partitions: 3 });
  const logs: string[][] = [];
  const records = await crashRun(broker, {
    kind: "groupby",
    input,
    exactlyOnce,
    partitions: 3,
    kills: 5,
    stateStore: "kafka",
    stateCache: true,
    logs,
    // The first run is killed only once it saved a cache, so that every restart has one.
    during: async (round, stateDir) => {
      for (let i = 0; round === 0 && i < 600; i++) {
        if (
          await Deno.stat(`${stateDir}/changelog-cache.bin`).then(() => true, () => false)
        ) return;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
  });
  const check = checkOutput(records);
  if (exactlyOnce) assert.equal(check.repeats, 0, "no change is seen twice");
  assert.equal(check.tables.at(-1), input.tables.at(-1), "the final table");
  const restores = logs.map((lines) => restoreLines(lines)[0]);
  assert.ok(restores.every((r) => r !== undefined), "every process restored");
  const topic = String(restores[0].topic);
  // The changelog as it is now: what each restart's tail held, and the whole log.
  const changelog = await readPartitions(broker.kafka(), topic);
  const state = changelog.filter((r) => r.key !== "restore-end" && r.key !== "incarnation");
  const figures: string[] = [];
  let fromCache = 0;
  for (const restore of restores.slice(1)) {
    if (restore.from !== "cache") continue;
    fromCache++;
    // Written after the cache: the changelog's state records from the cache's offsets up to
    // this restore's end markers (both logged), counted in the topic itself.
    const at = (field: unknown) =>
      new Map(
        String(field).split(",").map((part) => part.split("@").map(Number) as [number, number]),
      );
    const [tail, end] = [at(restore.tail), at(restore.end)];
    let written = 0;
    for (const [partition, from] of tail) {
      written += state.filter((r) =>
        r.partition === partition && r.offset >= from && r.offset < end.get(partition)!
      ).length;
    }
    const restored = Number(restore.records);
    assert.ok(restored <= written, `restored ${restored}, written after the cache ${written}`);
    assert.ok(restored < state.length, `restored ${restored}, whole log ${state.length}`);
    figures.push(`${restored}/${written}`);
  }
  assert.equal(fromCache, restores.length - 1, "every restart restores from the cache");
  console.log(
    `  ${check.records} records, ${check.repeats} exact repeats; restored/written after the ` +
      `cache per restart: ${figures.join(" ")}; the whole changelog: ${state.length} state records`,
  );
}

Deno.test({
  name:
    "exactly-once with state in Kafka and the local cache kept, group-by over 3 partitions, killed 5 times: each restart reads only the changelog's tail",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () => withBroker((broker) => cachedRestarts(broker, true)),
});

Deno.test({
  name:
    "at-least-once with state in Kafka and the local cache kept, group-by over 3 partitions, killed 5 times: each restart reads only the changelog's tail",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () => withBroker((broker) => cachedRestarts(broker, false)),
});

Deno.test({
  name:
    `at-least-once with state in Kafka, seed and group-by over 3 partitions, killed ${kafkaStoreKills} times, the state directory deleted before each restart: every repeat is exact, every commit's table`,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withBroker(async (broker) => {
      const inputs = {
        seed: seedInput({ values: 100_000, perCommit: 10, chunkCount: kafkaStoreKills }),
        groupby: groupbyInput({
          orders: 100_000,
          perCommit: 20,
          chunkCount: kafkaStoreKills,
          partitions: 3,
        }),
      };
      const common = {
        exactlyOnce: false,
        partitions: 3,
        kills: kafkaStoreKills,
        stateStore: "kafka",
        // The state directory is the changelog's cache while a process runs, and is gone at
        // every restart: state comes from Kafka alone.
        stateCache: true,
        wipeState: true,
      } as const;
      const progressed = { seed: 0, groupby: 0 };
      const logs = { seed: [] as string[][], groupby: [] as string[][] };
      /** Lets the process of each round close a checkpoint (its group's offsets move) before it can be killed. */
      const closedOne = (kind: "seed" | "groupby") => async () => {
        const group = `crash-${kind}-`;
        const admin = broker.kafka().admin();
        await admin.connect();
        try {
          const committed = async () => {
            const groups = (await admin.listGroups()).groups.filter((g) =>
              g.groupId.startsWith(group) && !g.groupId.includes("-restore-")
            );
            let sum = 0;
            for (const { groupId } of groups) {
              for (const { partitions } of await admin.fetchOffsets({ groupId })) {
                for (const p of partitions) sum += Math.max(0, Number(p.offset));
              }
            }
            return sum;
          };
          const before = await committed();
          for (let i = 0; i < 100; i++) {
            await new Promise((resolve) => setTimeout(resolve, 200));
            if (await committed() > before) {
              progressed[kind]++;
              return;
            }
          }
        } finally {
          await admin.disconnect();
        }
      };
      const [sums, totals] = await Promise.all([
        crashRun(broker, {
          kind: "seed",
          input: inputs.seed,
          ...common,
          logs: logs.seed,
          during: closedOne("seed"),
        }),
        crashRun(broker, {
          kind: "groupby",
          input: inputs.groupby,
          ...common,
          logs: logs.groupby,
          during: closedOne("groupby"),
        }),
      ]);
      for (const kind of ["seed", "groupby"] as const) {
        const restored = logs[kind].map((lines) => restoreLines(lines)[0]?.records ?? "-");
        console.log(
          `  ${kind}: a checkpoint closed before the kill in ${progressed[kind]} of ` +
            `${kafkaStoreKills} rounds; records restored per start: ${restored.join(" ")}`,
        );
      }
      for (const [records, input] of [[sums, inputs.seed], [totals, inputs.groupby]] as const) {
        // Every repeated change is an exact repeat (checked inside), times only increase.
        const check = checkOutput(records);
        // The seed's input is all on partition 0: its every commit's table is known. The
        // group-by's partitions interleave as they were read: its final table is known.
        if (input === inputs.seed) assert.deepEqual(check.tables, input.tables);
        assert.equal(check.tables.at(-1), input.tables.at(-1), "the final table");
        assert.equal(lastRecordTable(records), input.tables.at(-1));
        console.log(`  ${check.records} records, ${check.repeats} exact repeats`);
      }
    }),
});
