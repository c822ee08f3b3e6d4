/**
 * The checkpoint store's two files of exactly-once mode, and how a restart
 * tells which checkpoint the group's committed offsets belong to.
 */
import assert from "node:assert/strict";
import { type Checkpoint, CheckpointStore } from "../../runtime/delivery/checkpoint.ts";
import { samePositions } from "../../runtime/delivery/transactions.ts";

function checkpoint(time: number, offset: string): Checkpoint {
  return {
    version: 1,
    time,
    graph: { sum: time },
    sources: [{
      name: "kafka:in",
      positions: [{ topic: "in", partition: 0, offset }],
      decoders: {},
    }],
  };
}

Deno.test("a pending checkpoint sits beside the current one until it is promoted or discarded", async () => {
  const dir = await Deno.makeTempDir();
  const store = new CheckpointStore(dir);
  assert.deepEqual(await store.loadCandidates(), {});
  await store.save(checkpoint(1, "10"));
  await store.savePending(checkpoint(2, "20"));
  const both = await store.loadCandidates();
  assert.equal(both.current?.time, 1);
  assert.equal(both.pending?.time, 2);
  await store.promotePending();
  assert.deepEqual(await store.loadCandidates(), { current: checkpoint(2, "20") });
  await store.savePending(checkpoint(3, "30"));
  await store.discardPending();
  await store.discardPending();
  assert.deepEqual(await store.loadCandidates(), { current: checkpoint(2, "20") });
  assert.equal((await store.load())?.time, 2);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a checkpoint belongs to committed offsets only when every partition's offset matches", () => {
  const positions = [{ topic: "in", partition: 0, offset: "20" }, {
    topic: "in",
    partition: 1,
    offset: "7",
  }];
  assert.ok(samePositions(positions, [...positions].reverse()));
  assert.ok(!samePositions(positions, [positions[0]]), "a partition missing");
  assert.ok(!samePositions(positions, [positions[0], { ...positions[1], offset: "8" }]));
  assert.ok(!samePositions([positions[0]], positions), "an extra committed partition");
  assert.ok(samePositions([], []));
});
