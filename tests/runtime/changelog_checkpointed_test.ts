/**
 * At-least-once delivery with state in Kafka (`changelog_checkpointed.ts`)
 * against the in-memory Kafka fake: no broker. A crash in the middle of a
 * checkpoint is a sink client whose producer writes only part of the
 * checkpoint's changelog records and then fails, which stops the pipeline
 * as a killed process would stop writing; the restart has no local state.
 */
import assert from "node:assert/strict";
import { MemoryKafka } from "../../connectors/kafka/memory/client.ts";
import type {
  Admin,
  GroupConsumer,
  GroupConsumerOptions,
  KafkaClient,
  Producer,
  TopicRecords,
  TransactionalProducer,
  TransactionalProducerOptions,
} from "../../connectors/kafka/client.ts";
import {
  decodeFrame,
  encodeFrame,
  resolveChangelog,
} from "../../runtime/delivery/changelog_checkpointed.ts";
import { StaleStateError } from "../../runtime/state_identity.ts";
import { serialize } from "node:v8";
import {
  checkOutput,
  type CrashInput,
  groupbyInput,
  seedInput,
} from "../e2e/fixtures/crash_harness.ts";
import { appendChunk, memoryPipeline, type MemoryRun, outputRecords } from "./_memory_pipelines.ts";

const seed = Number(Deno.env.get("MEMORY_KAFKA_SEED") ?? Math.floor(Math.random() * 2 ** 31));
console.log(`MEMORY_KAFKA_SEED=${seed}`);

/** How the armed crash cuts a checkpoint's state records: half of them, or all (no closing record). */
type Cut = "half" | "all";

/** A client of the fake whose producer, when armed, writes part of a checkpoint's changelog records and fails. */
class CrashingClient implements KafkaClient {
  readonly #inner: MemoryKafka;
  #armed: Cut | undefined;
  /** Crashes so far. */
  crashes = 0;

  constructor(inner: MemoryKafka) {
    this.#inner = inner;
  }

  /** The next send of state records to a changelog keeps only `cut` of them, then fails. */
  arm(cut: Cut): void {
    this.#armed = cut;
  }

  consumer(options: GroupConsumerOptions): GroupConsumer {
    return this.#inner.consumer(options);
  }

  producer(): Producer {
    const inner = this.#inner.producer();
    return {
      connect: () => inner.connect(),
      disconnect: () => inner.disconnect(),
      send: async (batches: readonly TopicRecords[]) => {
        const cut = this.#armed;
        const state = batches.find((b) =>
          b.topic.endsWith("-changelog") && b.records.some((r) => String(r.key).startsWith("g/"))
        );
        if (cut === undefined || state === undefined) return await inner.send(batches);
        this.#armed = undefined;
        this.crashes++;
        const kept = cut === "all"
          ? state.records
          : state.records.slice(0, state.records.length / 2);
        await inner.send([{ topic: state.topic, records: kept }]);
        throw new Error(`Injected crash after ${kept.length} of ${state.records.length} records`);
      },
    };
  }

  transactionalProducer(options: TransactionalProducerOptions): TransactionalProducer {
    return this.#inner.transactionalProducer(options);
  }

  admin(): Admin {
    return this.#inner.admin();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

function committedSum(kafka: MemoryKafka, group: string): number {
  return kafka.committed(group).reduce((n, p) => n + Number(p.offset), 0);
}

/** Each key's last record of a topic, as a restore reads them (tombstones remove the key). */
function lastRecords(kafka: MemoryKafka, topic: string): Map<string, Uint8Array> {
  const decoder = new TextDecoder();
  const entries = new Map<string, Uint8Array>();
  for (const m of kafka.records(topic)) {
    const key = decoder.decode(m.key!);
    if (key === "restore-end" || key === "incarnation") continue;
    if (m.value === null) entries.delete(key);
    else entries.set(key, m.value);
  }
  return entries;
}

Deno.test("frames: a state record carries its checkpoint, its value and the key's value at the last closed checkpoint", () => {
  const value = new Uint8Array([1, 2, 3]);
  const previous = new Uint8Array([9]);
  for (
    const frame of [
      { checkpoint: 7, value, previous },
      { checkpoint: 8, value: null, previous },
      { checkpoint: 9, value, previous: null },
      { checkpoint: 10, value: new Uint8Array(0), previous: new Uint8Array(0) },
    ]
  ) {
    assert.deepEqual(decodeFrame(encodeFrame(frame)), frame);
  }
  assert.throws(() => decodeFrame(serialize({ a: 1 })), /not a framed state record/);
});

Deno.test("resolving: records of a checkpoint after the last closed one give the values before it", () => {
  const bytes = (n: number) => new Uint8Array([n]);
  const meta = serialize({ version: 1, time: 5, sources: [], checkpoint: 3 });
  const entries = new Map<string, Uint8Array>([
    // Closed (checkpoint 3 and before).
    ["g/a", encodeFrame({ checkpoint: 2, value: bytes(1), previous: null })],
    ["g/b", encodeFrame({ checkpoint: 3, value: null, previous: bytes(2) })],
    // Checkpoint 4 was cut short: its records of c and d are in, its meta is not. Compaction may
    // already have dropped c's record of checkpoint 3: the value before is in the frame.
    ["g/c", encodeFrame({ checkpoint: 4, value: bytes(30), previous: bytes(3) })],
    ["g/d", encodeFrame({ checkpoint: 4, value: bytes(40), previous: null })],
    // Checkpoint 6 (after a restart from 3) too.
    ["g/e", encodeFrame({ checkpoint: 6, value: null, previous: bytes(5) })],
    // Written by exactly-once mode: whole checkpoints.
    ["g/f", serialize(6)],
    ["meta", meta],
    ["o/run/0", new TextEncoder().encode(JSON.stringify([[0, "in", 1, "12"]]))],
  ]);
  const resolved = resolveChangelog(entries);
  assert.equal(resolved.meta?.checkpoint, 3);
  assert.deepEqual(
    [...resolved.state].map(([key, value]) => [key, [...value]]),
    [["g/a", [1]], ["g/c", [3]], ["g/e", [5]], ["g/f", [...serialize(6)]]],
  );
  assert.deepEqual([...resolved.dirty], ["g/c", "g/d", "g/e"]);
  assert.deepEqual([...resolved.deleted], ["g/b"]);
  assert.equal(resolved.next, 7, "after every checkpoint seen, closed or not");
  assert.deepEqual(resolved.order, [{
    key: "o/run/0",
    entries: [{ source: 0, topic: "in", partition: 1, nextOffset: "12" }],
  }]);
  assert.equal(resolveChangelog(new Map()).next, 1);
});

/**
 * Runs `input` chunk by chunk with the kafka state store and no local state:
 * in each round but the last, once a checkpoint is closed, the next
 * checkpoint's changelog records are cut (`cut`) and the pipeline stops
 * there; the next round starts with nothing on disk.
 */
async function crashRounds(kind: MemoryRun["kind"], input: CrashInput, cut: Cut) {
  const run: MemoryRun = { kind, group: `g-${kind}`, input: `in-${kind}`, output: `out-${kind}` };
  const kafka = new MemoryKafka({ seed, maxBatchMessages: 100 });
  kafka.createTopic(run.input, 3);
  kafka.createTopic(run.output, 1);
  const client = new CrashingClient(kafka);
  const changelog = `${run.group}-state-changelog`;
  const options = { stateStore: "kafka", checkpointIntervalMs: 20 } as const;
  const restored: number[] = [];
  let unclosedAtRestart = 0;
  for (const [index, chunk] of input.chunks.entries()) {
    if (index > 0) {
      // What the crash left: records of a checkpoint that never closed.
      if (resolveChangelog(lastRecords(kafka, changelog)).dirty.size > 0) unclosedAtRestart++;
    }
    const pipeline = memoryPipeline(kafka, run, undefined, client);
    const running = pipeline.run(options);
    const half = Math.floor(chunk.length / 2);
    const committedBefore = committedSum(kafka, run.group);
    appendChunk(kafka, run.input, chunk.slice(0, half));
    await kafka.waitUntil(() => committedSum(kafka, run.group) > committedBefore);
    restored.push(pipeline.stats().restore?.records ?? -1);
    if (index < input.chunks.length - 1) {
      client.arm(cut);
      appendChunk(kafka, run.input, chunk.slice(half));
      await assert.rejects(running, /Injected crash after/);
    } else {
      appendChunk(kafka, run.input, chunk.slice(half));
      await kafka.waitUntil(() =>
        checkOutput(outputRecords(kafka, run.output)).tables.at(-1) === input.tables.at(-1)
      );
      pipeline.stop();
      await running;
    }
  }
  assert.equal(client.crashes, input.chunks.length - 1);
  assert.equal(restored[0], 0, "the first start finds an empty changelog");
  assert.ok(restored.slice(1).every((n) => n > 0), `later starts restore records: ${restored}`);
  assert.equal(unclosedAtRestart, input.chunks.length - 1, "every restart found a cut checkpoint");
  const described = await kafka.admin().describeTopic(changelog);
  assert.equal(described.partitions, 3);
  assert.equal(described.configs["cleanup.policy"], "compact");
  return checkOutput(outputRecords(kafka, run.output, "read_uncommitted"));
}

for (const cut of ["half", "all"] as const) {
  Deno.test(`kafka state store, at-least-once: the seed over a 3-partition input, each checkpoint after a restart cut (${cut} of its records): every commit's table`, async () => {
    const input = seedInput({ values: 2_000, perCommit: 10, chunkCount: 5 });
    const check = await crashRounds("seed", input, cut);
    assert.deepEqual(check.tables, input.tables, "the table after every commit");
    assert.ok(check.repeats > 0, "the crashes repeated output");
    console.log(`  ${check.records} records, ${check.repeats} exact repeats`);
  });

  Deno.test(`kafka state store, at-least-once: the group-by over 3 partitions, checkpoints cut (${cut}): repeats are exact, the final table`, async () => {
    const input = groupbyInput({ orders: 3_000, perCommit: 20, chunkCount: 5, partitions: 3 });
    const check = await crashRounds("groupby", input, cut);
    assert.equal(check.tables.at(-1), input.tables.at(-1));
    assert.ok(check.repeats > 0, "the crashes repeated output");
    console.log(`  ${check.records} records, ${check.repeats} exact repeats`);
  });
}

Deno.test("kafka state store, at-least-once: groups' offsets with an empty changelog are refused, naming the topic", async () => {
  const run: MemoryRun = { kind: "seed", group: "g-stale", input: "in-stale", output: "out-stale" };
  const kafka = new MemoryKafka();
  kafka.createTopic(run.input, 1);
  kafka.createTopic(run.output, 1);
  kafka.append(run.input, [{ key: null, value: "value", partition: 0 }]);
  kafka.setCommitted(run.group, [{ topic: run.input, partition: 0, offset: "1" }]);
  await assert.rejects(
    memoryPipeline(kafka, run).run({ stateStore: "kafka" }),
    (error: unknown) =>
      error instanceof StaleStateError && /g-stale-state-changelog/.test(error.message) &&
      /holds no state/.test(error.message),
  );
});

Deno.test("kafka state store, at-least-once: --reset-state replaces the changelog's state with empty state at once", async () => {
  const run: MemoryRun = { kind: "seed", group: "g-reset", input: "in-reset", output: "out-reset" };
  const kafka = new MemoryKafka();
  kafka.createTopic(run.input, 1);
  kafka.createTopic(run.output, 1);
  const input = seedInput({ values: 100, perCommit: 10, chunkCount: 1 });
  appendChunk(kafka, run.input, input.chunks[0]);
  const first = memoryPipeline(kafka, run);
  const running = first.run({ stateStore: "kafka", checkpointIntervalMs: 20 });
  await kafka.waitUntil(() => committedSum(kafka, run.group) === input.messages);
  first.stop();
  await running;
  const changelog = `${run.group}-state-changelog`;
  assert.ok(resolveChangelog(lastRecords(kafka, changelog)).meta!.time > 0);
  // A reset that is stopped at once: the changelog already holds empty state.
  const second = memoryPipeline(kafka, run);
  const ac = new AbortController();
  ac.abort();
  await second.run({ stateStore: "kafka", resetState: true, signal: ac.signal });
  // The reset's empty state, or the stop's checkpoint of it: no time, no positions.
  const resolved = resolveChangelog(lastRecords(kafka, changelog));
  assert.equal(resolved.meta?.time, 0);
  assert.ok(resolved.meta!.sources.every((saved) => saved.positions.length === 0));
  // A start after it starts as new at the group's offsets: nothing more to read, nothing refused.
  const third = memoryPipeline(kafka, run);
  const stats = await third.run({ stateStore: "kafka", signal: ac.signal });
  assert.equal(stats.lastTime, 0);
});
