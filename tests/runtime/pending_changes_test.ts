/**
 * Reading pauses while the sinks hold too many unacknowledged output changes
 * (`maxPendingChanges`), and goes on once they are acknowledged: a pipeline
 * whose output is slower than its input keeps bounded memory.
 */
import assert from "node:assert/strict";
import { Pipeline, readOptions, reducers } from "../../mod.ts";
import type { Batch, Row, Sink, Source, Table } from "../../mod.ts";
import type { MessageHandler, SourceMessage } from "../../connectors/types.ts";

const encoder = new TextEncoder();

/** Hands over the messages it is given, when the test says so; reads nothing by itself. */
class HandOverSource implements Source {
  readonly name = "hand-over";
  readonly finished = new Promise<void>(() => {});
  handler: MessageHandler | undefined;
  #offset = 0;
  start(handler: MessageHandler): Promise<void> {
    this.handler = handler;
    return Promise.resolve();
  }
  /** Hands over `values` as one fetched batch; the promise is the source's backpressure. */
  offer(values: readonly string[]): Promise<void> {
    const messages: SourceMessage[] = values.map((value) => ({
      topic: "t",
      partition: 0,
      offset: String(this.#offset++),
      timestamp: "0",
      key: null,
      value: encoder.encode(value),
      headers: {},
    }));
    return this.handler!(messages);
  }
  commit(): Promise<void> {
    return Promise.resolve();
  }
  stop(): Promise<void> {
    return Promise.resolve();
  }
}

/** A sink whose writes are acknowledged only when the test releases them. */
class HeldSink implements Sink<Row> {
  readonly name = "held";
  changes = 0;
  readonly #held: (() => void)[] = [];
  open(): Promise<void> {
    return Promise.resolve();
  }
  write(batch: Batch<Row>): Promise<void> {
    this.changes += batch.changes.length;
    return new Promise((resolve) => this.#held.push(resolve));
  }
  release(): void {
    for (const resolve of this.#held.splice(0)) resolve();
  }
  flush(): Promise<void> {
    return Promise.resolve();
  }
  close(): Promise<void> {
    this.release();
    return Promise.resolve();
  }
}

/** One key per row: every row is an output change (a group-by where every row is new). */
function rows(from: number, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `{"k":${from + i},"v":1}`);
}

async function started(maxPendingChanges: number) {
  const pipeline = new Pipeline();
  const source = new HandOverSource();
  const sink = new HeldSink();
  const t = pipeline.read(
    readOptions(source, { format: "json", valueColumns: ["k", "v"] }),
  ) as unknown as Table<{ k: number; v: number }>;
  pipeline.write(t.groupby("k").reduce({ k: "k", total: reducers.sum("v") }), sink);
  const controller = new AbortController();
  const running = pipeline.run({ signal: controller.signal, maxPendingChanges });
  while (source.handler === undefined) await new Promise((resolve) => setTimeout(resolve, 0));
  return { pipeline, source, sink, controller, running };
}

/** Whether `promise` has settled once everything ready to run has run. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  promise.then(() => (done = true), () => (done = true));
  // A macrotask turn: every microtask queued before it has run.
  await new Promise((resolve) => setTimeout(resolve, 0));
  return done;
}

Deno.test("reading pauses above maxPendingChanges unacknowledged output changes and resumes once acknowledged", async () => {
  const { source, sink, controller, running } = await started(100);
  // 150 changes out, none acknowledged: the hand-over must wait.
  const handed = source.offer([...rows(0, 150), "*COMMIT*"]);
  assert.equal(await settled(handed), false, "the source is held back");
  assert.equal(sink.changes, 150);
  sink.release();
  await handed;
  controller.abort();
  await running;
});

Deno.test("below maxPendingChanges reading goes on while the sink has not acknowledged", async () => {
  const { source, sink, controller, running } = await started(1_000);
  const handed = source.offer([...rows(0, 150), "*COMMIT*"]);
  assert.equal(await settled(handed), true, "the source is not held back");
  assert.equal(sink.changes, 150);
  sink.release();
  controller.abort();
  await running;
});
