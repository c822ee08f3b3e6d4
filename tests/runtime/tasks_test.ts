/**
 * Tasks and fragments without a broker: a fragment is applied once however
 * often it is sent, a large one is cut into parts and applied when the last
 * arrives, a checkpoint taken while parts are missing resumes before them,
 * and an input task drops messages it already took.
 */
import assert from "node:assert/strict";
import { json } from "../../formats/json.ts";
import { silentLogger, type SourceMessage } from "../../connectors/types.ts";
import { reducers, type Row, type Table } from "../../mod.ts";
import {
  decodeFragment,
  encodeFragment,
  type FragmentChange,
  FragmentFormatError,
} from "../../runtime/tasks/fragment.ts";
import { Task, type TaskCommit } from "../../runtime/tasks/task.ts";

const encoder = new TextEncoder();

function message(topic: string, partition: number, offset: number, value: Uint8Array | string) {
  return {
    topic,
    partition,
    offset: String(offset),
    timestamp: String(1_000 + offset),
    key: null,
    value: typeof value === "string" ? encoder.encode(value) : value,
    headers: {},
  } satisfies SourceMessage;
}

/** Groups by `cat` and sums `v`: stage 1 of the transform is the group-by. */
const build = (input: Table<Row>) =>
  (input as Table<{ cat: string; v: number }>).groupby("cat").reduce({
    cat: "cat",
    total: reducers.sum("v"),
  }) as unknown as Table<Row>;

function task(stage: number, id = stage === 0 ? "in:0" : "rep-1:0") {
  const [topic, partition] = id.split(":");
  return new Task({
    id,
    topic,
    partition: Number(partition),
    stage,
    build,
    inputName: "in",
    keyed: false,
    reader: {
      name: "in",
      format: json,
      formatOptions: { valueColumns: ["cat", "v"] },
      errorPolicy: "stop",
      logger: silentLogger,
    },
    onUserFunctionError: (error) => {
      throw error;
    },
  });
}

/** The rows a task's outputs leave, by id. */
function applyOutputs(table: Map<string, Row>, commits: readonly TaskCommit[]): void {
  for (const { output } of commits) {
    for (const change of output?.changes ?? []) {
      if (change.diff > 0) table.set(change.id, change.row);
      else table.delete(change.id);
    }
  }
}

/** The exchanged changes of stage-0 commits as one fragment's changes. */
function fragmentChanges(commits: readonly TaskCommit[]): FragmentChange[] {
  return commits.flatMap((commit) =>
    commit.exchanged.flatMap(({ index, changes }) =>
      changes.map((c) => [index, c.id, c.row, c.diff] as FragmentChange)
    )
  );
}

Deno.test("an input task applies each closed batch as one commit, exchanges its rows and drops messages it took already", () => {
  const input = task(0);
  input.restore(undefined, 0);
  const first = input.accept([
    message("in", 0, 0, '{"cat":"a","v":1}'),
    message("in", 0, 1, '{"cat":"b","v":2}'),
    message("in", 0, 2, "*COMMIT*"),
  ]);
  assert.equal(first.length, 1);
  assert.equal(first[0].seq, 3, "the commit's number is the offset its input resumes at");
  assert.equal(first[0].output, undefined, "the group-by runs in stage 1, not here");
  assert.equal(fragmentChanges(first).length, 2);
  // A consumer that restarted hands over offsets 1 and 2 again, then new ones.
  const again = input.accept([
    message("in", 0, 1, '{"cat":"b","v":2}'),
    message("in", 0, 2, "*COMMIT*"),
    message("in", 0, 3, '{"cat":"a","v":5}'),
    message("in", 0, 4, "*COMMIT*"),
  ]);
  assert.equal(again.length, 1, "only the new batch");
  assert.deepEqual(fragmentChanges(again).map(([, , row]) => row), [{ cat: "a", v: 5 }]);
});

Deno.test("a fragment sent again is applied once", () => {
  const group = task(1);
  group.restore(undefined, 0);
  const changes: FragmentChange[] = [[0, "r1", { cat: "a", v: 1 }, 1], [0, "r2", {
    cat: "a",
    v: 2,
  }, 1]];
  const [value] = encodeFragment("in:0", 3, 1_003, changes);
  const table = new Map<string, Row>();
  applyOutputs(table, group.accept([message("rep-1", 0, 0, value)]));
  applyOutputs(table, group.accept([message("rep-1", 0, 1, value)]));
  const more = encodeFragment("in:0", 5, 1_005, [[0, "r3", { cat: "a", v: 4 }, 1]])[0];
  applyOutputs(table, group.accept([message("rep-1", 0, 2, more)]));
  assert.deepEqual([...table.values()], [{ cat: "a", total: 7 }]);
});

Deno.test("a large fragment is cut into parts; a checkpoint while parts are missing resumes before them", () => {
  const changes: FragmentChange[] = Array.from(
    { length: 400 },
    (_, i) => [0, `r${i}`, { cat: `c${i % 4}`, v: i }, 1] as FragmentChange,
  );
  const parts = encodeFragment("in:0", 10, 2_000, changes, 2_000);
  assert.ok(parts.length > 2, `${parts.length} parts`);
  const decoded = parts.map((part, i) => decodeFragment(part, `part ${i}`));
  assert.deepEqual(decoded.flatMap((p) => p.changes), changes);
  assert.ok(decoded.every((p, i) => p.part === i && p.parts === parts.length && p.seq === 10));

  const group = task(1);
  group.restore(undefined, 0);
  const other = encodeFragment("in:1", 4, 1_500, [[0, "x", { cat: "c0", v: 1_000 }, 1]])[0];
  const messages = [
    message("rep-1", 0, 0, parts[0]),
    message("rep-1", 0, 1, other),
    ...parts.slice(1).map((part, i) => message("rep-1", 0, i + 2, part)),
  ];
  const table = new Map<string, Row>();
  // Everything up to the second-to-last part: the other sender's fragment applies, ours waits.
  const early = group.accept(messages.slice(0, -1));
  assert.equal(early.length, 1);
  applyOutputs(table, early);
  const saved = group.checkpoint();
  assert.equal(saved.position, "0", "resumes at the first part of the fragment being assembled");

  const restored = task(1);
  restored.restore(saved.entries, 0);
  const resumed = restored.accept(messages);
  assert.equal(resumed.length, 1, "the other sender's fragment is not applied twice");
  applyOutputs(table, resumed);
  const expected = new Map<string, number>([["c0", 1_000]]);
  for (const [, , row] of changes) {
    const { cat, v } = row as { cat: string; v: number };
    expected.set(cat, (expected.get(cat) ?? 0) + v);
  }
  assert.deepEqual(
    new Map([...table.values()].map((row) => [row.cat as string, row.total as number])),
    expected,
  );
});

Deno.test("a record that is not a fragment is refused naming where it is; a task refuses another task's state", () => {
  assert.throws(
    () => decodeFragment(encoder.encode("hello"), "Record rep-1-0@7"),
    (error) => error instanceof FragmentFormatError && /Record rep-1-0@7/.test(error.message),
  );
  const one = task(1, "rep-1:0");
  one.restore(undefined, 0);
  const { entries: state } = one.checkpoint();
  assert.throws(() => task(1, "rep-1:1").restore(state, 0), /saved state of task rep-1:1/);
});
