/**
 * Backpressure: a slow sink must slow the source, so memory stays flat while
 * the sink holds back a stream of 1,000,000 messages. Prints the resident set
 * size (Deno.memoryUsage().rss) over the run, and the most commits ever
 * waiting for the sink.
 *
 * Run: scripts/deno run --allow-all bench/backpressure_rss.ts [messages] [maxPendingCommits]
 *
 * The source is synthetic (it makes the seed's csv stream on demand and
 * awaits the handler, as the Kafka source does) so that only the pipeline's
 * own buffering is measured; the sink acknowledges 50 commits every 5 ms,
 * far slower than the source can read.
 *
 * @module
 */
import * as rw from "../mod.ts";
import type { Batch, Row, Sink, Source } from "../mod.ts";
import type { MessageHandler, SourceMessage } from "../connectors/types.ts";

const total = Number(Deno.args[0] ?? 1_000_000);
const maxPendingCommits = Number(Deno.args[1] ?? 1_000);
const encoder = new TextEncoder();

/** The seed's stream, scaled: a header, then values with `*COMMIT*` after every 9. */
class GeneratedSource implements Source {
  readonly name = "generated";
  readonly finished: Promise<void>;
  #done!: () => void;
  #stopped = false;
  constructor() {
    this.finished = new Promise((resolve) => (this.#done = resolve));
  }
  async start(handler: MessageHandler): Promise<void> {
    (async () => {
      for (let offset = 0; offset < total && !this.#stopped;) {
        const messages: SourceMessage[] = [];
        for (let i = 0; i < 1000 && offset < total; i++, offset++) {
          const text = offset === 0
            ? "value"
            : offset % 10 === 0
            ? "*COMMIT*"
            : String(offset % 100);
          messages.push({
            topic: "generated",
            partition: 0,
            offset: String(offset),
            timestamp: "0",
            key: null,
            value: encoder.encode(text),
            headers: {},
          });
        }
        await handler(messages);
      }
      this.#done();
    })();
    await Promise.resolve();
  }
  commit(): Promise<void> {
    return Promise.resolve();
  }
  stop(): Promise<void> {
    this.#stopped = true;
    return Promise.resolve();
  }
}

/** Acknowledges 50 commits every 5 ms, in order. */
class SlowSink implements Sink<Row> {
  readonly name = "slow";
  readonly #waiting: (() => void)[] = [];
  #timer: ReturnType<typeof setInterval> | undefined;
  acknowledged = 0;
  open(): Promise<void> {
    this.#timer = setInterval(() => {
      for (const resolve of this.#waiting.splice(0, 50)) {
        this.acknowledged++;
        resolve();
      }
    }, 5);
    return Promise.resolve();
  }
  write(_batch: Batch<Row>): Promise<void> {
    return new Promise((resolve) => this.#waiting.push(resolve));
  }
  async flush(): Promise<void> {
    while (this.#waiting.length > 0) await new Promise((resolve) => setTimeout(resolve, 5));
  }
  close(): Promise<void> {
    clearInterval(this.#timer);
    return Promise.resolve();
  }
}

const pipeline = new rw.Pipeline();
const source = new GeneratedSource();
const t = pipeline.read<{ value: string }>({
  source,
  format: rw.builtinFormats.csv,
  formatOptions: { valueColumns: ["value"] },
});
const values = t.select({ value: rw.apply((x: string) => parseInt(x), "value") });
const sink = new SlowSink();
pipeline.write(values.reduce({ sum: rw.reducers.sum("value") }), sink);

const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);
const samples: {
  seconds: number;
  rss: number;
  heap: number;
  messages: number;
  pending: number;
}[] = [];
const started = performance.now();
let maxPending = 0;
const sampler = setInterval(() => {
  const stats = pipeline.stats();
  maxPending = Math.max(maxPending, stats.pendingCommits);
  samples.push({
    seconds: (performance.now() - started) / 1000,
    rss: Deno.memoryUsage().rss,
    heap: Deno.memoryUsage().heapUsed,
    messages: stats.messagesIn,
    pending: stats.pendingCommits,
  });
}, 250);
const stats = await pipeline.run({ maxPendingCommits });
clearInterval(sampler);

const rss = samples.map((s) => s.rss);
const settled = rss.slice(Math.floor(rss.length / 10));
console.log(
  `messages read: ${stats.messagesIn}, commits: ${stats.commitsApplied}, seconds: ${
    ((performance.now() - started) / 1000).toFixed(1)
  }`,
);
console.log(`most commits waiting for the sink: ${maxPending} (limit ${maxPendingCommits})`);
console.log(
  `rss MiB: first ${mib(rss[0])}, after 10% ${mib(settled[0])}, max ${
    mib(Math.max(...rss))
  }, last ${mib(rss.at(-1)!)}`,
);
for (const s of samples.filter((_, i) => i % Math.ceil(samples.length / 10) === 0)) {
  console.log(
    `  t=${s.seconds.toFixed(1)}s read=${s.messages} pending=${s.pending} rss=${
      mib(s.rss)
    } MiB heap=${mib(s.heap)} MiB`,
  );
}
