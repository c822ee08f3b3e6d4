/**
 * Broker faults: the broker killed with SIGKILL and restarted while the
 * pipeline runs (with and without the pipeline being killed too), in both
 * delivery modes, on a broker of the test's own; and, on the shared broker, a
 * topic that does not exist yet and a consumer group rebalance.
 */
import assert from "node:assert/strict";
import * as rw from "../../mod.ts";
import { createKafkaClient, kafkaClientNames } from "../../connectors/kafka/clients.ts";
import {
  consumeAll,
  createTopics,
  produce,
  testBroker,
  testKafka,
  uniqueTopic,
} from "../support/kafka.ts";
import {
  checkOutput,
  createTopics as createOwnTopics,
  killRepeatedly,
  type OutputCheck,
  OwnBroker,
  PipelineProcess,
  type PipelineRun,
  produceMessages,
  readTopic,
  seedInput,
  sleep,
} from "./fixtures/crash_harness.ts";
import { apiKeys } from "./fixtures/cut_proxy.ts";

async function ownRun(broker: OwnBroker, exactlyOnce: boolean): Promise<PipelineRun> {
  const id = crypto.randomUUID().slice(0, 8);
  const run: PipelineRun = {
    kind: "seed",
    broker: broker.address,
    group: `faults-${id}`,
    input: `faults-in-${id}`,
    output: `faults-out-${id}`,
    stateDir: await Deno.makeTempDir({ prefix: `rivulet-faults-state-${id}-` }),
    exactlyOnce,
  };
  await createOwnTopics(broker.kafka(), [run.input, run.output]);
  return run;
}

/**
 * Waits until the output's tables, read with read_committed, end with `final`;
 * fails if the pipeline ends first or `timeoutMs` pass.
 */
async function untilFinalTable(
  broker: OwnBroker,
  run: PipelineRun,
  process: PipelineProcess,
  final: string | undefined,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const records = await readTopic(broker.kafka(), run.output, "read_committed");
    if (checkOutput(records).tables.at(-1) === final) return;
    assert.ok(!process.exited, `the pipeline ended early:\n${process.log()}`);
    assert.ok(Date.now() < deadline, `the output never reached the final table:\n${process.log()}`);
    await sleep(1000);
  }
}

for (
  const [mode, exactlyOnce] of [["at-least-once", false], ["exactly-once", true]] as const
) {
  Deno.test({
    name:
      `${mode}: the broker killed and restarted twice while the pipeline runs: it retries, says so, and loses nothing`,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      const broker = await OwnBroker.start();
      try {
        const run = await ownRun(broker, exactlyOnce);
        const input = seedInput({ values: 30_000, perCommit: 10, chunkCount: 2 });
        const process = new PipelineProcess(run);
        const repeated = (check: OutputCheck) =>
          `no change is seen twice: ${check.repeated.join("; ")}\n${process.log(300)}`;
        try {
          await process.waitFor(/Kafka partitions assigned/);
          for (const chunk of input.chunks) {
            await produceMessages(broker.kafka(), run.input, chunk);
            await sleep(300 + Math.random() * 700);
            await broker.kill();
            await sleep(3000);
            await broker.restart();
          }
          await untilFinalTable(broker, run, process, input.tables.at(-1), 120_000);
          const log = process.log(100_000);
          assert.match(
            log,
            /Kafka is unavailable; retrying|restarts and retries|transaction failed; retrying/,
            "the outage is reported in the log",
          );
          assert.match(
            log,
            /connection retrying[^]*connection connected/,
            "and in the pipeline's stats",
          );
        } catch (error) {
          // The pipeline is ended either way; this failure is the one to report.
          await process.end("SIGTERM").catch(() => {});
          throw error;
        }
        assert.equal(await process.end("SIGTERM"), 0, process.log());
        const check = checkOutput(await readTopic(broker.kafka(), run.output, "read_committed"));
        assert.deepEqual(check.tables, input.tables, "the table after every commit");
        if (exactlyOnce) assert.equal(check.repeats, 0, repeated(check));
        await Deno.remove(run.stateDir, { recursive: true });
      } finally {
        await broker.remove();
      }
    },
  });

  Deno.test({
    name:
      `${mode}: the pipeline killed 5 times and the broker killed once: the output is still exact`,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      const broker = await OwnBroker.start();
      try {
        const run = await ownRun(broker, exactlyOnce);
        const input = seedInput({ values: 30_000, perCommit: 10, chunkCount: 5 });
        const records = await killRepeatedly({
          kafka: broker.kafka(),
          run,
          input,
          kills: 5,
          isolation: "read_committed",
          everyCommit: true,
          during: async (round) => {
            if (round !== 2) return;
            await sleep(Math.random() * 500);
            await broker.kill();
            await sleep(2000);
            await broker.restart();
          },
        });
        const check = checkOutput(records);
        assert.deepEqual(check.tables, input.tables, "the table after every commit");
        if (exactlyOnce) assert.equal(check.repeats, 0, "no change is seen twice");
        await Deno.remove(run.stateDir, { recursive: true });
      } finally {
        await broker.remove();
      }
    },
  });
}

Deno.test({
  name:
    "a group's offset lookup on a broker that just started waits for the group coordinator to load, with every client",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    // A broker's first group lookup creates __consumer_offsets, and its coordinator is loading
    // (COORDINATOR_LOAD_IN_PROGRESS) or not there yet: exactly-once mode asks at its first start.
    const broker = await OwnBroker.start();
    try {
      for (const name of kafkaClientNames) {
        const client = await createKafkaClient(name, {
          brokers: [broker.address],
          clientId: "rivulet-faults-test",
          autoOffsetReset: "earliest",
        });
        const admin = client.admin();
        await admin.connect();
        try {
          const topic = `fresh-${name}`;
          await admin.createTopic({ topic, partitions: 1 });
          assert.deepEqual(await admin.groupPositions(`fresh-${name}`, [topic]), [], name);
        } finally {
          await admin.disconnect();
          await client.close();
        }
      }
    } finally {
      await broker.remove();
    }
  },
});

const settings = (group: string): rw.KafkaSettings => ({
  "bootstrap.servers": testBroker,
  "group.id": group,
  "session.timeout.ms": "6000",
});

function sumPipeline(input: string, output: string, group: string): rw.Pipeline {
  const pipeline = new rw.Pipeline();
  const t = rw.kafka.read(settings(group), {
    topicNames: [input],
    format: "csv",
    valueColumns: ["value"],
    pipeline,
  });
  const values = t.select({ value: rw.apply((x: string) => parseInt(x), "value") });
  rw.kafka.write(values.reduce({ sum: rw.reducers.sum("value") }), settings(group), {
    topicName: output,
    pipeline,
  });
  return pipeline;
}

Deno.test({
  name: "an input topic that does not exist yet is waited for and read once it is created",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const input = uniqueTopic("later");
    const output = uniqueTopic("later-sum");
    const pipeline = sumPipeline(input, output, `later-${input}`);
    const running = pipeline.run();
    try {
      await sleep(1500);
      await createTopics([input]);
      await produce(input, ["value", "4", "*COMMIT*", "5", "*COMMIT*"]);
      const records = await consumeAll(output, { count: 3, timeoutMs: 30_000 });
      assert.deepEqual(records.map((r) => JSON.parse(r.value).sum), [4, 4, 9]);
    } finally {
      pipeline.stop();
      await running;
    }
  },
});

Deno.test({
  name:
    "a rebalance that lends the partition to another member and takes it back loses and repeats nothing",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const input = uniqueTopic("rebalance");
    const output = uniqueTopic("rebalance-sum");
    const group = `rebalance-${input}`;
    await createTopics([input, output]);
    await produce(input, ["value", "1", "*COMMIT*"]);
    const pipeline = sumPipeline(input, output, group);
    const running = pipeline.run();
    // A member that may take the partition for a while but reads and commits nothing.
    const member = testKafka().consumer({ groupId: group, sessionTimeout: 6000 });
    try {
      await consumeAll(output, { count: 1, timeoutMs: 30_000 });
      await member.connect();
      await member.subscribe({ topic: input, fromBeginning: true });
      await member.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        eachBatch: () => Promise.resolve(),
      });
      await produce(input, ["2", "*COMMIT*", "3", "*COMMIT*"]);
      await sleep(2000);
      await member.disconnect();
      await produce(input, ["4", "*COMMIT*"]);
      const records = await consumeAll(output, { count: 7, timeoutMs: 30_000 });
      assert.deepEqual(
        records.map((r) => [JSON.parse(r.value).sum, JSON.parse(r.value).diff]),
        [[1, 1], [1, -1], [3, 1], [3, -1], [6, 1], [6, -1], [10, 1]],
      );
    } finally {
      await member.disconnect();
      pipeline.stop();
      await running;
    }
    assert.equal((await consumeAll(output, { timeoutMs: 2000 })).length, 7, "nothing repeated");
  },
});

Deno.test({
  name:
    "SIGTERM while the broker is unreachable and kafkajs' consumer restarts itself: the pipeline exits once the broker is back; the restart does not join the group and keep it running",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const broker = await OwnBroker.start(undefined, { relayed: true });
    const relay = broker.relay!;
    try {
      // The pipeline reaches the broker through the relay only; the test's own clients do not.
      const run = { ...await ownRun(broker, true), broker: broker.relayAddress };
      const input = seedInput({ values: 1_000, perCommit: 10, chunkCount: 1 });
      const process = new PipelineProcess(run);
      let ended: Promise<number> | undefined;
      try {
        await process.waitFor(/Kafka partitions assigned/);
        await produceMessages(broker.kafka(), run.input, input.chunks[0]);
        await untilFinalTable(broker, run, process, input.tables.at(-1), 60_000);
        relay.cut();
        // kafkajs' consumer crashes and restarts itself on a timer; the restart connects, with
        // retries. Once its first attempt failed the relay accepts again, but holds the
        // restart's SyncGroup: SIGTERM comes while the restart is joining the group, and the
        // join completes after it.
        await process.waitFor(/Restarting the consumer in \d+ms/, 60_000);
        const mark = process.lines.length;
        const retryDeadline = Date.now() + 30_000;
        while (!process.lines.slice(mark).some((line) => /seed broker/.test(line))) {
          assert.ok(
            Date.now() < retryDeadline,
            `the restart never tried to connect:\n${process.log()}`,
          );
          await sleep(50);
        }
        relay.hold([apiKeys.syncGroup]);
        relay.restore();
        while (relay.heldRequests === 0) {
          assert.ok(
            Date.now() < retryDeadline,
            `the restart never asked to join the group:\n${process.log()}`,
          );
          await sleep(20);
        }
        ended = process.end("SIGTERM", 30_000);
        // Shorter than the group's session timeout (1 s), so the join still counts.
        await sleep(300);
        relay.release();
        assert.equal(await ended, 0, process.log());
      } finally {
        if (ended === undefined) await process.end("SIGKILL").catch(() => {});
      }
      await Deno.remove(run.stateDir, { recursive: true });
    } finally {
      await broker.remove();
    }
  },
});
