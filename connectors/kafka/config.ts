/**
 * The Kafka client's configuration, independent of any client library. The
 * settings translation (`settings.ts`) produces it from librdkafka-style keys;
 * each client implementation (kafkajs first) maps it to its own options.
 *
 * @module
 */

/** SASL mechanisms rivulet supports. */
export type SaslMechanism = "plain" | "scram-sha-256" | "scram-sha-512";

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
  readonly username: string;
  readonly password: string;
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
  /**
   * The consumer group protocol (`group.protocol`): `classic` (the default) or
   * `consumer`, KIP-848's, on brokers 4.0 and later. Only the platformatic
   * client supports `consumer`.
   */
  readonly groupProtocol?: "classic" | "consumer";
}
