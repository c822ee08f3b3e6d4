/** Engine snapshots split into keyed entries and rebuilt: a restored graph continues exactly. */
import assert from "node:assert/strict";
import { serialize } from "node:v8";
import { Graph, reducers } from "../../engine/mod.ts";
import { snapshotEntries, snapshotFromEntries } from "../../engine/snapshot_entries.ts";
import type { Row } from "../../engine/types.ts";

function orders(graph: Graph) {
  const input = graph.input<Row>({ name: "orders", keyed: true });
  const totals = input.groupby("customer").reduce({
    customer: "customer",
    count: reducers.count(),
    total: reducers.sum("amount"),
  });
  const global = input.reduce({ n: reducers.count() });
  const out: string[] = [];
  graph.output(totals, (batch) => {
    for (const c of batch.changes) out.push(JSON.stringify([c.row, c.diff, batch.time]));
  });
  graph.output(global, (batch) => {
    for (const c of batch.changes) out.push(JSON.stringify([c.row, c.diff, batch.time]));
  });
  return { input, out };
}

Deno.test("a snapshot split into entries and rebuilt restores a graph that continues exactly like the original", () => {
  const original = new Graph();
  const a = orders(original);
  for (let i = 0; i < 500; i++) {
    a.input.upsert(`id${i % 97}`, { customer: `c${i % 13}`, amount: i });
    if (i % 10 === 9) original.commit(i);
  }
  const entries = snapshotEntries(original.snapshot());
  assert.ok(entries.size > 97, "one entry per row id and per group, not one for all");
  const restored = new Graph();
  const b = orders(restored);
  restored.restore(snapshotFromEntries(entries));
  a.out.length = 0;
  for (let i = 500; i < 700; i++) {
    for (const side of [a, b]) {
      side.input.upsert(`id${i % 97}`, { customer: `c${i % 7}`, amount: i });
    }
    if (i % 10 === 9) {
      original.commit(i);
      restored.commit(i);
    }
  }
  assert.ok(a.out.length > 0);
  assert.deepEqual(b.out, a.out);
});

Deno.test("an upsert changes only the entries of the row and the group it touches", () => {
  const graph = new Graph();
  const { input } = orders(graph);
  for (let i = 0; i < 100; i++) input.upsert(`id${i}`, { customer: `c${i % 10}`, amount: i });
  graph.commit(1);
  const before = snapshotEntries(graph.snapshot());
  input.upsert("id5", { customer: "c5", amount: 1000 });
  graph.commit(2);
  const after = snapshotEntries(graph.snapshot());
  const changed = [...after.keys()].filter((key) =>
    !before.has(key) || !serialize(after.get(key)).equals(serialize(before.get(key)))
  );
  // The header (time), the row, its group, and the global count's group.
  assert.ok(changed.length <= 6, `changed: ${changed.join(", ")}`);
  assert.ok(changed.some((key) => key.endsWith("|id5")));
});
