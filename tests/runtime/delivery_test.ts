/**
 * The apply loop and each delivery mode (offsets, checkpointed, exactly-once)
 * against the in-memory Kafka fake: no broker. A crash is simulated by
 * copying the state directory at an instant (synchronously, so it is what a
 * SIGKILL at that instant would leave on disk) and restarting from the copy,
 * or by a transaction commit that fails.
 */
import assert from "node:assert/strict";
import { MemoryKafka } from "../../connectors/kafka/memory/client.ts";
import {
  checkOutput,
  type CrashInput,
  groupbyInput,
  type OutputRecord,
  seedInput,
} from "../e2e/fixtures/crash_harness.ts";
import {
  appendChunk,
  memoryPipeline,
  type MemoryRun,
  outputRecords,
  snapshotDir,
} from "./_memory_pipelines.ts";
import type { Pipeline } from "../../mod.ts";
import { type Logger, type Position, silentLogger, type Source } from "../../connectors/types.ts";
import type { DeliveryContext } from "../../runtime/delivery/delivery.ts";
import { ExactlyOnceDelivery } from "../../runtime/delivery/exactly_once.ts";
import { ChangelogCheckpointedDelivery } from "../../runtime/delivery/changelog_checkpointed.ts";
import { hangingAbortKey } from "../../runtime/delivery/transactions.ts";

function names(kind: MemoryRun["kind"], suffix = ""): MemoryRun {
  return { kind, group: `g-${kind}`, input: `in-${kind}`, output: `out-${kind}${suffix}` };
}

/** The seed of the fake's shuffling: printed, and taken from MEMORY_KAFKA_SEED to repeat a run. */
const seed = Number(Deno.env.get("MEMORY_KAFKA_SEED") ?? Math.floor(Math.random() * 2 ** 31));
console.log(`MEMORY_KAFKA_SEED=${seed}`);

function setUp(run: MemoryRun, partitions: number): MemoryKafka {
  const kafka = new MemoryKafka({ seed, maxBatchMessages: 100 });
  kafka.createTopic(run.input, partitions);
  kafka.createTopic(run.output, 1);
  return kafka;
}

/** Whether the records rebuild `expected` as their last table (throws on an inconsistent output). */
function endsWith(records: readonly OutputRecord[], expected: string): boolean {
  return checkOutput(records).tables.at(-1) === expected;
}

/** Messages of the first `chunks` chunks. */
function messagesIn(input: CrashInput, chunks: number): number {
  return input.chunks.slice(0, chunks).reduce((n, chunk) => n + chunk.length, 0);
}

/** The offset after a partition's last `*COMMIT*` message. */
function afterLastMarker(kafka: MemoryKafka, topic: string, partition: number): string {
  const messages = kafka.records(topic, { partition });
  const last = messages.findLast((m) => new TextDecoder().decode(m.value!) === "*COMMIT*");
  return String(Number(last!.offset) + 1);
}

function sameOffsets(positions: readonly Position[], offsets: readonly string[]): boolean {
  return positions.length === offsets.length && positions.every((p, i) => p.offset === offsets[i]);
}

function committedSum(kafka: MemoryKafka, group: string): number {
  return kafka.committed(group).reduce((n, p) => n + Number(p.offset), 0);
}

async function stopped(pipeline: Pipeline, running: Promise<unknown>): Promise<void> {
  pipeline.stop();
  await running;
}

Deno.test("apply loop: the seed over one partition rebuilds the table of every commit, times increasing", async () => {
  const run = names("seed");
  const kafka = setUp(run, 1);
  const input = seedInput({ values: 2_000, perCommit: 10, chunkCount: 4 });
  const pipeline = memoryPipeline(kafka, run);
  const running = pipeline.run();
  for (const chunk of input.chunks) appendChunk(kafka, run.input, chunk);
  await kafka.waitUntil(() => endsWith(outputRecords(kafka, run.output), input.tables.at(-1)!));
  await stopped(pipeline, running);
  const check = checkOutput(outputRecords(kafka, run.output));
  assert.deepEqual(check.tables, input.tables);
  assert.equal(check.repeats, 0);
  assert.equal(pipeline.stats().commitsApplied, 200);
});

Deno.test("offsets: acknowledged positions are committed; a restart without state reads only what follows", async () => {
  const run = names("groupby");
  const kafka = setUp(run, 3);
  const input = groupbyInput({ orders: 3_000, perCommit: 20, chunkCount: 2, partitions: 3 });
  const first = memoryPipeline(kafka, run);
  const running = first.run({ offsetCommitIntervalMs: 60_000 });
  appendChunk(kafka, run.input, input.chunks[0]);
  await kafka.waitUntil(() => first.stats().messagesIn === input.chunks[0].length);
  await kafka.waitUntil(() => first.stats().pendingCommits === 0);
  await stopped(first, running);
  // Every partition's last commit marker is applied: the group sits after it (or earlier, before
  // rows whose *COMMIT* has not come yet).
  const committed = kafka.committed(run.group);
  assert.equal(committed.length, 3);
  const ends = kafka.admin();
  const offsets = await ends.partitionOffsets(run.input);
  for (const position of committed) {
    assert.ok(Number(position.offset) <= Number(offsets[position.partition].high));
    const after = kafka.records(run.input, { partition: position.partition })
      .filter((m) => Number(m.offset) >= Number(position.offset));
    assert.ok(
      after.every((m) => new TextDecoder().decode(m.value!) !== "*COMMIT*"),
      `partition ${position.partition}: nothing committed is left after the group's offset`,
    );
  }
  appendChunk(kafka, run.input, input.chunks[1]);
  const uncommitted = committed.reduce(
    (n, p) => n + kafka.records(run.input, { partition: p.partition }).length - Number(p.offset),
    0,
  );
  const second = memoryPipeline(kafka, { ...run, output: `${run.output}-2` });
  kafka.createTopic(`${run.output}-2`, 1);
  const again = second.run();
  await kafka.waitUntil(() => second.stats().messagesIn === uncommitted);
  await stopped(second, again);
  assert.equal(second.stats().messagesIn, uncommitted, "no message before the group's offsets");
});

Deno.test("checkpointed: a restart from the state directory as it was at any instant repeats changes exactly", async () => {
  const run = names("groupby");
  const kafka = setUp(run, 3);
  const input = groupbyInput({ orders: 3_000, perCommit: 20, chunkCount: 4, partitions: 3 });
  const stateDir = await Deno.makeTempDir({ prefix: "rivulet-delivery-" });
  const snapshots: { dir: string; outputs: number; committed: Position[] }[] = [];
  try {
    const first = memoryPipeline(kafka, run);
    const running = first.run({ stateDir, checkpointIntervalMs: 0 });
    for (const [index, chunk] of input.chunks.entries()) {
      appendChunk(kafka, run.input, chunk);
      // Snapshots while the chunk is being applied, and once it is.
      await kafka.changed();
      const take = () => {
        const dir = `${stateDir}-snapshot-${snapshots.length}`;
        snapshotDir(stateDir, dir);
        snapshots.push({
          dir,
          outputs: kafka.records(run.output).length,
          committed: kafka.committed(run.group),
        });
      };
      take();
      await kafka.waitUntil(() => first.stats().messagesIn === messagesIn(input, index + 1));
      take();
    }
    const expected = input.tables.at(-1)!;
    // A checkpoint after every batch: its positions are committed once it is saved.
    const ends = [0, 1, 2].map((partition) => afterLastMarker(kafka, run.input, partition));
    const caughtUp = () => sameOffsets(kafka.committed(run.group), ends);
    await kafka.waitUntil(caughtUp);
    await stopped(first, running);
    const full = outputRecords(kafka, run.output);
    assert.equal(checkOutput(full).repeats, 0);
    let repeats = 0;
    for (const [index, snapshot] of snapshots.entries()) {
      const restart = { ...run, output: `${run.output}-${index}` };
      kafka.createTopic(restart.output, 1);
      // The group's offsets as they were at that instant too.
      kafka.setCommitted(run.group, snapshot.committed);
      const second = memoryPipeline(kafka, restart);
      const again = second.run({ stateDir: snapshot.dir, checkpointIntervalMs: 0 });
      const combined = () => [
        ...full.slice(0, snapshot.outputs),
        ...outputRecords(kafka, restart.output),
      ];
      await kafka.waitUntil(caughtUp);
      await stopped(second, again);
      const check = checkOutput(combined());
      assert.equal(check.tables.at(-1), expected, `restart from snapshot ${index}`);
      repeats += check.repeats;
    }
    assert.ok(repeats > 0, "some restart repeated changes (and they were exact)");
  } finally {
    await Deno.remove(stateDir, { recursive: true });
    for (const { dir } of snapshots) await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("exactly-once: a failed transaction is aborted and the restart's read_committed output has each change once", async () => {
  const run = names("seed");
  const kafka = setUp(run, 1);
  const input = seedInput({ values: 3_000, perCommit: 10, chunkCount: 3 });
  const stateDir = await Deno.makeTempDir({ prefix: "rivulet-delivery-" });
  try {
    const first = memoryPipeline(kafka, run);
    const running = first.run({ stateDir, exactlyOnce: true, checkpointIntervalMs: 0 });
    appendChunk(kafka, run.input, input.chunks[0]);
    await kafka.waitUntil(() => first.stats().messagesIn === input.chunks[0].length);
    kafka.failNext("transaction.commit", { retriable: false });
    appendChunk(kafka, run.input, input.chunks[1]);
    await assert.rejects(running, /Injected transaction.commit failure/);
    const aborted = kafka.records(run.output, { isolation: "read_uncommitted" }).length -
      kafka.records(run.output).length;
    const second = memoryPipeline(kafka, run);
    const again = second.run({ stateDir, exactlyOnce: true, checkpointIntervalMs: 0 });
    appendChunk(kafka, run.input, input.chunks[2]);
    await kafka.waitUntil(() => endsWith(outputRecords(kafka, run.output), input.tables.at(-1)!));
    await stopped(second, again);
    const check = checkOutput(outputRecords(kafka, run.output));
    assert.deepEqual(check.tables, input.tables);
    assert.equal(check.repeats, 0, "read_committed sees each change once");
    assert.ok(aborted > 0, "the failed transaction's records were sent, and stayed hidden");
  } finally {
    await Deno.remove(stateDir, { recursive: true });
  }
});

Deno.test("exactly-once: a commit whose answer is lost is found committed and not sent again", async () => {
  const run = names("groupby");
  const kafka = setUp(run, 3);
  const input = groupbyInput({ orders: 2_000, perCommit: 20, chunkCount: 2, partitions: 3 });
  const stateDir = await Deno.makeTempDir({ prefix: "rivulet-delivery-" });
  try {
    const pipeline = memoryPipeline(kafka, run);
    const running = pipeline.run({ stateDir, exactlyOnce: true, checkpointIntervalMs: 0 });
    kafka.failNext("transaction.commit", { retriable: true, afterApplying: true });
    for (const chunk of input.chunks) appendChunk(kafka, run.input, chunk);
    await kafka.waitUntil(() => endsWith(outputRecords(kafka, run.output), input.tables.at(-1)!));
    await stopped(pipeline, running);
    const output = outputRecords(kafka, run.output);
    assert.equal(checkOutput(output).repeats, 0);
    assert.equal(
      output.length,
      kafka.records(run.output, { isolation: "read_uncommitted" }).length,
      "nothing was aborted or sent twice",
    );
    assert.deepEqual(
      kafka.committed(run.group).map((p) => p.offset),
      [0, 1, 2].map((partition) => afterLastMarker(kafka, run.input, partition)),
      "the group's offsets follow each partition's last applied commit",
    );
  } finally {
    await Deno.remove(stateDir, { recursive: true });
  }
});

/**
 * Runs the pipeline again over the last chunk until its read_committed output
 * ends with the last table; checks every commit's table, each change once.
 * Resolves to the restart's log lines.
 */
async function restartUntilExact(
  kafka: MemoryKafka,
  run: MemoryRun,
  input: CrashInput,
  options: Parameters<Pipeline["run"]>[0],
): Promise<string[]> {
  const lines: string[] = [];
  const pipeline = memoryPipeline(kafka, run, keptLines(lines));
  const running = pipeline.run(options);
  appendChunk(kafka, run.input, input.chunks.at(-1)!);
  await stoppedWhenExact(kafka, run, input, pipeline, running);
  return lines;
}

/**
 * Waits until the output ends with the input's last table, stops the
 * pipeline, and checks the output: every commit's table, each change once.
 */
async function stoppedWhenExact(
  kafka: MemoryKafka,
  run: MemoryRun,
  input: CrashInput,
  pipeline: Pipeline,
  running: Promise<unknown>,
): Promise<void> {
  await Promise.race([
    kafka.waitUntil(() => endsWith(outputRecords(kafka, run.output), input.tables.at(-1)!)),
    running.then(() => assert.fail("the pipeline ended before the output was complete")),
  ]);
  await stopped(pipeline, running);
  const check = checkOutput(outputRecords(kafka, run.output));
  assert.deepEqual(check.tables, input.tables);
  assert.equal(check.repeats, 0, "read_committed sees each change once");
}

for (const stateStore of ["local", "kafka"] as const) {
  Deno.test(`exactly-once (${stateStore} state): a transaction the broker completed without its markers is aborted by the restart, and the output is exact`, async () => {
    const run = names("seed", `-hanging-${stateStore}`);
    const kafka = setUp(run, 1);
    const input = seedInput({ values: 3_000, perCommit: 10, chunkCount: 3 });
    const stateDir = await Deno.makeTempDir({ prefix: "rivulet-delivery-" });
    const options = stateStore === "local"
      ? { stateDir, exactlyOnce: true, checkpointIntervalMs: 0 }
      : { stateStore, exactlyOnce: true, checkpointIntervalMs: 0 } as const;
    try {
      const first = memoryPipeline(kafka, run);
      const running = first.run(options);
      appendChunk(kafka, run.input, input.chunks[0]);
      await kafka.waitUntil(() => first.stats().messagesIn === input.chunks[0].length);
      kafka.failNext("transaction.commit", { retriable: false, hangs: true });
      appendChunk(kafka, run.input, input.chunks[1]);
      await assert.rejects(running, /Injected transaction.commit failure/);
      const admin = kafka.admin();
      const stillPending = await Promise.race([
        admin.groupPositions(run.group, [run.input]).then(() => false),
        new Promise((resolve) => setTimeout(() => resolve(true), 200)),
      ]);
      assert.ok(stillPending, "a new producer of the id does not end the hanging transaction");

      const lines = await restartUntilExact(kafka, run, input, options);
      assert.ok(
        lines.some((line) => line.startsWith("the groups' offsets are still pending")),
        lines.join("\n"),
      );
      const abortKeys = kafka.records(run.output, { isolation: "read_uncommitted" })
        .filter((m) => m.key !== null && new TextDecoder().decode(m.key) === hangingAbortKey);
      assert.equal(abortKeys.length, 1, "one aborted record on the output's partition");
    } finally {
      await Deno.remove(stateDir, { recursive: true });
    }
  });
}

Deno.test("exactly-once: a commit answered as done whose markers never came is found by the check after it, aborted and sent again; the output is exact", async () => {
  const run = names("seed", "-hanging-answered");
  const kafka = setUp(run, 1);
  const input = seedInput({ values: 3_000, perCommit: 10, chunkCount: 3 });
  const stateDir = await Deno.makeTempDir({ prefix: "rivulet-delivery-" });
  const lines: string[] = [];
  try {
    const pipeline = memoryPipeline(kafka, run, keptLines(lines));
    const running = pipeline.run({ stateDir, exactlyOnce: true, checkpointIntervalMs: 0 });
    appendChunk(kafka, run.input, input.chunks[0]);
    await kafka.waitUntil(() => pipeline.stats().messagesIn === input.chunks[0].length);
    // The broker answers the commit but writes no markers. Unchecked, the next transaction's
    // first send fails, its retry finds the offsets pending and aborts what hangs, and the
    // answered transaction's changes are lost: only the next one is sent again.
    kafka.failNext("transaction.commit", { hangs: true, answered: true });
    kafka.failNext("transaction.send", { retriable: true });
    for (const chunk of input.chunks.slice(1)) appendChunk(kafka, run.input, chunk);
    await stoppedWhenExact(kafka, run, input, pipeline, running);
    const said = lines.join("\n");
    assert.match(said, /the groups' offsets are still pending/);
    assert.match(said, /answered the transaction as committed but wrote no markers/);
  } finally {
    await Deno.remove(stateDir, { recursive: true });
  }
});

Deno.test("exactly-once with the kafka state store: restarts with no local state rebuild the table, each change once", async () => {
  const run = names("groupby");
  const kafka = setUp(run, 3);
  const input = groupbyInput({ orders: 3_000, perCommit: 20, chunkCount: 4, partitions: 3 });
  const options = { exactlyOnce: true, stateStore: "kafka", checkpointIntervalMs: 20 } as const;
  const restored: number[] = [];
  for (const [index, chunk] of input.chunks.entries()) {
    const pipeline = memoryPipeline(kafka, run);
    const running = pipeline.run(options);
    const half = Math.floor(chunk.length / 2);
    const committedBefore = committedSum(kafka, run.group);
    appendChunk(kafka, run.input, chunk.slice(0, half));
    await kafka.waitUntil(() => committedSum(kafka, run.group) > committedBefore);
    restored.push(pipeline.stats().restore?.records ?? -1);
    if (index < input.chunks.length - 1) {
      // A crash: the next transaction fails and the process is gone, with nothing on disk.
      kafka.failNext("transaction.commit", { retriable: false });
      appendChunk(kafka, run.input, chunk.slice(half));
      await assert.rejects(running, /Injected transaction.commit failure/);
    } else {
      appendChunk(kafka, run.input, chunk.slice(half));
      await kafka.waitUntil(() => endsWith(outputRecords(kafka, run.output), input.tables.at(-1)!));
      await stopped(pipeline, running);
    }
  }
  const check = checkOutput(outputRecords(kafka, run.output));
  assert.equal(check.repeats, 0, "read_committed sees each change once");
  assert.equal(check.tables.at(-1), input.tables.at(-1));
  assert.equal(restored[0], 0, "the first start finds an empty changelog");
  assert.ok(restored.slice(1).every((n) => n > 0), `later starts restore records: ${restored}`);
  const described = await kafka.admin().describeTopic("g-groupby-state-changelog");
  assert.equal(described.partitions, 3);
  assert.equal(described.configs["cleanup.policy"], "compact");
  // Compaction keeps each key's last record: the distinct keys follow the state's size.
  const decoder = new TextDecoder();
  const changelog = kafka.records("g-groupby-state-changelog");
  const keys = new Set(changelog.map((m) => decoder.decode(m.key!)));
  assert.ok(changelog.length > keys.size, "the log holds history that compaction can drop");
  assert.ok(keys.size < 3_000 + 100, `distinct keys ${keys.size}: rows, groups, meta, markers`);
});

Deno.test("exactly-once with the kafka state store: a changelog of the wrong shape is refused by name", async () => {
  const run = names("seed");
  const kafka = setUp(run, 1);
  kafka.createTopic("g-seed-state-changelog", 1); // cleanup.policy=delete
  const pipeline = memoryPipeline(kafka, run);
  await assert.rejects(
    pipeline.run({ exactlyOnce: true, stateStore: "kafka" }),
    /Changelog topic "g-seed-state-changelog" has cleanup.policy=delete, not compact/,
  );
});

/** The changelog's committed state records (neither restore end markers nor incarnation records). */
function changelogStateRecords(kafka: MemoryKafka, topic: string): number {
  const decoder = new TextDecoder();
  return kafka.records(topic).filter((m) => {
    const key = m.key === null ? "" : decoder.decode(m.key);
    return key !== "restore-end" && key !== "incarnation";
  }).length;
}

/** A logger that keeps its lines as `message {fields}`. */
function keptLines(lines: string[]): Logger {
  const keep = (message: string, fields?: Record<string, unknown>) =>
    lines.push(`${message} ${JSON.stringify(fields ?? {})}`);
  return { debug: () => {}, info: keep, warn: keep, error: keep };
}

Deno.test("exactly-once with the kafka state store and a local cache: a restart reads only the changelog's tail", async () => {
  const run = names("groupby", "-cached");
  const kafka = setUp(run, 3);
  const changelog = `${run.group}-state-changelog`;
  const input = groupbyInput({ orders: 3_000, perCommit: 20, chunkCount: 4, partitions: 3 });
  const stateDir = await Deno.makeTempDir({ prefix: "rivulet-cache-" });
  const oldCache = await Deno.makeTempDir({ prefix: "rivulet-cache-old-" });
  const emptyDir = await Deno.makeTempDir({ prefix: "rivulet-cache-empty-" });
  const options = (dir: string) =>
    ({ exactlyOnce: true, stateStore: "kafka", stateDir: dir, checkpointIntervalMs: 20 }) as const;
  /** The committed offsets' sum once every commit of the input appended so far is committed. */
  const complete = () =>
    [0, 1, 2].reduce((n, p) => n + Number(afterLastMarker(kafka, run.input, p)), 0);
  /** Runs until every commit of the input appended so far is committed; returns the restore figures. */
  const runUntilCommitted = async (dir: string, lines: string[] = []) => {
    const pipeline = memoryPipeline(kafka, run, keptLines(lines));
    const running = pipeline.run(options(dir));
    await kafka.waitUntil(() =>
      pipeline.stats().restore?.from !== undefined &&
      pipeline.stats().restore?.restoring === false &&
      committedSum(kafka, run.group) === complete()
    );
    const restore = pipeline.stats().restore!;
    return { pipeline, running, restore };
  };
  try {
    // 1. A first start restores nothing; a clean stop leaves the cache of the last transaction.
    appendChunk(kafka, run.input, input.chunks[0]);
    const first = await runUntilCommitted(stateDir);
    assert.deepEqual({ ...first.restore }, { restoring: false, records: 0, from: "beginning" });
    await stopped(first.pipeline, first.running);
    snapshotDir(stateDir, oldCache);
    const afterFirst = changelogStateRecords(kafka, changelog);
    assert.ok(afterFirst > 0);

    // 2. A restart with the cache reads the tail only: nothing was written after the cache.
    const second = await runUntilCommitted(stateDir);
    assert.deepEqual({ ...second.restore }, { restoring: false, records: 0, from: "cache" });
    // ... then crashes: a transaction fails after others were committed.
    const half = Math.floor(input.chunks[1].length / 2);
    const committedBefore = committedSum(kafka, run.group);
    appendChunk(kafka, run.input, input.chunks[1].slice(0, half));
    await kafka.waitUntil(() => committedSum(kafka, run.group) > committedBefore);
    kafka.failNext("transaction.commit", { retriable: false });
    appendChunk(kafka, run.input, input.chunks[1].slice(half));
    await assert.rejects(second.running, /Injected transaction.commit failure/);

    // 3. The cache of the last committed transaction: only the aborted one follows it.
    const third = await runUntilCommitted(stateDir);
    assert.deepEqual({ ...third.restore }, { restoring: false, records: 0, from: "cache" });
    await stopped(third.pipeline, third.running);
    const afterThird = changelogStateRecords(kafka, changelog);

    // 4. An older cache (of step 1): its tail is what steps 2 and 3 wrote, at most.
    appendChunk(kafka, run.input, input.chunks[2]);
    const fourth = await runUntilCommitted(oldCache);
    const writtenSinceOld = afterThird - afterFirst;
    assert.equal(fourth.restore.from, "cache");
    assert.ok(
      fourth.restore.records > 0 && fourth.restore.records <= writtenSinceOld,
      `restored ${fourth.restore.records}, written after the cache ${writtenSinceOld}`,
    );
    await stopped(fourth.pipeline, fourth.running);

    // 5. No cache: the whole changelog.
    const all = changelogStateRecords(kafka, changelog);
    const lines: string[] = [];
    const fifth = await runUntilCommitted(emptyDir, lines);
    assert.deepEqual({ ...fifth.restore }, { restoring: false, records: all, from: "beginning" });
    assert.ok(fourth.restore.records < all, `tail ${fourth.restore.records}, whole ${all}`);
    assert.ok(lines.some((l) => /not from the local cache.*there is no local cache/.test(l)));
    appendChunk(kafka, run.input, input.chunks[3]);
    await kafka.waitUntil(() => endsWith(outputRecords(kafka, run.output), input.tables.at(-1)!));
    await stopped(fifth.pipeline, fifth.running);
    console.log(
      `  restored per start: 0, 0 (cache), 0 (cache after a crash), ${fourth.restore.records} ` +
        `(an older cache; ${writtenSinceOld} written after it), ${all} (no cache)`,
    );

    const check = checkOutput(outputRecords(kafka, run.output));
    assert.equal(check.repeats, 0, "read_committed sees each change once");
    assert.equal(check.tables.at(-1), input.tables.at(-1));
  } finally {
    for (const dir of [stateDir, oldCache, emptyDir]) await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("exactly-once with the kafka state store: a cache that does not fit the changelog is replaced by a full restore, said in a log line", async () => {
  const run = names("seed", "-misfit");
  const input = seedInput({ values: 400, perCommit: 10, chunkCount: 2 });
  const stateDir = await Deno.makeTempDir({ prefix: "rivulet-cache-" });
  const options = {
    exactlyOnce: true,
    stateStore: "kafka",
    stateDir,
    checkpointIntervalMs: 20,
  } as const;
  const startStop = async (kafka: MemoryKafka, chunks: number, lines: string[] = []) => {
    const pipeline = memoryPipeline(kafka, run, keptLines(lines));
    const running = pipeline.run(options);
    await kafka.waitUntil(() => committedSum(kafka, run.group) === messagesIn(input, chunks));
    await stopped(pipeline, running);
    return pipeline.stats().restore!;
  };
  try {
    // The cache of a changelog that is then deleted and created again (another cluster here),
    // where as many records were written since: the offsets fit, the incarnation record does not.
    const before = setUp(run, 1);
    appendChunk(before, run.input, input.chunks[0]);
    await startStop(before, 1);
    const cacheOfBefore = await Deno.makeTempDir({ prefix: "rivulet-cache-before-" });
    snapshotDir(stateDir, cacheOfBefore);
    const changelog = `${run.group}-state-changelog`;
    const endOf = (kafka: MemoryKafka) => BigInt(kafka.offsets(changelog)[0].high);
    const cachedUpTo = endOf(before); // the old cache's offsets are at most this
    const again = setUp(run, 1);
    appendChunk(again, run.input, input.chunks[0]);
    await startStop(again, 1); // its own full restore, from scratch, into stateDir
    // Restarts from its own cache (each writes end markers) until its log is longer than the
    // old cache's offsets: then only the incarnation record can tell the two topics apart.
    for (let restarts = 0; endOf(again) <= cachedUpTo; restarts++) {
      assert.ok(restarts < 50, "the changelog grows with each restart");
      await startStop(again, 1);
    }
    snapshotDir(cacheOfBefore, stateDir);
    await Deno.remove(cacheOfBefore, { recursive: true });
    const lines: string[] = [];
    const restore = await startStop(again, 1, lines);
    assert.equal(restore.from, "beginning");
    assert.equal(restore.records, changelogStateRecords(again, `${run.group}-state-changelog`));
    assert.ok(
      lines.some((l) => /not from the local cache.*incarnation record is not at/.test(l)),
      lines.join("\n"),
    );

    // Tombstones are kept delete.retention.ms: a cache older than that may miss deletions.
    const short = setUp(run, 1);
    short.createTopic(`${run.group}-state-changelog`, 1, {
      "cleanup.policy": "compact",
      "delete.retention.ms": "0",
    });
    await Deno.remove(stateDir, { recursive: true });
    appendChunk(short, run.input, input.chunks[0]);
    await startStop(short, 1);
    const shortLines: string[] = [];
    appendChunk(short, run.input, input.chunks[1]);
    const shortRestore = await startStop(short, 2, shortLines);
    assert.equal(shortRestore.from, "beginning");
    assert.ok(shortLines.some((l) => /delete\.retention\.ms/.test(l)), shortLines.join("\n"));
    assert.ok(endsWith(outputRecords(short, run.output), input.tables.at(-1)!));
  } finally {
    await Deno.remove(stateDir, { recursive: true }).catch(() => {});
  }
});

Deno.test("exactly-once and the kafka state store refuse a source that is not a Kafka source, naming it", () => {
  const context = {
    logger: silentLogger,
    sources: [{ name: "lines" } as Source],
    sinks: [],
  } as unknown as DeliveryContext;
  assert.throws(
    () => new ExactlyOnceDelivery(context, { stateDir: "/nonexistent" }),
    /^Error: Exactly-once mode needs Kafka sources; source "lines" is not one$/,
  );
  assert.throws(
    () => new ChangelogCheckpointedDelivery(context, {}),
    /^Error: The kafka state store needs Kafka sources; source "lines" is not one \(use --state-store local\)$/,
  );
});
