/**
 * The dead-letter topic: bad messages are written there with their original
 * key, value and headers, plus headers that say why and where they came from.
 *
 * @module
 */
import type { ClientConfig } from "./config.ts";
import type { KafkaClient, Producer } from "./client.ts";
import { connectExplained } from "./connection_error.ts";
import { retryWhileRetriable } from "./_retry.ts";
import type { DeadLetterSink, Logger, SourceMessage } from "../types.ts";
import { silentLogger } from "../types.ts";

/** Options for {@linkcode KafkaDeadLetterSink}. */
export interface KafkaDeadLetterSinkOptions {
  /** Brokers and credentials. */
  readonly config: ClientConfig;
  /** The dead-letter topic. */
  readonly topic: string;
  /**
   * The Kafka client, shared by the parts that use the same settings; its
   * owner (the pipeline) closes it.
   */
  readonly client: KafkaClient;
  readonly logger?: Logger;
  /** How long a send is retried while Kafka is unavailable before it fails. Default 300,000 ms. */
  readonly retryForMs?: number;
  /** Create the topic (one partition) when it does not exist. Default true. */
  readonly createTopic?: boolean;
}

/** Header names a dead-letter record carries besides the original headers. */
export const deadLetterHeaders = {
  /** Why the message was rejected (the formatted input issue). */
  error: "rivulet-error",
  topic: "rivulet-topic",
  partition: "rivulet-partition",
  offset: "rivulet-offset",
  /** The original message's Kafka timestamp. */
  timestamp: "rivulet-timestamp",
} as const;

/**
 * Writes bad messages to a dead-letter topic. Each `send` is acknowledged by
 * all in-sync replicas before it resolves, so the source may then commit past
 * the message.
 *
 * @example
 * ```ts ignore
 * const deadLetters = new KafkaDeadLetterSink({ config, client, topic: "connector_example.dlq" });
 * await deadLetters.send(message, 'Bad input at connector_example-0@7: column "value" is missing');
 * await deadLetters.close();
 * ```
 */
export class KafkaDeadLetterSink implements DeadLetterSink {
  readonly #options: KafkaDeadLetterSinkOptions;
  readonly #client: KafkaClient;
  readonly #logger: Logger;
  #opened: Promise<Producer> | undefined;

  constructor(options: KafkaDeadLetterSinkOptions) {
    this.#options = options;
    this.#logger = options.logger ?? silentLogger;
    this.#client = options.client;
  }

  /** Writes the original message with the reason and its origin in headers; resolves when acknowledged. */
  async send(message: SourceMessage, reason: string): Promise<void> {
    // A failed open is retried by the next send rather than remembered.
    const producer = await (this.#opened ??= this.#open().catch((error) => {
      this.#opened = undefined;
      throw error;
    }));
    const request = [{
      topic: this.#options.topic,
      records: [{
        key: message.key,
        value: message.value,
        headers: {
          ...message.headers,
          [deadLetterHeaders.error]: reason,
          [deadLetterHeaders.topic]: message.topic,
          [deadLetterHeaders.partition]: String(message.partition),
          [deadLetterHeaders.offset]: message.offset,
          [deadLetterHeaders.timestamp]: message.timestamp,
        },
      }],
    }];
    await retryWhileRetriable(() => producer.send(request), {
      logger: this.#logger,
      name: `kafka:${this.#options.topic}`,
      retryForMs: this.#options.retryForMs ?? 300_000,
    });
    this.#logger.warn("Sent a bad message to the dead-letter topic", {
      topic: message.topic,
      partition: message.partition,
      offset: message.offset,
      deadLetterTopic: this.#options.topic,
      reason,
    });
  }

  async #open(): Promise<Producer> {
    const topic = this.#options.topic;
    const admin = this.#client.admin();
    await connectExplained(() => admin.connect(), this.#options.config);
    try {
      if (!(await admin.listTopics()).includes(topic)) {
        if (this.#options.createTopic === false) {
          throw new Error(`Dead-letter topic ${JSON.stringify(topic)} does not exist`);
        }
        await admin.createTopic({ topic, partitions: 1 });
      }
    } finally {
      await admin.disconnect();
    }
    const producer = this.#client.producer({ idempotent: true });
    await connectExplained(() => producer.connect(), this.#options.config);
    return producer;
  }

  /** Disconnects (after the sends in progress). */
  async close(): Promise<void> {
    const opened = this.#opened;
    this.#opened = undefined;
    if (opened === undefined) return;
    const producer = await opened.catch(() => undefined);
    await producer?.disconnect();
  }
}
