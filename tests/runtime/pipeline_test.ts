/**
 * The runtime without a broker: file sources, a line sink, commit markers,
 * bad input policies and checkpoints.
 */
import assert from "node:assert/strict";
import { apply, io, Pipeline, reducers } from "../../mod.ts";
import { BadInputError } from "../../engine/errors.ts";

/** A writable that collects what is written, as text lines. */
function collector(): { writable: WritableStream<Uint8Array>; lines: () => string[] } {
  let text = "";
  const decoder = new TextDecoder();
  const writable = new WritableStream<Uint8Array>({
    write(chunk) {
      text += decoder.decode(chunk);
    },
  });
  return { writable, lines: () => text.split("\n").filter((l) => l !== "") };
}

async function writeLines(lines: string[]): Promise<string> {
  const path = await Deno.makeTempFile({ suffix: ".txt" });
  await Deno.writeTextFile(path, lines.join("\n") + "\n");
  return path;
}

/** The seed's stream: a header, then 0..9 each followed by a commit marker. */
const seedStream = [
  "value",
  ...Array.from({ length: 10 }, (_, i) => [String(i), "*COMMIT*"]).flat(),
];

function sumPipeline(path: string, writable: WritableStream<Uint8Array>): Pipeline {
  const pipeline = new Pipeline();
  const t = io.read(path, { format: "csv", valueColumns: ["value"], pipeline });
  const values = t.select({ value: apply((x: string) => parseInt(x), "value") });
  const sum = values.reduce({ sum: reducers.sum("value") });
  io.write(sum, { writable, pipeline });
  return pipeline;
}

/** The sums the seed's stream must produce, as (sum, diff) pairs in order. */
function expectedSums(upTo: number, from = 0): [number, number][] {
  const out: [number, number][] = [];
  let sum = from === 0 ? undefined : (from * (from - 1)) / 2;
  for (let i = from; i <= upTo; i++) {
    if (sum !== undefined) out.push([sum, -1]);
    sum = (sum ?? 0) + i;
    out.push([sum, 1]);
  }
  return out;
}

Deno.test("the seed's stream from a file gives +0, then -0 +1 ... -36 +45", async () => {
  const path = await writeLines(seedStream);
  const out = collector();
  await sumPipeline(path, out.writable).run();
  const records = out.lines().map((l) => JSON.parse(l));
  assert.deepEqual(records.map((r) => [r.sum, r.diff]), expectedSums(9));
  for (let i = 1; i < records.length; i += 2) {
    assert.equal(
      records[i].time,
      records[i + 1].time,
      "a retraction and its insertion share a time",
    );
    assert.ok(records[i].time > records[i - 1].time, "each commit has a later time");
  }
  assert.deepEqual(Object.keys(records[0]), ["sum", "diff", "time"]);
});

Deno.test("rows with no following *COMMIT* are not applied", async () => {
  const path = await writeLines(["value", "1", "*COMMIT*", "2", "3"]);
  const out = collector();
  const stats = await sumPipeline(path, out.writable).run();
  assert.deepEqual(out.lines().map((l) => JSON.parse(l).sum), [1]);
  assert.equal(stats.commitsApplied, 1);
  assert.equal(stats.rowsIn, 3, "the waiting rows were read");
});

Deno.test("a commit applies all its rows at one time: one change for several rows", async () => {
  const path = await writeLines(["value", "1", "2", "3", "*COMMIT*", "4", "*COMMIT*"]);
  const out = collector();
  await sumPipeline(path, out.writable).run();
  assert.deepEqual(out.lines().map((l) => [JSON.parse(l).sum, JSON.parse(l).diff]), [[6, 1], [
    6,
    -1,
  ], [10, 1]]);
});

Deno.test("bad input under the stop policy stops the pipeline naming where it came from", async () => {
  const path = await writeLines(["a,b", "1,2", "*COMMIT*", "3,4,5", "6,7", "*COMMIT*"]);
  const out = collector();
  const pipeline = new Pipeline();
  const t = io.read(path, { format: "csv", valueColumns: ["a", "b"], pipeline });
  io.write(t, { writable: out.writable, pipeline });
  await assert.rejects(pipeline.run(), (error: unknown) => {
    assert.ok(error instanceof BadInputError);
    assert.match(error.message, new RegExp(`${path.replaceAll("/", "\\/")}-0@3`));
    return true;
  });
  assert.deepEqual(
    out.lines().map((l) => JSON.parse(l).a),
    ["1"],
    "the commit before the bad row was applied",
  );
});

Deno.test("bad input under the skip policy is counted and the rest applied", async () => {
  const path = await writeLines(["a,b", "1,2", "3,4,5", "6,7", "*COMMIT*"]);
  const out = collector();
  const pipeline = new Pipeline();
  const t = io.read(path, {
    format: "csv",
    valueColumns: ["a", "b"],
    errorPolicy: "skip",
    pipeline,
  });
  io.write(t, { writable: out.writable, pipeline });
  const stats = await pipeline.run();
  assert.equal(stats.badInput, 1);
  assert.deepEqual(out.lines().map((l) => JSON.parse(l).a).sort(), ["1", "6"]);
});

Deno.test("a user function that throws stops the pipeline with the row's location", async () => {
  const path = await writeLines(["value", "1", "*COMMIT*", "boom", "*COMMIT*"]);
  const pipeline = new Pipeline();
  const t = io.read(path, { format: "csv", valueColumns: ["value"], pipeline });
  const parsed = t.select({
    value: apply((x: string) => {
      if (!/^\d+$/.test(x)) throw new Error(`not a number: ${x}`);
      return Number(x);
    }, "value"),
  });
  io.write(parsed, { writable: collector().writable, pipeline });
  await assert.rejects(pipeline.run(), /-0@3.*not a number: boom/);
});

Deno.test("a restart with a state directory continues the sum without re-emitting", async () => {
  const stateDir = await Deno.makeTempDir();
  const path = await writeLines(seedStream.slice(0, 11)); // header, 0..4 with markers
  const first = collector();
  await sumPipeline(path, first.writable).run({ stateDir });
  assert.deepEqual(
    first.lines().map((l) => [JSON.parse(l).sum, JSON.parse(l).diff]),
    expectedSums(4),
  );

  const again = collector();
  await sumPipeline(path, again.writable).run({ stateDir });
  assert.deepEqual(again.lines(), [], "nothing already emitted is emitted again");

  await Deno.writeTextFile(path, seedStream.slice(11).join("\n") + "\n", { append: true });
  const rest = collector();
  await sumPipeline(path, rest.writable).run({ stateDir });
  assert.deepEqual(
    rest.lines().map((l) => [JSON.parse(l).sum, JSON.parse(l).diff]),
    expectedSums(9, 5),
    "the csv header and the sum survive the restart",
  );
});

Deno.test("a primary key that is not a value column is refused before anything is read", () => {
  const pipeline = new Pipeline();
  assert.throws(
    () =>
      io.read("unused.txt", {
        format: "json",
        valueColumns: ["id", "amount"],
        primaryKey: ["customer" as "id"],
        pipeline,
      }),
    /Primary key column "customer" is not one of the value columns \["id","amount"\]/,
  );
});

Deno.test("a permission refusal in a user function stops the pipeline even under the skip policy", async () => {
  const path = await writeLines(["value", "1", "*COMMIT*"]);
  const pipeline = new Pipeline();
  const t = io.read(path, {
    format: "csv",
    valueColumns: ["value"],
    errorPolicy: "skip",
    pipeline,
  });
  const read = t.select({
    value: apply((_x: string) => {
      throw new Deno.errors.NotCapable('Requires read access to "/etc/passwd"');
    }, "value"),
  });
  io.write(read, { writable: collector().writable, pipeline });
  await assert.rejects(pipeline.run(), Deno.errors.NotCapable);
});
