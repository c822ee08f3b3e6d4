/**
 * Issue 15 (input): typed schemas, JSON Pointer columns, the message key
 * (raw, plaintext, key columns, the key as row id with tombstones), source
 * names, `_metadata`, start positions and bounded reads, end to end on the
 * local broker: real topics, `kafka.read` in a running pipeline, the table
 * after each commit compared exactly. Bad input is run under each error
 * policy (stop, skip, dead-letter).
 */
import assert from "node:assert/strict";
import * as rw from "../../mod.ts";
import { createTopics, uniqueTopic } from "../support/kafka.ts";
import { CollectingSink, TableState } from "../support/tables.ts";
import {
  consumeRaw,
  produceRaw,
  type RawRecord,
  RecordingLogger,
  settingsFor,
  startInput,
  type StartInputOptions,
  topicEnd,
  until,
} from "./input_harness.ts";

const COMMIT = "*COMMIT*";
const policies = ["stop", "skip", "dead-letter"] as const;
type Policy = typeof policies[number];

/** A scenario with bad input, run once per error policy on one topic (a fresh group each time). */
interface BadInputScenario {
  readonly records: readonly (RawRecord | string)[];
  readonly read: Omit<StartInputOptions<rw.FormatName, string>, "topicNames">;
  /** The tables after each commit when the bad messages are skipped. */
  readonly tables: readonly rw.Row[][];
  /** How many of those commits come before the first bad message (what `stop` applies). */
  readonly beforeBad: number;
  /** What the stop policy's error says: topic, partition, offset, column, value. */
  readonly error: (topic: string) => RegExp;
  /** The values of the bad messages, as the dead-letter topic gets them. */
  readonly badValues: readonly string[];
}

async function underEachPolicy(prefix: string, scenario: BadInputScenario): Promise<void> {
  const topic = uniqueTopic(prefix);
  const deadLetters = policies.map(() => uniqueTopic(`${prefix}-dlq`));
  await createTopics([topic, ...deadLetters]);
  await produceRaw(topic, scenario.records);
  for (const [index, policy] of policies.entries()) {
    await checkPolicy(policy, topic, deadLetters[index], scenario);
  }
}

async function checkPolicy(
  policy: Policy,
  topic: string,
  deadLetterTopic: string,
  scenario: BadInputScenario,
): Promise<void> {
  await using run = startInput({
    ...scenario.read,
    topicNames: [topic],
    errorPolicy: policy,
    ...(policy === "dead-letter" ? { deadLetterTopic } : {}),
  });
  if (policy === "stop") {
    const outcome = await run.ended();
    assert.equal(outcome.ok, false, "stop: the run fails on the bad message");
    const message = outcome.ok ? "" : (outcome.error as Error).message;
    assert.match(message, scenario.error(topic), "stop: the error names where and what");
    assert.deepEqual(
      run.sink.tables(),
      scenario.tables.slice(0, scenario.beforeBad),
      "stop: the commits before the bad message are applied, none after",
    );
    return;
  }
  await run.sink.waitFor(scenario.tables.length);
  await until(
    "every bad message to be counted",
    () => run.pipeline.stats().badInput >= scenario.badValues.length,
  );
  const outcome = await run.stop();
  if (!outcome.ok) throw outcome.error;
  assert.deepEqual(run.sink.tables(), scenario.tables, `${policy}: the table after each commit`);
  assert.equal(run.pipeline.stats().badInput, scenario.badValues.length, `${policy}: bad input`);
  const warned = run.logger.problems().map((line) => line.message).join("\n");
  assert.match(warned, scenario.error(topic), `${policy}: the warning names where and what`);
  if (policy === "dead-letter") {
    const letters = await consumeRaw(deadLetterTopic, { count: scenario.badValues.length });
    assert.deepEqual(
      letters.map((letter) => new TextDecoder().decode(letter.value)),
      scenario.badValues,
      "dead-letter: the bad messages, as they were",
    );
  }
}

const sum = (table: rw.Table<rw.Row>) =>
  (table as rw.Table<{ value: number }>).reduce({ sum: rw.reducers.sum("value") }) as rw.Table<
    rw.Row
  >;

Deno.test("an int schema makes a second csv header mid-stream bad input, not NaN: stop, skip, dead-letter", async () => {
  await underEachPolicy("schema-seed", {
    records: ["value", "1", "2", COMMIT, "value", "3", COMMIT, "4", COMMIT],
    read: { format: "csv", schema: { value: "int" }, transform: sum },
    tables: [[{ sum: 3 }], [{ sum: 6 }], [{ sum: 10 }]],
    beforeBad: 1,
    error: (topic) =>
      new RegExp(
        `Bad input at ${topic}-0@4 \\(column "value"\\): value "value" of column "value" is not an int`,
      ),
    badValues: ["value"],
  });
});

Deno.test("without a schema, parseInt giving NaN is bad input of its row, not a poisoned sum", async () => {
  await underEachPolicy("nan-seed", {
    records: ["value", "1", "2", COMMIT, "value", "3", COMMIT, "4", COMMIT],
    read: {
      format: "csv",
      valueColumns: ["value"],
      transform: (table) =>
        sum(
          (table as rw.Table<{ value: string }>).select({
            value: rw.apply((x: string) => parseInt(x), "value"),
          }) as rw.Table<rw.Row>,
        ),
    },
    tables: [[{ sum: 3 }], [{ sum: 6 }], [{ sum: 10 }]],
    beforeBad: 1,
    error: (topic) => new RegExp(`Bad input at ${topic}-0@4 in select: .*returned NaN`),
    badValues: ["value"],
  });
});

Deno.test("a schema types every column: int, float, bool, str, bytes, json, timestamp, optional, default", async () => {
  const topic = uniqueTopic("schema-types");
  await createTopics([topic]);
  await produceRaw(topic, [
    JSON.stringify({
      i: "42",
      f: 1.5,
      b: "true",
      s: "x",
      by: "hi",
      j: { a: [1, null] },
      t: "2026-01-02T03:04:05Z",
      o: 5,
      d: 8,
    }),
    COMMIT,
    JSON.stringify({ i: -7, f: "2e3", b: false, s: "", by: "", j: "[]", t: 86_400_000, o: null }),
    COMMIT,
  ]);
  await using run = startInput({
    topicNames: [topic],
    format: "json",
    schema: {
      i: "int",
      f: "float",
      b: "bool",
      s: "str",
      by: "bytes",
      j: "json",
      t: "timestamp",
      o: "int?",
      d: { type: "int", default: 7 },
    },
  });
  await run.sink.waitFor(2);
  const outcome = await run.stop();
  if (!outcome.ok) throw outcome.error;
  const first = {
    i: 42,
    f: 1.5,
    b: true,
    s: "x",
    by: new TextEncoder().encode("hi"),
    j: { a: [1, null] },
    t: new Date("2026-01-02T03:04:05Z"),
    o: 5,
    d: 8,
  };
  const second = {
    i: -7,
    f: 2000,
    b: false,
    s: "",
    by: new Uint8Array(0),
    j: "[]",
    t: new Date(86_400_000),
    o: null,
    d: 7,
  };
  const tables = run.sink.tables();
  assert.equal(tables.length, 2);
  assert.deepEqual(tables[0], [first]);
  assert.deepEqual(new Set(tables[1]), new Set([first, second]));
});

Deno.test("a value that does not convert names topic, partition, offset, column and value: stop, skip, dead-letter", async () => {
  await underEachPolicy("schema-bad-bool", {
    records: ["1,yes", COMMIT, "2,maybe", "3,no", COMMIT],
    read: { format: "csv", header: ["n", "ok"], schema: { n: "int", ok: "bool" } },
    tables: [[{ n: 1, ok: true }], [{ n: 1, ok: true }, { n: 3, ok: false }]],
    beforeBad: 1,
    error: (topic) =>
      new RegExp(
        `Bad input at ${topic}-0@2 \\(column "ok"\\): value "maybe" of column "ok" is not a bool`,
      ),
    badValues: ["2,maybe"],
  });
});

Deno.test("jsonFieldPaths reads nested values; a pointer with no target is bad input: stop, skip, dead-letter", async () => {
  const good = (city: string, tag: string) =>
    JSON.stringify({ address: { city, "zip/code": "0150" }, tags: [tag, "other"] });
  await underEachPolicy("json-pointer", {
    records: [
      good("Oslo", "a"),
      COMMIT,
      JSON.stringify({ address: {} }),
      good("Rome", "b"),
      COMMIT,
    ],
    read: {
      format: "json",
      jsonFieldPaths: { city: "/address/city", zip: "/address/zip~1code", tag: "/tags/0" },
    },
    tables: [
      [{ city: "Oslo", zip: "0150", tag: "a" }],
      [{ city: "Oslo", zip: "0150", tag: "a" }, { city: "Rome", zip: "0150", tag: "b" }],
    ],
    beforeBad: 1,
    error: (topic) =>
      new RegExp(
        `Bad input at ${topic}-0@2 \\(column "city"\\): The message has no value at JSON Pointer "/address/city"`,
      ),
    badValues: [JSON.stringify({ address: {} })],
  });
});

Deno.test("plaintext gives key and value as text, raw as bytes", async () => {
  const topic = uniqueTopic("key-formats");
  await createTopics([topic]);
  await produceRaw(topic, [{ value: "v1", key: "k1" }, "v2", COMMIT]);
  for (const format of ["plaintext", "raw"] as const) {
    await using run = startInput({ topicNames: [topic], format });
    await run.sink.waitFor(1);
    const outcome = await run.stop();
    if (!outcome.ok) throw outcome.error;
    const bytes = (text: string) => new TextEncoder().encode(text);
    const expected: rw.Row[] = format === "plaintext"
      ? [{ key: "k1", data: "v1" }, { key: null, data: "v2" }]
      : [{ key: bytes("k1"), data: bytes("v1") }, { key: null, data: bytes("v2") }];
    assert.deepEqual(new Set(run.sink.tables()[0]), new Set(expected), format);
  }
});

Deno.test("keyColumns take columns from the key; a message without a key is bad input: stop, skip, dead-letter", async () => {
  await underEachPolicy("key-columns", {
    records: [
      { value: '{"qty":1}', key: '{"id":7}' },
      COMMIT,
      '{"qty":2}',
      { value: '{"qty":3}', key: '{"id":8}' },
      COMMIT,
    ],
    read: { format: "json", schema: { id: "int", qty: "int" }, keyColumns: ["id"] },
    tables: [[{ id: 7, qty: 1 }], [{ id: 7, qty: 1 }, { id: 8, qty: 3 }]],
    beforeBad: 1,
    error: (topic) => new RegExp(`Bad input at ${topic}-0@2: the message has no key`),
    badValues: ['{"qty":2}'],
  });
});

Deno.test("keyAsRowId: the key is the row id, a tombstone deletes, a missing key is bad input: stop, skip, dead-letter", async () => {
  await underEachPolicy("key-row-id", {
    records: [
      { value: '{"v":1}', key: "k1" },
      { value: '{"v":2}', key: "k2" },
      COMMIT,
      { value: '{"v":10}', key: "k1" },
      { value: null, key: "k2" },
      COMMIT,
      '{"v":3}',
      { value: '{"v":4}', key: "k4" },
      COMMIT,
    ],
    read: { format: "json", schema: { v: "int" }, keyAsRowId: true },
    tables: [[{ v: 1 }, { v: 2 }], [{ v: 10 }], [{ v: 10 }, { v: 4 }]],
    beforeBad: 2,
    error: (topic) =>
      new RegExp(`Bad input at ${topic}-0@6: the message has no key, and the key is the row id`),
    badValues: ['{"v":3}'],
  });
});

/** The final table of a run's output, rebuilt once (tables() per batch is quadratic). */
function finalTable(sink: CollectingSink): rw.Row[] {
  const state = new TableState();
  for (const batch of sink.batches) {
    for (const change of batch.changes) state.apply(change.id, change.row, change.diff);
  }
  return state.rows();
}

Deno.test("untilEnd over a topic being written to stops at the end offsets found at start and ends cleanly", async () => {
  const topic = uniqueTopic("until-end");
  await createTopics([topic]);
  await produceRaw(topic, Array.from({ length: 200 }, (_, i) => `before-${i}`));
  let writing = true;
  let written = 0;
  const writer = (async () => {
    while (writing) {
      await produceRaw(topic, Array.from({ length: 20 }, (_, i) => `during-${written + i}`));
      written += 20;
    }
  })();
  try {
    await until("writes to go on while the pipeline starts", () => written >= 40);
    await using run = startInput({
      topicNames: [topic],
      format: "plaintext",
      withMetadata: true,
      untilEnd: true,
      commitMode: { intervalMs: 50 },
    });
    const outcome = await run.ended(60_000);
    if (!outcome.ok) throw outcome.error;
    await until("more writes after the run", () => written >= 80);
    const ends = run.logger.lines.find((line) => /until the end offsets/.test(line.message));
    assert.ok(ends !== undefined, "the source logs the end offsets it found");
    const end = Number(/-0@(\d+)$/.exec(String(ends.fields.ends))![1]);
    assert.ok(end >= 240, `the end includes what was written before the start (${end})`);
    const offsets = finalTable(run.sink).map((row) => (row._metadata as rw.Row).offset as number)
      .sort((a, b) => a - b);
    assert.deepEqual(offsets, Array.from({ length: end }, (_, i) => i), "exactly offsets 0..end-1");
    assert.ok(Number(await topicEnd(topic)) > end, "the topic grew past the end while it ran");
  } finally {
    writing = false;
    await writer;
  }
});

Deno.test("startFromTimestampMs skips exactly the records before the timestamp, on every partition", async () => {
  const topic = uniqueTopic("from-timestamp");
  await createTopics([topic], 2);
  const t0 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
  await produceRaw(
    topic,
    Array.from({ length: 20 }, (_, i) => ({
      value: `r${i}`,
      partition: i % 2,
      timestamp: t0 + i * 1000,
    })),
  );
  await using run = startInput({
    topicNames: [topic],
    format: "plaintext",
    startFromTimestampMs: t0 + 7000,
    untilEnd: true,
    commitMode: { intervalMs: 50 },
  });
  const outcome = await run.ended(60_000);
  if (!outcome.ok) throw outcome.error;
  const read = finalTable(run.sink).map((row) => row.data as string)
    .sort((a, b) => Number(a.slice(1)) - Number(b.slice(1)));
  assert.deepEqual(read, Array.from({ length: 13 }, (_, i) => `r${i + 7}`));
});

Deno.test("named sources keep their state when a script reads them in another order", async () => {
  const orders = uniqueTopic("named-orders");
  const users = uniqueTopic("named-users");
  await createTopics([orders, users]);
  const stateDir = await Deno.makeTempDir({ prefix: "rivulet-named-" });
  const group = `named-${crypto.randomUUID()}`;
  try {
    await produceRaw(orders, [{ value: '{"qty":1}', key: "o1" }, COMMIT]);
    await produceRaw(users, [{ value: '{"name":"ada"}', key: "u1" }, COMMIT]);
    const start = (order: readonly ("orders" | "users")[]) => {
      const pipeline = new rw.Pipeline({ logger: new RecordingLogger() });
      const sinks: Record<string, CollectingSink> = {};
      for (const name of order) {
        const table = rw.kafka.read(settingsFor(`${group}-${name}`), {
          topicNames: [name === "orders" ? orders : users],
          format: "json",
          keyAsRowId: true,
          name,
          pipeline,
        });
        pipeline.write(table as rw.Table<rw.Row>, sinks[name] = new CollectingSink());
      }
      const outcome = rw.run({ pipeline, stateDir, checkpointIntervalMs: 10 });
      return { pipeline, sinks, outcome };
    };
    const first = start(["orders", "users"]);
    await Promise.all([first.sinks.orders.waitFor(1), first.sinks.users.waitFor(1)]);
    first.pipeline.stop();
    await first.outcome;

    await produceRaw(orders, [{ value: '{"qty":2}', key: "o1" }, COMMIT]);
    await produceRaw(users, [{ value: null, key: "u1" }, COMMIT]);
    const second = start(["users", "orders"]);
    await Promise.all([second.sinks.orders.waitFor(1), second.sinks.users.waitFor(1)]);
    second.pipeline.stop();
    await second.outcome;
    // The update retracts the row the first run read: the state followed the name.
    assert.deepEqual(
      second.sinks.orders.batches.map((b) => b.changes.map((c) => [c.row, c.diff])),
      [[[{ qty: 1 }, -1], [{ qty: 2 }, 1]]],
    );
    assert.deepEqual(
      second.sinks.users.batches.map((b) => b.changes.map((c) => [c.row, c.diff])),
      [[[{ name: "ada" }, -1]]],
    );
  } finally {
    await Deno.remove(stateDir, { recursive: true });
  }
});

Deno.test("untilEnd in marker mode applies what the markers close and ends; on an empty topic it ends at once", async () => {
  const topic = uniqueTopic("until-end-markers");
  const empty = uniqueTopic("until-end-empty");
  await createTopics([topic, empty]);
  await produceRaw(topic, ["a", COMMIT, "b", COMMIT, "c"]);
  {
    await using run = startInput({ topicNames: [topic], format: "plaintext", untilEnd: true });
    const outcome = await run.ended(60_000);
    if (!outcome.ok) throw outcome.error;
    assert.deepEqual(run.sink.tables(), [
      [{ key: null, data: "a" }],
      [{ key: null, data: "a" }, { key: null, data: "b" }],
    ], "c has no marker before the end: it is not applied");
    assert.equal(run.pipeline.stats().messagesIn, 5, "nothing past the end is read");
  }
  {
    await using run = startInput({ topicNames: [empty], format: "plaintext", untilEnd: true });
    const outcome = await run.ended(60_000);
    if (!outcome.ok) throw outcome.error;
    assert.deepEqual(run.sink.batches, []);
  }
});
