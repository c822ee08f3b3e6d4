/**
 * The words of failures that no Kafka client library owns: the Kafka
 * protocol's error names (`SASL_AUTHENTICATION_FAILED`), the broker's own
 * messages, and the socket and TLS layers of Deno (its Node compatibility and
 * rustls). Every adapter (`kafkajs/errors.ts`, ...) first looks for its
 * library's own errors, then lets {@linkcode kindOfText} read what is left;
 * `connection_failure.ts` reads its TLS probe's error with it too.
 *
 * @example
 * ```ts
 * import { kindOfText } from "./error_classification.ts";
 * kindOfText("connect ECONNREFUSED 127.0.0.1:9092").kind; // "unreachable"
 * ```
 *
 * @module
 */
import type { KafkaErrorKind } from "./client.ts";

/** What {@linkcode kindOfText} found. */
export interface TextKind {
  readonly kind: KafkaErrorKind;
  /** The TLS alert named in the text, for `client_certificate_rejected`. */
  readonly alert?: string;
}

/**
 * Kinds from the most to the least telling: when two errors of one failure
 * (the library's and the TLS probe's) disagree, the earlier kind explains it.
 */
export const kindPrecedence: readonly KafkaErrorKind[] = [
  "sasl_mechanism",
  "authentication",
  "authorization",
  "too_large",
  "fenced",
  "client_certificate_rejected",
  "untrusted_certificate",
  "tls_mismatch",
  "connection_closed",
  "unreachable",
  "unknown",
];

/** The more telling of two kinds (the first on a tie). */
export function strongerKind(first: KafkaErrorKind, second: KafkaErrorKind): KafkaErrorKind {
  return kindPrecedence.indexOf(second) < kindPrecedence.indexOf(first) ? second : first;
}

/** Kinds that retrying the same call can never heal. */
export const neverRetriable: ReadonlySet<KafkaErrorKind> = new Set<KafkaErrorKind>([
  "authentication",
  "sasl_mechanism",
  "authorization",
  "too_large",
  "fenced",
  "untrusted_certificate",
  "client_certificate_rejected",
  "tls_mismatch",
]);

/** The setting a user should check for each kind (none helps an unknown failure). */
export function settingFor(kind: KafkaErrorKind): string | undefined {
  return settings[kind];
}

const settings: Readonly<Partial<Record<KafkaErrorKind, string>>> = {
  authentication: "sasl.password",
  sasl_mechanism: "sasl.mechanism",
  authorization: "sasl.username",
  too_large: "message.max.bytes",
  untrusted_certificate: "ssl.ca.location",
  client_certificate_rejected: "ssl.certificate.location",
  tls_mismatch: "security.protocol",
  connection_closed: "security.protocol",
  unreachable: "bootstrap.servers",
};

/** The SASL failure words of the protocol and the broker (an adapter adds its library's). */
export const saslFailureWords =
  /Authentication failed|invalid credentials|SASL_AUTHENTICATION_FAILED|ILLEGAL_SASL_STATE/i;

const rules: readonly (readonly [KafkaErrorKind, RegExp])[] = [
  ["sasl_mechanism", /UNSUPPORTED_SASL_MECHANISM|not enabled mechanism/i],
  ["authentication", saslFailureWords],
  [
    "authorization",
    /(TOPIC|GROUP|CLUSTER|TRANSACTIONAL_ID|DELEGATION_TOKEN)_AUTHORIZATION_FAILED|not authorized to access/i,
  ],
  ["too_large", /MESSAGE_TOO_LARGE|RECORD_LIST_TOO_LARGE|larger than the maximum/i],
  ["fenced", /PRODUCER_FENCED|INVALID_PRODUCER_EPOCH/],
  [
    "untrusted_certificate",
    /UNABLE_TO_VERIFY|unable to verify|self[- ]signed certificate|unable to get local issuer|certificate has expired|CERT_HAS_EXPIRED|CERT_NOT_YET_VALID|Hostname\/IP does not match|ERR_TLS_CERT_ALTNAME_INVALID|invalid peer certificate/i,
  ],
  [
    "tls_mismatch",
    /disconnected before secure TLS connection|wrong version number|unsupported protocol|packet length too long|InvalidContentType|CorruptMessage|EPROTO/i,
  ],
  ["connection_closed", /ECONNRESET|socket hang up|Connection closed/i],
  ["unreachable", /ECONNREFUSED|ENOTFOUND|ETIMEDOUT|EHOSTUNREACH|getaddrinfo|refused/i],
];

// The alert a TLS peer sent about the client certificate: rustls' names and OpenSSL's words.
const alertWords =
  /alert:? ?(BadCertificate|CertificateUnknown|CertificateRequired|UnknownCA|CertificateExpired|bad certificate|certificate required|unknown ca|certificate expired)/i;

/**
 * The kind of failure a text of protocol, broker, socket or TLS words
 * describes: the first that matches in {@linkcode kindPrecedence} order, or
 * `unknown`.
 */
export function kindOfText(text: string): TextKind {
  const alert = alertWords.exec(text);
  for (const [kind, words] of rules) {
    if (
      alert !== null && kindPrecedence.indexOf("client_certificate_rejected") <
        kindPrecedence.indexOf(kind)
    ) {
      return { kind: "client_certificate_rejected", alert: alert[1] };
    }
    if (words.test(text)) return { kind };
  }
  return alert === null
    ? { kind: "unknown" }
    : { kind: "client_certificate_rejected", alert: alert[1] };
}

/**
 * The protocol errors a group coordinator answers a transactional offset
 * commit with when the consumer group metadata sent with it (KIP-447) is not
 * the group's current generation of that member: the member was rebalanced
 * out, and its partitions may belong to another member now. From any other
 * call (a consumer's own heartbeat or commit) they mean "rejoin", not
 * "fenced", so adapters look for them only in a transactional offset commit.
 */
export const memberFencedErrors: readonly string[] = [
  "ILLEGAL_GENERATION",
  "UNKNOWN_MEMBER_ID",
  "FENCED_INSTANCE_ID",
  // KIP-848's consumer protocol: the member epoch sent is not the member's current one.
  "STALE_MEMBER_EPOCH",
];

/** Whether a text of protocol error names holds one of {@linkcode memberFencedErrors}. */
export function mentionsMemberFencing(text: string): boolean {
  return memberFencedErrors.some((name) => text.includes(name));
}

/** Replaces every non-empty secret in a text. */
export function scrubSecrets(
  text: string,
  secrets: readonly (string | undefined)[],
  replacement = "[redacted]",
): string {
  let result = text;
  for (const secret of secrets) {
    if (secret !== undefined && secret !== "") result = result.split(secret).join(replacement);
  }
  return result;
}
