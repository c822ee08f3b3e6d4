/**
 * The multi-instance tests' output checker (`checkTotalsOutput`) on synthetic
 * output logs, no broker: a log written by applying whole fragments passes,
 * and a repeat, a torn fragment, a lost or double-applied fragment, a state
 * that goes back, a non-exact repeat and a key on the wrong partition are each
 * reported.
 */
import assert from "node:assert/strict";
import { keyPartition } from "../../connectors/kafka/murmur2.ts";
import type { PartitionRecord } from "./fixtures/crash_harness.ts";
import { checkTotalsOutput, TotalsInput } from "./fixtures/instances_harness.ts";

const outputPartitions = 3;
const input = new TotalsInput({ partitions: 3, commitsPerPartition: 4, cats: 5 });

/** The fragments of the input, in its order: the rows of one cat in one commit. */
interface Fragment {
  readonly partition: number;
  readonly cat: string;
  readonly v: number;
  readonly rows: number;
}

function fragmentsOf(source: TotalsInput): Fragment[] {
  const fragments: Fragment[] = [];
  const open = new Map<number, Map<string, { v: number; rows: number }>>();
  for (const message of source.messages) {
    const rows = open.get(message.partition) ?? new Map();
    open.set(message.partition, rows);
    if (message.value === "*COMMIT*") {
      for (const [cat, f] of rows) fragments.push({ partition: message.partition, cat, ...f });
      rows.clear();
      continue;
    }
    const row = JSON.parse(message.value);
    const f = rows.get(row.cat) ?? { v: row.v, rows: 0 };
    f.rows++;
    rows.set(row.cat, f);
  }
  return fragments;
}

/** An output log as a serial pipeline writes it: per applied fragment, the cat row's and the global row's changes. */
class LogWriter {
  readonly records: PartitionRecord[] = [];
  readonly #offsets = new Map<number, number>();
  readonly #cats = new Map<string, { rows: number; total: number }>();
  #time = 0;

  apply(fragment: Fragment, rows = fragment.rows): void {
    this.#time++;
    const before = this.#cats.get(fragment.cat);
    const after = {
      rows: (before?.rows ?? 0) + rows,
      total: (before?.total ?? 0) + rows * fragment.v,
    };
    const allBefore = this.#all();
    this.#cats.set(fragment.cat, after);
    const allAfter = this.#all();
    const catRow = (r: { rows: number; total: number }) => ({
      table: "cat",
      cat: fragment.cat,
      groups: 1,
      ...r,
    });
    if (before !== undefined) this.write(`cat-${fragment.cat}`, catRow(before), -1);
    this.write(`cat-${fragment.cat}`, catRow(after), 1);
    if (allBefore !== undefined) this.write("all", allBefore, -1);
    this.write("all", allAfter!, 1);
  }

  /** Writes one change of `key` at the current time. */
  write(key: string, row: Record<string, unknown>, diff: number, time = this.#time): void {
    const partition = keyPartition(new TextEncoder().encode(key), outputPartitions);
    const offset = this.#offsets.get(partition) ?? 0;
    this.#offsets.set(partition, offset + 1);
    this.records.push({
      partition,
      offset,
      key,
      value: JSON.stringify({ ...row, diff, time }),
    });
  }

  #all(): Record<string, unknown> | undefined {
    if (this.#cats.size === 0) return undefined;
    let rows = 0;
    let total = 0;
    for (const c of this.#cats.values()) {
      rows += c.rows;
      total += c.total;
    }
    return { table: "all", cat: null, groups: this.#cats.size, rows, total };
  }
}

function check(records: PartitionRecord[], repeats: "drop" | "forbid" = "drop") {
  return checkTotalsOutput(records, { input, repeats, outputPartitions });
}

function writeAll(edit?: (writer: LogWriter, fragment: Fragment, index: number) => boolean) {
  const writer = new LogWriter();
  fragmentsOf(input).forEach((fragment, index) => {
    if (edit?.(writer, fragment, index) !== true) writer.apply(fragment);
  });
  return writer;
}

Deno.test("the checker passes a log of whole fragments and rebuilds the expected table", () => {
  const result = check(writeAll().records);
  assert.deepEqual(result.problems, []);
  assert.equal(result.table, input.expectedText);
  assert.equal(result.repeats, 0);
  assert.equal(result.globalStates, fragmentsOf(input).length);
});

Deno.test("the checker drops exact repeats at-least-once and reports them exactly-once", () => {
  const writer = writeAll();
  // A replay after a crash: the changes of the last ten fragments written again, exactly.
  const replayed = writer.records.slice(-40).map((r) => r.value);
  const keys = writer.records.slice(-40).map((r) => r.key);
  const again = new LogWriter();
  const records = [...writer.records];
  replayed.forEach((value, i) => {
    const { diff, time, ...row } = JSON.parse(value);
    again.write(keys[i], row, diff, time);
  });
  const offsets = new Map<number, number>();
  for (const r of records) offsets.set(r.partition, Math.max(offsets.get(r.partition)!, r.offset));
  for (const r of again.records) {
    const offset = (offsets.get(r.partition) ?? -1) + 1;
    offsets.set(r.partition, offset);
    records.push({ ...r, offset });
  }
  const dropped = check(records, "drop");
  assert.deepEqual(dropped.problems, []);
  assert.equal(dropped.repeats, 40);
  const forbidden = check(records, "forbid");
  assert.equal(forbidden.repeats, 40);
  assert.equal(
    forbidden.problems.filter((p) => /a repeat of an earlier record/.test(p)).length,
    40,
  );
});

Deno.test("the checker reports a fragment applied in two parts (torn) at the cat row and the global row", () => {
  const writer = writeAll((w, fragment, index) => {
    if (index !== 7) return false;
    w.apply(fragment, 1);
    w.apply({ ...fragment, rows: fragment.rows - 1 });
    return true;
  });
  const result = check(writer.records);
  const torn = result.problems.filter((p) => /torn fragment/.test(p));
  assert.equal(torn.length, 2, result.problems.join("\n"));
  assert.ok(torn.some((p) => /"table":"cat"/.test(p)), "the cat row shows the tear");
  assert.ok(torn.some((p) => /"table":"all"/.test(p)), "the global row shows the tear");
  // The table in the end is right: only the state in between shows the tear.
  assert.equal(result.table, input.expectedText);
});

Deno.test("the checker reports a lost row and a lost fragment in the final table", () => {
  const lostRow = writeAll((w, fragment, index) => {
    if (index !== 20) return false;
    w.apply(fragment, fragment.rows - 1);
    return true;
  });
  const rowResult = check(lostRow.records);
  assert.ok(rowResult.problems.some((p) => /the rebuilt table differs/.test(p)));
  assert.ok(rowResult.problems.some((p) => /torn fragment/.test(p)));

  const lostFragment = writeAll((_, __, index) => index === 20);
  const fragmentResult = check(lostFragment.records);
  assert.equal(fragmentResult.problems.length, 1, fragmentResult.problems.join("\n"));
  assert.match(fragmentResult.problems[0], /the rebuilt table differs: missing/);
});

Deno.test("the checker reports a fragment applied twice", () => {
  const writer = writeAll((w, fragment, index) => {
    if (index !== 3) return false;
    w.apply(fragment);
    w.apply(fragment);
    return true;
  });
  const result = check(writer.records);
  assert.ok(result.problems.some((p) => /the rebuilt table differs/.test(p)), result.problems[0]);
});

Deno.test("the checker reports a fragment applied twice past the input's bound", () => {
  // All of partition 2's fragments of one cat, and one more.
  const fragments = fragmentsOf(input);
  const last = fragments.findLast((f) => f.partition === 2)!;
  const writer = writeAll();
  writer.apply(last);
  const result = check(writer.records);
  assert.ok(
    result.problems.some((p) => /rows of partition 2, more than the input's/.test(p)),
    result.problems.join("\n"),
  );
});

Deno.test("the checker reports a non-exact repeat, a state that goes back, and a key on another partition", () => {
  const writer = writeAll();
  const lastCat = writer.records.findLast((r) => r.key.startsWith("cat-"))!;
  const { diff: _diff, time, ...row } = JSON.parse(lastCat.value);
  // The same insertion again with another time: not an exact repeat, and the row is present.
  writer.write(lastCat.key, row, 1, time + 1);
  const inserted = check(writer.records);
  assert.ok(inserted.problems.some((p) => /inserts while .* is present/.test(p)));

  const back = writeAll();
  const firstAll = JSON.parse(back.records.find((r) => r.key === "all")!.value);
  const lastAll = JSON.parse(back.records.findLast((r) => r.key === "all")!.value);
  const strip = ({ diff: _d, time: _t, ...r }: Record<string, unknown>) => r;
  back.write("all", strip(lastAll), -1, lastAll.time + 1);
  back.write("all", strip(firstAll), 1, lastAll.time + 1);
  const wentBack = check(back.records);
  assert.ok(wentBack.problems.some((p) => /went back/.test(p)), wentBack.problems.join("\n"));

  const moved = writeAll();
  const record = moved.records.at(-1)!;
  moved.records.push({ ...record, partition: (record.partition + 1) % 3, offset: 1000 });
  const misplaced = check(moved.records);
  assert.ok(misplaced.problems.some((p) => /not murmur2's/.test(p)));
});

Deno.test("the input's digits count whole fragments and the expected table sums them", () => {
  const big = new TotalsInput();
  assert.equal(big.messages.length, big.rows + big.partitions * big.commitsPerPartition);
  assert.equal(big.rows, 1488);
  const all = big.expected.find((r) => r.table === "all")!;
  assert.equal(all.rows, big.rows);
  assert.deepEqual(big.digits(all.total), Array(6).fill(248));
  assert.equal(all.groups, 7);
  for (const row of big.expected) {
    assert.equal(big.invalidState(row as unknown as Record<string, unknown>), undefined);
  }
  assert.match(
    big.invalidState({ table: "cat", cat: "c1", groups: 1, rows: 3, total: 3 * 256 }) ?? "",
    /torn fragment: 3 rows of partition 1/,
  );
});
