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
import {
  createKafkaClient,
  deferredKafkaClient,
  resolveKafkaClientName,
} from "../../connectors/kafka/clients.ts";
import type { Batch, Row } from "../../engine/types.ts";
import type { Sink } from "../../connectors/types.ts";
import type { ClientConfig } from "../../connectors/kafka/config.ts";

/** The Kafka client a run measures. */
export type BenchClient = "kafkajs" | "platformatic";

/** What to measure; `client` is the Kafka client (kafkajs when absent). */
export type RunSpec =
  & { readonly client?: BenchClient }
  & (
    /** A bare consumer of the client's own API that counts messages. */
    | { readonly kind: "consume"; readonly topic: string; readonly messages: number }
    /** rivulet's KafkaClient adapter of the client, counting the batches it hands over. */
    | { readonly kind: "adapter-consume"; readonly topic: string; readonly messages: number }
    /**
     * rivulet's KafkaClient adapter of the client: its group consumer, and
     * its producer sending one record per message read, one request per
     * handed-over batch, awaited (as the sink sends: one request at a time).
     */
    | {
      readonly kind: "adapter-consume-produce";
      readonly topic: string;
      readonly outTopic: string;
      readonly messages: number;
    }
    /** A bare consumer of the client's own API that produces one record per message read. */
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
    | { readonly kind: "serve"; readonly topic: string; readonly outTopic: string }
  );

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

/**
 * The bare @platformatic/kafka ceiling, as a new user would write it: the
 * library's message stream from the earliest offset, counting messages; with
 * `consume-produce`, one keyed record per message, sent (acks=all,
 * idempotent) whenever the stream has nothing more buffered, one request at a
 * time. The only import of the library outside its adapter: a ceiling must
 * not go through rivulet.
 */
async function bareConsumePlatformatic(
  spec: Extract<RunSpec, { kind: "consume" | "consume-produce" }>,
): Promise<RunResult> {
  const { Consumer, Producer } = await import("@platformatic/kafka");
  const connection = { clientId: "rivulet-bench-ceiling", bootstrapBrokers: [benchBroker] };
  const consumer = new Consumer({
    ...connection,
    groupId: `bench-ceiling-${crypto.randomUUID()}`,
    autocommit: false,
    maxWaitTime: 1_000,
  });
  const producer = spec.kind === "consume-produce"
    ? new Producer({ ...connection, idempotent: true, acks: -1, autocreateTopics: false })
    : undefined;
  let joinedAt = 0;
  consumer.on("consumer:group:join", () => (joinedAt ||= performance.now()));
  const stream = await consumer.consume({
    topics: [spec.topic],
    mode: "earliest",
    autocommit: false,
  });
  joinedAt ||= performance.now();
  let seen = 0;
  let written = 0;
  let pending: { topic: string; key: Uint8Array; value?: Uint8Array; partition: number }[] = [];
  const flush = async () => {
    if (producer === undefined || pending.length === 0) return;
    const messages = pending;
    pending = [];
    await producer.send({ messages: messages as never, acks: -1 });
    written += messages.length;
  };
  for await (const message of stream) {
    seen++;
    if (producer !== undefined && spec.kind === "consume-produce") {
      pending.push({
        topic: spec.outTopic,
        key: new TextEncoder().encode(String(message.offset)),
        value: message.value,
        partition: 0,
      });
      if (stream.readableLength === 0 || pending.length >= 10_000) await flush();
    }
    if (seen >= spec.messages) break;
  }
  await flush();
  const endedAt = performance.now();
  await stream.close().catch(() => {});
  await consumer.close(true);
  await producer?.close();
  return {
    messages: seen,
    seconds: (endedAt - joinedAt) / 1000,
    ...(producer === undefined ? {} : { outputRecords: written }),
  };
}

function benchConfig(): ClientConfig {
  return translateSettings({
    "bootstrap.servers": benchBroker,
    "group.id": `bench-rivulet-${crypto.randomUUID()}`,
    "auto.offset.reset": "earliest",
  }).config;
}

/** The ceiling of rivulet's adapter of a client: its group consumer, counting handed-over batches. */
async function adapterConsume(spec: Extract<RunSpec, { kind: "adapter-consume" }>) {
  const config = benchConfig();
  const client = await createKafkaClient(spec.client ?? resolveKafkaClientName(), config);
  const consumer = client.consumer({
    groupId: config.groupId!,
    topics: [spec.topic],
    autoOffsetReset: "earliest",
  });
  await consumer.connect();
  let joinedAt = 0;
  let seen = 0;
  let done!: (at: number) => void;
  const finished = new Promise<number>((resolve) => (done = resolve));
  await consumer.run({
    onAssigned: () => void (joinedAt ||= performance.now()),
    onBatch: (batch) => {
      seen += batch.messages.length;
      if (seen >= spec.messages) done(performance.now());
      return Promise.resolve();
    },
  });
  const endedAt = await finished;
  await consumer.disconnect();
  await client.close();
  return { messages: seen, seconds: (endedAt - joinedAt) / 1000 };
}

/**
 * The consume + produce ceiling of rivulet's adapter of a client: the work of
 * the bare `consume-produce` ceiling (one keyed record per message, acks=all,
 * idempotent, one request at a time), done through rivulet's `KafkaClient`,
 * so that both clients produce requests of the same size.
 */
async function adapterConsumeProduce(spec: Extract<RunSpec, { kind: "adapter-consume-produce" }>) {
  const config = benchConfig();
  const client = await createKafkaClient(spec.client ?? resolveKafkaClientName(), config);
  const consumer = client.consumer({
    groupId: config.groupId!,
    topics: [spec.topic],
    autoOffsetReset: "earliest",
  });
  const producer = client.producer({ idempotent: true });
  await consumer.connect();
  await producer.connect();
  let joinedAt = 0;
  let seen = 0;
  let written = 0;
  let done!: (at: number) => void;
  const finished = new Promise<number>((resolve) => (done = resolve));
  await consumer.run({
    onAssigned: () => void (joinedAt ||= performance.now()),
    onBatch: async (batch) => {
      seen += batch.messages.length;
      const records = batch.messages.map((m) => ({ key: m.offset, value: m.value, partition: 0 }));
      await producer.send([{ topic: spec.outTopic, records }]);
      written += records.length;
      if (seen >= spec.messages) done(performance.now());
    },
  });
  const endedAt = await finished;
  await consumer.disconnect();
  await producer.disconnect();
  await client.close();
  return { messages: seen, seconds: (endedAt - joinedAt) / 1000, outputRecords: written };
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
  spec: {
    topic: string;
    outTopic: string;
    commitFrequency: number;
    lingerMs?: number;
    client?: BenchClient;
  },
): PipelineParts {
  const pipeline = new rw.Pipeline();
  const config = benchConfig();
  let join!: (at: number) => void;
  const joined = new Promise<number>((resolve) => (join = resolve));
  // One client for the source and the sink, as kafka.read / kafka.write share one per settings.
  const client = deferredKafkaClient(
    () => spec.client ?? resolveKafkaClientName(),
    config,
    pipeline.logger,
  );
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
    const result = spec.kind === "adapter-consume"
      ? await adapterConsume(spec)
      : spec.kind === "adapter-consume-produce"
      ? await adapterConsumeProduce(spec)
      : spec.kind === "consume" || spec.kind === "consume-produce"
      ? (spec.client === "platformatic"
        ? await bareConsumePlatformatic(spec)
        : await bareConsume(spec))
      : await rivulet(spec);
    console.log(JSON.stringify(result));
  }
  Deno.exit(0);
}
