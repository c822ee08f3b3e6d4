/**
 * Issue 4's "Must show", end to end on the local broker: messages produced to
 * real topics, read by `kafka.read` in a running pipeline whose input table
 * goes unchanged to a collecting sink, so each batch the sink gets is one
 * applied commit and the table after each commit can be compared exactly.
 */
import assert from "node:assert/strict";
import * as rw from "../../mod.ts";
import { createTopics, uniqueTopic } from "../support/kafka.ts";
import {
  committedOffsets,
  consumeRaw,
  pause,
  produceRaw,
  type RawRecord,
  settingsFor,
  startInput,
  topicEnd,
  until,
} from "./input_harness.ts";

/** How long a pipeline gets to apply something it must not apply. */
const QUIET_MS = 400;

const COMMIT = "*COMMIT*";

// Topics are created together up front: one admin round trip instead of one per test.
const topics = {
  seed: uniqueTopic("input-seed"),
  partitioned: uniqueTopic("input-3p"),
  uncommitted: uniqueTopic("input-uncommitted"),
  upserts: uniqueTopic("input-upserts"),
  chainIn: uniqueTopic("input-chain-in"),
  chainMid: uniqueTopic("input-chain-mid"),
  fruit: uniqueTopic("input-fruit"),
  vegetables: uniqueTopic("input-vegetables"),
  interval: uniqueTopic("input-interval"),
  metadata: uniqueTopic("input-metadata"),
  headerGiven: uniqueTopic("input-header-given"),
  pastHeader: uniqueTopic("input-past-header"),
  userFormat: uniqueTopic("input-user-format"),
  userFunction: uniqueTopic("input-user-function"),
  userFunctionDeadLetters: uniqueTopic("input-user-function-dlq"),
  userFunctionStop: uniqueTopic("input-user-function-stop"),
};
const badTopics: string[] = [];
let created: Promise<void> | undefined;

function topicsCreated(): Promise<void> {
  created ??= Promise.all([
    createTopics([...Object.values(topics).filter((t) => t !== topics.partitioned), ...badTopics]),
    createTopics([topics.partitioned], 3),
  ]).then(() => {});
  return created;
}

/** Stops a run and checks that it ended without failing. */
async function stopCleanly(run: { stop(): Promise<{ ok: boolean; error?: unknown }> }) {
  const outcome = await run.stop();
  if (!outcome.ok) throw outcome.error;
}

/** The rows a batch inserted, sorted as `CollectingSink.tables()` sorts them. */
function insertedRows(batch: rw.Batch<rw.Row>): rw.Row[] {
  assert.ok(batch.changes.every((c) => c.diff === 1), "an append-only batch only inserts");
  return batch.changes.map((c) => c.row).sort((a, b) =>
    JSON.stringify(a) < JSON.stringify(b) ? -1 : 1
  );
}

/** The tables after each commit when each commit appends `commits[i]` (rows given sorted). */
function cumulative(commits: rw.Row[][]): rw.Row[][] {
  const tables: rw.Row[][] = [];
  let rows: rw.Row[] = [];
  for (const commit of commits) {
    rows = [...rows, ...commit].sort((a, b) => JSON.stringify(a) < JSON.stringify(b) ? -1 : 1);
    tables.push(rows);
  }
  return tables;
}

Deno.test("the seed's csv stream (header, then 0 … 9 each followed by *COMMIT*) is ten atomic updates of string values", async () => {
  await topicsCreated();
  const digits = Array.from({ length: 10 }, (_, i) => String(i));
  await produceRaw(topics.seed, ["value", ...digits.flatMap((d) => [d, COMMIT])]);
  await using run = startInput({
    topicNames: [topics.seed],
    format: "csv",
    valueColumns: ["value"],
  });
  await run.sink.waitFor(10);
  await stopCleanly(run);

  assert.deepEqual(run.sink.tables(), cumulative(digits.map((value) => [{ value }])));
  assert.deepEqual(
    run.sink.batches.map((b) => b.changes.length),
    Array(10).fill(1),
    "each commit inserts exactly its one row",
  );
  const times = run.sink.batches.map((b) => b.time);
  assert.ok(times.every((t, i) => i === 0 || t > times[i - 1]), `times increase: ${times}`);
});

Deno.test("three partitions: rows read before partition 0's header wait for it, then every row is applied once in its partition's batch", async () => {
  await topicsCreated();
  const topic = topics.partitioned;
  await using run = startInput({ topicNames: [topic], format: "csv", valueColumns: ["name"] });
  const early: RawRecord[] = [
    ...["p1-a", "p1-b", COMMIT, "p1-c", COMMIT].map((value) => ({ value, partition: 1 })),
    // p2-z has no marker after it: it must never be applied.
    ...["p2-a", COMMIT, "p2-z"].map((value) => ({ value, partition: 2 })),
  ];
  await produceRaw(topic, early);
  await until("the rows of partitions 1 and 2 to be read", () => {
    return run.pipeline.stats().messagesIn >= early.length;
  });
  await pause(QUIET_MS);
  assert.equal(run.sink.batches.length, 0, "no batch is applied before the header is known");

  const late = ["name", "p0-a", COMMIT, "p0-b", COMMIT].map((value) => ({ value, partition: 0 }));
  await produceRaw(topic, late);
  await run.sink.waitFor(5);
  await pause(QUIET_MS);
  await stopCleanly(run);

  const batches = run.sink.batches.map((b) => insertedRows(b).map((r) => r.name));
  assert.deepEqual(
    [...batches].sort(),
    [["p0-a"], ["p0-b"], ["p1-a", "p1-b"], ["p1-c"], ["p2-a"]],
    "one batch per marker, holding exactly its partition's rows since the previous marker",
  );
  const at = (first: string) => batches.findIndex((names) => names[0] === first);
  assert.ok(at("p1-a") < at("p1-c"), "partition 1's batches apply in marker order");
  assert.ok(at("p0-a") < at("p0-b"), "partition 0's batches apply in marker order");
  // tables() throws if a row were inserted twice.
  assert.deepEqual(
    run.sink.tables(),
    cumulative(run.sink.batches.map(insertedRows)),
  );
  assert.deepEqual(
    run.sink.tables().at(-1)!.map((r) => r.name),
    ["p0-a", "p0-b", "p1-a", "p1-b", "p1-c", "p2-a"],
  );
});

Deno.test("rows with no following *COMMIT* are not applied until the marker comes, then applied together", async () => {
  await topicsCreated();
  const topic = topics.uncommitted;
  await using run = startInput({ topicNames: [topic], format: "plaintext" });
  await produceRaw(topic, ["a", COMMIT, "b", "c"]);
  await run.sink.waitFor(1);
  await until("all four messages to be read", () => run.pipeline.stats().messagesIn >= 4);
  await pause(QUIET_MS);
  assert.deepEqual(
    run.sink.tables(),
    [[{ key: null, data: "a" }]],
    "b and c wait for their marker",
  );

  await produceRaw(topic, [COMMIT]);
  await run.sink.waitFor(2);
  await stopCleanly(run);
  assert.deepEqual(run.sink.tables(), [
    [{ key: null, data: "a" }],
    [{ key: null, data: "a" }, { key: null, data: "b" }, { key: null, data: "c" }],
  ]);
  assert.equal(run.sink.batches[1].changes.length, 2, "b and c are applied in one commit");
});

/** Three commits of json rows keyed by `id`. */
const keyedCommits = [
  [{ id: 1, name: "ann", score: 1 }, { id: 2, name: "bob", score: 2 }],
  [{ id: 1, name: "ann", score: 5 }, { id: 3, name: "cy", score: 0 }],
  // The same key twice in one commit: the later row wins.
  [{ id: 2, name: "bob", score: 7 }, { id: 2, name: "bob", score: 9 }],
];
const keyedTables = [
  [{ id: 1, name: "ann", score: 1 }, { id: 2, name: "bob", score: 2 }],
  [{ id: 1, name: "ann", score: 5 }, { id: 2, name: "bob", score: 2 }, {
    id: 3,
    name: "cy",
    score: 0,
  }],
  [{ id: 1, name: "ann", score: 5 }, { id: 2, name: "bob", score: 9 }, {
    id: 3,
    name: "cy",
    score: 0,
  }],
];
const keyedStream = keyedCommits.flatMap((rows) => [...rows.map((r) => JSON.stringify(r)), COMMIT]);

Deno.test("json with primaryKey: a later message with the same key replaces the earlier row", async () => {
  await topicsCreated();
  await produceRaw(topics.upserts, keyedStream);
  await using run = startInput({
    topicNames: [topics.upserts],
    format: "json",
    valueColumns: ["id", "name", "score"],
    primaryKey: ["id"],
  });
  await run.sink.waitFor(3);
  await stopCleanly(run);

  assert.deepEqual(run.sink.tables(), keyedTables);
  const [, second, third] = run.sink.batches;
  assert.deepEqual(
    second.changes.map((c) => [c.row.id, c.row.score, c.diff]).sort(),
    [[1, 1, -1], [1, 5, 1], [3, 0, 1]],
    "ann's old row is retracted and the new one inserted",
  );
  assert.deepEqual(
    third.changes.map((c) => [c.row.score, c.diff]).sort(),
    [[2, -1], [9, 1]],
    "the row replaced within the commit never shows",
  );
  const idOf = (score: number) =>
    run.sink.batches.flatMap((b) => b.changes)
      .find((c) => c.row.score === score)!.id;
  assert.equal(idOf(1), idOf(5), "the same key keeps the same row id");
});

Deno.test("diffColumn: a source reading another pipeline's output (with -1 retractions) rebuilds that pipeline's table", async () => {
  await topicsCreated();
  const upstream = new rw.Pipeline();
  const upstreamSettings = settingsFor(`input-e2e-upstream-${crypto.randomUUID()}`);
  const keyed = rw.kafka.read(upstreamSettings, {
    topicNames: [topics.chainIn],
    format: "json",
    valueColumns: ["id", "name", "score"],
    primaryKey: ["id"],
    pipeline: upstream,
  });
  rw.kafka.write(keyed, upstreamSettings, {
    topicName: topics.chainMid,
    commitMarkers: true,
    pipeline: upstream,
  });
  const upstreamRun = upstream.run();
  await using run = startInput({
    topicNames: [topics.chainMid],
    format: "json",
    valueColumns: ["id", "name", "score"],
    diffColumn: true,
  });
  try {
    await produceRaw(topics.chainIn, keyedStream);
    await run.sink.waitFor(3);
  } finally {
    upstream.stop();
    await upstreamRun;
  }
  await stopCleanly(run);

  assert.deepEqual(run.sink.tables(), keyedTables);
  assert.ok(
    run.sink.batches[1].changes.some((c) => c.diff === -1 && c.row.score === 1),
    "a record with diff -1 retracts the row",
  );
});

Deno.test("one source reads two topics, each csv topic with its own header", async () => {
  await topicsCreated();
  await using run = startInput({
    topicNames: [topics.fruit, topics.vegetables],
    format: "csv",
    valueColumns: ["name", "qty"],
  });
  await produceRaw(topics.fruit, ["name,qty", "apple,1", COMMIT]);
  await run.sink.waitFor(1);
  // The columns in the other order: the header is per topic.
  await produceRaw(topics.vegetables, ["qty,name", "2,leek", COMMIT, "3,kale", COMMIT]);
  await run.sink.waitFor(3);
  await stopCleanly(run);

  assert.deepEqual(run.sink.tables(), [
    [{ name: "apple", qty: "1" }],
    [{ name: "apple", qty: "1" }, { name: "leek", qty: "2" }],
    [{ name: "apple", qty: "1" }, { name: "kale", qty: "3" }, { name: "leek", qty: "2" }],
  ]);
});

Deno.test("commitMode intervalMs applies what has arrived on a stream without markers", async () => {
  await topicsCreated();
  const topic = topics.interval;
  await using run = startInput({
    topicNames: [topic],
    format: "plaintext",
    commitMode: { intervalMs: 200 },
  });
  // One produce request: one fetch, so both rows fall in the same interval.
  await produceRaw(topic, ["a", "b"]);
  await run.sink.waitFor(1);
  await produceRaw(topic, ["c"]);
  await run.sink.waitFor(2);
  await stopCleanly(run);

  assert.deepEqual(run.sink.tables(), [
    [{ key: null, data: "a" }, { key: null, data: "b" }],
    [{ key: null, data: "a" }, { key: null, data: "b" }, { key: null, data: "c" }],
  ]);
});

Deno.test("withMetadata adds a _metadata column in Pathway's shape: offset, partition, topic, timestamp_millis, key, headers", async () => {
  await topicsCreated();
  const topic = topics.metadata;
  const before = Date.now();
  await produceRaw(topic, [
    { value: "hello", key: "greeting", headers: { origin: "e2e", trace: "t1" } },
    COMMIT,
    "bye",
    COMMIT,
  ]);
  const after = Date.now();
  await using run = startInput({ topicNames: [topic], format: "plaintext", withMetadata: true });
  await run.sink.waitFor(2);
  await stopCleanly(run);

  const [[hello], final] = run.sink.tables();
  const bye = final.find((row) => row.data === "bye")!;
  const stamp = (row: rw.Row) => (row._metadata as rw.Row).timestamp_millis as number;
  for (const row of [hello, bye]) {
    assert.ok(
      stamp(row) >= before - 1000 && stamp(row) <= after + 1000,
      `the timestamp is the message's: ${stamp(row)}`,
    );
  }
  assert.deepEqual(hello, {
    key: "greeting",
    data: "hello",
    _metadata: {
      offset: 0,
      partition: 0,
      topic,
      timestamp_millis: stamp(hello),
      key: "greeting",
      headers: [["origin", "e2e"], ["trace", "t1"]],
    },
  });
  assert.deepEqual(bye, {
    key: null,
    data: "bye",
    _metadata: {
      offset: 2,
      partition: 0,
      topic,
      timestamp_millis: stamp(bye),
      key: null,
      headers: [],
    },
  });
});

Deno.test("csv with the header given up front takes the first message as a row", async () => {
  await topicsCreated();
  const topic = topics.headerGiven;
  await produceRaw(topic, ["apple,1", COMMIT, "name,qty", COMMIT]);
  await using run = startInput({
    topicNames: [topic],
    format: "csv",
    valueColumns: ["name", "qty"],
    header: ["name", "qty"],
  });
  await run.sink.waitFor(2);
  await stopCleanly(run);
  assert.deepEqual(run.sink.tables(), [
    [{ name: "apple", qty: "1" }],
    [{ name: "apple", qty: "1" }, { name: "name", qty: "qty" }],
  ]);
});

Deno.test("a csv reader that resumes past the header without saved state says so and names the remedy; with the header given it reads on", async () => {
  await topicsCreated();
  const topic = topics.pastHeader;
  const group = `input-e2e-past-header-${crypto.randomUUID()}`;
  await produceRaw(topic, ["name,qty", "a,1", COMMIT]);
  {
    await using first = startInput({
      topicNames: [topic],
      format: "csv",
      valueColumns: ["name", "qty"],
      group,
    });
    await first.sink.waitFor(1);
    await stopCleanly(first);
  }
  // The group has committed offset 3: a reader without state starts past the header.
  await produceRaw(topic, ["b,2", COMMIT]);
  {
    await using run = startInput({
      topicNames: [topic],
      format: "csv",
      valueColumns: ["name", "qty"],
      group,
    });
    const outcome = await run.ended();
    assert.ok(!outcome.ok && outcome.error instanceof rw.BadInputError, "it stops (default)");
    assert.match(outcome.error.message, new RegExp(`${topic}-0@3\\b`));
    assert.match(outcome.error.message, /started at offset 3, past the header/);
    assert.match(outcome.error.message, /"header" option/);
    assert.equal(outcome.error.issues[0].code, "header_missing");
    assert.deepEqual(run.sink.batches, []);
  }
  await using run = startInput({
    topicNames: [topic],
    format: "csv",
    valueColumns: ["name", "qty"],
    header: ["name", "qty"],
    group,
  });
  await run.sink.waitFor(1);
  await stopCleanly(run);
  assert.deepEqual(run.sink.tables(), [[{ name: "b", qty: "2" }]]);
});

Deno.test("a user format module loaded from a file reads Kafka like a built-in format, bad input included", async () => {
  await topicsCreated();
  const topic = topics.userFormat;
  const format = await rw.loadFormat(
    new URL("../cli/fixtures/pipe_format.ts", import.meta.url).pathname,
  );
  await produceRaw(topic, ["ann|1\nbob|2", COMMIT, "cy", "dee|4", COMMIT]);
  await using run = startInput({
    topicNames: [topic],
    format,
    valueColumns: ["name", "qty"],
    errorPolicy: "skip",
  });
  await run.sink.waitFor(2);
  await stopCleanly(run);
  assert.deepEqual(run.sink.tables(), [
    [{ name: "ann", qty: "1" }, { name: "bob", qty: "2" }],
    [{ name: "ann", qty: "1" }, { name: "bob", qty: "2" }, { name: "dee", qty: "4" }],
  ]);
  assert.equal(run.pipeline.stats().badInput, 1);
  assert.match(run.logger.problems()[0].message, new RegExp(`${topic}-0@2\\b.*expected 2 fields`));
});

/** A transform whose user function throws on one row (n = 0). */
const inverse = (table: rw.Table<rw.Row>) =>
  (table as unknown as rw.Table<{ n: number }>).select({
    n: "n",
    inverse: rw.apply((n: number) => {
      if (n === 0) throw new Error("Cannot invert 0");
      return 1 / n;
    }, "n"),
  }) as unknown as rw.Table<rw.Row>;

const inverseStream = ['{"n":1}', '{"n":0}', '{"n":4}', COMMIT, '{"n":5}', COMMIT];

Deno.test("a user function that throws on a row sends that row's message to the dead-letter topic; the rest of its commit applies", async () => {
  await topicsCreated();
  const topic = topics.userFunction;
  await produceRaw(topic, inverseStream);
  await using run = startInput({
    topicNames: [topic],
    format: "json",
    valueColumns: ["n"],
    errorPolicy: "dead-letter",
    deadLetterTopic: topics.userFunctionDeadLetters,
    transform: inverse,
  });
  await run.sink.waitFor(2);
  await stopCleanly(run);

  assert.deepEqual(run.sink.tables(), [
    [{ n: 1, inverse: 1 }, { n: 4, inverse: 0.25 }],
    [{ n: 1, inverse: 1 }, { n: 4, inverse: 0.25 }, { n: 5, inverse: 0.2 }],
  ]);
  assert.equal(run.pipeline.stats().deadLettered, 1);
  const letters = await consumeRaw(topics.userFunctionDeadLetters, { count: 1 });
  assert.equal(new TextDecoder().decode(letters[0].value), '{"n":0}');
  assert.equal(letters[0].headers["rivulet-offset"], "1");
  assert.match(letters[0].headers["rivulet-error"], new RegExp(`${topic}-0@1\\b.*Cannot invert 0`));
  assert.deepEqual(await committedOffsets(run.group, topic), ["6"]);
});

Deno.test("a user function that throws under the stop policy stops naming the row's message and commits nothing past it", async () => {
  await topicsCreated();
  const topic = topics.userFunctionStop;
  await produceRaw(topic, inverseStream);
  await using run = startInput({
    topicNames: [topic],
    format: "json",
    valueColumns: ["n"],
    transform: inverse,
  });
  const outcome = await run.ended();

  assert.ok(!outcome.ok && outcome.error instanceof rw.BadInputError, `${outcome}`);
  assert.match(outcome.error.message, new RegExp(`${topic}-0@1\\b.*Cannot invert 0`));
  assert.equal(outcome.error.issues[0].code, "user_function");
  assert.deepEqual(run.sink.batches, [], "the commit holding the row is not applied");
  assert.deepEqual(await committedOffsets(run.group, topic), ["-1"], "nothing is committed");
});

// ---------------------------------------------------------------------------
// Bad input: each kind under each policy.

interface BadInputCase {
  readonly kind: string;
  readonly format: "csv" | "json";
  /** The csv header message, if the format has one. */
  readonly header?: string;
  /** Three good messages and the rows they give. */
  readonly good: readonly [string, string, string];
  readonly rows: readonly [rw.Row, rw.Row, rw.Row];
  readonly bad: Uint8Array;
  readonly code: string;
  /** Words the reason must contain. */
  readonly reason: RegExp;
}

const text = (s: string) => new TextEncoder().encode(s);

const badInputCases: readonly BadInputCase[] = [
  {
    kind: "malformed csv",
    format: "csv",
    header: "name,qty",
    good: ["a,1", "b,2", "c,3"],
    rows: [{ name: "a", qty: "1" }, { name: "b", qty: "2" }, { name: "c", qty: "3" }],
    bad: text("x,1,surplus"),
    code: "malformed",
    reason: /field/i,
  },
  {
    kind: "malformed json",
    format: "json",
    good: ['{"name":"a","qty":1}', '{"name":"b","qty":2}', '{"name":"c","qty":3}'],
    rows: [{ name: "a", qty: 1 }, { name: "b", qty: 2 }, { name: "c", qty: 3 }],
    bad: text('{"name":"x","qty":'),
    code: "malformed",
    reason: /json/i,
  },
  {
    kind: "a missing column",
    format: "json",
    good: ['{"name":"a","qty":1}', '{"name":"b","qty":2}', '{"name":"c","qty":3}'],
    rows: [{ name: "a", qty: 1 }, { name: "b", qty: 2 }, { name: "c", qty: 3 }],
    bad: text('{"name":"x","price":4}'),
    code: "missing_column",
    reason: /"qty"/,
  },
  {
    kind: "invalid UTF-8",
    format: "csv",
    header: "name,qty",
    good: ["a,1", "b,2", "c,3"],
    rows: [{ name: "a", qty: "1" }, { name: "b", qty: "2" }, { name: "c", qty: "3" }],
    bad: new Uint8Array([0x78, 0x2c, 0xff, 0xfe, 0x31]),
    code: "invalid_utf8",
    reason: /utf-8/i,
  },
];

/** A fresh topic holding: [header], good 1, marker, BAD, good 2, marker, good 3, marker. */
function badInputTopic(c: BadInputCase, policy: rw.ErrorPolicy) {
  const topic = uniqueTopic(`input-bad-${c.kind.replaceAll(/[^a-z0-9]+/gi, "-")}-${policy}`);
  badTopics.push(topic);
  const records: (string | RawRecord)[] = [
    ...(c.header === undefined ? [] : [c.header]),
    c.good[0],
    COMMIT,
    { value: c.bad, key: "bad-key", headers: { trace: "t-1" } },
    c.good[1],
    COMMIT,
    c.good[2],
    COMMIT,
  ];
  const badOffset = String(c.header === undefined ? 2 : 3);
  return { topic, records, badOffset, end: String(records.length) };
}

const goodTables = (c: BadInputCase) => cumulative([[c.rows[0]], [c.rows[1]], [c.rows[2]]]);

for (const c of badInputCases) {
  const stopCase = badInputTopic(c, "stop");
  Deno.test(`${c.kind} under the stop policy stops naming topic, partition and offset, and commits nothing past it`, async () => {
    await topicsCreated();
    const { topic, records, badOffset } = stopCase;
    await produceRaw(topic, records);
    await using run = startInput({
      topicNames: [topic],
      format: c.format,
      valueColumns: ["name", "qty"],
      errorPolicy: "stop",
    });
    const outcome = await run.ended();

    assert.ok(!outcome.ok, "the pipeline stops by itself with an error");
    const error = outcome.error;
    assert.ok(error instanceof rw.BadInputError, `a BadInputError, not ${error}`);
    assert.match(error.message, new RegExp(`${topic}-0@${badOffset}\\b`));
    assert.match(error.message, c.reason);
    assert.equal(error.issues[0].code, c.code);
    assert.deepEqual(error.issues[0].location, { topic, partition: 0, offset: badOffset });
    assert.deepEqual(run.sink.tables(), [[c.rows[0]]], "the commit before the bad message holds");
    assert.deepEqual(
      await committedOffsets(run.group, topic),
      [badOffset],
      "the group resumes at the bad message",
    );
  });

  const skipCase = badInputTopic(c, "skip");
  Deno.test(`${c.kind} under the skip policy is counted, logged with its location, and the rest applied`, async () => {
    await topicsCreated();
    const { topic, records, badOffset, end } = skipCase;
    await produceRaw(topic, records);
    await using run = startInput({
      topicNames: [topic],
      format: c.format,
      valueColumns: ["name", "qty"],
      errorPolicy: "skip",
    });
    await run.sink.waitFor(3);
    await stopCleanly(run);

    assert.deepEqual(run.sink.tables(), goodTables(c));
    assert.equal(run.pipeline.stats().badInput, 1);
    assert.equal(run.pipeline.stats().deadLettered, 0);
    const logged = run.logger.problems().filter((l) => l.message.includes(`${topic}-0@`));
    assert.equal(logged.length, 1, `one log line: ${JSON.stringify(run.logger.lines)}`);
    assert.match(logged[0].message, new RegExp(`${topic}-0@${badOffset}\\b`));
    assert.match(logged[0].message, c.reason);
    assert.match(logged[0].message, /skipped/);
    assert.deepEqual(await committedOffsets(run.group, topic), [end], "reading moved past it");
  });

  const deadLetterCase = badInputTopic(c, "dead-letter");
  const deadLetterTopic = `${deadLetterCase.topic}.dlq`;
  badTopics.push(deadLetterTopic);
  Deno.test(`${c.kind} under the dead-letter policy goes to the dead-letter topic with its original bytes and the reason`, async () => {
    await topicsCreated();
    const { topic, records, badOffset, end } = deadLetterCase;
    await produceRaw(topic, records);
    await using run = startInput({
      topicNames: [topic],
      format: c.format,
      valueColumns: ["name", "qty"],
      errorPolicy: "dead-letter",
      deadLetterTopic,
    });
    await run.sink.waitFor(3);
    await stopCleanly(run);

    assert.deepEqual(run.sink.tables(), goodTables(c));
    assert.equal(run.pipeline.stats().badInput, 1);
    assert.equal(run.pipeline.stats().deadLettered, 1);
    assert.equal(await topicEnd(deadLetterTopic), "1", "exactly one dead letter");
    const [letter] = await consumeRaw(deadLetterTopic, { count: 1 });
    assert.deepEqual(letter.value, c.bad, "the original bytes");
    assert.equal(letter.key, "bad-key");
    const { "rivulet-error": reason, "rivulet-timestamp": timestamp, ...headers } = letter.headers;
    assert.match(reason, new RegExp(`${topic}-0@${badOffset}\\b`));
    assert.match(reason, c.reason);
    assert.match(timestamp, /^\d+$/);
    assert.deepEqual(headers, {
      trace: "t-1",
      "rivulet-topic": topic,
      "rivulet-partition": "0",
      "rivulet-offset": badOffset,
    });
    assert.deepEqual(await committedOffsets(run.group, topic), [end], "reading moved past it");
  });
}
