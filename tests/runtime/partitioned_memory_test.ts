/**
 * Partitioned runs on the in-memory cluster (unit tests: no broker): two
 * instances share and hand over tasks with exact tables, and an instance
 * whose task was taken over (its transactional id registered by another)
 * gives the task up instead of committing for it. The same runs against the
 * broker, in processes, are tests/cli/partitioned_test.ts and
 * tests/e2e/instances_test.ts.
 */
import assert from "node:assert/strict";
import * as rw from "../../mod.ts";
import { KafkaSink } from "../../connectors/kafka/sink.ts";
import type { ClientConfig } from "../../connectors/kafka/config.ts";
import { MemoryKafka } from "../../connectors/kafka/memory/client.ts";
import { encodeChange } from "../../formats/encode_json.ts";
import { PartitionedRun } from "../../runtime/tasks/runner.ts";
import { RecordingLogger } from "../e2e/input_harness.ts";

const group = "cats";
const config: ClientConfig = {
  brokers: ["memory:0"],
  clientId: "rivulet-test",
  groupId: group,
  autoOffsetReset: "earliest",
};

/** Group-by on a non-key column, then a global sum: three stages. */
function build(input: rw.Table<rw.Row>): rw.Table<rw.Row> {
  const byCat = (input as rw.Table<{ cat: string; v: number }>).groupby("cat").reduce({
    cat: "cat",
    total: rw.reducers.sum("v"),
  });
  const all = byCat.reduce({ total: rw.reducers.sum("total") });
  return byCat.select({ cat: "cat", total: "total" }).concat(
    all.select({ cat: () => "*", total: "total" }),
  ) as unknown as rw.Table<rw.Row>;
}

function instance(kafka: MemoryKafka, logger = new RecordingLogger(), exactlyOnce = false) {
  const controller = new AbortController();
  const run = new PartitionedRun({
    client: kafka,
    config,
    topics: ["in"],
    read: {
      format: rw.builtinFormats.json,
      formatOptions: { valueColumns: ["cat", "v"] },
      errorPolicy: "stop",
    },
    keyed: false,
    build,
    sink: new KafkaSink({
      config,
      client: kafka,
      topic: "out",
      encode: (change, time) => encodeChange(change.row, change.diff, time),
    }),
    logger,
    exactlyOnce,
    signal: controller.signal,
    checkpointIntervalMs: 50,
  });
  const done = run.run();
  return { run, done, logger, stop: () => controller.abort() };
}

/** Appends `commits` commits to each of the 4 partitions; returns the sum of their values. */
function appendInput(kafka: MemoryKafka, commits: number, first: number): number {
  let total = 0;
  for (let commit = 0; commit < commits; commit++) {
    for (let partition = 0; partition < 4; partition++) {
      const records = [];
      for (let row = 0; row < 3; row++) {
        const v = first + commit * 12 + partition * 3 + row;
        total += v;
        records.push({ key: null, value: JSON.stringify({ cat: `c${v % 3}`, v }), partition });
      }
      records.push({ key: null, value: "*COMMIT*", partition });
      kafka.append("in", records);
    }
  }
  return total;
}

/** The output's table by cat, exact repeats dropped (or refused: `repeats`), each retraction checked. */
function table(kafka: MemoryKafka, repeats: "drop" | "refuse" = "drop"): Map<string, number> {
  const rows = new Map<string, string>();
  const seen = new Set<string>();
  for (const message of kafka.records("out")) {
    const key = new TextDecoder().decode(message.key!);
    const value = new TextDecoder().decode(message.value!);
    if (seen.has(`${key}\0${value}`)) {
      assert.equal(repeats, "drop", `a repeat of ${key}: ${value}`);
      continue;
    }
    seen.add(`${key}\0${value}`);
    const { diff, time: _time, ...row } = JSON.parse(value);
    if (diff === 1) {
      assert.equal(rows.get(key), undefined, `insertion over a row of ${key}`);
      rows.set(key, JSON.stringify(row));
    } else {
      assert.equal(rows.get(key), JSON.stringify(row), `retraction of another row of ${key}`);
      rows.delete(key);
    }
  }
  return new Map([...rows.values()].map((text) => {
    const row = JSON.parse(text);
    return [row.cat, row.total];
  }));
}

async function until(what: string, condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

for (const exactlyOnce of [false, true]) {
  const mode = exactlyOnce ? "exactly-once" : "at-least-once";
  Deno.test(`${mode}: two instances on the in-memory cluster share the tasks, hand them over, and the tables are exact`, async () => {
    const kafka = new MemoryKafka({ seed: 7 });
    kafka.createTopic("in", 4);
    kafka.createTopic("out", 2);
    const repeats = "refuse";
    let total = appendInput(kafka, 5, 0);
    const first = instance(kafka, new RecordingLogger(), exactlyOnce);
    await until("the first input", () => table(kafka, repeats).get("*") === total);
    const second = instance(kafka, new RecordingLogger(), exactlyOnce);
    await until("the second instance's tasks", () => second.run.stats().tasks > 0);
    total += appendInput(kafka, 5, 1_000);
    await until("the second input", () => table(kafka, repeats).get("*") === total);
    // The first stops: the second takes every task over and goes on.
    first.stop();
    await first.done;
    total += appendInput(kafka, 5, 2_000);
    await until("the third input", () => table(kafka, repeats).get("*") === total);
    assert.equal(second.run.stats().tasks, 12, "3 stages of 4 partitions");
    second.stop();
    await second.done;
    const expected = new Map<string, number>();
    for (const message of kafka.records("in")) {
      const text = new TextDecoder().decode(message.value!);
      if (text === "*COMMIT*") continue;
      const { cat, v } = JSON.parse(text);
      expected.set(cat, (expected.get(cat) ?? 0) + v);
    }
    expected.set("*", total);
    assert.deepEqual(new Map([...table(kafka, repeats)].sort()), new Map([...expected].sort()));
    for (const { logger } of [first, second]) {
      assert.deepEqual(logger.problems().filter((line) => !/fenced/.test(line.message)), []);
    }
  });
}

Deno.test("an instance whose task another registered (fenced) gives the task up and commits no checkpoint for it; after a rebalance its holder takes it (back)", async () => {
  const kafka = new MemoryKafka();
  kafka.createTopic("in", 4);
  kafka.createTopic("out", 2);
  const total = appendInput(kafka, 2, 0);
  const zombie = instance(kafka);
  await until("the input", () => table(kafka).get("*") === total);
  // Each task's first checkpoint (its claim) commits where it starts; then its input is checkpointed.
  await until("every task's checkpoint", () => kafka.committed(group).length === 12);
  await until(
    "the input's checkpoints",
    () =>
      kafka.offsets("in").every(({ partition, high }) =>
        kafka.committed(group).some((p) =>
          p.topic === "in" && p.partition === partition && p.offset === high
        )
      ),
  );
  // Another instance took task in:0 over: it registered the task's transactional id.
  const usurper = kafka.transactionalProducer({ transactionalId: `rivulet-${group}-in:0` });
  await usurper.connect();
  const thirdTotal = appendInput(kafka, 1, 100);
  await until(
    "the fenced task to be given up",
    () => zombie.logger.problems().some((line) => /fenced/.test(line.message)),
  );
  assert.equal(zombie.run.stats().tasks, 11);
  const committed = kafka.committed(group).find((p) => p.topic === "in" && p.partition === 0);
  assert.equal(committed?.offset, "8", "partition 0's offset stays at the last checkpoint");
  // A rebalance (another instance joins): whoever holds in:0 then takes the task (back) and
  // every input row is applied, once.
  const other = instance(kafka);
  const more = appendInput(kafka, 2, 200);
  const all = total + thirdTotal + more;
  await until("every input after the rebalance", () => table(kafka).get("*") === all);
  await until(
    "each of the 12 tasks run by one instance",
    () => zombie.run.stats().tasks + other.run.stats().tasks === 12,
  );
  for (const run of [zombie, other]) {
    run.stop();
    await run.done;
  }
});
