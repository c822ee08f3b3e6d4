/**
 * The Kafka client's configuration, independent of any client library. The
 * settings translation (`settings.ts`) produces it from librdkafka-style keys;
 * each client implementation (kafkajs first) maps it to its own options.
 *
 * @module
 */

/** SASL mechanisms rivulet supports. */
export type SaslMechanism = "plain" | "scram-sha-256" | "scram-sha-512" | "oauthbearer";

/** Record batch compression codecs (`compression.codec` / `compression.type`). */
export type CompressionCodec = "none" | "gzip" | "snappy" | "lz4" | "zstd";

/**
 * Where an OAUTHBEARER token comes from. Each is asked again whenever the
 * client (re)authenticates, so a token refreshed on disk or by the command is
 * picked up. The token is a secret: never logged, never in an error.
 */
export type OauthBearerTokenSource =
  /** `rivulet.sasl.oauthbearer.token.file`: the file's contents, trimmed. */
  | { readonly kind: "file"; readonly path: string }
  /** `rivulet.sasl.oauthbearer.token.command`: the command's standard output, trimmed. */
  | { readonly kind: "command"; readonly command: readonly string[] }
  /**
   * `enable.sasl.oauthbearer.unsecure.jwt=true` with `sasl.oauthbearer.config`
   * (`principal=NAME [scope=A,B] [lifeSeconds=N]`): an unsigned JWT, as
   * librdkafka builds it, for brokers with Kafka's unsecured validator (tests).
   */
  | {
    readonly kind: "unsecured-jwt";
    readonly principal: string;
    readonly scope: readonly string[];
    readonly lifeSeconds: number;
  };

/**
 * TLS options. File contents, not paths: the translation reads the files.
 *
 * `key` and `keyPassword` are secrets. The settings translation defines them
 * as non-enumerable properties, so that logging, inspecting or serialising a
 * config never shows them: read them by name (`tls.key`), never by spreading.
 */
export interface TlsConfig {
  /** PEM CA certificates to trust; the system's when absent. */
  readonly ca?: string;
  /** PEM client certificate, for mutual TLS. */
  readonly cert?: string;
  /** PEM client private key, for mutual TLS. */
  readonly key?: string;
  /** Passphrase of the client key, if it is encrypted. */
  readonly keyPassword?: string;
  /**
   * `false` only when `enable.ssl.certificate.verification=false`: then neither
   * the broker's certificate chain nor its host name is checked.
   */
  readonly verifyCertificates: boolean;
}

/**
 * SASL credentials. The password never goes to logs or error messages: the
 * settings translation defines it as a non-enumerable property, so logging,
 * inspecting or serialising a config leaves it out. Read it by name
 * (`sasl.password`), never by spreading the object.
 */
export interface SaslConfig {
  readonly mechanism: SaslMechanism;
  /** PLAIN and SCRAM only (empty for OAUTHBEARER). */
  readonly username: string;
  /** PLAIN and SCRAM only (empty for OAUTHBEARER). */
  readonly password: string;
  /** OAUTHBEARER only: where the token comes from. */
  readonly oauthBearer?: OauthBearerTokenSource;
}

/** How to reach the brokers and act as a group member. */
export interface ClientConfig {
  /** `host:port` of each bootstrap broker. */
  readonly brokers: readonly string[];
  readonly clientId: string;
  /** Absent for plaintext. */
  readonly tls?: TlsConfig;
  /** Absent without SASL. */
  readonly sasl?: SaslConfig;
  /** Consumer group; sources need one, sinks ignore it. */
  readonly groupId?: string;
  readonly sessionTimeoutMs?: number;
  readonly heartbeatIntervalMs?: number;
  /** Where a group with no committed offset starts. */
  readonly autoOffsetReset: "earliest" | "latest";
  /** Milliseconds to wait for a connection (`socket.connection.setup.timeout.ms`). */
  readonly connectionTimeoutMs?: number;
  /** Largest produce request, bytes (the broker's `message.max.bytes` by default, 1 MiB). */
  readonly maxRequestBytes?: number;

  // Producer settings (librdkafka keys in parentheses). Every client adapter
  // honours each one that is set; absent means the client's default.

  /** Codec of produced record batches (`compression.codec`, `compression.type`). Consumers read every codec. */
  readonly compression?: CompressionCodec;
  /** Acknowledgements a produce request waits for (`acks`): -1 all in-sync replicas (default), 1 the leader, 0 none. */
  readonly acks?: -1 | 0 | 1;
  /** Idempotent producer (`enable.idempotence`); default true, and false whenever `acks` is not -1. */
  readonly idempotence?: boolean;
  /** Milliseconds a commit waits for more before its produce request is sent (`linger.ms`, `queue.buffering.max.ms`). */
  readonly lingerMs?: number;
  /** Records per produce request at most (`batch.num.messages`). */
  readonly batchMaxMessages?: number;
  /** Bytes per produce request at most (`batch.size`), below `maxRequestBytes`. */
  readonly batchMaxBytes?: number;
  /** Milliseconds a record may take to be acknowledged, retries included, before the sink fails (`message.timeout.ms`, `delivery.timeout.ms`). */
  readonly deliveryTimeoutMs?: number;
  /** Milliseconds to wait for a broker's answer to one request (`request.timeout.ms`, `socket.timeout.ms`). */
  readonly requestTimeoutMs?: number;
  /** Milliseconds before the first retry of a failed request (`retry.backoff.ms`). */
  readonly retryBackoffMs?: number;
  /** Milliseconds after which topic metadata is refreshed (`metadata.max.age.ms`, `topic.metadata.refresh.interval.ms`). */
  readonly metadataMaxAgeMs?: number;

  // Consumer settings.

  /** `read_committed` (default) hides records of open and aborted transactions (`isolation.level`). */
  readonly isolationLevel?: "read_committed" | "read_uncommitted";
  /** Bytes a fetch waits for at least (`fetch.min.bytes`). */
  readonly fetchMinBytes?: number;
  /** Bytes a fetch returns at most (`fetch.max.bytes`). */
  readonly fetchMaxBytes?: number;
  /** Bytes a fetch returns per partition at most (`max.partition.fetch.bytes`). */
  readonly maxPartitionFetchBytes?: number;
  /** Milliseconds the broker holds a fetch that has less than `fetchMinBytes` (`fetch.wait.max.ms`). */
  readonly fetchMaxWaitMs?: number;
  /** Milliseconds a member may take to rejoin in a rebalance (`max.poll.interval.ms`, the rebalance timeout). */
  readonly rebalanceTimeoutMs?: number;
}
