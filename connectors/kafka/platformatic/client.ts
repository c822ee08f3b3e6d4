/**
 * The {@linkcode KafkaClient} on @platformatic/kafka: a maintained, pure
 * TypeScript client with idempotent and transactional production, SASL and
 * TLS, and the consumer group protocol of KIP-848. This is the only file that
 * imports the library.
 *
 * The group consumer lets the library keep the group membership (join, sync,
 * heartbeats in the background, rejoining after a rebalance) but fetches by
 * itself, one fetch request per leader at a time: the library's message stream
 * hands over single messages, restarts every partition at its committed offset
 * after each rebalance and has no seek, whereas rivulet wants whole fetched
 * batches, awaited one at a time, kept partitions continuing where they were,
 * and exact seeks.
 *
 * @module
 */
import "./_env_guard.ts";
import "./_lazy_validators.ts";
import { Buffer } from "node:buffer";
import {
  Admin as PlatformaticAdmin,
  AuthenticationError,
  ConfigResourceTypes,
  Consumer as PlatformaticConsumer,
  type MessagesStream,
  Producer as PlatformaticProducer,
  type ProducerOptions as PlatformaticProducerOptions,
  type SASLCustomAuthenticator,
} from "@platformatic/kafka";
import "./_env_restore.ts";
import "./_lazy_validators_check.ts";
import type { ConnectionOptions as TlsConnectionOptions } from "node:tls";
import type { ClientConfig } from "../config.ts";
import type { Logger, Position, SourceMessage } from "../../types.ts";
import { silentLogger } from "../../types.ts";
import { firstConnection } from "../connection_error.ts";
import type {
  Admin,
  ConsumerCallbacks,
  ConsumerGroupMetadata,
  FetchedBatch,
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
import { apiIds, clientError, guarded } from "./errors.ts";
import { oauthBearerToken } from "../oauthbearer_token.ts";
import { type ClientPart, ClientParts } from "../client_parts.ts";
import { offsetLookupWaitsFor, untilOffsetsStable } from "../_retry.ts";
import { useFastProduceRequests } from "./produce_request.ts";
import { abortedTransactionsOf, keepAbortedTransactions } from "./fetch_aborted.ts";
import { checkMemberOffsetCommits, memberKey, recordMemberEpochs } from "./group_metadata.ts";

/** Options for {@linkcode createPlatformaticClient}. */
export interface PlatformaticClientOptions {
  /** Where the client's own notices go (default: nowhere). */
  readonly logger?: Logger;
  /**
   * The consumer group protocol: `classic` (JoinGroup/SyncGroup, the default)
   * or `consumer` (KIP-848, brokers 4.0 and later). Overrides the config's.
   */
  readonly groupProtocol?: "classic" | "consumer";
}

/**
 * Creates a {@linkcode KafkaClient} backed by @platformatic/kafka.
 *
 * @example
 * ```ts ignore
 * const client = createPlatformaticClient(config);
 * const producer = client.producer();
 * await producer.connect();
 * await producer.send([{ topic: "sum", records: [{ key: null, value: "*COMMIT*" }] }]);
 * ```
 */
export function createPlatformaticClient(
  config: ClientConfig,
  options: PlatformaticClientOptions = {},
): KafkaClient {
  const logger = options.logger ?? silentLogger;
  const secrets = secretsOf(config);
  const groupProtocol = options.groupProtocol ?? config.groupProtocol ?? "classic";
  const failFast = firstConnectionCheck(config, secrets);
  // Parts connected and not yet disconnected: close() disconnects what their owners left open.
  const parts = new ClientParts(failFast);
  const tracked = <Part extends ClientPart>(part: Part): Part => parts.track(part);
  return {
    consumer: (consumerOptions) =>
      tracked(
        new PlatformaticGroupConsumer(config, consumerOptions, groupProtocol, secrets, logger),
      ),
    producer: (producerOptions) =>
      tracked(new PlatformaticProducerClient(config, producerOptions, secrets)),
    transactionalProducer: (txOptions) =>
      tracked(new PlatformaticTransactionalProducer(config, txOptions, secrets)),
    admin: () => tracked(new PlatformaticAdminClient(config, secrets)),
    close: () => parts.closeAll(),
  };
}

// One list per configuration: OAUTHBEARER tokens join it as they are fetched
// (by any connection of any part), so every message made later scrubs them.
const secretsByConfig = new WeakMap<ClientConfig, string[]>();

function secretsOf(config: ClientConfig): string[] {
  let secrets = secretsByConfig.get(config);
  if (secrets === undefined) {
    secrets = [];
    if (config.sasl !== undefined) secrets.push(config.sasl.password);
    if (config.tls?.keyPassword !== undefined) secrets.push(config.tls.keyPassword);
    secretsByConfig.set(config, secrets);
  }
  return secrets;
}

/**
 * The library retries a failed connection (three times, a second apart by
 * default), even a wrong password's. So the first connection of a client is
 * tried once without retries: a failure that cannot heal rejects at once with
 * an explanation; one that can (nothing listening yet) is left to the part's
 * own connection to retry.
 */
function firstConnectionCheck(config: ClientConfig, secrets: readonly string[]) {
  let connected: Promise<boolean> | undefined;
  return async () => {
    connected ??= firstConnection({
      config,
      attempt: async () => {
        const admin = new PlatformaticAdmin({ ...baseOptions(config), retries: 0 });
        try {
          await guarded("connection", secrets, () => admin.metadata({ topics: [] }));
        } finally {
          await admin.close().catch(() => {});
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

/** The library's connection options for rivulet's client configuration (exported for tests). */
export function baseOptions(config: ClientConfig) {
  const options: {
    clientId: string;
    bootstrapBrokers: string[];
    connectTimeout?: number;
    retries: number;
    retryDelay: number;
    tls?: TlsConnectionOptions;
    sasl?: {
      mechanism: "PLAIN" | "SCRAM-SHA-256" | "SCRAM-SHA-512";
      username: string;
      password: string;
    } | {
      mechanism: "OAUTHBEARER";
      authenticate: SASLCustomAuthenticator;
    };
    timeout?: number;
    metadataMaxAge?: number;
  } = {
    clientId: config.clientId,
    bootstrapBrokers: [...config.brokers],
    retries: 5,
    retryDelay: config.retryBackoffMs ?? 500,
  };
  if (config.connectionTimeoutMs !== undefined) options.connectTimeout = config.connectionTimeoutMs;
  if (config.requestTimeoutMs !== undefined) options.timeout = config.requestTimeoutMs;
  if (config.metadataMaxAgeMs !== undefined) options.metadataMaxAge = config.metadataMaxAgeMs;
  if (config.tls !== undefined) {
    const tls = config.tls;
    options.tls = {
      rejectUnauthorized: tls.verifyCertificates,
      ...(tls.verifyCertificates ? {} : { checkServerIdentity: () => undefined }),
      ...(tls.ca === undefined ? {} : { ca: [tls.ca] }),
      ...(tls.cert === undefined ? {} : { cert: tls.cert }),
      ...(tls.key === undefined ? {} : { key: tls.key }),
      ...(tls.keyPassword === undefined ? {} : { passphrase: tls.keyPassword }),
    };
  }
  if (config.sasl?.oauthBearer !== undefined) {
    const source = config.sasl.oauthBearer;
    const secrets = secretsOf(config);
    options.sasl = {
      mechanism: "OAUTHBEARER",
      authenticate: oauthBearerAuthenticator(async () => {
        const token = await oauthBearerToken(source);
        if (!secrets.includes(token)) secrets.push(token);
        return token;
      }),
    };
  } else if (config.sasl !== undefined) {
    const mechanism = config.sasl.mechanism === "plain"
      ? "PLAIN"
      : config.sasl.mechanism === "scram-sha-256"
      ? "SCRAM-SHA-256"
      : "SCRAM-SHA-512";
    options.sasl = { mechanism, username: config.sasl.username, password: config.sasl.password };
  }
  return options;
}

/**
 * SASL/OAUTHBEARER (RFC 7628) as Kafka's Java client speaks it, through the
 * library's custom authenticator hook. The library's own mechanism takes any
 * answer as success (its validator is not wired by default): a refused token
 * would fail later as a closed connection. Here a non-empty answer is the
 * broker's error (JSON with a `status`); the client acknowledges it with
 * %x01, as the RFC requires, and fails with an authentication error naming
 * that status, never the token.
 */
type SaslAuthenticateResponse = Parameters<Parameters<SASLCustomAuthenticator>[6]>[1];

function oauthBearerAuthenticator(token: () => Promise<string>): SASLCustomAuthenticator {
  return (_mechanism, connection, saslAuthenticate, _username, _password, _token, callback) => {
    const where = `${connection.host}:${connection.port}`;
    token().then(
      (value) => {
        const initial = Buffer.from(`n,,\u0001auth=Bearer ${value}\u0001\u0001`, "utf8");
        saslAuthenticate(connection, initial, (error, response) => {
          if (error) {
            callback(error, undefined as unknown as SaslAuthenticateResponse);
            return;
          }
          const answer = response?.authBytes;
          if (answer === undefined || answer === null || answer.length === 0) {
            callback(null, response);
            return;
          }
          let status = "an error";
          try {
            status = String(JSON.parse(Buffer.from(answer).toString("utf8")).status ?? status);
          } catch {
            // not JSON: keep the generic word
          }
          const refused = new AuthenticationError(
            `SASL OAUTHBEARER authentication failed: the broker at ${where} answered ${status}`,
          );
          // The broker ends the exchange once acknowledged; its answer changes nothing.
          saslAuthenticate(
            connection,
            Buffer.from([1]),
            () => callback(refused, undefined as unknown as SaslAuthenticateResponse),
          );
        });
      },
      (error) => callback(error, undefined as unknown as SaslAuthenticateResponse),
    );
  };
}

const noHeaders: Readonly<Record<string, string>> = Object.freeze({});

/** Bytes as a Buffer over the same memory, so the library writes them without a copy. */
function asBuffer(bytes: Uint8Array | string | null): Buffer | undefined {
  if (bytes === null) return undefined;
  if (typeof bytes === "string") return Buffer.from(bytes);
  if (Buffer.isBuffer(bytes)) return bytes;
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * A key or value as the producers take it: bytes, or text where
 * `useFastProduceRequests` is in place (see {@linkcode toMessages}).
 */
type KeyOrValue = Buffer | string;

/** A record as the library's `send` takes it. */
interface LibraryMessage {
  topic: string;
  /** Text only where the producer takes it (see {@linkcode toMessages}). */
  key: KeyOrValue | undefined;
  value: KeyOrValue | undefined;
  headers?: Record<string, Buffer>;
  partition?: number;
}

/**
 * The library's messages for rivulet's records. With `textAllowed` (the
 * producer encodes its own requests: `useFastProduceRequests`), the text keys
 * and values of records whose partition is given stay text, written straight
 * into the request; otherwise every one becomes a `Buffer`. A record without
 * headers gets no headers object: the library would turn an empty one into
 * two Maps.
 */
function toMessages(batches: readonly TopicRecords[], textAllowed: boolean): LibraryMessage[] {
  const messages: LibraryMessage[] = [];
  for (const { topic, records } of batches) {
    for (const record of records) {
      const asText = textAllowed && record.partition !== undefined;
      const message: LibraryMessage = {
        topic,
        key: asText && typeof record.key === "string" ? record.key : asBuffer(record.key),
        value: asText && typeof record.value === "string" ? record.value : asBuffer(record.value),
      };
      if (record.headers !== undefined) {
        const headers: Record<string, Buffer> = {};
        for (const [name, value] of Object.entries(record.headers)) {
          headers[name] = asBuffer(value) ?? Buffer.alloc(0);
        }
        message.headers = headers;
      }
      if (record.partition !== undefined) message.partition = record.partition;
      messages.push(message);
    }
  }
  return messages;
}

/** A fetch response, as the library's consumer returns it. */
type FetchResponse = Awaited<ReturnType<PlatformaticConsumer["fetch"]>>;

const key = (topic: string, partition: number) => `${topic}\u0000${partition}`;

/** How long an idle fetch waits on the broker; disconnecting does not wait for it. */
const fetchWaitMs = 1_000;

class PlatformaticGroupConsumer implements GroupConsumer {
  readonly #consumer: PlatformaticConsumer;
  readonly #options: GroupConsumerOptions;
  readonly #secrets: readonly string[];
  readonly #isolation: number;
  readonly #fetch: {
    maxWaitTime: number;
    minBytes: number;
    maxBytes: number;
    partitionMaxBytes: number;
  };
  #stream: MessagesStream<Buffer, Buffer, Buffer, Buffer> | undefined;
  #callbacks: ConsumerCallbacks | undefined;
  #assigned = new Map<string, TopicPartition>();
  /** The classic protocol's generation and member id at the last join; undefined while not a member. */
  #joined: ConsumerGroupMetadata | undefined;
  /** The KIP-848 member epoch and member id of the last heartbeat answer; undefined while not a member. */
  #memberEpoch: { readonly epoch: number; readonly memberId: string } | undefined;
  /** The next offset to fetch, per assigned partition whose start is known. */
  readonly #next = new Map<string, bigint>();
  /** Seeks not applied yet; they win over everything else. */
  readonly #seeks = new Map<string, bigint>();
  /** Bumped when a partition is assigned, revoked or sought: a batch fetched before is dropped. */
  readonly #epochs = new Map<string, number>();
  #paused = false;
  #closed = false;
  #closing = false;
  #running: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #groupFailure: Error | undefined;
  #unpark!: () => void;
  readonly #parked = new Promise<void>((resolve) => (this.#unpark = resolve));

  constructor(
    config: ClientConfig,
    options: GroupConsumerOptions,
    groupProtocol: "classic" | "consumer",
    secrets: readonly string[],
    _logger: Logger,
  ) {
    this.#options = options;
    this.#secrets = secrets;
    this.#isolation = (options.isolation ?? config.isolationLevel) === "read_uncommitted" ? 0 : 1;
    this.#fetch = {
      maxWaitTime: config.fetchMaxWaitMs ?? fetchWaitMs,
      minBytes: config.fetchMinBytes ?? 1,
      maxBytes: config.fetchMaxBytes ?? 10 * 1_048_576,
      partitionMaxBytes: config.maxPartitionFetchBytes ?? 1_048_576,
    };
    const group = groupProtocol === "consumer" ? { groupProtocol: "consumer" as const } : {
      groupProtocol: "classic" as const,
      sessionTimeout: config.sessionTimeoutMs ?? 30_000,
      rebalanceTimeout: config.rebalanceTimeoutMs ??
        Math.max(60_000, config.sessionTimeoutMs ?? 30_000),
      heartbeatInterval: config.heartbeatIntervalMs ?? 3_000,
    };
    try {
      this.#consumer = new PlatformaticConsumer({
        ...baseOptions(config),
        groupId: options.groupId,
        autocommit: false,
        isolationLevel: this.#isolation,
        maxWaitTime: fetchWaitMs,
        ...group,
      });
    } catch (error) {
      // The library validates its options here (a group id with white space, for one).
      throw clientError(`consumer of group ${JSON.stringify(options.groupId)}`, error, secrets);
    }
    // The library's own read_committed filter drops committed transactions
    // between two aborted ones of a restarted transactional id (see
    // fetch_aborted.ts); toBatch filters instead.
    keepAbortedTransactions(this.#consumer);
    if (groupProtocol === "consumer") {
      // KIP-848: the member epoch is the generation the group coordinator checks; the library
      // keeps it private, so it is read from each heartbeat's answer.
      recordMemberEpochs(this.#consumer, (epoch, memberId) => {
        if (this.#closed) return;
        const member = memberId ?? this.#consumer.memberId ?? "";
        this.#memberEpoch = member === "" ? undefined : { epoch, memberId: member };
      });
    }
    // Without a listener an 'error' event would throw; a failed rejoin ends up here.
    this.#consumer.on("error", (error: Error) => this.#groupFailed(error));
    // Attached before any join (and before the assignment's listeners in run()): the member's
    // generation changes before the callbacks of the rebalance that changed it.
    this.#consumer.on(
      "consumer:group:join",
      (payload: { generationId?: unknown; memberId?: unknown }) => {
        const { generationId, memberId } = payload ?? {};
        if (this.#closed || typeof generationId !== "number" || typeof memberId !== "string") {
          return;
        }
        this.#joined = { groupId: options.groupId, generationId, memberId };
      },
    );
    this.#consumer.on("consumer:group:leave", () => {
      this.#joined = undefined;
      this.#memberEpoch = undefined;
    });
  }

  connect(): Promise<void> {
    return guarded("consumer connection", this.#secrets, async () => {
      await this.#consumer.metadata({ topics: [] });
    });
  }

  async run(
    callbacks: ConsumerCallbacks,
    options: { readonly startAt?: readonly Position[] } = {},
  ): Promise<void> {
    this.#callbacks = callbacks;
    this.seek(options.startAt ?? []);
    const consumer = this.#consumer;
    // The message stream is only how the library joins the group and tracks
    // its topics: it is paused and never read, and fetching happens below.
    const stream = await guarded("group join", this.#secrets, () =>
      consumer.consume({
        topics: [...this.#options.topics],
        autocommit: false,
        mode: "latest",
      }));
    this.#stream = stream;
    stream.on("error", (error: Error) => this.#groupFailed(error));
    stream.pause();
    // The library resumes its streams after a rebalance; this one must stay idle until closed.
    const resume = stream.resume.bind(stream);
    stream.resume = () => (this.#closing ? resume() : stream);
    const sync = () => this.#syncAssignment();
    consumer.on("consumer:group:join", sync);
    consumer.on("consumer:heartbeat:end", sync);
    this.#syncAssignment();
    this.#running = this.#fetchLoop();
  }

  #groupFailed(error: Error): void {
    if (this.#closed) return;
    this.#groupFailure = error;
    this.#wake?.();
  }

  /** Compares the library's assignment with the last one seen and reports the difference. */
  #syncAssignment(): void {
    if (this.#closed || this.#callbacks === undefined) return;
    const assignments = this.#consumer.assignments;
    if (assignments === null) return;
    const now = new Map<string, TopicPartition>();
    for (const { topic, partitions } of assignments) {
      if (topic === undefined) continue;
      for (const partition of partitions) now.set(key(topic, partition), { topic, partition });
    }
    const revoked = [...this.#assigned].filter(([k]) => !now.has(k)).map(([, tp]) => tp);
    const added = [...now].filter(([k]) => !this.#assigned.has(k)).map(([, tp]) => tp);
    if (revoked.length === 0 && added.length === 0) return;
    for (const tp of revoked) {
      const k = key(tp.topic, tp.partition);
      this.#next.delete(k);
      this.#bump(k);
    }
    for (const tp of added) this.#bump(key(tp.topic, tp.partition));
    this.#assigned = now;
    if (revoked.length > 0) this.#callbacks.onRevoked?.(revoked);
    if (added.length > 0) this.#callbacks.onAssigned?.(added);
    this.#wake?.();
  }

  #bump(k: string): void {
    this.#epochs.set(k, (this.#epochs.get(k) ?? 0) + 1);
  }

  /** Waits until woken (assignment, seek, disconnect) or `ms` passed. */
  #idle(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      const wake = () => done();
      this.#wake = wake;
      function done() {
        clearTimeout(timer);
        resolve();
      }
    }).finally(() => (this.#wake = undefined));
  }

  async #fetchLoop(): Promise<void> {
    const callbacks = this.#callbacks!;
    let backoffMs = 250;
    while (!this.#closed) {
      if (this.#paused) {
        await this.#parked;
        continue;
      }
      try {
        const failure = this.#groupFailure;
        if (failure !== undefined) {
          this.#groupFailure = undefined;
          throw failure;
        }
        this.#syncAssignment();
        const partitions = [...this.#assigned.values()];
        if (partitions.length === 0) {
          await this.#idle(200);
          continue;
        }
        await this.#resolveStarts(partitions);
        if (this.#closed || this.#paused) continue;
        await this.#fetchOnce(partitions, callbacks);
        backoffMs = 250;
      } catch (error) {
        if (this.#closed) return;
        const failure = clientError("consumer", error, this.#secrets);
        if (!failure.retriable) {
          this.#closed = true;
          callbacks.onFatal?.(failure);
          return;
        }
        // As after a restart of the kafkajs consumer: every partition is handed
        // back and read again from the committed offsets once it is reassigned.
        const lost = [...this.#assigned.values()];
        this.#assigned = new Map();
        this.#next.clear();
        for (const tp of lost) this.#bump(key(tp.topic, tp.partition));
        if (lost.length > 0) callbacks.onRevoked?.(lost);
        callbacks.onRetrying?.(failure);
        await this.#idle(backoffMs);
        backoffMs = Math.min(backoffMs * 2, 5_000);
        if (!this.#consumer.isActive() && !this.#closed) {
          await this.#consumer.joinGroup().catch((e: Error) => this.#groupFailed(e));
        }
      }
    }
  }

  /** Finds where each assigned partition without a known position starts. */
  async #resolveStarts(partitions: readonly TopicPartition[]): Promise<void> {
    const unknown: TopicPartition[] = [];
    for (const tp of partitions) {
      const k = key(tp.topic, tp.partition);
      const sought = this.#seeks.get(k);
      if (sought !== undefined) {
        this.#seeks.delete(k);
        this.#next.set(k, sought);
      } else if (!this.#next.has(k)) {
        unknown.push(tp);
      }
    }
    if (unknown.length === 0) return;
    const epochs = new Map(unknown.map((tp) => {
      const k = key(tp.topic, tp.partition);
      return [k, this.#epochs.get(k)] as const;
    }));
    const byTopic = groupByTopic(unknown);
    const committed = await this.#consumer.listCommittedOffsets({
      topics: [...byTopic].map(([topic, ps]) => ({ topic, partitions: ps })),
    });
    const missing = new Map<string, number[]>();
    const found = new Map<string, bigint>();
    for (const [topic, ps] of byTopic) {
      for (const partition of ps) {
        const offset = committed.get(topic)?.[partition];
        if (offset !== undefined && offset >= 0n) found.set(key(topic, partition), offset);
        else missing.set(topic, [...(missing.get(topic) ?? []), partition]);
      }
    }
    if (missing.size > 0) {
      const reset = await this.#consumer.listOffsets({
        topics: [...missing.keys()],
        partitions: Object.fromEntries(missing),
        timestamp: this.#options.autoOffsetReset === "earliest" ? -2n : -1n,
        isolationLevel: this.#isolation,
      });
      for (const [topic, ps] of missing) {
        for (const partition of ps) {
          const offset = reset.get(topic)?.[partition];
          if (offset !== undefined) found.set(key(topic, partition), offset);
        }
      }
    }
    for (const [k, offset] of found) {
      // A seek or a rebalance meanwhile wins over what was looked up.
      if (this.#epochs.get(k) !== epochs.get(k) || !this.#assigned.has(k)) continue;
      if (this.#seeks.has(k) || this.#next.has(k)) continue;
      this.#next.set(k, offset);
    }
  }

  /** One fetch request per leader, then the batches handed over one at a time. */
  async #fetchOnce(
    partitions: readonly TopicPartition[],
    callbacks: ConsumerCallbacks,
  ): Promise<void> {
    const consumer = this.#consumer;
    const topics = [...new Set(partitions.map((tp) => tp.topic))];
    const metadata = await consumer.metadata({ topics });
    const requested = new Map<string, { offset: bigint; epoch: number | undefined }>();
    const byLeader = new Map<number, Map<string, { partition: number; offset: bigint }[]>>();
    for (const { topic, partition } of partitions) {
      const k = key(topic, partition);
      const offset = this.#next.get(k);
      if (offset === undefined) continue;
      const info = metadata.topics.get(topic);
      if (info === undefined) continue;
      const leader = info.partitions[partition]?.leader ?? -1;
      let perTopic = byLeader.get(leader);
      if (perTopic === undefined) byLeader.set(leader, perTopic = new Map());
      let list = perTopic.get(info.id);
      if (list === undefined) perTopic.set(info.id, list = []);
      list.push({ partition, offset });
      requested.set(k, { offset, epoch: this.#epochs.get(k) });
    }
    if (byLeader.size === 0) {
      await this.#idle(100);
      return;
    }
    const topicNames = new Map<string, string>();
    for (const [name, info] of metadata.topics) topicNames.set(info.id, name);
    const responses = await Promise.all([...byLeader].map(async ([node, perTopic]) => {
      try {
        return await consumer.fetch({
          node,
          // The stream's own connections: a fetch waiting on the broker holds
          // up neither heartbeats nor commits, and disconnect() can cut it.
          ...(this.#stream === undefined ? {} : { connectionPool: this.#stream.connections }),
          maxWaitTime: this.#fetch.maxWaitTime,
          minBytes: this.#fetch.minBytes,
          maxBytes: this.#fetch.maxBytes,
          isolationLevel: this.#isolation,
          topics: [...perTopic].map(([topicId, list]) => ({
            topicId,
            partitions: list.map(({ partition, offset }) => ({
              partition,
              fetchOffset: offset,
              partitionMaxBytes: this.#fetch.partitionMaxBytes,
              currentLeaderEpoch: -1,
              lastFetchedEpoch: -1,
            })),
          })),
        });
      } catch (error) {
        if (this.#outOfRange(error, topicNames)) return undefined;
        throw error;
      }
    }));
    for (const response of responses) {
      if (response === undefined) continue;
      for (const topicResponse of response.responses) {
        const topic = topicNames.get(topicResponse.topicId) ?? topicResponse.topicId;
        for (const partitionResponse of topicResponse.partitions) {
          if (this.#closed || this.#paused) return;
          const partition = partitionResponse.partitionIndex;
          const k = key(topic, partition);
          const asked = requested.get(k);
          if (asked === undefined || this.#epochs.get(k) !== asked.epoch) continue;
          const batch = toBatch(topic, partition, asked.offset, partitionResponse);
          if (batch === undefined) continue;
          const messages = batch.messages;
          if (messages.length > 0) {
            await callbacks.onBatch(batch.batch);
            if (this.#closed) return;
          }
          // Only when nothing moved the partition meanwhile (a seek, a rebalance).
          if (this.#epochs.get(k) === asked.epoch && this.#next.get(k) === asked.offset) {
            this.#next.set(k, batch.next);
            // Transaction markers or aborted records after the last message handed over.
            const handedTo = messages.length > 0
              ? BigInt(messages[messages.length - 1].offset) + 1n
              : asked.offset;
            if (batch.next > handedTo && !this.#paused) {
              callbacks.onSkipped?.({ topic, partition, offset: String(batch.next) });
            }
          }
        }
      }
    }
  }

  /** Partitions whose offset is out of range restart where autoOffsetReset says. */
  #outOfRange(error: unknown, topicNames: ReadonlyMap<string, string>): boolean {
    if (!apiIds(error).includes("OFFSET_OUT_OF_RANGE")) return false;
    const response = (error as { response?: FetchResponse }).response;
    if (response === undefined) return false;
    for (const topicResponse of response.responses) {
      const topic = topicNames.get(topicResponse.topicId) ?? topicResponse.topicId;
      for (const p of topicResponse.partitions) {
        if (p.errorCode === 1) {
          const k = key(topic, p.partitionIndex);
          this.#next.set(
            k,
            this.#options.autoOffsetReset === "earliest" ? p.logStartOffset : p.highWatermark,
          );
        }
      }
    }
    return true;
  }

  seek(positions: readonly Position[]): void {
    for (const { topic, partition, offset } of positions) {
      const k = key(topic, partition);
      this.#seeks.set(k, BigInt(offset));
      this.#next.delete(k);
      this.#bump(k);
    }
    if (positions.length > 0) this.#wake?.();
  }

  pause(): void {
    this.#paused = true;
  }

  assignment(): readonly TopicPartition[] {
    return [...this.#assigned.values()];
  }

  groupMetadata(): ConsumerGroupMetadata | undefined {
    if (this.#closed) return undefined;
    const epoch = this.#memberEpoch;
    if (epoch !== undefined) {
      return {
        groupId: this.#options.groupId,
        generationId: epoch.epoch,
        memberId: epoch.memberId,
      };
    }
    return this.#joined;
  }

  async commit(positions: readonly Position[]): Promise<void> {
    if (positions.length === 0) return;
    await guarded("offset commit", this.#secrets, () =>
      this.#consumer.commit({
        offsets: positions.map(({ topic, partition, offset }) => ({
          topic,
          partition,
          offset: BigInt(offset),
          leaderEpoch: -1,
        })),
      }));
  }

  async disconnect(): Promise<void> {
    this.#paused = true;
    this.#closed = true;
    this.#closing = true;
    this.#unpark();
    this.#wake?.();
    await guarded("consumer disconnection", this.#secrets, async () => {
      // A fetch in flight waits up to a second on an idle partition, and a
      // closing connection waits for its answer: cut the fetch connections.
      for (const [, connection] of this.#stream?.connections ?? []) {
        connection.socket?.destroy();
      }
      await this.#stream?.close();
      await this.#consumer.close(true);
    });
    await this.#running?.catch(() => {});
  }
}

function groupByTopic(partitions: readonly TopicPartition[]): Map<string, number[]> {
  const byTopic = new Map<string, number[]>();
  for (const { topic, partition } of partitions) {
    let list = byTopic.get(topic);
    if (list === undefined) byTopic.set(topic, list = []);
    list.push(partition);
  }
  return byTopic;
}

type FetchedPartition = FetchResponse["responses"][number]["partitions"][number];

/** Record batch attributes: bit 4, the batch belongs to a transaction. */
const isTransactionalBatch = 0b1_0000;
/** Record batch attributes: bit 5, a control batch (a transaction marker). */
const isControlBatch = 0b10_0000;

/** A control record's key is (version INT16, type INT16); type 0 is ABORT, 1 COMMIT. */
function isAbortMarker(key: Buffer | null | undefined): boolean {
  return key !== null && key !== undefined && key.length >= 4 && key.readInt16BE(2) === 0;
}

/** Offsets and timestamps up to this are added as numbers (with room for a record's delta). */
const maxSafeOffset = BigInt(Number.MAX_SAFE_INTEGER) - (1n << 32n);

/**
 * The records of one partition's fetch response from `from` on, without
 * control records and without aborted transactions' records.
 */
function toBatch(
  topic: string,
  partition: number,
  from: bigint,
  response: FetchedPartition,
): { batch: FetchedBatch; messages: readonly SourceMessage[]; next: bigint } | undefined {
  const recordBatches = response.records;
  if (recordBatches === undefined || recordBatches === null || recordBatches.length === 0) {
    return undefined;
  }
  const messages: SourceMessage[] = [];
  let next = from;
  // read_committed: the broker sends aborted transactions' records too, with
  // the list of aborted transactions (producer, first offset); the client
  // drops them, as Kafka's Java client does. A producer's records are dropped
  // from its aborted transaction's first offset until that transaction's
  // ABORT marker: later transactions of the same producer (a restarted
  // transactional id keeps its producer id) are kept. The list is empty under
  // read_uncommitted. The library's own filter, which drops too much, is kept
  // off by keepAbortedTransactions (fetch_aborted.ts), which moves the list
  // where abortedTransactionsOf finds it.
  const aborted = [...abortedTransactionsOf(response)].sort((a, b) =>
    a.firstOffset < b.firstOffset ? -1 : a.firstOffset > b.firstOffset ? 1 : 0
  );
  let nextAborted = 0;
  const abortedProducers = new Set<bigint>();
  for (const recordBatch of recordBatches) {
    const last = recordBatch.firstOffset + BigInt(recordBatch.lastOffsetDelta);
    if (last + 1n > next) next = last + 1n;
    while (nextAborted < aborted.length && aborted[nextAborted].firstOffset <= last) {
      abortedProducers.add(aborted[nextAborted++].producerId);
    }
    const transactional = (recordBatch.attributes & isTransactionalBatch) !== 0;
    if ((recordBatch.attributes & isControlBatch) !== 0) {
      // Transaction markers carry no data; an ABORT marker ends its producer's aborted records.
      if (transactional && isAbortMarker(recordBatch.records[0]?.key)) {
        abortedProducers.delete(recordBatch.producerId);
      }
      continue;
    }
    if (transactional && abortedProducers.has(recordBatch.producerId)) continue;
    const records = recordBatch.records;
    if (last <= maxSafeOffset && recordBatch.firstTimestamp <= maxSafeOffset) {
      // The usual case, in numbers: a BigInt sum and its decimal string cost an
      // allocation and a C++ call each per message, and a string made from a
      // small integer keeps it cached, so rivulet's Number(offset) is free.
      const firstOffset = Number(recordBatch.firstOffset);
      const firstTimestamp = Number(recordBatch.firstTimestamp);
      const start = Number(from);
      // A batch's records mostly share a timestamp: its string is made once.
      let timestampMs = NaN;
      let timestamp = "";
      for (let i = 0; i < records.length; i++) {
        const record = records[i];
        const offset = firstOffset + record.offsetDelta;
        if (offset < start) continue;
        const ms = firstTimestamp + Number(record.timestampDelta);
        if (ms !== timestampMs) timestamp = String(timestampMs = ms);
        messages.push({
          topic,
          partition,
          offset: String(offset),
          timestamp,
          key: record.key,
          value: record.value,
          headers: headerStrings(record.headers),
        });
      }
      continue;
    }
    const firstOffset = recordBatch.firstOffset;
    const firstTimestamp = recordBatch.firstTimestamp;
    for (const record of records) {
      const offset = firstOffset + BigInt(record.offsetDelta);
      if (offset < from) continue;
      messages.push({
        topic,
        partition,
        offset: String(offset),
        timestamp: String(firstTimestamp + record.timestampDelta),
        key: record.key,
        value: record.value,
        headers: headerStrings(record.headers),
      });
    }
  }
  return {
    batch: { topic, partition, messages, highWatermark: String(response.highWatermark) },
    messages,
    next,
  };
}

function headerStrings(
  headers: readonly [Buffer | null, Buffer | null][],
): Readonly<Record<string, string>> {
  if (headers.length === 0) return noHeaders;
  const result: Record<string, string> = {};
  // A repeated header: the last value wins, as in the kafkajs adapter.
  for (const [name, value] of headers) {
    if (name === null) continue;
    result[name.toString()] = value === null ? "" : value.toString();
  }
  return result;
}

class PlatformaticProducerClient implements Producer {
  readonly #producer: PlatformaticProducer<KeyOrValue, KeyOrValue, string, Buffer>;
  readonly #secrets: readonly string[];
  readonly #idempotent: boolean;
  readonly #acks: number;
  /** Whether text keys and values may go to the library as they are (see toMessages). */
  readonly #textAllowed: boolean;

  constructor(config: ClientConfig, options: ProducerOptions = {}, secrets: readonly string[]) {
    this.#secrets = secrets;
    const acks = config.acks ?? -1;
    // Idempotence needs acks=all; the settings translation turns it off otherwise.
    this.#idempotent = (options.idempotent ?? true) && (config.idempotence ?? true) && acks === -1;
    this.#acks = acks;
    this.#producer = new PlatformaticProducer(producerOptions(config, {
      idempotent: this.#idempotent,
      acks,
    }));
    this.#textAllowed = useFastProduceRequests(this.#producer);
  }

  connect(): Promise<void> {
    return guarded("producer connection", this.#secrets, async () => {
      await this.#producer.metadata({ topics: [] });
    });
  }

  async send(batches: readonly TopicRecords[]): Promise<void> {
    const messages = toMessages(batches, this.#textAllowed);
    if (messages.length === 0) return;
    await guarded(
      "produce request",
      this.#secrets,
      () => this.#producer.send({ messages, acks: this.#acks, idempotent: this.#idempotent }),
    );
  }

  disconnect(): Promise<void> {
    return guarded("producer disconnection", this.#secrets, () => this.#producer.close());
  }
}

function producerOptions(
  config: ClientConfig,
  extra: Partial<PlatformaticProducerOptions<KeyOrValue, KeyOrValue, string, Buffer>>,
): PlatformaticProducerOptions<KeyOrValue, KeyOrValue, string, Buffer> {
  return {
    ...baseOptions(config),
    autocreateTopics: false,
    ...(config.compression === undefined ? {} : { compression: config.compression }),
    serializers: {
      headerKey: (name?: string) => name === undefined ? undefined : Buffer.from(name),
    },
    ...extra,
  };
}

class PlatformaticTransactionalProducer implements TransactionalProducer {
  readonly #producer: PlatformaticProducer<KeyOrValue, KeyOrValue, string, Buffer>;
  readonly #config: ClientConfig;
  readonly #secrets: readonly string[];
  /** Whether text keys and values may go to the library as they are (see toMessages). */
  readonly #textAllowed: boolean;
  /** Group coordinators found so far, by group id: offsets go to them. */
  readonly #coordinators = new Map<string, number>();
  /** Static member ids of the members whose offsets are sent, by group and member id. */
  readonly #instanceIds = new Map<string, string>();

  constructor(
    config: ClientConfig,
    options: TransactionalProducerOptions,
    secrets: readonly string[],
  ) {
    this.#config = config;
    this.#secrets = secrets;
    this.#producer = new PlatformaticProducer(producerOptions(config, {
      transactionalId: options.transactionalId,
      idempotent: true,
      acks: -1,
      // The library has no transaction timeout of its own: InitProducerId
      // sends its request timeout (`timeout`, 5 s by default) as the
      // transaction timeout, and a broker aborts and fences a transaction open
      // longer than that (seen under load: "a newer producer ... fences the
      // current one" at the next begin). So the request timeout is the
      // transaction timeout here, kafkajs' default of 60 s unless told.
      timeout: options.transactionTimeoutMs ?? 60_000,
    }));
    this.#textAllowed = useFastProduceRequests(this.#producer);
    checkMemberOffsetCommits(this.#producer, this.#instanceIds);
  }

  /**
   * Registers the transactional id with its coordinator (InitProducerId), as the
   * kafkajs adapter's connect does: this fences any earlier producer with the same id
   * and settles its open transaction, so committed offsets read afterwards
   * are final. The library does that only at the first transaction, so one is
   * begun and cancelled here (nothing was added to it: the broker never knew it).
   */
  connect(): Promise<void> {
    return guarded("transactional producer connection", this.#secrets, async () => {
      const transaction = await this.#beginTransaction();
      await transaction.cancel();
    });
  }

  #beginTransaction() {
    // A new producer session is asked for with producer id and epoch -1: the
    // library would send 0 and 0, which a broker that knows the transactional
    // id answers with PRODUCER_FENCED ("There is a newer producer"), so a
    // restarted pipeline could never write again.
    return this.#producer.beginTransaction({ producerId: -1n, producerEpoch: -1 }).catch(
      async (error: unknown) => {
        // A failed start leaves the library's transaction in place, and every
        // later start would fail with "There is already an active transaction".
        await this.#producer.transaction?.cancel().catch(() => {});
        throw error;
      },
    );
  }

  async begin(): Promise<Transaction> {
    const secrets = this.#secrets;
    const transaction = await guarded(
      "transaction start",
      secrets,
      () => this.#beginTransaction(),
    );
    return {
      send: async (batches) => {
        const messages = toMessages(batches, this.#textAllowed);
        if (messages.length === 0) return;
        await guarded(
          "transactional produce request",
          secrets,
          () => transaction.send({ messages, acks: -1 }),
        );
      },
      sendOffsets: (groupId, positions, metadata) =>
        guarded("transactional offset commit", secrets, async () => {
          // Without metadata, generation -1 and no member: the broker checks the producer
          // epoch only. With it, the member's (KIP-447; group_metadata.ts checks the version).
          const generationId = metadata?.generationId ?? -1;
          const memberId = metadata?.memberId ?? "";
          if (metadata?.groupInstanceId !== undefined) {
            this.#instanceIds.set(memberKey(groupId, memberId), metadata.groupInstanceId);
          }
          // The library takes the group from a consumer and each offset from a
          // consumed message; rivulet has positions, so it passes their shape.
          // With no positions the group's offsets partition still joins the
          // transaction (AddOffsetsToTxn): its end marker is written there.
          await transaction.addConsumer({ groupId } as unknown as PlatformaticConsumer);
          if (positions.length === 0) return;
          const coordinatorId = await this.#coordinator(groupId);
          for (const { topic, partition, offset } of positions) {
            await transaction.addOffset(
              {
                topic,
                partition,
                offset: BigInt(offset) - 1n,
                metadata: { consumer: { groupId, generationId, memberId, coordinatorId } },
              } as unknown as Parameters<typeof transaction.addOffset>[0],
            );
          }
        }, { memberChecked: metadata !== undefined }),
      commit: () => guarded("transaction commit", secrets, () => transaction.commit()),
      abort: () => guarded("transaction abort", secrets, () => transaction.abort()),
    };
  }

  async #coordinator(groupId: string): Promise<number> {
    const known = this.#coordinators.get(groupId);
    if (known !== undefined) return known;
    const admin = new PlatformaticAdmin(baseOptions(this.#config));
    try {
      const [found] = await admin.findCoordinator({ keyType: 0, keys: [groupId] });
      this.#coordinators.set(groupId, found.nodeId);
      return found.nodeId;
    } finally {
      await admin.close().catch(() => {});
    }
  }

  disconnect(): Promise<void> {
    return guarded(
      "transactional producer disconnection",
      this.#secrets,
      () => this.#producer.close(),
    );
  }
}

/** ListOffsets' special timestamps: a partition's first offset and its end. */
const earliestOffset = -2n;
const latestOffset = -1n;

class PlatformaticAdminClient implements Admin {
  readonly #admin: PlatformaticAdmin;
  readonly #secrets: readonly string[];
  /**
   * Classic groups only: DescribeGroups reads a KIP-848 group as dead and
   * empty (that needs ConsumerGroupDescribe), so a client of
   * `group.protocol=consumer` has none rather than a wrong answer.
   */
  readonly groupMembers?: (groupId: string) => Promise<readonly string[]>;

  constructor(config: ClientConfig, secrets: readonly string[]) {
    this.#admin = new PlatformaticAdmin(baseOptions(config));
    this.#secrets = secrets;
    if (config.groupProtocol !== "consumer") {
      this.groupMembers = (groupId) => this.#groupMembers(groupId);
    }
  }

  connect(): Promise<void> {
    return guarded("admin connection", this.#secrets, async () => {
      await this.#admin.metadata({ topics: [] });
    });
  }

  listTopics(): Promise<readonly string[]> {
    return guarded("topic listing", this.#secrets, () => this.#admin.listTopics());
  }

  async createTopic(
    options: {
      readonly topic: string;
      readonly partitions?: number;
      readonly configs?: Readonly<Record<string, string>>;
    },
  ): Promise<void> {
    const what = `creation of topic ${JSON.stringify(options.topic)}`;
    try {
      await this.#admin.createTopics({
        topics: [options.topic],
        partitions: options.partitions ?? 1,
        replicas: -1,
        // Topic configs such as cleanup.policy=compact (changelog topics).
        configs: Object.entries(options.configs ?? {}).map(([name, value]) => ({ name, value })),
      });
    } catch (error) {
      // Created meanwhile by someone else: that is what was wanted.
      if (!apiIds(error).includes("TOPIC_ALREADY_EXISTS")) {
        throw clientError(what, error, this.#secrets);
      }
    }
    await guarded(what, this.#secrets, () => this.#waitForLeaders(options.topic));
  }

  async #waitForLeaders(topic: string): Promise<void> {
    for (let attempt = 0;; attempt++) {
      try {
        const metadata = await this.#admin.metadata({ topics: [topic], forceUpdate: true });
        const info = metadata.topics.get(topic);
        if (info !== undefined && info.partitions.every((p) => p.leader >= 0)) return;
      } catch (error) {
        if (attempt >= 50 || !apiIds(error).some((id) => /UNKNOWN_TOPIC|LEADER/.test(id))) {
          throw error;
        }
      }
      if (attempt >= 50) throw new Error(`topic ${topic} has no leader after 50 lookups`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  async partitionOffsets(topic: string): Promise<readonly PartitionOffsets[]> {
    return await guarded(
      `offset lookup of topic ${JSON.stringify(topic)}`,
      this.#secrets,
      async () => {
        const [lows, highs] = await this.#offsetsAt(topic, [earliestOffset, latestOffset]);
        return [...highs].map(([partition, high]) => ({
          partition,
          low: String(lows.get(partition) ?? 0n),
          high: String(high),
        })).sort((a, b) => a.partition - b.partition);
      },
    );
  }

  /** Each partition's offset at each of `timestamps` (ListOffsets; -2 earliest, -1 latest), in order. */
  async #offsetsAt(
    topic: string,
    timestamps: readonly bigint[],
  ): Promise<Map<number, bigint>[]> {
    const metadata = await this.#admin.metadata({ topics: [topic] });
    const count = metadata.topics.get(topic)?.partitionsCount ?? 0;
    return await Promise.all(timestamps.map(async (timestamp) => {
      const answer = await this.#admin.listOffsets({
        topics: [{
          name: topic,
          partitions: Array.from({ length: count }, (_, partitionIndex) => ({
            partitionIndex,
            timestamp,
          })),
        }],
      });
      return new Map(
        answer.flatMap((t) => t.partitions).map((p) => [p.partitionIndex, p.offset]),
      );
    }));
  }

  async describeTopic(topic: string): Promise<TopicDescription> {
    return await guarded(
      `description of topic ${JSON.stringify(topic)}`,
      this.#secrets,
      async () => {
        // Fresh metadata: a topic just created may be cached as missing or partitionless.
        const metadata = await this.#admin.metadata({ topics: [topic], forceUpdate: true });
        const described = await this.#admin.describeConfigs({
          resources: [{ resourceType: ConfigResourceTypes.TOPIC, resourceName: topic }],
          includeSynonyms: false,
        });
        const configs: Record<string, string> = {};
        for (const resource of described) {
          for (const entry of resource.configs) {
            if (entry.value !== null && entry.value !== undefined) {
              configs[entry.name] = entry.value;
            }
          }
        }
        return { partitions: metadata.topics.get(topic)?.partitionsCount ?? 0, configs };
      },
    );
  }

  async #groupMembers(groupId: string): Promise<readonly string[]> {
    const groups = await guarded(
      `description of group ${JSON.stringify(groupId)}`,
      this.#secrets,
      () => this.#admin.describeGroups({ groups: [groupId] }),
    );
    return [...groups.values()].flatMap((group) => [...group.members.keys()]);
  }

  async offsetsForTimes(topic: string, timestampMs: number): Promise<readonly Position[]> {
    return await guarded(
      `offset lookup by time of topic ${JSON.stringify(topic)}`,
      this.#secrets,
      async () => {
        const [byTime, ends] = await this.#offsetsAt(topic, [BigInt(timestampMs), latestOffset]);
        // No record at or after the time: the partition's end.
        return [...byTime].map(([partition, offset]) => ({
          topic,
          partition,
          offset: String(offset >= 0n ? offset : ends.get(partition) ?? 0n),
        })).sort((a, b) => a.partition - b.partition);
      },
    );
  }

  async groupPositions(groupId: string, topics: readonly string[]): Promise<readonly Position[]> {
    const groups = await guarded(
      `offset lookup of group ${JSON.stringify(groupId)}`,
      this.#secrets,
      // Final offsets only (KIP-447's require_stable): while a transaction's offsets are
      // pending, the broker says so, and it is asked again.
      // The partitions are named: asked for all of a group's topics, the broker checks only
      // offsets already committed, not pending ones.
      async () => {
        const metadata = await this.#admin.metadata({ topics: [...topics] });
        const named = topics.map((name) => ({
          name,
          partitionIndexes: Array.from(
            { length: metadata.topics.get(name)?.partitionsCount ?? 0 },
            (_, partition) => partition,
          ),
        }));
        return await untilOffsetsStable(
          () =>
            this.#admin.listConsumerGroupOffsets({
              groups: [{ groupId, topics: named }],
              requireStable: true,
            }),
          (error) => apiIds(error).some((id) => offsetLookupWaitsFor.includes(id)),
        );
      },
    );
    const wanted = new Set(topics);
    return groups.flatMap((group) => group.topics)
      .filter((t) => wanted.has(t.name))
      .flatMap((t) =>
        t.partitions.filter((p) => p.committedOffset >= 0n).map((p) => ({
          topic: t.name,
          partition: p.partitionIndex,
          offset: String(p.committedOffset),
        }))
      );
  }

  disconnect(): Promise<void> {
    return guarded("admin disconnection", this.#secrets, () => this.#admin.close());
  }
}
