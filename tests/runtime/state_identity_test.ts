/**
 * The saved-state check, one test per refusal: what the state recorded and
 * what the brokers report now, in, a verdict out.
 */
import assert from "node:assert/strict";
import type { Position, SourceIdentity } from "../../connectors/types.ts";
import {
  checkStateIdentity,
  recordStateIdentity,
  StaleStateError,
  type StateIdentity,
} from "../../runtime/state_identity.ts";

const source = "kafka:in";

function now(
  partitions: { low: string; high: string }[],
  options: { group?: string; topicId?: string; name?: string } = {},
): SourceIdentity {
  return {
    name: options.name ?? source,
    group: options.group ?? "g",
    topics: [{
      topic: "in",
      ...(options.topicId === undefined ? {} : { topicId: options.topicId }),
      partitions: partitions.map((p, partition) => ({ partition, ...p })),
    }],
  };
}

const at = (offset: string, partition = 0): Position => ({ topic: "in", partition, offset });

function recorded(identity: SourceIdentity, positions: Position[]): StateIdentity {
  return recordStateIdentity([identity], [identity.name], [positions]);
}

function refusal(
  saved: StateIdentity | undefined,
  positions: Position[],
  current: SourceIdentity,
) {
  const check = checkStateIdentity({ recorded: saved, positions: [positions], current: [current] });
  assert.equal(check.ok, false, "refused");
  return (check as Extract<typeof check, { ok: false }>).refusal;
}

Deno.test("state that fits: positions inside [low, high], same partitions, group and topic id", () => {
  const saved = recorded(now([{ low: "0", high: "21" }], { topicId: "a" }), [at("21")]);
  const check = checkStateIdentity({
    recorded: saved,
    positions: [[at("21")]],
    current: [now([{ low: "0", high: "30" }], { topicId: "a" })],
  });
  assert.deepEqual(check, { ok: true });
});

Deno.test("a position beyond the partition's end is refused (topic created again with fewer messages)", () => {
  // A checkpoint written before identities were recorded: the positions alone tell.
  const r = refusal(undefined, [at("21")], now([{ low: "0", high: "7" }]));
  assert.equal(r.reason, "position_beyond_end");
  assert.equal(r.partition, 0);
  assert.match(r.detail, /21 lies beyond the partition's end 7/);
});

Deno.test("a position before the partition's start is refused", () => {
  const r = refusal(undefined, [at("3")], now([{ low: "10", high: "40" }]));
  assert.equal(r.reason, "position_before_start");
  assert.match(r.detail, /3 lies before the partition's first offset 10/);
});

Deno.test("a partition count that changed is refused", () => {
  const saved = recorded(now([{ low: "0", high: "21" }]), [at("21")]);
  const r = refusal(
    saved,
    [at("21")],
    now([{ low: "0", high: "8" }, { low: "0", high: "7" }, {
      low: "0",
      high: "7",
    }]),
  );
  assert.equal(r.reason, "partition_count");
  assert.match(r.detail, /1 partition\(s\) when saved, 3 now/);
});

Deno.test("a saved position in a partition that no longer exists is refused", () => {
  const r = refusal(undefined, [at("5", 2)], now([{ low: "0", high: "9" }]));
  assert.equal(r.reason, "partition_count");
});

Deno.test("an end that went back (within range of the position) means a new incarnation", () => {
  // Saved at 5 of 40; the topic was created again and holds 12: 5 is inside [0, 12].
  const saved = recorded(now([{ low: "0", high: "40" }]), [at("5")]);
  const r = refusal(saved, [at("5")], now([{ low: "0", high: "12" }]));
  assert.equal(r.reason, "topic_incarnation");
  assert.match(r.detail, /at offset 40 when saved and is at 12 now/);
});

Deno.test("a different topic id is refused where the client exposes ids", () => {
  const saved = recorded(now([{ low: "0", high: "5" }], { topicId: "old" }), [at("5")]);
  const r = refusal(saved, [at("5")], now([{ low: "0", high: "9" }], { topicId: "new" }));
  assert.equal(r.reason, "topic_incarnation");
  assert.match(r.detail, /topic id old when saved, new now/);
});

Deno.test("state written for another pipeline is refused: another group, source or source count", () => {
  const saved = recorded(now([{ low: "0", high: "5" }]), [at("5")]);
  assert.equal(
    refusal(saved, [at("5")], now([{ low: "0", high: "5" }], { group: "other" })).reason,
    "other_pipeline",
  );
  assert.equal(
    refusal(saved, [at("5")], now([{ low: "0", high: "5" }], { name: "kafka:other" })).reason,
    "other_pipeline",
  );
  const two = checkStateIdentity({
    recorded: saved,
    positions: [[at("5")], []],
    current: [now([{ low: "0", high: "5" }]), undefined],
  });
  assert.equal(two.ok === false && two.refusal.reason, "other_pipeline");
});

Deno.test("a topic that does not exist yet is waited for, not refused; a source that cannot tell is not checked", () => {
  const saved = recorded(now([{ low: "0", high: "5" }]), [at("5")]);
  const missing: SourceIdentity = {
    name: source,
    group: "g",
    topics: [{ topic: "in", partitions: [] }],
  };
  assert.deepEqual(
    checkStateIdentity({ recorded: saved, positions: [[at("5")]], current: [missing] }),
    { ok: true },
  );
  assert.deepEqual(
    checkStateIdentity({ recorded: undefined, positions: [[at("5")]], current: [undefined] }),
    { ok: true },
  );
});

Deno.test("recording raises a partition's end to the position read, so a later shrink is seen", () => {
  const saved = recordStateIdentity([now([{ low: "0", high: "10" }])], [source], [[at("25")]]);
  assert.equal(saved.sources[0].topics[0].partitions[0].high, "25");
});

Deno.test("the refusal's message names the state directory, the place and the way out", () => {
  const error = new StaleStateError(".state/sum", {
    reason: "position_beyond_end",
    source,
    topic: "in",
    partition: 0,
    detail: "the saved position 21 lies beyond the partition's end 7",
  });
  assert.match(error.message, /"\.state\/sum"/);
  assert.match(error.message, /topic "in" partition 0/);
  assert.match(error.message, /--reset-state/);
  assert.equal(error.name, "StaleStateError");
});
