/**
 * What sources and sinks exchange with the runtime. A source hands over raw
 * messages in the order of each partition and commits positions it is told to;
 * a sink writes the consolidated changes of each commit and says when they are
 * acknowledged. Neither knows anything of formats or operators.
 *
 * @module
 */

import type { Batch, Row } from "../engine/types.ts";

/** A message as read: where it came from and its bytes. */
export interface SourceMessage {
  /** Kafka topic; for a local file the file's name. */
  readonly topic: string;
  readonly partition: number;
  /** Offset in the partition as a decimal string; for a file, the line number. */
  readonly offset: string;
  /** Milliseconds since the epoch, as Kafka's timestamp (a decimal string). */
  readonly timestamp: string;
  readonly key: Uint8Array | null;
  readonly value: Uint8Array | null;
  readonly headers: Readonly<Record<string, string>>;
}

/** The next offset to read in a topic-partition. */
export interface Position {
  readonly topic: string;
  readonly partition: number;
  /** The offset of the next message to read (Kafka's committed-offset convention). */
  readonly offset: string;
}

/**
 * Receives the messages a source read. A source awaits the returned promise
 * before it hands over more: that is the backpressure.
 */
export type MessageHandler = (messages: readonly SourceMessage[]) => Promise<void>;

/** A place messages come from: Kafka topics, a file, stdin. */
export interface Source {
  /** A name for logs and errors, e.g. `kafka:connector_example`. */
  readonly name: string;
  /**
   * Starts reading. `from` are positions to resume at (restored state); where
   * none is given the source decides (Kafka: the group's committed offset).
   * Resolves once reading has started.
   */
  start(handler: MessageHandler, from?: readonly Position[]): Promise<void>;
  /** Resolves when the source has read everything it will ever read (files), or never. */
  readonly finished: Promise<void>;
  /** Records that everything before these positions is processed and acknowledged. */
  commit(positions: readonly Position[]): Promise<void>;
  /** Stops reading; no handler call starts after it resolves. Commits still work. */
  stop(): Promise<void>;
  /** Releases connections (a Kafka source leaves its group); called after the last commit. */
  close?(): Promise<void>;
  /** `retrying` while the source waits for its broker to come back (optional). */
  connectionState?(): ConnectionState;
  /**
   * What the source reads as the brokers report it now (group, topics,
   * partitions and their offset ranges), so that restored state can be checked
   * against it. Optional: a source without it (a file) is not checked.
   */
  identity?(): Promise<SourceIdentity>;
}

/** Offsets of one partition as the broker reports them. */
export interface PartitionRange {
  readonly partition: number;
  /** The first offset still in the log. */
  readonly low: string;
  /** The offset the next record will get (the high watermark). */
  readonly high: string;
}

/** One topic as the brokers report it. */
export interface TopicIdentity {
  readonly topic: string;
  /** The topic's id where the client exposes it (it changes when the topic is created again). */
  readonly topicId?: string;
  /** Every partition of the topic; empty when the topic does not exist. */
  readonly partitions: readonly PartitionRange[];
}

/** What a source reads, as the brokers report it now. */
export interface SourceIdentity {
  /** The source's name ({@linkcode Source.name}). */
  readonly name: string;
  /** The consumer group, for Kafka sources. */
  readonly group?: string;
  readonly topics: readonly TopicIdentity[];
}

/** Whether a connector reaches its broker, or is retrying until it does. */
export type ConnectionState = "connected" | "retrying";

/** A place the changes of a table go to. */
export interface Sink<R extends Row = Row> {
  readonly name: string;
  /** Opens connections; called once before the first write. */
  open(): Promise<void>;
  /**
   * Takes the changes of one commit. The returned promise resolves when the
   * destination has acknowledged them (it may wait for later commits to fill
   * a request: see `flush`).
   */
  write(batch: Batch<R>): Promise<void>;
  /** Sends whatever waits, so that every earlier write's promise resolves. */
  flush(): Promise<void>;
  close(): Promise<void>;
  /** `retrying` while the sink waits for its broker to come back (optional). */
  connectionState?(): ConnectionState;
}

/** Where bad messages go under the dead-letter policy. */
export interface DeadLetterSink {
  /** Writes the original message with the reason; resolves when acknowledged. */
  send(message: SourceMessage, reason: string): Promise<void>;
  close(): Promise<void>;
}

/** What to do with bad input. */
export type ErrorPolicy = "stop" | "skip" | "dead-letter";

/** Structured fields of a log line. Never put a secret in one. */
export type LogFields = Readonly<Record<string, string | number | boolean | null>>;

/** Where connectors report what they do: retries, rebalances, warnings. */
export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

/** A logger that drops everything (the default in tests and libraries). */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};
