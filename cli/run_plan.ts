/**
 * What `rivulet run` and `rivulet check` are asked to do, from flags and an
 * optional config file, checked for consistency before anything loads.
 *
 * @module
 */
import { dirname, isAbsolute, resolve } from "node:path";
import { closest, type FlagSpecs, parseFlags, parseWholeNumber, splitList } from "./args.ts";
import { UsageError } from "./exit_codes.ts";
import { type LogFormat, logFormats } from "./log.ts";
import { readUserFile } from "./settings_file.ts";
import { parseJsonText } from "../connectors/json_text.ts";
import {
  type KafkaClientName,
  parseKafkaClientName,
  UnknownKafkaClientError,
} from "../connectors/kafka/clients.ts";

/** The flags of `rivulet run` and `rivulet check`. */
export const RUN_FLAGS: FlagSpecs = {
  transform: { type: "string" },
  input: { type: "string" },
  topic: { type: "string", multiple: true },
  settings: { type: "string" },
  format: { type: "string" },
  "format-module": { type: "string" },
  columns: { type: "string" },
  header: { type: "string" },
  "primary-key": { type: "string" },
  schema: { type: "string" },
  "schema-file": { type: "string" },
  "json-field-paths": { type: "string" },
  "key-columns": { type: "string" },
  "key-as-row-id": { type: "boolean" },
  "with-metadata": { type: "boolean" },
  "start-from-timestamp": { type: "string" },
  "until-end": { type: "boolean" },
  "diff-column": { type: "boolean" },
  "commit-interval": { type: "string" },
  "max-message-bytes": { type: "string" },
  "error-policy": { type: "string" },
  "dead-letter-topic": { type: "string" },
  "output-topic": { type: "string" },
  "output-topic-column": { type: "string" },
  "output-format": { type: "string" },
  "output-delimiter": { type: "string" },
  "output-value": { type: "string" },
  "output-key": { type: "string" },
  "output-headers": { type: "string" },
  "output-partitions": { type: "string" },
  "commit-frequency": { type: "string" },
  "commit-markers": { type: "boolean" },
  partitioned: { type: "boolean" },
  "state-dir": { type: "string" },
  "reset-state": { type: "boolean" },
  "exactly-once": { type: "boolean" },
  "transactional-id": { type: "string" },
  "state-store": { type: "string" },
  "kafka-client": { type: "string" },
  config: { type: "string" },
  "log-format": { type: "string" },
  "metrics-port": { type: "string" },
  quiet: { type: "boolean" },
  help: { type: "boolean", short: "h" },
};

/** Bad input policies. */
export type ErrorPolicyName = "stop" | "skip" | "dead-letter";
const errorPolicies: readonly ErrorPolicyName[] = ["stop", "skip", "dead-letter"];

/** Settings named by a path, or given inline in a config file. */
export type SettingsSource =
  | { readonly kind: "file"; readonly path: string }
  | { readonly kind: "inline"; readonly value: unknown; readonly where: string };

/** Where a transform's input comes from. */
export type InputPlan =
  | { readonly kind: "file"; readonly path: string }
  | { readonly kind: "kafka"; readonly topics: readonly string[] };

/** A run with a transform between a source and a sink. */
export interface TransformPlan {
  /** Marks a transform run. */
  readonly kind: "transform";
  /** The transform module's path. */
  readonly transform: string;
  /** The source: a file (or standard input) or Kafka topics. */
  readonly input: InputPlan;
  /** Kafka settings, required by Kafka sources and sinks. */
  readonly settings?: SettingsSource;
  /** A built-in format name or a format module path. */
  readonly format: string;
  /** The value columns the table gets (csv, json). */
  readonly columns?: readonly string[];
  /** csv: the column names up front; then no header message is expected. */
  readonly header?: readonly string[];
  /** Columns whose values make the row id. */
  readonly primaryKey?: readonly string[];
  /** Read a `diff` column as insertion (1) or retraction (-1): another rivulet's output. */
  readonly diffColumn: boolean;
  /** `--schema value:int,name:str?` as given. */
  readonly schema?: string;
  /** `--schema-file`: a JSON schema file's path. */
  readonly schemaFile?: string;
  /** `--json-field-paths col=/a/b,...`: a JSON Pointer per column. */
  readonly jsonFieldPaths?: Readonly<Record<string, string>>;
  /** `--key-columns`: columns decoded from the message key. */
  readonly keyColumns?: readonly string[];
  /** `--key-as-row-id`: the Kafka key is the row id; tombstones delete. */
  readonly keyAsRowId: boolean;
  /** `--with-metadata`: a `_metadata` column. */
  readonly withMetadata: boolean;
  /** `--start-from-timestamp MS`: start every partition at this time. */
  readonly startFromTimestampMs?: number;
  /** `--until-end`: read to the end offsets found at start, then exit 0. */
  readonly untilEnd: boolean;
  /** Time-based commits every so many ms instead of `*COMMIT*` markers. */
  readonly commitIntervalMs?: number;
  /** Messages larger than this are bad input (too_large). */
  readonly maxMessageBytes?: number;
  /** What to do with bad input. */
  readonly errorPolicy: ErrorPolicyName;
  /** Where the dead-letter policy sends bad messages. */
  readonly deadLetterTopic?: string;
  /** The Kafka topic the changes go to; standard output when absent (and no topic column). */
  readonly outputTopic?: string;
  /** Kafka output, each change to the topic its row names in this column. */
  readonly outputTopicColumn?: string;
  /** The Kafka records' format, key, value and header columns (Pathway's `pw.io.kafka.write`). */
  readonly output?: {
    readonly format?: "json" | "dsv" | "plaintext" | "raw";
    readonly delimiter?: string;
    readonly value?: string;
    readonly key?: string;
    readonly headers?: readonly string[];
    /** Partitions of an output topic rivulet creates; an existing one must have as many. */
    readonly partitions?: number;
  };
  /** Commits per produce request at most. */
  readonly commitFrequency?: number;
  /** End each commit's output with a `*COMMIT*` record. */
  readonly commitMarkers: boolean;
  /**
   * Run as tasks per partition (`runtime/tasks/`), state in Kafka, so that
   * several instances with one group.id share the work.
   */
  readonly partitioned: boolean;
}

/** A run of a pipeline script. */
export interface ScriptPlan {
  /** Marks a script run. */
  readonly kind: "script";
  /** The pipeline script's path. */
  readonly script: string;
}

/** Everything `run` and `check` need to know. */
export interface RunPlan {
  /** What runs: a transform between a source and a sink, or a script. */
  readonly pipeline: TransformPlan | ScriptPlan;
  /** Where state is checkpointed (with `stateStore: "kafka"`, a local cache of the changelog). */
  readonly stateDir?: string;
  /** Discard the state saved in `stateDir` and start as new. */
  readonly resetState: boolean;
  /** Outputs and input offsets in one Kafka transaction per checkpoint (needs a state directory). */
  readonly exactlyOnce: boolean;
  /** The exactly-once producer's transactional id (default `rivulet-<group.id>`). */
  readonly transactionalId?: string;
  /** Where state lives: `local` (the state directory, default) or `kafka` (changelog topics). */
  readonly stateStore?: "kafka" | "local";
  /** The Kafka client (`--kafka-client`); unset, `RIVULET_KAFKA_CLIENT` or the default chooses. */
  readonly kafkaClient?: KafkaClientName;
  /** How log lines look. */
  readonly logFormat: LogFormat;
  /** The metrics endpoint's port on 127.0.0.1 (0: any free one). */
  readonly metricsPort?: number;
  /** No status line or progress lines. */
  readonly quiet: boolean;
}

/** The parsed flags of `run` or `check`, or a request for help. */
export type RunArgs = { readonly help: true } | { readonly help: false; readonly plan: RunPlan };

/** Flags whose values are file paths, resolved against a config file's directory. */
const pathFlags = new Set([
  "transform",
  "input",
  "settings",
  "format-module",
  "state-dir",
  "schema-file",
]);
/** Flags that only make sense with a transform (a script builds its own sources and sinks). */
const transformOnlyFlags = [
  "input",
  "topic",
  "settings",
  "format",
  "format-module",
  "columns",
  "header",
  "primary-key",
  "schema",
  "schema-file",
  "json-field-paths",
  "key-columns",
  "key-as-row-id",
  "with-metadata",
  "start-from-timestamp",
  "until-end",
  "diff-column",
  "commit-interval",
  "max-message-bytes",
  "error-policy",
  "dead-letter-topic",
  "output-topic",
  "output-topic-column",
  "output-format",
  "output-delimiter",
  "output-value",
  "output-key",
  "output-headers",
  "output-partitions",
  "commit-frequency",
  "commit-markers",
  "partitioned",
];

const outputFormats = ["json", "dsv", "plaintext", "raw"] as const;
/** Flags that shape Kafka records: they need --output-topic or --output-topic-column. */
const kafkaOutputFlags = [
  "output-format",
  "output-delimiter",
  "output-value",
  "output-key",
  "output-headers",
  "output-partitions",
];

type FlagValues = Record<string, string | boolean | string[] | undefined>;

/**
 * Parses the arguments of `run` or `check` (after the command name) into a
 * {@linkcode RunPlan}; every inconsistency is a {@linkcode UsageError}.
 */
export async function parseRunArgs(command: string, args: readonly string[]): Promise<RunArgs> {
  const { values, positionals } = parseFlags({ command, specs: RUN_FLAGS, args });
  if (values.help) return { help: true };
  if (positionals.length > 1) {
    throw new UsageError(
      `${command} takes one pipeline script, not ${positionals.length} (${
        positionals.join(", ")
      }): see "${command} --help"`,
    );
  }
  const flags: FlagValues = { ...values };
  let settingsInline: SettingsSource | undefined;
  if (typeof values.config === "string") {
    const fromConfig = await readConfigFile(values.config);
    for (const [key, value] of Object.entries(fromConfig.flags)) {
      if (flags[key] === undefined) flags[key] = value;
    }
    if (flags.settings === undefined && fromConfig.settings !== undefined) {
      settingsInline = fromConfig.settings;
    }
  }
  return { help: false, plan: planOf(command, flags, positionals[0], settingsInline) };
}

function planOf(
  command: string,
  flags: FlagValues,
  script: string | undefined,
  settingsInline: SettingsSource | undefined,
): RunPlan {
  const str = (name: string) => flags[name] as string | undefined;
  const logFormat = str("log-format") ?? "text";
  if (!(logFormats as readonly string[]).includes(logFormat)) {
    throw new UsageError(
      `Flag "--log-format" must be text or json, not ${JSON.stringify(logFormat)}`,
    );
  }
  const metricsPort = str("metrics-port") === undefined
    ? undefined
    : parseWholeNumber("metrics-port", str("metrics-port")!, { min: 0, max: 65535 });
  const exactlyOnce = flags["exactly-once"] === true;
  const stateStore = str("state-store");
  if (stateStore !== undefined && stateStore !== "kafka" && stateStore !== "local") {
    throw new UsageError(
      `Flag "--state-store" must be kafka or local, not ${JSON.stringify(stateStore)}`,
    );
  }
  if (flags.partitioned === true) {
    const stray = [
      ...(str("state-dir") !== undefined ? ["--state-dir"] : []),
      ...(stateStore === "local" ? ["--state-store local"] : []),
      ...(flags["reset-state"] === true ? ["--reset-state"] : []),
    ];
    if (stray.length > 0) {
      throw new UsageError(
        `${stray.join(", ")} ${stray.length === 1 ? "does" : "do"} not apply with --partitioned: ` +
          "each task's state lives in the changelog topic <group.id>-tasks-changelog",
      );
    }
  }
  // --partitioned keeps every task's state in Kafka.
  const stateInKafka = stateStore === "kafka" || flags.partitioned === true;
  if (exactlyOnce && str("state-dir") === undefined && !stateInKafka) {
    throw new UsageError(
      `Flag "--exactly-once" needs "--state-dir" (or "--state-store kafka"): the state is committed with each transaction`,
    );
  }
  const resetState = flags["reset-state"] === true;
  if (resetState && str("state-dir") === undefined && stateStore !== "kafka") {
    throw new UsageError(
      `Flag "--reset-state" needs "--state-dir" (or "--state-store kafka"): it discards the state saved there`,
    );
  }
  if (str("transactional-id") !== undefined && !exactlyOnce) {
    throw new UsageError(`Flag "--transactional-id" only applies with "--exactly-once"`);
  }
  const kafkaClient = kafkaClientFlag(str("kafka-client"));
  const common = {
    ...(str("state-dir") === undefined ? {} : { stateDir: str("state-dir") }),
    resetState,
    ...(kafkaClient === undefined ? {} : { kafkaClient }),
    exactlyOnce,
    ...(str("transactional-id") === undefined ? {} : { transactionalId: str("transactional-id") }),
    ...(stateStore === undefined ? {} : { stateStore: stateStore as "kafka" | "local" }),
    logFormat: logFormat as LogFormat,
    ...(metricsPort === undefined ? {} : { metricsPort }),
    quiet: flags.quiet === true,
  };
  const transform = str("transform");
  if (script !== undefined && transform !== undefined) {
    throw new UsageError(
      `Give a pipeline script or --transform, not both (got ${
        JSON.stringify(script)
      } and --transform ${JSON.stringify(transform)})`,
    );
  }
  if (script !== undefined) {
    const stray = transformOnlyFlags.filter((name) => flags[name] !== undefined);
    if (stray.length > 0 || settingsInline !== undefined) {
      throw new UsageError(
        `Flag${stray.length === 1 ? "" : "s"} ${
          stray.map((n) => `"--${n}"`).join(", ") || '"settings"'
        } ` +
          `only apply with --transform: a pipeline script builds its own sources and sinks`,
      );
    }
    return { ...common, pipeline: { kind: "script", script } };
  }
  if (transform === undefined) {
    throw new UsageError(
      `${command} needs a pipeline script or a transform: "${command} PIPELINE.ts" or ` +
        `"${command} --transform T.ts --input FILE" (see "${command} --help")`,
    );
  }
  return { ...common, pipeline: transformPlanOf(flags, transform, settingsInline) };
}

function transformPlanOf(
  flags: FlagValues,
  transform: string,
  settingsInline: SettingsSource | undefined,
): TransformPlan {
  const str = (name: string) => flags[name] as string | undefined;
  const list = (name: string) => {
    const value = str(name);
    if (value === undefined) return undefined;
    const names = splitList(value);
    if (names.length === 0) {
      throw new UsageError(
        `Flag "--${name}" needs at least one column name, got ${JSON.stringify(value)}`,
      );
    }
    return names;
  };
  const topics = (flags.topic as string[] | undefined) ?? [];
  const inputPath = str("input");
  if (inputPath !== undefined && topics.length > 0) {
    throw new UsageError(
      `Give --input or --topic, not both (got --input ${JSON.stringify(inputPath)} and --topic ${
        topics.join(", ")
      })`,
    );
  }
  if (inputPath === undefined && topics.length === 0) {
    throw new UsageError(
      `The transform needs a source: --input FILE (or - for standard input) for a local run, or --topic NAME --settings S.json for Kafka`,
    );
  }
  const settings: SettingsSource | undefined = str("settings") !== undefined
    ? { kind: "file", path: str("settings")! }
    : settingsInline;
  const needsKafka = [
    ...(topics.length > 0 ? ["--topic"] : []),
    ...(str("output-topic") !== undefined ? ["--output-topic"] : []),
    ...(str("output-topic-column") !== undefined ? ["--output-topic-column"] : []),
    ...(str("dead-letter-topic") !== undefined ? ["--dead-letter-topic"] : []),
  ];
  if (needsKafka.length > 0 && settings === undefined) {
    throw new UsageError(
      `${needsKafka.join(" and ")} need${
        needsKafka.length === 1 ? "s" : ""
      } Kafka settings: add --settings settings.json ` +
        `(a JSON object such as {"bootstrap.servers": "127.0.0.1:9092", "group.id": "my-pipeline"})`,
    );
  }
  const format = str("format");
  const formatModule = str("format-module");
  if (format !== undefined && formatModule !== undefined) {
    throw new UsageError(
      `Give --format or --format-module, not both (got ${JSON.stringify(format)} and ${
        JSON.stringify(formatModule)
      })`,
    );
  }
  const errorPolicy = str("error-policy") ?? "stop";
  if (!(errorPolicies as readonly string[]).includes(errorPolicy)) {
    throw new UsageError(
      `Flag "--error-policy" must be stop, skip or dead-letter, not ${JSON.stringify(errorPolicy)}`,
    );
  }
  if (errorPolicy === "dead-letter" && str("dead-letter-topic") === undefined) {
    throw new UsageError(`The dead-letter policy needs a topic: add --dead-letter-topic NAME`);
  }
  if (str("dead-letter-topic") !== undefined && errorPolicy !== "dead-letter") {
    throw new UsageError(`--dead-letter-topic is used only with --error-policy dead-letter`);
  }
  const kafkaOutput = str("output-topic") !== undefined ||
    str("output-topic-column") !== undefined;
  if (str("output-topic") !== undefined && str("output-topic-column") !== undefined) {
    throw new UsageError(
      `Give --output-topic (one topic) or --output-topic-column (a topic per row), not both`,
    );
  }
  if (str("commit-frequency") !== undefined && !kafkaOutput) {
    throw new UsageError(`--commit-frequency applies to the Kafka sink: add --output-topic T`);
  }
  const strayOutput = kafkaOutputFlags.filter((name) => str(name) !== undefined);
  if (strayOutput.length > 0 && !kafkaOutput) {
    throw new UsageError(
      `${
        strayOutput.map((n) => `--${n}`).join(", ")
      } shape Kafka records: add --output-topic T (or --output-topic-column C)`,
    );
  }
  const outputFormat = str("output-format");
  if (
    outputFormat !== undefined && !(outputFormats as readonly string[]).includes(outputFormat)
  ) {
    throw new UsageError(
      `Flag "--output-format" must be json, dsv, plaintext or raw, not ${
        JSON.stringify(outputFormat)
      }`,
    );
  }
  if (str("output-delimiter") !== undefined && outputFormat !== "dsv") {
    throw new UsageError(`--output-delimiter applies to --output-format dsv`);
  }
  if (
    str("output-value") !== undefined && outputFormat !== "plaintext" && outputFormat !== "raw"
  ) {
    throw new UsageError(`--output-value applies to --output-format plaintext or raw`);
  }
  const output = {
    ...(outputFormat === undefined
      ? {}
      : { format: outputFormat as (typeof outputFormats)[number] }),
    ...(str("output-delimiter") === undefined
      ? {}
      : { delimiter: unescapeDelimiter(str("output-delimiter")!) }),
    ...(str("output-value") === undefined ? {} : { value: str("output-value") }),
    ...(str("output-key") === undefined ? {} : { key: str("output-key") }),
    ...(list("output-headers") === undefined ? {} : { headers: list("output-headers") }),
    ...(str("output-partitions") === undefined ? {} : {
      partitions: parseWholeNumber("output-partitions", str("output-partitions")!, {
        min: 1,
        max: 100_000,
      }),
    }),
  };
  const commitIntervalMs = str("commit-interval") === undefined
    ? undefined
    : parseWholeNumber("commit-interval", str("commit-interval")!, { min: 1, max: 86_400_000 });
  const commitFrequency = str("commit-frequency") === undefined
    ? undefined
    : parseWholeNumber("commit-frequency", str("commit-frequency")!, { min: 1, max: 1_000_000 });
  const optional = <T>(
    key: string,
    value: T | undefined,
  ) => (value === undefined ? {} : { [key]: value });
  if (str("schema") !== undefined && str("schema-file") !== undefined) {
    throw new UsageError(`Give --schema or --schema-file, not both`);
  }
  const kafkaOnly = ["key-as-row-id", "start-from-timestamp", "until-end"].filter((name) =>
    flags[name] !== undefined && flags[name] !== false
  );
  if (kafkaOnly.length > 0 && inputPath !== undefined) {
    throw new UsageError(
      `${kafkaOnly.map((n) => `--${n}`).join(", ")} appl${
        kafkaOnly.length === 1 ? "ies" : "y"
      } to Kafka input (--topic), not to --input`,
    );
  }
  const startFromTimestampMs = str("start-from-timestamp") === undefined
    ? undefined
    : parseTimestampFlag(str("start-from-timestamp")!);
  const partitioned = flags.partitioned === true;
  if (partitioned) checkPartitionedFlags(flags, topics.length > 0, kafkaOutput);
  return {
    kind: "transform",
    transform,
    input: inputPath !== undefined ? { kind: "file", path: inputPath } : { kind: "kafka", topics },
    ...optional("settings", settings),
    format: formatModule ?? format ?? "plaintext",
    ...optional("columns", list("columns")),
    ...optional("header", list("header")),
    ...optional("primaryKey", list("primary-key")),
    ...optional("commitIntervalMs", commitIntervalMs),
    ...optional(
      "maxMessageBytes",
      str("max-message-bytes") === undefined ? undefined : parseWholeNumber(
        "max-message-bytes",
        str("max-message-bytes")!,
        { min: 1, max: 2 ** 31 - 1 },
      ),
    ),
    errorPolicy: errorPolicy as ErrorPolicyName,
    ...optional("deadLetterTopic", str("dead-letter-topic")),
    ...optional("outputTopic", str("output-topic")),
    ...optional("outputTopicColumn", str("output-topic-column")),
    ...(Object.keys(output).length === 0 ? {} : { output }),
    ...optional("commitFrequency", commitFrequency),
    commitMarkers: flags["commit-markers"] === true,
    diffColumn: flags["diff-column"] === true,
    ...optional("schema", str("schema")),
    ...optional("schemaFile", str("schema-file")),
    ...optional(
      "jsonFieldPaths",
      str("json-field-paths") === undefined ? undefined : parseFieldPaths(str("json-field-paths")!),
    ),
    ...optional("keyColumns", list("key-columns")),
    keyAsRowId: flags["key-as-row-id"] === true,
    withMetadata: flags["with-metadata"] === true,
    ...optional("startFromTimestampMs", startFromTimestampMs),
    untilEnd: flags["until-end"] === true,
    partitioned,
  };
}

/** What `--partitioned` needs, and the flags it does not support (yet). */
function checkPartitionedFlags(flags: FlagValues, kafkaInput: boolean, kafkaOutput: boolean): void {
  if (!kafkaInput || !kafkaOutput) {
    throw new UsageError(
      "--partitioned runs tasks per partition of Kafka topics: it needs --topic and --output-topic",
    );
  }
  const unsupported = [
    "commit-interval",
    "until-end",
    "start-from-timestamp",
    "commit-markers",
    "dead-letter-topic",
  ].filter((name) => flags[name] !== undefined && flags[name] !== false);
  if (unsupported.length > 0) {
    throw new UsageError(
      `${unsupported.map((n) => `--${n}`).join(", ")} cannot be combined with --partitioned yet`,
    );
  }
  if (flags["exactly-once"] === true && flags["output-topic-column"] !== undefined) {
    throw new UsageError(
      "--partitioned --exactly-once writes one output topic: use --output-topic, not --output-topic-column",
    );
  }
}

/** `--json-field-paths city=/address/city,zip=/address/zip`. */
function parseFieldPaths(text: string): Record<string, string> {
  const paths: Record<string, string> = {};
  for (const item of splitList(text)) {
    const equals = item.indexOf("=");
    if (equals <= 0) {
      throw new UsageError(
        `Flag "--json-field-paths" takes column=/json/pointer pairs, not ${JSON.stringify(item)}`,
      );
    }
    paths[item.slice(0, equals).trim()] = item.slice(equals + 1).trim();
  }
  return paths;
}

/** `--start-from-timestamp`: milliseconds since the epoch, or an ISO 8601 date-time. */
function parseTimestampFlag(text: string): number {
  const trimmed = text.trim();
  const ms = /^\d+$/.test(trimmed) ? Number(trimmed) : Date.parse(trimmed);
  if (!Number.isSafeInteger(ms) || ms < 0) {
    throw new UsageError(
      `Flag "--start-from-timestamp" must be milliseconds since the epoch or an ISO 8601 ` +
        `date-time (e.g. 2026-01-31T12:00:00Z), not ${JSON.stringify(text)}`,
    );
  }
  return ms;
}

/** Reads `--kafka-client`; an unknown name is a {@linkcode UsageError}. */
export function kafkaClientFlag(value: string | undefined): KafkaClientName | undefined {
  if (value === undefined) return undefined;
  try {
    return parseKafkaClientName(value, `Flag "--kafka-client"`);
  } catch (error) {
    if (error instanceof UnknownKafkaClientError) throw new UsageError(error.message);
    throw error;
  }
}

/** What a config file contributes: flag values, and settings given inline. */
interface ConfigFlags {
  readonly flags: FlagValues;
  readonly settings?: SettingsSource;
}

/**
 * Reads `--config FILE`: a JSON object whose keys are the flags' long names.
 * Lists may be JSON arrays; relative paths are relative to the file.
 */
async function readConfigFile(path: string): Promise<ConfigFlags> {
  const text = await readUserFile(path, "config file");
  let parsed: unknown;
  try {
    parsed = parseJsonText(text);
  } catch (error) {
    // Only the line and column: the text near the fault may be a password (inline settings).
    throw new UsageError(
      `Config file ${JSON.stringify(path)} is not valid JSON: ${(error as Error).message}`,
    );
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new UsageError(
      `Config file ${
        JSON.stringify(path)
      } must hold a JSON object of flags, e.g. {"transform": "sum.ts"}`,
    );
  }
  const base = dirname(resolve(path));
  const allowed = Object.keys(RUN_FLAGS).filter((k) => k !== "config" && k !== "help");
  const flags: FlagValues = {};
  let settings: SettingsSource | undefined;
  for (const [key, value] of Object.entries(parsed)) {
    const where = `key ${JSON.stringify(key)} of config file ${JSON.stringify(path)}`;
    if (!allowed.includes(key)) {
      const suggestion = closest(key, allowed);
      throw new UsageError(
        `Unknown ${where}${
          suggestion === undefined ? "" : `: did you mean ${JSON.stringify(suggestion)}?`
        }`,
      );
    }
    const spec = RUN_FLAGS[key];
    if (
      key === "settings" && typeof value === "object" && value !== null && !Array.isArray(value)
    ) {
      settings = {
        kind: "inline",
        value,
        where: `"settings" of config file ${JSON.stringify(path)}`,
      };
      continue;
    }
    if (spec.type === "boolean") {
      if (typeof value !== "boolean") {
        throw new UsageError(`The ${where} must be true or false, not ${kindOf(value)}`);
      }
      flags[key] = value;
    } else if (spec.multiple) {
      const items = Array.isArray(value) ? value : [value];
      if (!items.every((v) => typeof v === "string")) {
        throw new UsageError(`The ${where} must be a string or a list of strings`);
      }
      flags[key] = items as string[];
    } else if (Array.isArray(value) && value.every((v) => typeof v === "string")) {
      flags[key] = value.join(",");
    } else if (typeof value === "string" || typeof value === "number") {
      const text = String(value);
      const isPath = pathFlags.has(key) || (key === "format" && /[/\\]|\.[mc]?[jt]sx?$/.test(text));
      flags[key] = isPath && text !== "-" && !isAbsolute(text) ? resolve(base, text) : text;
    } else {
      throw new UsageError(`The ${where} must be a string, not ${kindOf(value)}`);
    }
  }
  return { flags, ...(settings === undefined ? {} : { settings }) };
}

/** What kind of JSON value a config entry holds, for messages that never show the value itself. */
function kindOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  return typeof value === "object" ? "an object" : `a ${typeof value}`;
}

/** `\\t` on a command line means a tab (a literal tab is awkward to type). */
function unescapeDelimiter(value: string): string {
  return value === "\\t" ? "\t" : value;
}
