/**
 * The {@linkcode KafkaClient} on kafkajs 2.2.4: maps rivulet's
 * {@linkcode ClientConfig} to kafkajs options, turns kafkajs batches into
 * {@linkcode SourceMessage}s without copying bytes, and sends kafkajs' own log
 * lines to a rivulet {@linkcode Logger} with any password scrubbed. This
 * folder is the only place that imports kafkajs; `clients.ts` loads it when
 * the kafkajs client is chosen.
 *
 * @module
 */
import "./_patches.ts";
import "./_codecs.ts";
import { withStableOffsets } from "./_stable_offsets.ts";
// After _patches.ts: it wraps the consumer group that _patches.ts makes kafkajs load.
import { takeJoinedGeneration, withGroupMetadata } from "./_txn_offset_commit.ts";
import { Buffer } from "node:buffer";
import {
  type Admin as KafkajsAdmin,
  CompressionTypes,
  ConfigResourceTypes,
  type Consumer as KafkajsConsumer,
  type EachBatchPayload,
  type IHeaders,
  Kafka,
  type KafkaConfig,
  type LogEntry,
  logLevel,
  type Message,
  type Producer as KafkajsProducer,
  type SASLOptions,
  type TopicMessages,
} from "kafkajs";
import * as kafkajsNamespace from "kafkajs";
import type { ClientConfig, CompressionCodec } from "../config.ts";
import { oauthBearerToken } from "../oauthbearer_token.ts";

export { oauthBearerToken };
import type { LogFields, Logger, Position, SourceMessage } from "../../types.ts";
import { silentLogger } from "../../types.ts";
import { firstConnection } from "../connection_error.ts";
import { scrubSecrets } from "../error_classification.ts";
import { kafkajsClientError } from "./errors.ts";
import type {
  Admin,
  ConsumerCallbacks,
  ConsumerGroupMetadata,
  GroupConsumer,
  GroupConsumerOptions,
  KafkaClient,
  PartitionOffsets,
  Producer,
  ProducerOptions,
  TopicDescription,
  TopicPartition,
  TopicRecords,
  Transaction,
  TransactionalProducer,
  TransactionalProducerOptions,
} from "../client.ts";
import { KafkaClientError } from "../client.ts";
import { offsetLookupWaitsFor, untilOffsetsStable } from "../_retry.ts";
import { type ClientPart, ClientParts } from "../client_parts.ts";

/** Options for {@linkcode createKafkajsClient}. */
export interface KafkajsClientOptions {
  /** Where kafkajs' log lines go (default: nowhere). */
  readonly logger?: Logger;
}

/**
 * Creates a {@linkcode KafkaClient} backed by kafkajs.
 *
 * @example
 * ```ts ignore
 * const client = createKafkajsClient(config, { logger });
 * const producer = client.producer();
 * await producer.connect();
 * await producer.send([{ topic: "sum", records: [{ key: null, value: "*COMMIT*" }] }]);
 * ```
 */
export function createKafkajsClient(
  config: ClientConfig,
  options: KafkajsClientOptions = {},
): KafkaClient {
  const logger = options.logger ?? silentLogger;
  // Scrubbed from every message and log line the adapter passes on; OAUTHBEARER
  // tokens join this list as they are fetched.
  const secrets = [config.sasl?.password, config.tls?.keyPassword].filter(
    (secret): secret is string => secret !== undefined && secret !== "",
  );
  const kafka = new Kafka(kafkajsConfig(config, logger, secrets));
  const failFast = firstConnectionCheck(config, logger, secrets);
  // Parts connected and not yet disconnected: close() disconnects what their owners left open.
  const parts = new ClientParts(failFast);
  const tracked = <Part extends ClientPart>(part: Part): Part => parts.track(part);
  return {
    consumer: (consumerOptions) =>
      tracked(new KafkajsGroupConsumer({ kafka, config, options: consumerOptions, secrets })),
    producer: (producerOptions) =>
      tracked(new KafkajsProducerClient(kafka, config, producerOptions, secrets)),
    transactionalProducer: (txOptions) =>
      tracked(new KafkajsTransactionalProducer(kafka, config, txOptions, secrets)),
    admin: () => tracked(new KafkajsAdminClient(kafka.admin(), secrets)),
    close: () => parts.closeAll(),
  };
}

/**
 * kafkajs retries every failed connection five times with backoff (7 to 12 s),
 * even a wrong password's or an untrusted certificate's. So the first
 * connection of a client is tried once by a twin without retries: a failure
 * that cannot heal rejects in milliseconds; one that can (nothing listening
 * yet) leaves the part's own connection to retry. Once the twin connected,
 * later connections skip it.
 */
function firstConnectionCheck(
  config: ClientConfig,
  logger: Logger,
  secrets: readonly string[],
): () => Promise<void> {
  // The twin's log lines would repeat the failure the connection error explains.
  const quiet: Logger = { ...silentLogger, debug: (m, f) => logger.debug(m, f) };
  const once = new Kafka({ ...kafkajsConfig(config, quiet, secrets), retry: { retries: 0 } });
  let connected: Promise<boolean> | undefined;
  return async () => {
    connected ??= firstConnection({
      config,
      attempt: async () => {
        const admin = once.admin();
        try {
          await admin.connect();
        } catch (error) {
          throw kafkajsClientError("admin connection", error, secrets);
        } finally {
          await admin.disconnect().catch(() => {});
        }
      },
    });
    const check = connected;
    try {
      if (await check) return;
    } catch (error) {
      if (connected === check) connected = undefined;
      throw error;
    }
    if (connected === check) connected = undefined;
  };
}

/** Maps rivulet's client configuration to kafkajs' (exported for tests). */
export function kafkajsConfig(
  config: ClientConfig,
  logger: Logger,
  secrets: readonly string[] = [],
): KafkaConfig {
  const kafkaConfig: KafkaConfig = {
    clientId: config.clientId,
    brokers: [...config.brokers],
    logLevel: logLevel.INFO,
    logCreator: () => (entry) => forwardLog(entry, logger, secrets),
  };
  if (config.connectionTimeoutMs !== undefined) {
    kafkaConfig.connectionTimeout = config.connectionTimeoutMs;
  }
  if (config.requestTimeoutMs !== undefined) kafkaConfig.requestTimeout = config.requestTimeoutMs;
  if (config.retryBackoffMs !== undefined) {
    kafkaConfig.retry = { initialRetryTime: config.retryBackoffMs };
  }
  if (config.tls !== undefined) {
    const tls = config.tls;
    kafkaConfig.ssl = {
      rejectUnauthorized: tls.verifyCertificates,
      ...(tls.ca === undefined ? {} : { ca: [tls.ca] }),
      ...(tls.cert === undefined ? {} : { cert: tls.cert }),
      ...(tls.key === undefined ? {} : { key: tls.key }),
      ...(tls.keyPassword === undefined ? {} : { passphrase: tls.keyPassword }),
    };
  }
  if (config.sasl?.oauthBearer !== undefined) {
    const source = config.sasl.oauthBearer;
    kafkaConfig.sasl = {
      mechanism: "oauthbearer",
      authenticationProvider: oauthBearerAuthenticator(async () => {
        const value = await oauthBearerToken(source);
        // A mutable list in practice (createKafkajsClient's): the token is scrubbed from logs.
        if (!secrets.includes(value)) (secrets as string[]).push(value);
        return value;
      }),
    };
  } else if (config.sasl !== undefined) {
    kafkaConfig.sasl = {
      mechanism: config.sasl.mechanism,
      username: config.sasl.username,
      password: config.sasl.password,
    } as SASLOptions;
  }
  return kafkaConfig;
}

/** Kafka's BYTES: a 32-bit length, then the bytes. */
function kafkaBytes(text: string): Buffer {
  const bytes = Buffer.from(text, "utf8");
  const framed = Buffer.alloc(4 + bytes.length);
  framed.writeInt32BE(bytes.length);
  bytes.copy(framed, 4);
  return framed;
}

/**
 * SASL/OAUTHBEARER (RFC 7628) as Kafka's Java client speaks it. kafkajs' own
 * mechanism ignores the broker's answer: a refused token looks like a success
 * until the broker drops the connection at the next request ("No brokers in
 * the broker pool"). Here a non-empty answer is the broker's error (JSON with
 * a `status`); the client acknowledges it with %x01, as the RFC requires, and
 * fails with an authentication error naming that status, never the token.
 */
function oauthBearerAuthenticator(token: () => Promise<string>) {
  return ({ host, port, saslAuthenticate }: {
    host: string;
    port: number;
    saslAuthenticate: <T>(args: {
      request: { encode: () => Buffer | Promise<Buffer> };
      response?: { decode: (raw: Buffer) => Buffer | Promise<Buffer>; parse: (data: Buffer) => T };
    }) => Promise<T | void>;
  }) => ({
    authenticate: async () => {
      const value = await token();
      const answer = await saslAuthenticate<Buffer>({
        request: { encode: () => kafkaBytes(`n,,\u0001auth=Bearer ${value}\u0001\u0001`) },
        // kafkajs hands the answer over as Kafka BYTES again (length first).
        response: { decode: (raw) => raw.subarray(4), parse: (data) => data },
      });
      if (answer === undefined || answer.length === 0) return;
      let status = "an error";
      try {
        status = String(JSON.parse(answer.toString("utf8")).status ?? status);
      } catch {
        // not JSON: keep the generic word
      }
      await saslAuthenticate({ request: { encode: () => kafkaBytes("\u0001") } }).catch(() => {});
      const AuthError = saslAuthenticationError();
      const error = new AuthError(
        `SASL OAUTHBEARER authentication failed: the broker at ${host}:${port} answered ${status}`,
      );
      throw error;
    },
  });
}

/**
 * kafkajs' authentication error class, so kafkajs and rivulet treat the
 * failure as they treat a wrong password. kafkajs adds its errors to
 * `module.exports` by spreading, which Deno's CommonJS interop does not list
 * as named exports, and its typings give the class no constructor arguments
 * (it takes a message).
 */
function saslAuthenticationError(): new (message: string) => Error {
  const exports = (kafkajsNamespace as unknown as { default: Record<string, unknown> }).default;
  const found = exports.KafkaJSSASLAuthenticationError;
  if (typeof found !== "function") {
    throw new Error("kafkajs no longer exports KafkaJSSASLAuthenticationError");
  }
  return found as new (message: string) => Error;
}

const compressionTypes: Readonly<Record<CompressionCodec, CompressionTypes>> = {
  none: CompressionTypes.None,
  gzip: CompressionTypes.GZIP,
  snappy: CompressionTypes.Snappy,
  lz4: CompressionTypes.LZ4,
  zstd: CompressionTypes.ZSTD,
};

// kafkajs' INFO lines are lifecycle chatter (joined the group, starting):
// useful when debugging, noise in a pipeline's log.
function forwardLog(entry: LogEntry, logger: Logger, secrets: readonly string[]): void {
  const { message, ...extra } = entry.log;
  const fields: Record<string, string | number | boolean | null> = { namespace: entry.namespace };
  for (const [name, value] of Object.entries(extra)) {
    if (name === "timestamp" || name === "logger" || name === "stack") continue;
    if (/password|secret|sasl|token|credential/i.test(name)) continue;
    if (typeof value === "string") fields[name] = scrubSecrets(value, secrets, "***");
    else if (typeof value === "number" || typeof value === "boolean") fields[name] = value;
  }
  const text = `kafkajs: ${scrubSecrets(String(message), secrets, "***")}`;
  const logFields: LogFields = fields;
  if (entry.level === logLevel.ERROR) logger.error(text, logFields);
  else if (entry.level === logLevel.WARN) logger.warn(text, logFields);
  else logger.debug(text, logFields);
}

async function guarded<T>(
  what: string,
  secrets: readonly string[],
  run: () => Promise<T>,
): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw kafkajsClientError(what, error, secrets);
  }
}

const noHeaders: Readonly<Record<string, string>> = Object.freeze({});

/** Wraps bytes as a Buffer over the same memory, so kafkajs writes them without a copy. */
function asBuffer(bytes: Uint8Array | string | null): Buffer | string | null {
  if (bytes === null || typeof bytes === "string" || Buffer.isBuffer(bytes)) return bytes;
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function toTopicMessages(batches: readonly TopicRecords[]): TopicMessages[] {
  return batches.map(({ topic, records }) => ({
    topic,
    messages: records.map((record) => {
      const message: Message = { key: asBuffer(record.key), value: asBuffer(record.value) };
      if (record.partition !== undefined) message.partition = record.partition;
      if (record.headers !== undefined) {
        const headers: IHeaders = {};
        for (const [name, value] of Object.entries(record.headers)) {
          headers[name] = asBuffer(value) ?? "";
        }
        message.headers = headers;
      }
      return message;
    }),
  }));
}

function headerStrings(headers: IHeaders | undefined): Readonly<Record<string, string>> {
  if (headers === undefined) return noHeaders;
  let result: Record<string, string> | undefined;
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    // A repeated header arrives as an array; the last value wins, as in most clients.
    const last = Array.isArray(value) ? value[value.length - 1] : value;
    result ??= {};
    result[name] = last === undefined ? "" : last.toString();
  }
  return result ?? noHeaders;
}

function toPositionsByTopic(positions: readonly Position[]) {
  const byTopic = new Map<string, { partition: number; offset: string }[]>();
  for (const { topic, partition, offset } of positions) {
    let partitions = byTopic.get(topic);
    if (partitions === undefined) byTopic.set(topic, partitions = []);
    partitions.push({ partition, offset });
  }
  return [...byTopic].map(([topic, partitions]) => ({ topic, partitions }));
}

interface KafkajsGroupConsumerInit {
  readonly kafka: Kafka;
  readonly config: ClientConfig;
  readonly options: GroupConsumerOptions;
  readonly secrets: readonly string[];
}

class KafkajsGroupConsumer implements GroupConsumer {
  readonly #consumer: KafkajsConsumer;
  readonly #options: GroupConsumerOptions;
  readonly #secrets: readonly string[];
  readonly #heartbeatIntervalMs: number;
  #assigned = new Map<string, TopicPartition>();
  /** The member's generation and id at its last join; undefined while not a member. */
  #metadata: ConsumerGroupMetadata | undefined;
  /** The offset after the last batch handed over, per partition. */
  readonly #next = new Map<string, Position>();
  #paused = false;
  /** Set by disconnect(): a restart of kafkajs' own that was under way then must not go on. */
  #stopping = false;
  #unpark!: () => void;
  // Where a batch fetched after pause() waits until disconnect(): holding
  // kafkajs' fetch loop there stops fetching at once, whereas kafkajs' own
  // pause makes the loop sleep a full fetch wait and delays disconnecting.
  readonly #parked = new Promise<void>((resolve) => (this.#unpark = resolve));

  constructor({ kafka, config, options, secrets }: KafkajsGroupConsumerInit) {
    this.#options = options;
    this.#secrets = secrets;
    this.#heartbeatIntervalMs = config.heartbeatIntervalMs ?? 3_000;
    this.#consumer = kafka.consumer({
      groupId: options.groupId,
      // kafkajs restarts a crashed consumer on a timer that its disconnect() does not cancel once
      // the restart has begun: a SIGTERM during a broker outage ended in "stopped cleanly", then
      // the restart rejoined the group and kept the process alive. No restart once stopping
      // (kafkajs' own default otherwise: 5 retries, restart on retriable errors).
      retry: { retries: 5, restartOnFailure: () => Promise.resolve(!this.#stopping) },
      allowAutoTopicCreation: false,
      readUncommitted: options.isolation === "read_uncommitted",
      // An idle fetch waits this long on the broker, and disconnecting (SIGTERM)
      // waits for it: 100 ms by default keeps an idle pipeline's stop under
      // 200 ms (bench/sigterm_exit.ts) for ten small idle fetches a second. A
      // fetch with data returns at once whatever this is.
      maxWaitTimeInMs: config.fetchMaxWaitMs ?? 100,
      ...(config.fetchMinBytes === undefined ? {} : { minBytes: config.fetchMinBytes }),
      ...(config.fetchMaxBytes === undefined ? {} : { maxBytes: config.fetchMaxBytes }),
      ...(config.maxPartitionFetchBytes === undefined
        ? {}
        : { maxBytesPerPartition: config.maxPartitionFetchBytes }),
      ...(config.rebalanceTimeoutMs === undefined
        ? {}
        : { rebalanceTimeout: config.rebalanceTimeoutMs }),
      ...(config.metadataMaxAgeMs === undefined ? {} : { metadataMaxAge: config.metadataMaxAgeMs }),
      ...(config.sessionTimeoutMs === undefined ? {} : { sessionTimeout: config.sessionTimeoutMs }),
      ...(config.heartbeatIntervalMs === undefined
        ? {}
        : { heartbeatInterval: config.heartbeatIntervalMs }),
    });
  }

  connect(): Promise<void> {
    return guarded("consumer connection", this.#secrets, () => this.#consumer.connect());
  }

  async run(
    callbacks: ConsumerCallbacks,
    options: { readonly startAt?: readonly Position[] } = {},
  ): Promise<void> {
    const consumer = this.#consumer;
    await guarded("subscription", this.#secrets, () =>
      consumer.subscribe({
        topics: [...this.#options.topics],
        fromBeginning: this.#options.autoOffsetReset === "earliest",
      }));
    const startAt = options.startAt ?? [];
    let joined!: () => void;
    const hasJoined = new Promise<void>((resolve) => (joined = resolve));
    // A restart of kafkajs' own that began before disconnect() goes on: disconnect() stops the
    // runner only once it runs, and kafkajs connects again on demand. Once such a restart has
    // connected, or joined the group, it would start a fetch loop that no one stops and that
    // keeps the process alive. Throwing from these events (kafkajs emits them inside the
    // restart's connect and join) fails the restart there: kafkajs reports a crash,
    // disconnects, and does not restart (restartOnFailure, in the constructor).
    const refuseAfterDisconnect = () => {
      if (this.#stopping) throw new StoppedConsumerError();
    };
    consumer.on(consumer.events.CONNECT, refuseAfterDisconnect);
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      refuseAfterDisconnect();
      const now = new Map<string, TopicPartition>();
      for (const [topic, partitions] of Object.entries(payload.memberAssignment)) {
        for (const partition of partitions) {
          now.set(`${topic}\u0000${partition}`, { topic, partition });
        }
      }
      const revoked = [...this.#assigned].filter(([key]) => !now.has(key)).map(([, tp]) => tp);
      const added = [...now].filter(([key]) => !this.#assigned.has(key)).map(([, tp]) => tp);
      const generationId = takeJoinedGeneration(payload.memberId);
      this.#metadata = generationId === undefined ? undefined : {
        groupId: this.#options.groupId,
        generationId,
        memberId: payload.memberId,
      };
      // kafkajs restarts every partition at its committed offset after a
      // rebalance, even one this member kept: it continues where it was
      // instead, so nothing handed over is handed over twice.
      for (const [key, position] of this.#next) {
        if (now.has(key)) consumer.seek(position);
        else this.#next.delete(key);
      }
      this.#assigned = now;
      if (revoked.length > 0) callbacks.onRevoked?.(revoked);
      if (added.length > 0) callbacks.onAssigned?.(added);
      joined();
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      // After disconnect() a crash is the end of a restart that is not wanted: nothing to report.
      if (this.#stopping) return;
      // A restarted consumer rejoins and reads from the committed offsets, so
      // whatever this member handed over since then must be given up.
      const lost = [...this.#assigned.values()];
      this.#assigned = new Map();
      this.#metadata = undefined;
      this.#next.clear();
      if (lost.length > 0) callbacks.onRevoked?.(lost);
      if (!payload.restart) {
        callbacks.onFatal?.(kafkajsClientError("consumer", payload.error, this.#secrets));
      } else {
        callbacks.onRetrying?.(kafkajsClientError("consumer", payload.error, this.#secrets));
      }
    });
    // kafkajs moves past a fetch of only transaction markers or aborted records
    // without calling eachBatch; its end-of-batch event (batchSize 0) says where to.
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
      if (payload.batchSize !== 0 || this.#stopping || this.#paused) return;
      this.#skipped(payload.topic, payload.partition, payload.lastOffset, callbacks);
    });
    const running = consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: (payload) => this.#eachBatch(payload, callbacks),
    });
    // The consumer group exists once run() was called: seeks wait there until
    // their partitions are assigned, and are applied before the first fetch.
    this.seek(startAt);
    await running;
    await hasJoined;
  }

  async #eachBatch(payload: EachBatchPayload, callbacks: ConsumerCallbacks): Promise<void> {
    const { batch } = payload;
    if (this.#paused) return await this.#heartbeatWhile(this.#parked, payload);
    if (batch.isEmpty() || !payload.isRunning() || payload.isStale()) return;
    const { topic, partition } = batch;
    const source = batch.messages;
    const messages: SourceMessage[] = new Array(source.length);
    for (let i = 0; i < source.length; i++) {
      const m = source[i];
      messages[i] = {
        topic,
        partition,
        offset: m.offset,
        timestamp: m.timestamp,
        key: m.key,
        value: m.value,
        headers: headerStrings(m.headers),
      };
    }
    const handled = callbacks.onBatch({
      topic,
      partition,
      messages,
      highWatermark: batch.highWatermark,
    });
    await this.#heartbeatWhile(handled, payload);
    // A seek of this partition during the handler decides where it goes on (kafkajs applies it
    // before the next fetch): the batch's end must not overwrite it.
    if (payload.isStale()) return;
    // The batch's last offset counts the transaction markers and aborted records after its last message.
    const lastOffset = batch.lastOffset();
    payload.resolveOffset(lastOffset);
    this.#next.set(`${topic}\u0000${partition}`, {
      topic,
      partition,
      offset: String(BigInt(lastOffset) + 1n),
    });
    if (BigInt(lastOffset) > BigInt(messages[messages.length - 1].offset)) {
      this.#skipped(topic, partition, lastOffset, callbacks);
    }
  }

  /** Records up to `lastOffset` were passed over: the partition's next fetch starts after it. */
  #skipped(
    topic: string,
    partition: number,
    lastOffset: string,
    callbacks: ConsumerCallbacks,
  ): void {
    const key = `${topic}\u0000${partition}`;
    if (!this.#assigned.has(key)) return;
    const position = { topic, partition, offset: String(BigInt(lastOffset) + 1n) };
    this.#next.set(key, position);
    callbacks.onSkipped?.(position);
  }

  // kafkajs heartbeats only between batches; a slow handler (waiting for
  // acknowledgements downstream) or a parked batch must not get the member evicted.
  async #heartbeatWhile(work: Promise<void>, payload: EachBatchPayload): Promise<void> {
    const beat = setInterval(() => {
      payload.heartbeat().catch(() => {});
    }, this.#heartbeatIntervalMs);
    try {
      await work;
    } finally {
      clearInterval(beat);
    }
  }

  seek(positions: readonly Position[]): void {
    for (const { topic, partition, offset } of positions) {
      this.#consumer.seek({ topic, partition, offset });
      // Where a rebalance that keeps the partition continues from.
      const key = `${topic}\u0000${partition}`;
      if (this.#next.has(key)) this.#next.set(key, { topic, partition, offset });
    }
  }

  pause(): void {
    this.#paused = true;
  }

  assignment(): readonly TopicPartition[] {
    return [...this.#assigned.values()];
  }

  groupMetadata(): ConsumerGroupMetadata | undefined {
    return this.#metadata;
  }

  async commit(positions: readonly Position[]): Promise<void> {
    if (positions.length === 0) return;
    await guarded("offset commit", this.#secrets, () =>
      this.#consumer.commitOffsets(
        positions.map(({ topic, partition, offset }) => ({ topic, partition, offset })),
      ));
  }

  disconnect(): Promise<void> {
    this.#stopping = true;
    this.#paused = true;
    this.#metadata = undefined;
    this.#unpark();
    return guarded("consumer disconnection", this.#secrets, () => this.#consumer.disconnect());
  }
}

/** Ends a restart of kafkajs' own that is still under way after disconnect(). */
class StoppedConsumerError extends Error {
  constructor() {
    super("the consumer was disconnected: its restart ends here");
    this.name = "StoppedConsumerError";
  }
}

class KafkajsProducerClient implements Producer {
  readonly #producer: KafkajsProducer;
  readonly #secrets: readonly string[];
  readonly #acks: -1 | 0 | 1;
  readonly #compression: CompressionTypes;

  constructor(
    kafka: Kafka,
    config: ClientConfig,
    options: ProducerOptions = {},
    secrets: readonly string[],
  ) {
    this.#acks = config.acks ?? -1;
    // kafkajs refuses idempotence without acks from all in-sync replicas.
    const idempotent = (options.idempotent ?? true) && this.#acks === -1;
    this.#secrets = secrets;
    this.#compression = compressionTypes[config.compression ?? "none"];
    this.#producer = kafka.producer({
      allowAutoTopicCreation: false,
      idempotent,
      // Idempotence in kafkajs needs one request in flight; order is kept either way.
      maxInFlightRequests: 1,
      ...(config.metadataMaxAgeMs === undefined ? {} : { metadataMaxAge: config.metadataMaxAgeMs }),
    });
  }

  connect(): Promise<void> {
    return guarded("producer connection", this.#secrets, () => this.#producer.connect());
  }

  async send(batches: readonly TopicRecords[]): Promise<void> {
    await guarded(
      "produce request",
      this.#secrets,
      () =>
        this.#producer.sendBatch({
          topicMessages: toTopicMessages(batches),
          acks: this.#acks,
          compression: this.#compression,
        }),
    );
  }

  disconnect(): Promise<void> {
    return guarded("producer disconnection", this.#secrets, () => this.#producer.disconnect());
  }
}

class KafkajsTransactionalProducer implements TransactionalProducer {
  readonly #producer: KafkajsProducer;
  readonly #secrets: readonly string[];
  readonly #compression: CompressionTypes;

  constructor(
    kafka: Kafka,
    config: ClientConfig,
    options: TransactionalProducerOptions,
    secrets: readonly string[],
  ) {
    this.#secrets = secrets;
    this.#compression = compressionTypes[config.compression ?? "none"];
    this.#producer = kafka.producer({
      allowAutoTopicCreation: false,
      transactionalId: options.transactionalId,
      idempotent: true,
      maxInFlightRequests: 1,
      transactionTimeout: options.transactionTimeoutMs ?? 60_000,
    });
  }

  /**
   * kafkajs' own `connect` asks for an idempotent producer id without the
   * transactional id: the transactional one is asked for at the first
   * transaction. So one is begun and aborted here (nothing was added to it:
   * kafkajs sends nothing for it) to register the id before this resolves.
   */
  connect(): Promise<void> {
    return guarded("transactional producer connection", this.#secrets, async () => {
      await this.#producer.connect();
      const transaction = await this.#producer.transaction();
      await transaction.abort();
    });
  }

  async begin(): Promise<Transaction> {
    const secrets = this.#secrets;
    const transaction = await guarded(
      "transaction start",
      secrets,
      () => this.#producer.transaction(),
    );
    return {
      send: async (batches) => {
        await guarded(
          "transactional produce request",
          secrets,
          () =>
            transaction.sendBatch({
              topicMessages: toTopicMessages(batches),
              acks: -1,
              compression: this.#compression,
            }),
        );
      },
      sendOffsets: async (groupId, positions, metadata) => {
        const send = () =>
          transaction.sendOffsets({
            consumerGroupId: groupId,
            topics: toPositionsByTopic(positions),
          });
        if (metadata === undefined) {
          return await guarded("transactional offset commit", secrets, send);
        }
        try {
          // TxnOffsetCommit v3 with the member's generation (_txn_offset_commit.ts).
          await withGroupMetadata(metadata, send);
        } catch (error) {
          throw kafkajsClientError("transactional offset commit", error, secrets, {
            memberChecked: true,
          });
        }
      },
      commit: () => guarded("transaction commit", secrets, () => transaction.commit()),
      abort: () => guarded("transaction abort", secrets, () => transaction.abort()),
    };
  }

  disconnect(): Promise<void> {
    return guarded(
      "transactional producer disconnection",
      this.#secrets,
      () => this.#producer.disconnect(),
    );
  }
}

class KafkajsAdminClient implements Admin {
  readonly #admin: KafkajsAdmin;
  readonly #secrets: readonly string[];
  // kafkajs connects a disconnected admin again on its next request, or fails it
  // with "Closed connection", depending on timing (a CI run saw a listing succeed
  // after disconnect). rivulet's admin refuses every request after disconnect().
  #disconnected = false;

  constructor(admin: KafkajsAdmin, secrets: readonly string[]) {
    this.#admin = admin;
    this.#secrets = secrets;
  }

  connect(): Promise<void> {
    this.#disconnected = false;
    return guarded("admin connection", this.#secrets, () => this.#admin.connect());
  }

  listTopics(): Promise<readonly string[]> {
    return this.#call("topic listing", () => this.#admin.listTopics());
  }

  async createTopic(
    options: {
      readonly topic: string;
      readonly partitions?: number;
      readonly configs?: Readonly<Record<string, string>>;
    },
  ): Promise<void> {
    const configEntries = Object.entries(options.configs ?? {}).map(([name, value]) => ({
      name,
      value,
    }));
    this.#refuseIfDisconnected(`creation of topic ${JSON.stringify(options.topic)}`);
    try {
      await this.#admin.createTopics({
        topics: [{ topic: options.topic, numPartitions: options.partitions ?? 1, configEntries }],
        waitForLeaders: true,
      });
    } catch (error) {
      // Created meanwhile by someone else: that is what was wanted.
      const type = (error as { type?: string }).type;
      const nested = (error as { errors?: { type?: string }[] }).errors ?? [];
      const exists = type === "TOPIC_ALREADY_EXISTS" ||
        nested.some((e) => e.type === "TOPIC_ALREADY_EXISTS");
      if (!exists) {
        throw kafkajsClientError(
          `creation of topic ${JSON.stringify(options.topic)}`,
          error,
          this.#secrets,
        );
      }
    }
  }

  async partitionOffsets(topic: string): Promise<readonly PartitionOffsets[]> {
    const offsets = await this.#call(
      `offset lookup of topic ${JSON.stringify(topic)}`,
      () => this.#admin.fetchTopicOffsets(topic),
    );
    return offsets.map(({ partition, low, high }) => ({ partition, low, high }));
  }

  async groupPositions(groupId: string, topics: readonly string[]): Promise<readonly Position[]> {
    // The lookup asks for final offsets (require_stable, _stable_offsets.ts): while a
    // transaction's offsets are pending, the broker says so, and it is asked again.
    const offsets = await this.#call(
      `offset lookup of group ${JSON.stringify(groupId)}`,
      () =>
        untilOffsetsStable(
          () => withStableOffsets(() => this.#admin.fetchOffsets({ groupId, topics: [...topics] })),
          (error) => offsetLookupWaitsFor.includes((error as { type?: string }).type ?? ""),
        ),
    );
    return offsets.flatMap(({ topic, partitions }) =>
      partitions.filter(({ offset }) => Number(offset) >= 0).map(({ partition, offset }) => ({
        topic,
        partition,
        offset,
      }))
    );
  }

  async describeTopic(topic: string): Promise<TopicDescription> {
    const what = `description of topic ${JSON.stringify(topic)}`;
    const metadata = await this.#call(
      what,
      () => this.#admin.fetchTopicMetadata({ topics: [topic] }),
    );
    const described = await this.#call(what, () =>
      this.#admin.describeConfigs({
        resources: [{ type: ConfigResourceTypes.TOPIC, name: topic }],
        includeSynonyms: false,
      }));
    const configs: Record<string, string> = {};
    for (const resource of described.resources) {
      for (const entry of resource.configEntries) configs[entry.configName] = entry.configValue;
    }
    return { partitions: metadata.topics[0]?.partitions.length ?? 0, configs };
  }

  async groupMembers(groupId: string): Promise<readonly string[]> {
    const { groups } = await this.#call(
      `description of group ${JSON.stringify(groupId)}`,
      () => this.#admin.describeGroups([groupId]),
    );
    return groups.flatMap((group) => group.members.map((member) => member.memberId));
  }

  async offsetsForTimes(topic: string, timestampMs: number): Promise<readonly Position[]> {
    const [byTime, ends] = await this.#call(
      `offset lookup by time of topic ${JSON.stringify(topic)}`,
      () =>
        Promise.all([
          this.#admin.fetchTopicOffsetsByTimestamp(topic, timestampMs),
          this.#admin.fetchTopicOffsets(topic),
        ]),
    );
    const high = new Map(ends.map(({ partition, high }) => [partition, high]));
    // Kafka answers -1 for a partition with no record that recent: start at its end.
    return byTime.map(({ partition, offset }) => ({
      topic,
      partition,
      offset: Number(offset) >= 0 ? offset : high.get(partition) ?? "0",
    }));
  }

  disconnect(): Promise<void> {
    this.#disconnected = true;
    return guarded("admin disconnection", this.#secrets, () => this.#admin.disconnect());
  }

  async #call<T>(what: string, run: () => Promise<T>): Promise<T> {
    this.#refuseIfDisconnected(what);
    return await guarded(what, this.#secrets, run);
  }

  #refuseIfDisconnected(what: string): void {
    if (this.#disconnected) {
      throw new KafkaClientError(`Kafka ${what} failed: the admin is disconnected`, {
        retriable: false,
      });
    }
  }
}
