/**
 * rivulet: a stream processor for Kafka, in TypeScript.
 *
 * Read topics with a format (raw, csv, json, or your own), apply their
 * `*COMMIT*`-delimited updates atomically to keyed tables, transform them on
 * an incremental table engine, and write every change of the result to Kafka
 * as JSON with `diff` and `time`: Pathway's Kafka connectors, for Deno.
 *
 * The seed's example, summing the `value` column of a csv topic:
 *
 * @example
 * ```ts ignore
 * import * as rw from "./mod.ts";
 *
 * const settings = { "bootstrap.servers": "127.0.0.1:9092", "group.id": "sum-example" };
 * const t = rw.kafka.read(settings, {
 *   topicNames: ["connector_example"],
 *   format: "csv",
 *   valueColumns: ["value"],
 * });
 * const values = t.select({ value: rw.apply((x: string) => parseInt(x), "value") });
 * const sum = values.reduce({ sum: rw.reducers.sum("value") });
 * rw.kafka.write(sum, settings, { topicName: "sum", format: "json" });
 * await rw.run({ stateDir: ".state/sum-example" });
 * ```
 *
 * @module
 */
import type { Row, Value } from "./engine/types.ts";
import type { Table } from "./engine/mod.ts";
import { LineSink, LineSource } from "./connectors/file.ts";
import { type Logger, silentLogger } from "./connectors/types.ts";
import type { Format, FormatOptions } from "./formats/format.ts";
import { builtinFormats } from "./formats/mod.ts";
import { compileSchema, type RowOfSchema, type Schema } from "./formats/schema.ts";
import { encodeChange } from "./formats/encode_json.ts";
import { type OutputFormatName, outputRecordEncoder } from "./formats/encode_output.ts";
import { type KafkaSettings, translateSettingsOnce } from "./connectors/kafka/settings.ts";
import type { ClientConfig } from "./connectors/kafka/config.ts";
import { KafkaSource } from "./connectors/kafka/source.ts";
import { KafkaSink } from "./connectors/kafka/sink.ts";
import { KafkaDeadLetterSink } from "./connectors/kafka/dead_letter.ts";
import type { KafkaClient } from "./connectors/kafka/client.ts";
import {
  deferredKafkaClient,
  type KafkaClientName,
  parseKafkaClientName,
  resolveKafkaClientName,
} from "./connectors/kafka/clients.ts";
import {
  Pipeline,
  type PipelineStats,
  type ReadOptions,
  type RunOptions,
} from "./runtime/pipeline.ts";

export * from "./engine/mod.ts";
export type { Batch, Change, Row, RowId, Time, Value } from "./engine/types.ts";
export { BadInputError, formatIssue, type InputIssue } from "./engine/errors.ts";
export type {
  Decoder,
  DecodeResult,
  Format,
  FormatOptions,
  MessageInfo,
} from "./formats/format.ts";
export { FormatError } from "./formats/format.ts";
export { builtinFormats, loadFormat } from "./formats/mod.ts";
export {
  type ColumnSchema,
  type ColumnTypeName,
  compileSchema,
  parseSchemaText,
  type RowOfSchema,
  type Schema,
} from "./formats/schema.ts";
export { encodeChange } from "./formats/encode_json.ts";
export {
  encodeDsvChange,
  type OutputFormatName,
  OutputOptionsError,
  type OutputRecordOptions,
} from "./formats/encode_output.ts";
export {
  Pipeline,
  type PipelineStats,
  type ReadOptions,
  type RunOptions,
} from "./runtime/pipeline.ts";
export type { CommitMode } from "./runtime/reader.ts";
export type { ErrorPolicy, Logger, Sink, Source } from "./connectors/types.ts";
export { LineSink, LineSource } from "./connectors/file.ts";
export type { KafkaClient } from "./connectors/kafka/client.ts";
export {
  createKafkaClient,
  defaultKafkaClientName,
  type KafkaClientName,
  kafkaClientNames,
} from "./connectors/kafka/clients.ts";
export {
  type KafkaSettings,
  loadSettingsFile,
  redactSettings,
  SettingsError,
} from "./connectors/kafka/settings.ts";

/** The built-in format names. */
export type FormatName = "raw" | "plaintext" | "csv" | "json";

/** The rows a source yields for a format and its value (and key) columns. */
export type RowOf<F, C extends string> = F extends "raw"
  ? { key: Uint8Array | null; data: Uint8Array }
  : F extends "plaintext" ? { key: string | null; data: string }
  : F extends "csv" ? { [K in C]: string }
  : { [K in C]: Value };

/** The rows a source yields: typed by its schema when it has one, else by its format. */
export type SourceRow<F, C extends string, S> = [S] extends [Schema] ? RowOfSchema<S>
  : RowOf<F, C>;

/** Options every source shares: how messages become rows. */
export interface SourceOptions<
  F extends FormatName | Format,
  C extends string,
  S extends Schema | undefined = undefined,
> {
  /** raw, plaintext, csv, json, or a format module's {@linkcode Format}. */
  readonly format: F;
  /** The columns the table gets (csv and json; default: the schema's columns). */
  readonly valueColumns?: readonly C[];
  /**
   * Typed columns: `{ value: "int", name: "str?", score: { type: "float", default: 0 } }`.
   * Each value is converted when read (types: int, float, bool, str, bytes,
   * json, timestamp); one that does not convert is bad input under the
   * error policy. The table's row type follows the schema.
   */
  readonly schema?: S;
  /** json: a JSON Pointer per column for nested values, e.g. `{ city: "/address/city" }`. */
  readonly jsonFieldPaths?: Readonly<Record<string, string>>;
  /**
   * Columns read from the message key, decoded by the same format (json: an
   * object's fields; csv: the key's fields in this order). A message
   * without a key is bad input.
   */
  readonly keyColumns?: readonly string[];
  /**
   * The Kafka key is the row id: a later message with the same key replaces
   * its row, a tombstone (no value) deletes it, a message without a key is
   * bad input. A compacted topic reads as a table.
   */
  readonly keyAsRowId?: boolean;
  /**
   * A stable identity for the source's saved state (default: from its
   * topics or file): reordering named sources in a script keeps their state.
   */
  readonly name?: string;
  /** csv: the column names up front; then no header message is expected. */
  readonly header?: readonly string[];
  /** Columns whose values make the row id: later rows with the same key replace earlier ones. */
  readonly primaryKey?: readonly C[];
  /** Adds a `_metadata` column: topic, partition, offset, timestamp, key, headers. */
  readonly withMetadata?: boolean;
  /** Reads a `diff` column (1 or -1) as insertion or retraction: another pipeline's output. */
  readonly diffColumn?: boolean;
  /** `"marker"` (`*COMMIT*` messages, the default) or `{ intervalMs }` for streams without markers. */
  readonly commitMode?: "marker" | { readonly intervalMs: number };
  /** What to do with bad input: `stop` (default), `skip`, or `dead-letter`. */
  readonly errorPolicy?: ReadOptions["errorPolicy"];
  /** Messages larger than this many bytes (key and value) are bad input (`too_large`); default 1,048,588, Kafka's `message.max.bytes`. */
  readonly maxMessageBytes?: number;
  /** The pipeline to add the source to (default: the module's pipeline that {@linkcode run} runs). */
  readonly pipeline?: Pipeline;
}

let defaultPipeline: Pipeline | undefined;

/** The pipeline that {@linkcode run} runs and sources and sinks join by default. */
export function currentPipeline(): Pipeline {
  defaultPipeline ??= new Pipeline({ logger: defaultLogger });
  return defaultPipeline;
}

let defaultLogger: Logger = silentLogger;

/** Sets the logger of pipelines created from now on (the command line sets one). */
export function setLogger(logger: Logger): void {
  defaultLogger = logger;
}

/** Resolves a format name or module to a {@linkcode Format}. */
export function resolveFormat(format: FormatName | Format): Format {
  if (typeof format !== "string") return format;
  const found = builtinFormats[format];
  if (found === undefined) {
    throw new Error(
      `Unknown format ${JSON.stringify(format)}: use raw, plaintext, csv, json or a format module`,
    );
  }
  return found;
}

/** Builds the runtime's read options from a source's user-facing options. */
export function readOptions<
  F extends FormatName | Format,
  C extends string,
  S extends Schema | undefined = undefined,
>(
  source: ReadOptions["source"],
  options: SourceOptions<F, C, S>,
  extra: Pick<ReadOptions, "deadLetter"> = {},
): ReadOptions {
  const format = resolveFormat(options.format);
  const schema = options.schema === undefined
    ? undefined
    : compileSchema(options.schema, { valuesAreJson: format.name === "json" });
  const keyColumns = options.keyColumns;
  const fromKey = (name: string) => keyColumns?.includes(name) ?? false;
  // With a schema, the format reads the schema's columns that the key does not give.
  const valueColumns: readonly string[] | undefined = options.valueColumns ??
    schema?.map((column) => column.name).filter((name) => !fromKey(name));
  const optionalColumns = schema?.filter((c) => c.optional).map((c) => c.name);
  const formatOptions: FormatOptions = {
    ...(valueColumns === undefined ? {} : {
      valueColumns: options.diffColumn && !valueColumns.includes("diff")
        ? [...valueColumns, "diff"]
        : valueColumns,
    }),
    ...(options.header === undefined ? {} : { header: options.header }),
    ...(options.jsonFieldPaths === undefined ? {} : { fieldPaths: options.jsonFieldPaths }),
    ...(optionalColumns === undefined || optionalColumns.length === 0 ? {} : { optionalColumns }),
  };
  if (keyColumns !== undefined && (format.name === "raw" || format.name === "plaintext")) {
    throw new Error(
      `Option keyColumns does not apply to the ${format.name} format, which gives the key as ` +
        `its "key" column (source "${source.name}")`,
    );
  }
  if (options.jsonFieldPaths !== undefined && format.name !== "json") {
    throw new Error(
      `Option jsonFieldPaths applies to the json format only (source "${source.name}")`,
    );
  }
  const missingKey = options.primaryKey?.find((column) =>
    valueColumns !== undefined && !valueColumns.includes(column) && !fromKey(column)
  );
  if (missingKey !== undefined) {
    throw new Error(
      `Primary key column ${JSON.stringify(missingKey)} is not one of the value columns ${
        JSON.stringify(valueColumns)
      } of source "${source.name}"`,
    );
  }
  const mode = options.commitMode ?? "marker";
  return {
    source,
    format,
    formatOptions,
    primaryKey: options.primaryKey,
    withMetadata: options.withMetadata,
    diffColumn: options.diffColumn,
    commitMode: mode === "marker"
      ? { kind: "marker" }
      : { kind: "interval", intervalMs: mode.intervalMs },
    errorPolicy: options.errorPolicy,
    ...(options.maxMessageBytes === undefined ? {} : { maxMessageBytes: options.maxMessageBytes }),
    ...(schema === undefined ? {} : { schema }),
    ...(options.keyAsRowId ? { keyAsRowId: true } : {}),
    ...(keyColumns === undefined ? {} : { keyColumns }),
    ...extra,
  };
}

/**
 * Local input and output, for trying a transform without a broker: a file
 * (or `-` for standard input) with one message per line, `*COMMIT*` lines
 * included, and standard output with one JSON change per line.
 */
export const io = {
  /** Reads a file or standard input, one message per line. */
  read<
    F extends FormatName | Format,
    C extends string,
    const S extends Schema | undefined = undefined,
  >(
    path: string,
    options: SourceOptions<F, C, S>,
  ): Table<SourceRow<F, C, S>> {
    const pipeline = options.pipeline ?? currentPipeline();
    const source = new LineSource({
      path,
      ...(options.name === undefined ? {} : { name: options.name }),
    });
    return pipeline.read<SourceRow<F, C, S>>(readOptions(source, options));
  },
  /** Writes every change of `table` to standard output (or `writable`), one JSON object per line. */
  write<R extends Row>(
    table: Table<R>,
    options: {
      readonly writable?: WritableStream<Uint8Array>;
      readonly commitMarkers?: boolean;
      readonly pipeline?: Pipeline;
    } = {},
  ): void {
    const pipeline = options.pipeline ?? currentPipeline();
    pipeline.write(
      table,
      new LineSink<R>({ encode: (c, time) => encodeChange(c.row, c.diff, time), ...options }),
    );
  },
};

const warned = new WeakSet<KafkaSettings>();

/**
 * The settings' translation (translateSettingsOnce: the one the command
 * checked, when it loaded them), logging each warning (unknown keys) by name
 * once per settings object (a source and a sink usually share one).
 */
function clientConfig(settings: KafkaSettings, pipeline: Pipeline): ClientConfig {
  const { config, warnings } = translateSettingsOnce(settings);
  if (!warned.has(settings)) {
    warned.add(settings);
    for (const warning of warnings) pipeline.logger.warn(warning);
  }
  return config;
}

/**
 * Which Kafka client a source or sink uses: `"kafkajs"` or `"platformatic"`
 * (@platformatic/kafka), or a {@linkcode KafkaClient} you made and close
 * yourself. Unset, the choice of {@linkcode run}, else of
 * {@linkcode setKafkaClient} (the command line's `--kafka-client`), else the
 * `RIVULET_KAFKA_CLIENT` environment variable, else `kafkajs`. A pipeline
 * makes one client per settings object and client name, shared by the
 * sources and sinks given that object, and closes it when it stops.
 */
export type KafkaClientChoice = KafkaClientName | KafkaClient;

/** The Kafka clients a pipeline made, by settings object and by the name asked for ("" for none). */
interface PipelineKafkaClients {
  readonly bySettings: WeakMap<KafkaSettings, Map<string, KafkaClient>>;
  /** The choice of {@linkcode run}'s `kafkaClient` option. */
  runChoice?: KafkaClientName;
}

const kafkaClients = new WeakMap<Pipeline, PipelineKafkaClients>();

let commandKafkaClient: KafkaClientName | undefined;

/**
 * Sets the Kafka client of pipelines that run from now on, where neither the
 * read or write call nor {@linkcode run} chooses one (the command line's
 * `--kafka-client` sets it); `undefined` leaves the choice to `RIVULET_KAFKA_CLIENT`.
 */
export function setKafkaClient(name: KafkaClientName | undefined): void {
  commandKafkaClient = name === undefined
    ? undefined
    : parseKafkaClientName(name, "The Kafka client");
}

/**
 * The pipeline's client for a settings object: one per object and name, made
 * on first use and closed by the pipeline when it stops. Its implementation
 * is chosen when the pipeline starts.
 */
function kafkaClientFor(
  settings: KafkaSettings,
  config: ClientConfig,
  choice: KafkaClientChoice | undefined,
  pipeline: Pipeline,
): KafkaClient {
  if (choice !== undefined && typeof choice !== "string") return choice;
  const name = choice === undefined
    ? undefined
    : parseKafkaClientName(choice, 'Option "kafkaClient"');
  let clients = kafkaClients.get(pipeline);
  if (clients === undefined) kafkaClients.set(pipeline, clients = { bySettings: new WeakMap() });
  let byName = clients.bySettings.get(settings);
  if (byName === undefined) clients.bySettings.set(settings, byName = new Map());
  const known = byName.get(name ?? "");
  if (known !== undefined) return known;
  const chosenBy = clients;
  const client = deferredKafkaClient(
    () => resolveKafkaClientName({ option: name ?? chosenBy.runChoice ?? commandKafkaClient }),
    config,
    pipeline.logger,
  );
  pipeline.share(client);
  byName.set(name ?? "", client);
  return client;
}

/** Options of {@linkcode kafka.read}: Pathway's `pw.kafka.read` arguments. */
export interface KafkaReadOptions<
  F extends FormatName | Format,
  C extends string,
  S extends Schema | undefined = undefined,
> extends SourceOptions<F, C, S> {
  /** The topics listened to, by one consumer group (`group.id`). */
  readonly topicNames: readonly string[];
  /**
   * Start at the first record at or after this time (milliseconds since the
   * epoch) in every partition, instead of the group's committed offsets.
   * Positions restored from a state directory still win.
   */
  readonly startFromTimestampMs?: number;
  /**
   * A bounded read: look up the end offsets at start, read up to them, apply,
   * flush and end the run (records written after the start are not read).
   * For backfills and tests. In marker mode rows after the last `*COMMIT*`
   * are not applied; in interval mode everything read is.
   */
  readonly untilEnd?: boolean;
  /** Where bad messages go under the `dead-letter` policy. */
  readonly deadLetterTopic?: string;
  /** The Kafka client: a name, or one you made (and close) yourself. See {@linkcode KafkaClientChoice}. */
  readonly kafkaClient?: KafkaClientChoice;
}

/** Options of {@linkcode kafka.write}: Pathway's `pw.kafka.write` arguments. */
export interface KafkaWriteOptions {
  /** The topic every change goes to (Pathway's `topic_name` as a string). */
  readonly topicName?: string;
  /**
   * Dynamic topics (Pathway's `topic_name` as a column): each change goes to
   * the topic its row names in this string column. Give this or `topicName`.
   */
  readonly topicColumn?: string;
  /**
   * `json` (the default: `{...columns,"diff":1,"time":T}`), `dsv` (every
   * column, then time and diff, quoted and `delimiter`-separated), `plaintext`
   * (one string column) or `raw` (one bytes column), as Pathway writes them.
   */
  readonly format?: OutputFormatName;
  /** dsv's field delimiter (default `,`). */
  readonly delimiter?: string;
  /** plaintext and raw: the column written as the value (default: the table's only column). */
  readonly value?: string;
  /** The column whose value is each record's key (default: the row id); it also picks the partition. */
  readonly key?: string;
  /** Columns sent as record headers named after them (plaintext and raw add `pathway_time` and `pathway_diff`). */
  readonly headers?: readonly string[];
  /** Commits whose changes go in one produce request at most (default 1). */
  readonly commitFrequencyInMessages?: number;
  /** Milliseconds a commit may wait for others to fill a request (default 100). */
  readonly lingerMs?: number;
  /** Ends each commit with a `*COMMIT*` record, so another pipeline reads the topic atomically. */
  readonly commitMarkers?: boolean;
  /**
   * Partitions of an output topic rivulet creates (default 1, right for a
   * global result). Records go to `murmur2(key) % partitions`, as the Java
   * client places them; when given, an existing topic must have this count.
   */
  readonly partitions?: number;
  /** The Kafka client: a name, or one you made (and close) yourself. See {@linkcode KafkaClientChoice}. */
  readonly kafkaClient?: KafkaClientChoice;
  readonly pipeline?: Pipeline;
}

/**
 * Kafka input and output, as Pathway's `pw.kafka`: settings are librdkafka's
 * keys and string values (`bootstrap.servers`, `group.id`,
 * `security.protocol`, `sasl.mechanism`, `sasl.username`, `sasl.password`, ...).
 */
export const kafka = {
  /** Reads topics into a table; each `*COMMIT*` message applies its partition's rows atomically. */
  read<
    F extends FormatName | Format,
    C extends string,
    const S extends Schema | undefined = undefined,
  >(
    settings: KafkaSettings,
    options: KafkaReadOptions<F, C, S>,
  ): Table<SourceRow<F, C, S>> {
    const pipeline = options.pipeline ?? currentPipeline();
    const config = clientConfig(settings, pipeline);
    if (config.groupId === undefined) {
      throw new Error(
        'Setting "group.id" is required to read topics: offsets are committed to that group',
      );
    }
    if (options.topicNames.length === 0) throw new Error("Option topicNames names no topic");
    const client = kafkaClientFor(settings, config, options.kafkaClient, pipeline);
    const source: KafkaSource = new KafkaSource({
      config,
      client,
      topics: options.topicNames,
      logger: pipeline.logger,
      onPartitionsRevoked: (partitions) => pipeline.dropPartitions(source, partitions),
      ...(options.name === undefined ? {} : { name: options.name }),
      ...(options.startFromTimestampMs === undefined
        ? {}
        : { startFromTimestampMs: options.startFromTimestampMs }),
      ...(options.untilEnd ? { untilEnd: true } : {}),
    });
    const deadLetter = options.deadLetterTopic === undefined ? undefined : new KafkaDeadLetterSink({
      config,
      client,
      topic: options.deadLetterTopic,
      logger: pipeline.logger,
    });
    return pipeline.read<SourceRow<F, C, S>>(readOptions(source, options, { deadLetter }));
  },
  /**
   * Writes every change of `table` to a topic (or a topic per row, with
   * `topicColumn`) in the chosen format; the key is the row id or the `key`
   * column, and picks the partition as Kafka's Java client would (murmur2).
   */
  write<R extends Row>(table: Table<R>, settings: KafkaSettings, options: KafkaWriteOptions): void {
    if ((options.topicName === undefined) === (options.topicColumn === undefined)) {
      throw new Error(
        options.topicName === undefined
          ? "kafka.write needs topicName (one topic) or topicColumn (a topic per row)"
          : "Give kafka.write topicName or topicColumn, not both",
      );
    }
    if (options.topicName === "") throw new Error("kafka.write: topicName is empty");
    const encoder = outputRecordEncoder<R>({
      format: options.format,
      delimiter: options.delimiter,
      value: options.value,
      key: options.key,
      headers: options.headers,
      topicColumn: options.topicColumn,
    }, table.columns);
    const pipeline = options.pipeline ?? currentPipeline();
    const config = clientConfig(settings, pipeline);
    pipeline.write(
      table,
      new KafkaSink<R>({
        config,
        client: kafkaClientFor(settings, config, options.kafkaClient, pipeline),
        topic: options.topicName,
        encode: encoder.value,
        ...(encoder.key === undefined ? {} : { key: encoder.key }),
        ...(encoder.headers === undefined ? {} : { headers: encoder.headers }),
        ...(encoder.topic === undefined ? {} : { topicOf: encoder.topic }),
        logger: pipeline.logger,
        commitFrequencyInMessages: options.commitFrequencyInMessages,
        lingerMs: options.lingerMs,
        commitMarkers: options.commitMarkers,
        ...(options.partitions === undefined ? {} : { partitions: options.partitions }),
      }),
    );
  },
};

/** Options of {@linkcode run}. */
export interface RunPipelineOptions extends RunOptions {
  /** The pipeline to run (default: the module's). */
  readonly pipeline?: Pipeline;
  /** The Kafka client of the sources and sinks whose read or write call chose none. */
  readonly kafkaClient?: KafkaClientName;
}

/**
 * Runs the pipeline until SIGINT or SIGTERM (or until every file source is
 * read): then it stops reading, finishes the open commit, flushes the sinks,
 * commits the input offsets, and resolves.
 */
export async function run(options: RunPipelineOptions = {}): Promise<PipelineStats> {
  const pipeline = options.pipeline ?? currentPipeline();
  if (pipeline === defaultPipeline) defaultPipeline = undefined;
  if (options.kafkaClient !== undefined) {
    const choice = parseKafkaClientName(options.kafkaClient, 'Option "kafkaClient" of run()');
    const clients = kafkaClients.get(pipeline);
    if (clients !== undefined) clients.runChoice = choice;
  }
  const controller = new AbortController();
  const stop = () => controller.abort();
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  for (const signal of signals) Deno.addSignalListener(signal, stop);
  try {
    const signal = options.signal === undefined
      ? controller.signal
      : AbortSignal.any([options.signal, controller.signal]);
    const { pipeline: _pipeline, kafkaClient: _kafkaClient, ...runOptions } = options;
    return await pipeline.run({ ...runOptions, signal });
  } finally {
    for (const signal of signals) Deno.removeSignalListener(signal, stop);
  }
}
