/**
 * `rivulet run --transform T.ts ... --partitioned`: the transform runs as
 * tasks per partition (`runtime/tasks/runner.ts`), so that several instances
 * started with the same settings (one `group.id`) share the input's
 * partitions and take over from each other. This file turns a
 * {@linkcode TransformPlan} into that run: the Kafka client, the reader
 * options, the transform built once per task, and the output sink.
 *
 * @module
 */
import * as rw from "../mod.ts";
import type { Logger, Row, Table } from "../mod.ts";
import { createKafkaClient, resolveKafkaClientName } from "../connectors/kafka/clients.ts";
import type { KafkaClient } from "../connectors/kafka/client.ts";
import { KafkaSink } from "../connectors/kafka/sink.ts";
import { outputRecordEncoder } from "../formats/encode_output.ts";
import { PartitionedRun } from "../runtime/tasks/runner.ts";
import type { KafkaClientName } from "../connectors/kafka/clients.ts";
import {
  api,
  loadFormatFor,
  schemaOf,
  settingsOf,
  sourceOptionsOf,
  transformThrew,
} from "./build.ts";
import { UsageError } from "./exit_codes.ts";
import type { TransformPlan } from "./run_plan.ts";
import { importUserModule, transformOf } from "./user_module.ts";

/** Options of {@linkcode buildPartitionedRun}. */
export interface PartitionedBuildOptions {
  readonly plan: TransformPlan;
  readonly logger: Logger;
  readonly exactlyOnce: boolean;
  /** The prefix of the tasks' transactional ids (`--transactional-id`). */
  readonly transactionalId?: string;
  readonly kafkaClient?: KafkaClientName;
  readonly signal?: AbortSignal;
}

/** A partitioned run and the client it owns (close it after the run). */
export interface BuiltPartitionedRun {
  readonly run: PartitionedRun;
  readonly client: KafkaClient;
}

/**
 * Loads what the plan names and makes the run. Nothing connects here; every
 * problem with what the plan names is a {@linkcode UsageError}.
 */
export async function buildPartitionedRun(
  options: PartitionedBuildOptions,
): Promise<BuiltPartitionedRun> {
  const { plan, logger } = options;
  if (plan.input.kind !== "kafka" || plan.settings === undefined) {
    throw new UsageError("--partitioned needs Kafka input: --topic NAME --settings S.json");
  }
  const topics = plan.input.topics;
  const format = await loadFormatFor(plan.format);
  const loaded = await settingsOf(plan.settings);
  for (const warning of loaded.warnings) logger.warn(warning);
  const module = await importUserModule(plan.transform, "transform");
  const transform = transformOf(module, plan.transform);
  const schema = await schemaOf(plan);
  const name = topics.join(",");
  const read = usage(() =>
    rw.readOptions({ name } as rw.Source, sourceOptionsOf(plan, format, schema))
  );
  const build = (input: Table<Row>): Table<Row> => {
    let output: unknown;
    try {
      output = transform(input, api);
    } catch (error) {
      throw transformThrew(plan.transform, error);
    }
    if (!(output instanceof rw.Table)) {
      throw new UsageError(
        `The transform ${JSON.stringify(plan.transform)} must return a table` +
          (output instanceof Promise
            ? " synchronously with --partitioned (each task builds it)"
            : ""),
      );
    }
    return output as Table<Row>;
  };
  const keyed = read.primaryKey !== undefined || read.keyAsRowId === true;
  // The output's columns, for the encoder: the transform built once on a graph of its own.
  const probe = new rw.Graph({ onExchange: () => {} });
  const columns = build(probe.input<Row>({ name, keyed })).columns;
  const encoder = usage(() =>
    outputRecordEncoder<Row>({
      ...(plan.output?.format === undefined ? {} : { format: plan.output.format }),
      ...(plan.output?.delimiter === undefined ? {} : { delimiter: plan.output.delimiter }),
      ...(plan.output?.value === undefined ? {} : { value: plan.output.value }),
      ...(plan.output?.key === undefined ? {} : { key: plan.output.key }),
      ...(plan.output?.headers === undefined ? {} : { headers: plan.output.headers }),
      ...(plan.outputTopicColumn === undefined ? {} : { topicColumn: plan.outputTopicColumn }),
    }, columns)
  );
  const config = loaded.config;
  const client = await createKafkaClient(
    resolveKafkaClientName({ option: options.kafkaClient }),
    config,
    logger,
  );
  const sink = new KafkaSink<Row>({
    config,
    client,
    ...(plan.outputTopic === undefined ? {} : { topic: plan.outputTopic }),
    encode: encoder.value,
    ...(encoder.key === undefined ? {} : { key: encoder.key }),
    ...(encoder.headers === undefined ? {} : { headers: encoder.headers }),
    ...(encoder.topic === undefined ? {} : { topicOf: encoder.topic }),
    logger,
    ...(plan.commitFrequency === undefined
      ? {}
      : { commitFrequencyInMessages: plan.commitFrequency }),
    ...(plan.output?.partitions === undefined ? {} : { partitions: plan.output.partitions }),
  });
  const { source: _source, formatOptions, ...reader } = read;
  const run = new PartitionedRun({
    client,
    config,
    topics,
    name,
    read: {
      ...reader,
      formatOptions: formatOptions ?? {},
      errorPolicy: reader.errorPolicy ?? "stop",
    },
    keyed,
    build,
    sink,
    exactlyOnce: options.exactlyOnce,
    ...(options.transactionalId === undefined
      ? {}
      : { transactionalIdPrefix: options.transactionalId }),
    logger,
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
  return { run, client };
}

/** Runs `make`; what it throws (options it cannot use) is the user's to fix. */
function usage<T>(make: () => T): T {
  try {
    return make();
  } catch (error) {
    throw error instanceof UsageError
      ? error
      : new UsageError((error as Error).message, { cause: error });
  }
}
