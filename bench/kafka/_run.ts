/**
 * One measured program of the Kafka benchmark, run as its own process by
 * `harness.ts` so that every figure starts from the same cold runtime. The
 * first argument is a JSON {@linkcode RunSpec}; the last line of standard
 * output is a JSON {@linkcode RunResult}.
 *
 * Timing starts when the consumer group is joined (the partition assigned)
 * and ends when the last input message is handled (ceilings) or the last
 * output is acknowledged by the broker (rivulet), so group coordination,
 * connecting and process start are outside every figure alike.
 *
 * @module
 */
import {
  benchBroker,
  benchKafka,
  groupbyStream,
  nonEmptyCommits,
  type RunResult,
  seedStream,
} from "./_common.ts";
import type { Message } from "kafkajs";
import * as rw from "../../mod.ts";
import { translateSettings } from "../../connectors/kafka/settings.ts";
import { KafkaSource } from "../../connectors/kafka/source.ts";
import { KafkaSink } from "../../connectors/kafka/sink.ts";
import { deferredKafkaClient, resolveKafkaClientName } from "../../connectors/kafka/clients.ts";
import type { Batch, Row } from "../../engine/types.ts";
import type { Sink } from "../../connectors/types.ts";

/** What to measure. */
export type RunSpec =
  /** A bare kafkajs consumer that counts messages. */
  | { readonly kind: "consume"; readonly topic: string; readonly messages: number }
  /** A bare kafkajs consumer that produces one record per message read. */
  | {
    readonly kind: "consume-produce";
    readonly topic: string;
    readonly outTopic: string;
    readonly messages: number;
  }
  /** rivulet's seed pipeline (csv, parseInt, global sum) or the json group-by with upserts. */
  | {
    readonly kind: "seed" | "groupby";
    readonly topic: string;
    readonly outTopic: string;
    readonly messages: number;
    readonly commitEvery: number;
    /** The sink's `commitFrequencyInMessages`. */
    readonly commitFrequency: number;
  }
  /** The seed pipeline, run until SIGTERM; prints `ready` once it has joined its group. */
  | { readonly kind: "serve"; readonly topic: string; readonly outTopic: string };

// The consumer options rivulet's kafkajs client uses (connectors/kafka/kafkajs/client.ts):
// the ceiling fetches exactly as rivulet does.
const consumerOptions = { allowAutoTopicCreation: false, maxWaitTimeInMs: 1_000 };

async function bareConsume(
  spec: Extract<RunSpec, { kind: "consume" | "consume-produce" }>,
): Promise<RunResult> {
  const kafka = benchKafka("rivulet-bench-ceiling");
  const consumer = kafka.consumer({
    groupId: `bench-ceiling-${crypto.randomUUID()}`,
    ...consumerOptions,
  });
  const producer = spec.kind === "consume-produce"
    ? kafka.producer({ allowAutoTopicCreation: false, idempotent: true, maxInFlightRequests: 1 })
    : undefined;
  await consumer.connect();
  await producer?.connect();
  await consumer.subscribe({ topic: spec.topic, fromBeginning: true });
  let joinedAt = 0;
  consumer.on(consumer.events.GROUP_JOIN, () => (joinedAt ||= performance.now()));
  let seen = 0;
  let written = 0;
  let done!: (at: number) => void;
  const finished = new Promise<number>((resolve) => (done = resolve));
  await consumer.run({
    autoCommit: false,
    eachBatch: async ({ batch }) => {
      seen += batch.messages.length;
      if (producer !== undefined && spec.kind === "consume-produce") {
        // The same work rivulet's sink asks of kafkajs: one keyed record per
        // message, acknowledged by all in-sync replicas, one request at a time.
        const messages: Message[] = batch.messages.map((m) => ({
          key: m.offset,
          value: m.value,
          partition: 0,
        }));
        await producer.sendBatch({ topicMessages: [{ topic: spec.outTopic, messages }], acks: -1 });
        written += messages.length;
      }
      if (seen >= spec.messages) done(performance.now());
    },
  });
  const endedAt = await finished;
  await consumer.disconnect();
  await producer?.disconnect();
  return {
    messages: seen,
    seconds: (endedAt - joinedAt) / 1000,
    ...(producer === undefined ? {} : { outputRecords: written }),
  };
}

/** A sink that passes everything on and says when the n-th write is acknowledged. */
class CountingSink implements Sink<Row> {
  readonly name: string;
  acknowledged = 0;
  #target = Infinity;
  #reached!: (at: number) => void;
  readonly reached = new Promise<number>((resolve) => (this.#reached = resolve));

  constructor(readonly inner: KafkaSink<Row>) {
    this.name = inner.name;
  }

  /** Resolves `reached` once this many writes are acknowledged. */
  expect(writes: number): void {
    this.#target = writes;
  }

  open(): Promise<void> {
    return this.inner.open();
  }

  write(batch: Batch<Row>): Promise<void> {
    const written = this.inner.write(batch);
    written.then(() => {
      if (++this.acknowledged >= this.#target) this.#reached(performance.now());
    }, () => {});
    return written;
  }

  flush(): Promise<void> {
    return this.inner.flush();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

interface PipelineParts {
  readonly pipeline: rw.Pipeline;
  readonly sink: CountingSink;
  readonly joined: Promise<number>;
}

/** The seed's pipeline or the group-by, built as `kafka.read` / `kafka.write` build them. */
function buildPipeline(
  kind: "seed" | "groupby",
  spec: { topic: string; outTopic: string; commitFrequency: number; lingerMs?: number },
): PipelineParts {
  const pipeline = new rw.Pipeline();
  const { config } = translateSettings({
    "bootstrap.servers": benchBroker,
    "group.id": `bench-rivulet-${crypto.randomUUID()}`,
    "auto.offset.reset": "earliest",
  });
  let join!: (at: number) => void;
  const joined = new Promise<number>((resolve) => (join = resolve));
  // One client for the source and the sink, as kafka.read / kafka.write share one per settings.
  const client = deferredKafkaClient(() => resolveKafkaClientName(), config, pipeline.logger);
  pipeline.share(client);
  const source = new KafkaSource({
    config,
    client,
    topics: [spec.topic],
    logger: pipeline.logger,
    onPartitionsAssigned: () => join(performance.now()),
  });
  const sink = new CountingSink(
    new KafkaSink<Row>({
      config,
      client,
      topic: spec.outTopic,
      encode: (change, time) => rw.encodeChange(change.row, change.diff, time),
      commitFrequencyInMessages: spec.commitFrequency,
      ...(spec.lingerMs === undefined ? {} : { lingerMs: spec.lingerMs }),
      createTopic: false,
    }),
  );
  if (kind === "seed") {
    const t = pipeline.read(rw.readOptions(source, {
      format: "csv",
      valueColumns: ["value"],
    })) as rw.Table<{ value: string }>;
    const values = t.select({ value: rw.apply((x: string) => parseInt(x), "value") });
    pipeline.write(values.reduce({ sum: rw.reducers.sum("value") }), sink);
  } else {
    const orders = pipeline.read(rw.readOptions(source, {
      format: "json",
      valueColumns: ["id", "customer", "amount"],
      primaryKey: ["id"],
    })) as rw.Table<{ id: number; customer: string; amount: number }>;
    const totals = orders.groupby("customer").reduce({
      customer: "customer",
      count: rw.reducers.count(),
      total: rw.reducers.sum("amount"),
    });
    pipeline.write(totals, sink);
  }
  return { pipeline, sink, joined };
}

async function rivulet(spec: Extract<RunSpec, { kind: "seed" | "groupby" }>): Promise<RunResult> {
  const { pipeline, sink, joined } = buildPipeline(spec.kind, spec);
  // Every commit of these streams changes the result, so each is one write.
  const commits = nonEmptyCommits(
    spec.kind === "seed"
      ? seedStream(spec.messages, spec.commitEvery)
      : groupbyStream(spec.messages, spec.commitEvery),
  );
  sink.expect(commits);
  const running = pipeline.run();
  if (Deno.env.get("DBG")) {
    setInterval(() =>
      console.error(
        JSON.stringify(pipeline.stats()),
        sink.acknowledged,
        commits,
        JSON.stringify(sink.inner.stats()),
      ), 1000);
  }
  const endedAt = await Promise.race([sink.reached, running.then(() => NaN)]);
  const joinedAt = await joined;
  const stats = pipeline.stats();
  pipeline.stop();
  await running;
  return {
    messages: stats.messagesIn,
    seconds: (endedAt - joinedAt) / 1000,
    outputRecords: sink.inner.stats().records,
  };
}

async function serve(spec: Extract<RunSpec, { kind: "serve" }>): Promise<void> {
  // Latency settings: one request per commit, sent at once.
  const { pipeline, joined } = buildPipeline("seed", { ...spec, commitFrequency: 1 });
  const running = pipeline.run();
  Deno.addSignalListener("SIGTERM", () => pipeline.stop());
  await joined;
  console.log("ready");
  await running;
}

if (import.meta.main) {
  const spec = JSON.parse(Deno.args[0]) as RunSpec;
  if (spec.kind === "serve") {
    await serve(spec);
  } else {
    const result = spec.kind === "consume" || spec.kind === "consume-produce"
      ? await bareConsume(spec)
      : await rivulet(spec);
    console.log(JSON.stringify(result));
  }
  Deno.exit(0);
}
