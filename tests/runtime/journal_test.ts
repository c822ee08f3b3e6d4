/**
 * The apply journal: what a restart must replay, in order, after the
 * restored checkpoint's positions; compaction; a line cut short by a crash.
 */
import assert from "node:assert/strict";
import { ApplyJournal, type JournalEntry } from "../../runtime/delivery/journal.ts";

const entry = (partition: number, nextOffset: string): JournalEntry => ({
  source: 0,
  topic: "in",
  partition,
  nextOffset,
});
const at = (partition: number, offset: string) => ({ topic: "in", partition, offset });

Deno.test("a restart replays the journal's batches after the checkpoint's positions, in the recorded order", async () => {
  const dir = await Deno.makeTempDir();
  const first = ApplyJournal.open(dir, [[]]);
  assert.deepEqual(first.replay, []);
  for (const e of [entry(0, "3"), entry(1, "2"), entry(0, "6"), entry(1, "5")]) {
    first.journal.record(e);
  }
  first.journal.close();
  const second = ApplyJournal.open(dir, [[at(0, "3")]]);
  assert.deepEqual(second.replay, [entry(1, "2"), entry(0, "6"), entry(1, "5")]);
  second.journal.record(entry(2, "9"));
  second.journal.compact([[at(0, "6"), at(1, "2")]]);
  second.journal.close();
  const third = ApplyJournal.open(dir, [[at(0, "6"), at(1, "2")]]);
  assert.deepEqual(
    third.replay,
    [entry(1, "5"), entry(2, "9")],
    "replayed entries stay until covered",
  );
  third.journal.close();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a journal line cut short by a crash ends the replay there", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/order.log`, '[0,"in",0,"3"]\n[0,"in",1,"4"]\n[0,"in",0,');
  const { journal, replay } = ApplyJournal.open(dir, [[]]);
  journal.close();
  assert.deepEqual(replay, [entry(0, "3"), entry(1, "4")]);
  assert.equal(await Deno.readTextFile(`${dir}/order.log`), '[0,"in",0,"3"]\n[0,"in",1,"4"]\n');
  await Deno.remove(dir, { recursive: true });
});
