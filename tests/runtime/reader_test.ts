/**
 * The source reader on its own, without a broker: the cases of the input
 * tests that need exact control over which messages arrive together.
 * (Unit tests; they sit here because this folder's input_* files are where
 * the reader's owner writes tests.)
 */
import assert from "node:assert/strict";
import { csv } from "../../formats/csv.ts";
import { json } from "../../formats/json.ts";
import type { FormatOptions } from "../../formats/format.ts";
import type { DeadLetterSink, ErrorPolicy, SourceMessage } from "../../connectors/types.ts";
import { BadInputError } from "../../engine/errors.ts";
import { hashValues } from "../../engine/mod.ts";
import {
  type ClosedBatch,
  DEFAULT_MAX_MESSAGE_BYTES,
  isCommitMarker,
  SourceReader,
  UpdateKind,
} from "../../runtime/reader.ts";
import { RecordingLogger } from "../e2e/input_harness.ts";

const topic = "orders";
const COMMIT = "*COMMIT*";

/** Messages of one partition from `offset` on. */
function messages(partition: number, offset: number, values: string[]): SourceMessage[] {
  return values.map((value, i) => ({
    topic,
    partition,
    offset: String(offset + i),
    timestamp: String(1_700_000_000_000 + offset + i),
    key: null,
    value: new TextEncoder().encode(value),
    headers: {},
  }));
}

function reader(options: {
  format: typeof csv;
  formatOptions: FormatOptions;
  errorPolicy?: ErrorPolicy;
  primaryKey?: string[];
  diffColumn?: boolean;
  maxMessageBytes?: number;
  deadLetter?: DeadLetterSink;
}) {
  const logger = new RecordingLogger();
  const sourceReader = new SourceReader({
    name: "kafka:orders",
    errorPolicy: "skip",
    logger,
    ...options,
  });
  return { reader: sourceReader, logger };
}

Deno.test("a bad csv header ends the wait of other partitions' rows: they are reported, not kept", () => {
  const { reader: r, logger } = reader({ format: csv, formatOptions: { valueColumns: ["a"] } });
  assert.deepEqual(r.accept(messages(1, 0, ["1", "*COMMIT*"])), []);
  assert.equal(r.openRows, 2, "partition 1 waits for the header");

  const closed = r.accept(messages(0, 0, ["a,a"]));
  assert.equal(r.openRows, 0, "nothing waits for a header that will not come");
  assert.equal(r.counters.badInput, 2, "the header and the waiting row are both bad input");
  assert.match(
    logger.problems()[1].message,
    /orders-1@0\b.*csv header of topic "orders".*is invalid/,
  );
  assert.deepEqual(
    closed.map((b: ClosedBatch) => [b.partition, b.updates.length, b.nextOffset]),
    [[1, 0, "2"]],
    "partition 1's marker still closes its (empty) batch, so its offset moves on",
  );
});

Deno.test("interval mode closes a partition that only had skipped bad input, so its offset moves on", () => {
  const { reader: r } = reader({ format: json, formatOptions: { valueColumns: ["id"] } });
  r.accept(messages(0, 0, ['{"id":']));
  const [batch, ...rest] = r.closeAll();
  assert.equal(rest.length, 0);
  assert.deepEqual([batch.updates.length, batch.nextOffset], [0, "1"]);
  assert.deepEqual(r.closeAll(), [], "nothing new, nothing to close");

  r.accept(messages(0, 1, ['{"id":1}']));
  assert.deepEqual(
    r.closeAll().map((b) => [b.updates.length, b.nextOffset]),
    [[1, "2"]],
  );
});

Deno.test('diffColumn reads csv\'s text diffs: "1" inserts, "-1" retracts, anything else is bad input', () => {
  const { reader: r, logger } = reader({
    format: csv,
    formatOptions: { valueColumns: ["name", "diff"], header: ["name", "diff"] },
    primaryKey: ["name"],
    diffColumn: true,
  });
  const [batch] = r.accept(messages(0, 0, ["ann,1\nbob,1", "ann,-1", "cy,2", "*COMMIT*"]));
  assert.deepEqual(
    batch.updates.map((u) => [u.kind, u.row.name, Object.hasOwn(u.row, "diff")]),
    [
      [UpdateKind.Upsert, "ann", false],
      [UpdateKind.Upsert, "bob", false],
      [UpdateKind.Remove, "ann", false],
    ],
  );
  assert.equal(r.counters.badInput, 1);
  assert.match(logger.problems()[0].message, /orders-0@2\b.*must be 1 or -1, not "2"/);
});

Deno.test("withMetadata with diffColumn needs a primary key: an unkeyed retraction could never match", () => {
  const options = {
    name: "kafka:orders",
    format: json,
    formatOptions: { valueColumns: ["id", "diff"] },
    errorPolicy: "stop" as const,
    logger: new RecordingLogger(),
    withMetadata: true,
    diffColumn: true,
  };
  assert.throws(
    () => new SourceReader(options),
    /"kafka:orders" cannot combine withMetadata and diffColumn without a primaryKey/,
  );
  const keyed = new SourceReader({ ...options, primaryKey: ["id"] });
  const [batch] = keyed.accept(messages(0, 0, ['{"id":1,"diff":1}', '{"id":1,"diff":-1}', COMMIT]));
  assert.deepEqual(batch.updates.map((u) => u.kind), [UpdateKind.Upsert, UpdateKind.Remove]);
});

Deno.test("a commit marker is *COMMIT* alone, surrounding white space (ASCII or Unicode) ignored", () => {
  const bytes = (text: string) => new TextEncoder().encode(text);
  for (const marker of ["*COMMIT*", " *COMMIT*\r\n", "\t*COMMIT* ", "\u00a0*COMMIT*\u2003"]) {
    assert.ok(isCommitMarker(bytes(marker)), JSON.stringify(marker));
  }
  for (
    const other of ["*COMMIT", "*commit*", "*COMMIT**", "x *COMMIT*", "*COMMIT* x", "é*COMMIT*", ""]
  ) {
    assert.ok(!isCommitMarker(bytes(other)), JSON.stringify(other));
  }
  assert.ok(!isCommitMarker(null));
});

/** Four messages on partition 0: 1, a 40-byte value, 2, *COMMIT*. */
const withLargeMessage = () => messages(0, 0, ["1", "9".repeat(40), "2", COMMIT]);

Deno.test("a message over maxMessageBytes is bad input under stop: the error names it, too_large", () => {
  const { reader: r } = reader({
    format: csv,
    formatOptions: { header: ["a"] },
    errorPolicy: "stop",
    maxMessageBytes: 32,
  });
  assert.throws(() => r.accept(withLargeMessage()), (error: unknown) => {
    assert.ok(error instanceof BadInputError);
    assert.equal(error.issues[0].code, "too_large");
    assert.match(error.message, /orders-0@1\b.*40 bytes, over the limit of 32 bytes/);
    return true;
  });
});

Deno.test("a message over maxMessageBytes is skipped under skip, counted, and the rest applied", () => {
  const { reader: r, logger } = reader({
    format: csv,
    formatOptions: { header: ["a"] },
    errorPolicy: "skip",
    maxMessageBytes: 32,
  });
  const closed = r.accept(withLargeMessage());
  assert.deepEqual(closed[0].updates.map((u) => u.row.a), ["1", "2"]);
  assert.equal(closed[0].nextOffset, "4");
  assert.equal(r.counters.badInput, 1);
  assert.match(logger.problems()[0].message, /orders-0@1\b.*over the limit.*skipped/);
});

Deno.test("a message over maxMessageBytes goes to the dead-letter sink, whole, under dead-letter", async () => {
  const sent: { message: SourceMessage; reason: string }[] = [];
  const deadLetter: DeadLetterSink = {
    send(message, reason) {
      sent.push({ message, reason });
      return Promise.resolve();
    },
    close: () => Promise.resolve(),
  };
  const { reader: r } = reader({
    format: csv,
    formatOptions: { header: ["a"] },
    errorPolicy: "dead-letter",
    deadLetter,
    maxMessageBytes: 32,
  });
  const closed = r.accept(withLargeMessage());
  await r.deadLettersAcknowledged();
  assert.deepEqual(closed[0].updates.map((u) => u.row.a), ["1", "2"]);
  assert.equal(sent.length, 1);
  assert.equal(sent[0].message.offset, "1");
  assert.equal(new TextDecoder().decode(sent[0].message.value!), "9".repeat(40));
  assert.match(sent[0].reason, /too_large|over the limit/);
  assert.equal(r.counters.deadLettered, 1);
});

Deno.test("the default limit is Kafka's message.max.bytes: a message of exactly that size passes", () => {
  assert.equal(DEFAULT_MAX_MESSAGE_BYTES, 1_048_588);
  const { reader: r } = reader({
    format: csv,
    formatOptions: { header: ["a"] },
    errorPolicy: "stop",
  });
  const at = messages(0, 0, ["x".repeat(DEFAULT_MAX_MESSAGE_BYTES), COMMIT]);
  assert.equal(r.accept(at)[0].updates.length, 1);
  const over = messages(0, 2, ["x".repeat(DEFAULT_MAX_MESSAGE_BYTES + 1), COMMIT]);
  assert.throws(() => r.accept(over), /over the limit of 1048588 bytes/);
});

Deno.test("keyAsRowId: one id per key, a tombstone removes it; it excludes primaryKey and diffColumn", () => {
  const logger = new RecordingLogger();
  const options = {
    name: "kafka:users",
    format: json,
    formatOptions: { valueColumns: ["v"] },
    errorPolicy: "skip" as const,
    logger,
    keyAsRowId: true,
  };
  const keyed = (key: string | null, value: string | null, offset: number): SourceMessage => ({
    topic,
    partition: 0,
    offset: String(offset),
    timestamp: "0",
    key: key === null ? null : new TextEncoder().encode(key),
    value: value === null ? null : new TextEncoder().encode(value),
    headers: {},
  });
  const [batch] = new SourceReader(options).accept([
    keyed("a", '{"v":1}', 0),
    keyed("a", null, 1),
    keyed(null, null, 2),
    keyed("a", '{"v":2}', 3),
    keyed(null, "*COMMIT*", 4),
  ]);
  assert.deepEqual(batch.updates.map((u) => u.kind), [
    UpdateKind.Upsert,
    UpdateKind.Remove,
    UpdateKind.Upsert,
  ]);
  assert.equal(new Set(batch.updates.map((u) => u.id)).size, 1, "the key is the id");
  assert.match(logger.problems()[0].message, /-0@2: a tombstone without a key names no row/);
  assert.throws(
    () => new SourceReader({ ...options, primaryKey: ["v"] }),
    /cannot have both keyAsRowId and a primaryKey/,
  );
  assert.throws(
    () => new SourceReader({ ...options, diffColumn: true }),
    /cannot combine keyAsRowId and diffColumn/,
  );
});

Deno.test("keyColumns decode the key with the source's format: a csv key's fields in order", () => {
  const logger = new RecordingLogger();
  const message = (key: string | null, value: string, offset: number): SourceMessage => ({
    topic,
    partition: 0,
    offset: String(offset),
    timestamp: "0",
    key: key === null ? null : new TextEncoder().encode(key),
    value: new TextEncoder().encode(value),
    headers: {},
  });
  const [batch] = new SourceReader({
    name: "kafka:sales",
    format: csv,
    formatOptions: { valueColumns: ["qty"], header: ["qty"] },
    errorPolicy: "skip",
    logger,
    keyColumns: ["id", "region"],
  }).accept([
    message("7,eu", "3", 0),
    message(null, "4", 1),
    message("8", "5", 2),
    message(null, "*COMMIT*", 3),
  ]);
  assert.deepEqual(batch.updates.map((u) => u.row), [{ qty: "3", id: "7", region: "eu" }]);
  const problems = logger.problems().map((line) => line.message);
  assert.match(problems[0], /-0@1: the message has no key, but key columns are read from it/);
  assert.match(problems[1], /-0@2: the message key: Row 1 of the message has 1 field/);
});

Deno.test("unkeyed row ids are the partition's prefix, the offset in 12 hex digits and the row's index in 4", () => {
  // Ids are saved in checkpoints and must be the same on a replay: the fast
  // path for first rows (cached high digits) gives the ids of the plain formula.
  const { reader: r } = reader({ format: json, formatOptions: { valueColumns: ["a"] } });
  const prefix = hashValues([topic, 3]).slice(0, 16);
  const expected = (offset: number, index: number) =>
    prefix + offset.toString(16).padStart(12, "0") + index.toString(16).padStart(4, "0");
  const offsets = [
    0,
    1,
    0xfffe,
    0xffff,
    0x10000,
    0x10001,
    0x1ffff,
    2 ** 32 - 1,
    2 ** 32,
    2 ** 40 + 5,
  ];
  for (let i = 0; i < 300; i++) offsets.push(Math.floor(Math.random() * 2 ** 47));
  for (const offset of offsets) {
    const [batch] = r.accept(messages(3, offset, ['{"a":1}\n{"a":2}', '{"a":3}', COMMIT]));
    assert.deepEqual(batch.updates.ids, [
      expected(offset, 0),
      expected(offset, 1),
      expected(offset + 1, 0),
    ]);
  }
  // Beyond 2^48 the offset does not fit: a hash.
  const [far] = r.accept(messages(3, 2 ** 48, ['{"a":1}', COMMIT]));
  assert.equal(far.updates.ids[0], hashValues([topic, 3, String(2 ** 48), 0]));
});
