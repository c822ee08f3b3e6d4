/**
 * Builds the pipeline a {@linkcode TransformPlan} describes: the source
 * (file, standard input or Kafka topics), the user's transform, and the sink
 * (standard output or a Kafka topic). Nothing connects or reads here, so
 * `check` builds the same pipeline to find mistakes early.
 *
 * @module
 */
import * as rw from "../mod.ts";
import type { Format, Logger, Pipeline, Row, Table } from "../mod.ts";
import type { KafkaSource } from "../connectors/kafka/source.ts";
import { UsageError } from "./exit_codes.ts";
import type { SettingsSource, TransformPlan } from "./run_plan.ts";
import { checkSettings, type LoadedSettings, loadSettings } from "./settings_file.ts";
import { importUserModule, transformOf } from "./user_module.ts";
import { loadSchemaFile, schemaFromFlag } from "./schema_file.ts";

/** The rivulet API a transform and a pipeline script receive: the module namespace of `mod.ts`. */
export type RivuletApi = typeof rw;

/** The API object passed to transforms and pipeline scripts. */
export const api: RivuletApi = rw;

/** What the Kafka connector of `mod.ts` offers (looked up at run time: it may be absent from a build). */
interface KafkaApi {
  read(settings: Readonly<Record<string, string>>, options: Record<string, unknown>): Table<Row>;
  write(
    table: Table<Row>,
    settings: Readonly<Record<string, string>>,
    options: Record<string, unknown>,
  ): void;
}

/** Options of {@linkcode buildTransformPipeline}. */
export interface BuildOptions {
  /** What to build. */
  readonly plan: TransformPlan;
  /** Where the pipeline and its connectors log. */
  readonly logger: Logger;
}

/** A built pipeline and what was loaded for it. */
export interface BuiltPipeline {
  /** The pipeline, ready to run. */
  readonly pipeline: Pipeline;
  /** Messages the Kafka source is behind the end of its topics, over all partitions (Kafka sources only). */
  readonly lag?: () => Promise<number>;
  /** The format the source decodes with. */
  readonly format: Format;
  /** The Kafka settings, when the plan names some. */
  readonly settings?: LoadedSettings;
  /** The absolute path of the transform module. */
  readonly transformFile: string;
}

/**
 * Loads the format, settings and transform a plan names and wires source →
 * transform → sink on a new {@linkcode Pipeline}. Every problem with what the
 * plan names is a {@linkcode UsageError}.
 */
export async function buildTransformPipeline(options: BuildOptions): Promise<BuiltPipeline> {
  const { plan, logger } = options;
  const format = await loadFormatFor(plan.format);
  const settings = plan.settings === undefined ? undefined : await settingsOf(plan.settings);
  // Settings warnings are logged once, by rw.kafka.read / rw.kafka.write, on the pipeline's logger.
  const module = await importUserModule(plan.transform, "transform");
  const transform = transformOf(module, plan.transform);
  if (plan.input.kind === "file" && plan.input.path !== "-") await checkInputFile(plan.input.path);

  const schema = await schemaOf(plan);
  const pipeline = new rw.Pipeline({ logger });
  const sourceOptions = { ...sourceOptionsOf(plan, format, schema), pipeline };
  let lag: (() => Promise<number>) | undefined;
  let input: Table<Row>;
  if (plan.input.kind === "file") {
    // LineSource hands over each read's lines at once, so a live stdin stream is processed
    // as it arrives.
    const source = new rw.LineSource({ path: plan.input.path });
    input = pipeline.read<Row>(asUsageError(() => rw.readOptions(source, sourceOptions)));
  } else {
    const topicNames = plan.input.topics;
    const kafkaSource = asUsageError(() =>
      rw.kafka.read(settings!.settings, {
        ...sourceOptions,
        topicNames,
        ...(plan.deadLetterTopic === undefined ? {} : { deadLetterTopic: plan.deadLetterTopic }),
        ...(plan.startFromTimestampMs === undefined
          ? {}
          : { startFromTimestampMs: plan.startFromTimestampMs }),
        ...(plan.untilEnd ? { untilEnd: true } : {}),
      })
    );
    input = kafkaSource as unknown as Table<Row>;
    // The status line asks the source its lag.
    const source = pipeline.sources().at(-1) as KafkaSource;
    lag = async () => (await source.lag()).reduce((total, p) => total + p.lag, 0);
  }

  let output: unknown;
  try {
    output = await transform(input, api);
  } catch (error) {
    throw transformThrew(plan.transform, error);
  }
  if (!(output instanceof rw.Table)) {
    throw new UsageError(
      `The transform ${
        JSON.stringify(plan.transform)
      } must return a table (e.g. input.select(...)), ` +
        `but returned ${output === undefined ? "nothing" : typeof output}`,
    );
  }
  if (plan.outputTopic !== undefined || plan.outputTopicColumn !== undefined) {
    asUsageError(() =>
      rw.kafka.write(output, settings!.settings, {
        ...(plan.outputTopic === undefined ? {} : { topicName: plan.outputTopic }),
        ...(plan.outputTopicColumn === undefined ? {} : { topicColumn: plan.outputTopicColumn }),
        ...plan.output,
        ...(plan.commitFrequency === undefined
          ? {}
          : { commitFrequencyInMessages: plan.commitFrequency }),
        commitMarkers: plan.commitMarkers,
        pipeline,
      })
    );
  } else {
    rw.io.write(output, { pipeline, commitMarkers: plan.commitMarkers });
  }
  return {
    pipeline,
    ...(lag === undefined ? {} : { lag }),
    format,
    ...(settings === undefined ? {} : { settings }),
    transformFile: module.file,
  };
}

/** The schema a plan gives (`--schema` or `--schema-file`), compiled later by the source. */
export async function schemaOf(plan: TransformPlan): Promise<rw.Schema | undefined> {
  return plan.schemaFile !== undefined
    ? await loadSchemaFile(plan.schemaFile)
    : plan.schema !== undefined
    ? schemaFromFlag(plan.schema)
    : undefined;
}

/** The source options a plan gives (format, columns, keys, schema, commits, bad input). */
export function sourceOptionsOf(
  plan: TransformPlan,
  format: Format,
  schema: rw.Schema | undefined,
) {
  return {
    ...(schema === undefined ? {} : { schema }),
    ...(plan.jsonFieldPaths === undefined ? {} : { jsonFieldPaths: plan.jsonFieldPaths }),
    ...(plan.keyColumns === undefined ? {} : { keyColumns: plan.keyColumns }),
    ...(plan.keyAsRowId ? { keyAsRowId: true } : {}),
    ...(plan.withMetadata ? { withMetadata: true } : {}),
    format,
    ...(plan.columns === undefined ? {} : { valueColumns: plan.columns }),
    ...(plan.header === undefined ? {} : { header: plan.header }),
    ...(plan.primaryKey === undefined ? {} : { primaryKey: plan.primaryKey }),
    diffColumn: plan.diffColumn,
    commitMode: plan.commitIntervalMs === undefined
      ? "marker" as const
      : { intervalMs: plan.commitIntervalMs },
    errorPolicy: plan.errorPolicy,
    ...(plan.maxMessageBytes === undefined ? {} : { maxMessageBytes: plan.maxMessageBytes }),
  };
}

/** What the user sees when their transform throws while it builds the pipeline. */
export function transformThrew(path: string, error: unknown): UsageError {
  return new UsageError(
    `The transform ${JSON.stringify(path)} threw while building the pipeline: ${
      error instanceof Error ? error.message : String(error)
    }`,
    { cause: error },
  );
}

/** A format by built-in name or module path; a problem with it is a {@linkcode UsageError}. */
export async function loadFormatFor(nameOrPath: string): Promise<Format> {
  try {
    return await rw.loadFormat(nameOrPath);
  } catch (error) {
    throw new UsageError((error as Error).message, { cause: error });
  }
}

/** Loads settings from a file or a config file's inline object. */
export function settingsOf(source: SettingsSource): Promise<LoadedSettings> {
  return source.kind === "file"
    ? loadSettings(source.path)
    : Promise.resolve(checkSettings(source.value, source.where));
}

/** Runs `make`; what it throws (settings it cannot use) is the user's to fix. */
function asUsageError<T>(make: () => T): T {
  try {
    return make();
  } catch (error) {
    throw error instanceof UsageError
      ? error
      : new UsageError((error as Error).message, { cause: error });
  }
}

async function checkInputFile(path: string): Promise<void> {
  try {
    const info = await Deno.stat(path);
    if (!info.isFile) throw new UsageError(`The input ${JSON.stringify(path)} is not a file`);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new UsageError(
        `The input file ${
          JSON.stringify(path)
        } does not exist: give a file with one message per line, or - for standard input`,
      );
    }
    throw error;
  }
}
