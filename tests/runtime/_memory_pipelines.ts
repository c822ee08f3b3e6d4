/**
 * The crash tests' two pipelines (the seed's sum over csv, and a json
 * group-by with upserts) built over the in-memory Kafka fake, for unit tests
 * of the apply loop and the delivery modes that need no broker.
 *
 * @module
 */
import * as rw from "../../mod.ts";
import { KafkaSink } from "../../connectors/kafka/sink.ts";
import { KafkaSource } from "../../connectors/kafka/source.ts";
import type { ClientConfig } from "../../connectors/kafka/config.ts";
import type { MemoryKafka } from "../../connectors/kafka/memory/client.ts";
import type { KafkaClient } from "../../connectors/kafka/client.ts";
import { encodeChange } from "../../formats/encode_json.ts";
import type { CrashInput, OutputRecord } from "../e2e/fixtures/crash_harness.ts";

/** The topics and group of one pipeline. */
export interface MemoryRun {
  readonly kind: "seed" | "groupby";
  readonly group: string;
  readonly input: string;
  readonly output: string;
}

/** A pipeline of `run.kind` reading and writing the in-memory cluster. */
export function memoryPipeline(
  kafka: MemoryKafka,
  run: MemoryRun,
  logger?: rw.Logger,
  /** The sink's client (default `kafka`): a wrapper that injects faults into what it writes. */
  sinkClient: KafkaClient = kafka,
): rw.Pipeline {
  const config: ClientConfig = {
    brokers: ["memory:0"],
    clientId: "rivulet-test",
    groupId: run.group,
    autoOffsetReset: "earliest",
  };
  const pipeline = new rw.Pipeline(logger === undefined ? {} : { logger });
  const source: KafkaSource = new KafkaSource({
    config,
    topics: [run.input],
    client: kafka,
    onPartitionsRevoked: (partitions) => pipeline.dropPartitions(source, partitions),
  });
  let table: rw.Table<rw.Row>;
  if (run.kind === "seed") {
    const t = pipeline.read<{ value: string }>(
      rw.readOptions(source, { format: "csv", valueColumns: ["value"] }),
    );
    const values = t.select({ value: rw.apply((x: string) => parseInt(x), "value") });
    table = values.reduce({ sum: rw.reducers.sum("value") });
  } else {
    const orders = pipeline.read(rw.readOptions(source, {
      format: "json",
      valueColumns: ["id", "customer", "amount"],
      primaryKey: ["id"],
    }));
    table = orders.groupby("customer").reduce({
      customer: "customer",
      count: rw.reducers.count(),
      total: rw.reducers.sum("amount"),
    });
  }
  pipeline.write(
    table,
    new KafkaSink({
      config,
      topic: run.output,
      client: sinkClient,
      encode: (change, time) => encodeChange(change.row, change.diff, time),
      lingerMs: 0,
    }),
  );
  return pipeline;
}

/** Appends one chunk of a crash input to its partitions. */
export function appendChunk(kafka: MemoryKafka, topic: string, chunk: CrashInput["chunks"][0]) {
  kafka.append(topic, chunk.map((m) => ({ key: null, value: m.value, partition: m.partition })));
}

/** The output topic's records as `checkOutput` takes them. */
export function outputRecords(
  kafka: MemoryKafka,
  topic: string,
  isolation: "read_committed" | "read_uncommitted" = "read_committed",
): OutputRecord[] {
  const decoder = new TextDecoder();
  return kafka.records(topic, { isolation }).map((m) => ({
    offset: Number(m.offset),
    key: m.key === null ? "" : decoder.decode(m.key),
    value: m.value === null ? "" : decoder.decode(m.value),
  }));
}

/** Copies a state directory as it is at this instant (synchronously: nothing else runs meanwhile). */
export function snapshotDir(from: string, to: string): void {
  Deno.mkdirSync(to, { recursive: true });
  for (const entry of Deno.readDirSync(from)) {
    if (entry.isFile) Deno.copyFileSync(`${from}/${entry.name}`, `${to}/${entry.name}`);
  }
}
