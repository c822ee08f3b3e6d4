/**
 * Helpers for the end-to-end input tests: run a real pipeline whose input
 * table goes straight to a {@linkcode CollectingSink}, produce and consume raw
 * bytes (so invalid UTF-8 survives the round trip), and read a group's
 * committed offsets. Observers only: the broker and the pipeline are real.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import * as rw from "../../mod.ts";
import type { LogFields } from "../../connectors/types.ts";
import { testBroker, testKafka } from "../support/kafka.ts";
import { CollectingSink } from "../support/tables.ts";

/** One line a {@linkcode RecordingLogger} received. */
export interface LogLine {
  readonly level: "debug" | "info" | "warn" | "error";
  readonly message: string;
  readonly fields: LogFields;
}

/** A logger that keeps every line, so tests can assert what was logged. */
export class RecordingLogger implements rw.Logger {
  readonly lines: LogLine[] = [];
  debug(message: string, fields: LogFields = {}): void {
    this.lines.push({ level: "debug", message, fields });
  }
  info(message: string, fields: LogFields = {}): void {
    this.lines.push({ level: "info", message, fields });
  }
  warn(message: string, fields: LogFields = {}): void {
    this.lines.push({ level: "warn", message, fields });
  }
  error(message: string, fields: LogFields = {}): void {
    this.lines.push({ level: "error", message, fields });
  }
  /** The warning and error lines, the ones a user acts on. */
  problems(): LogLine[] {
    return this.lines.filter((line) => line.level === "warn" || line.level === "error");
  }
}

/** How a pipeline run ended: its stats, or the error it failed with. */
export type RunOutcome =
  | { readonly ok: true; readonly stats: rw.PipelineStats }
  | { readonly ok: false; readonly error: unknown };

/** A pipeline reading Kafka into a {@linkcode CollectingSink}, running. */
export interface InputRun {
  readonly pipeline: rw.Pipeline;
  readonly sink: CollectingSink;
  readonly logger: RecordingLogger;
  readonly group: string;
  /** Settles when the pipeline ends, by `stop()` or by failing. */
  readonly outcome: Promise<RunOutcome>;
  /** Stops the pipeline and returns how it ended. */
  stop(): Promise<RunOutcome>;
  /** How the pipeline ended by itself; rejects if it still runs after `timeoutMs`. */
  ended(timeoutMs?: number): Promise<RunOutcome>;
  /** Stops the pipeline (`await using`), so a failed test leaves nothing running. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** Options of {@linkcode startInput}: `kafka.read`'s options without the pipeline. */
export type StartInputOptions<
  F extends rw.FormatName | rw.Format,
  C extends string,
  S extends rw.Schema | undefined = rw.Schema | undefined,
> =
  & Omit<rw.KafkaReadOptions<F, C, S>, "pipeline">
  & {
    /** The consumer group; a fresh one per run by default. */
    readonly group?: string;
    /** More librdkafka settings. */
    readonly settings?: rw.KafkaSettings;
    /** What the sink gets instead of the input table (default: the input table unchanged). */
    readonly transform?: (table: rw.Table<rw.Row>) => rw.Table<rw.Row>;
  };

/** Librdkafka settings for the test broker and `group`. */
export function settingsFor(group: string, extra: rw.KafkaSettings = {}): rw.KafkaSettings {
  return { "bootstrap.servers": testBroker, "group.id": group, ...extra };
}

/**
 * Starts a pipeline that reads with `kafka.read` and writes its input table,
 * unchanged unless `transform` is given, to a collecting sink: each batch the
 * sink gets is one commit.
 */
export function startInput<
  F extends rw.FormatName | rw.Format,
  C extends string,
  S extends rw.Schema | undefined = undefined,
>(
  options: StartInputOptions<F, C, S>,
): InputRun {
  const { group = `input-e2e-${crypto.randomUUID()}`, settings, transform, ...read } = options;
  const logger = new RecordingLogger();
  const pipeline = new rw.Pipeline({ logger });
  const table = rw.kafka.read(settingsFor(group, settings), { ...read, pipeline });
  const sink = new CollectingSink();
  pipeline.write(transform === undefined ? table : transform(table as rw.Table<rw.Row>), sink);
  // rw.run, as a user's pipeline script runs it: it also leaves the consumer group at the end.
  const outcome: Promise<RunOutcome> = rw.run({ pipeline }).then(
    (stats) => ({ ok: true, stats }),
    (error) => ({ ok: false, error }),
  );
  return {
    pipeline,
    sink,
    logger,
    group,
    outcome,
    stop() {
      pipeline.stop();
      return outcome;
    },
    async ended(timeoutMs = 20_000) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`The pipeline still runs after ${timeoutMs} ms`)),
          timeoutMs,
        );
      });
      try {
        return await Promise.race([outcome, timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
    async [Symbol.asyncDispose]() {
      pipeline.stop();
      await outcome;
    },
  };
}

/** A record to produce: bytes or text, and optionally a partition, key and headers. */
export interface RawRecord {
  /** `null`: a tombstone. */
  readonly value: string | Uint8Array | null;
  readonly partition?: number;
  readonly key?: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** The record's timestamp, milliseconds since the epoch (default: the producer's clock). */
  readonly timestamp?: number;
}

/**
 * Produces records in one request, acknowledged by the broker. Each
 * partition's records keep their order. Bytes are sent as they are.
 */
export async function produceRaw(
  topic: string,
  records: readonly (RawRecord | string)[],
): Promise<void> {
  // Idempotent: a retried request on a loaded broker must not write the records twice
  // (tests compare offsets, timestamps and counts exactly).
  const producer = testKafka("rivulet-input-e2e").producer({
    idempotent: true,
    maxInFlightRequests: 1,
  });
  await producer.connect();
  try {
    await producer.send({
      topic,
      messages: records.map((record) => {
        const r = typeof record === "string" ? { value: record } : record;
        return {
          value: r.value === null || typeof r.value === "string" ? r.value : Buffer.from(r.value),
          partition: r.partition ?? 0,
          key: r.key,
          headers: r.headers === undefined ? undefined : { ...r.headers },
          ...(r.timestamp === undefined ? {} : { timestamp: String(r.timestamp) }),
        };
      }),
    });
  } finally {
    await producer.disconnect();
  }
}

/** A consumed record with its value as bytes. */
export interface RawConsumed {
  readonly partition: number;
  readonly offset: string;
  readonly key: string | null;
  readonly value: Uint8Array;
  readonly headers: Record<string, string>;
}

/** Reads a topic from the beginning until `count` records arrived or `timeoutMs` passed. */
export async function consumeRaw(
  topic: string,
  options: { readonly count: number; readonly timeoutMs?: number },
): Promise<RawConsumed[]> {
  const consumer = testKafka("rivulet-input-e2e").consumer({
    groupId: `input-e2e-reader-${crypto.randomUUID()}`,
  });
  const records: RawConsumed[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    let done!: () => void;
    const finished = new Promise<void>((resolve) => (done = resolve));
    const timer = setTimeout(done, options.timeoutMs ?? 15_000);
    await consumer.run({
      eachMessage: ({ partition, message }) => {
        const headers: Record<string, string> = {};
        for (const [name, value] of Object.entries(message.headers ?? {})) {
          headers[name] = value === undefined ? "" : String(value);
        }
        records.push({
          partition,
          offset: message.offset,
          key: message.key === null ? null : message.key.toString(),
          value: message.value === null ? new Uint8Array(0) : new Uint8Array(message.value),
          headers,
        });
        if (records.length >= options.count) done();
        return Promise.resolve();
      },
    });
    await finished;
    clearTimeout(timer);
  } finally {
    await consumer.disconnect();
  }
  return records;
}

/** The offsets `group` committed for `topic`, by partition ("-1" where none). */
export async function committedOffsets(group: string, topic: string): Promise<string[]> {
  const admin = testKafka("rivulet-input-e2e").admin();
  await admin.connect();
  try {
    const [fetched] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
    return [...fetched.partitions]
      .sort((a, b) => a.partition - b.partition)
      .map((p) => p.offset);
  } finally {
    await admin.disconnect();
  }
}

/** Resolves once `condition()` holds, checking every 20 ms; rejects after `timeoutMs`. */
export async function until(
  what: string,
  condition: () => boolean,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) {
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Waits `ms`: the time a pipeline gets to do something it must not do. */
export function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The end offset (high watermark) of partition 0 of `topic`: how many records it holds. */
export async function topicEnd(topic: string): Promise<string> {
  const admin = testKafka("rivulet-input-e2e").admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    return offsets.find((o) => o.partition === 0)?.high ?? "0";
  } finally {
    await admin.disconnect();
  }
}
