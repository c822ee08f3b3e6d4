/**
 * Which librdkafka keys rivulet translates, which it knowingly ignores (and
 * why), and which hold secrets. Private to `connectors/kafka/`.
 *
 * @module
 */
import { closest } from "../closest.ts";

/** Keys the translation turns into client options. */
export const translatedKeys: ReadonlySet<string> = new Set([
  "bootstrap.servers",
  "metadata.broker.list",
  "group.id",
  "client.id",
  "session.timeout.ms",
  "heartbeat.interval.ms",
  "auto.offset.reset",
  "security.protocol",
  "sasl.mechanism",
  "sasl.mechanisms",
  "sasl.username",
  "sasl.password",
  "ssl.ca.location",
  "ssl.ca.pem",
  "ssl.certificate.location",
  "ssl.certificate.pem",
  "ssl.key.location",
  "ssl.key.pem",
  "ssl.key.password",
  "enable.ssl.certificate.verification",
  "ssl.endpoint.identification.algorithm",
  "socket.connection.setup.timeout.ms",
  "message.max.bytes",
  // Producer and consumer tuning every client adapter honours (ClientConfig).
  "compression.codec",
  "compression.type",
  "acks",
  "request.required.acks",
  "enable.idempotence",
  "linger.ms",
  "queue.buffering.max.ms",
  "batch.num.messages",
  "batch.size",
  "message.timeout.ms",
  "delivery.timeout.ms",
  "request.timeout.ms",
  "socket.timeout.ms",
  "retry.backoff.ms",
  "metadata.max.age.ms",
  "topic.metadata.refresh.interval.ms",
  "isolation.level",
  "fetch.min.bytes",
  "fetch.max.bytes",
  "max.partition.fetch.bytes",
  "fetch.wait.max.ms",
  "max.poll.interval.ms",
  // OAUTHBEARER: librdkafka's unsecured JWT, or a token from a file or a command (rivulet's keys).
  "sasl.oauthbearer.method",
  "sasl.oauthbearer.config",
  "enable.sasl.oauthbearer.unsecure.jwt",
  "rivulet.sasl.oauthbearer.token.file",
  "rivulet.sasl.oauthbearer.token.command",
]);

const offsetsManaged = "rivulet commits offsets itself, after the outputs that depend on them";
const clientTuned = "rivulet's Kafka client chooses this itself";

/** librdkafka keys that exist but rivulet does not use, with the reason. */
export const ignoredKeys: ReadonlyMap<string, string> = new Map([
  ["enable.auto.commit", offsetsManaged],
  ["auto.commit.interval.ms", offsetsManaged],
  ["enable.auto.offset.store", offsetsManaged],
  ["enable.partition.eof", "rivulet reads until it is stopped"],
  ["partition.assignment.strategy", clientTuned],
  ["group.instance.id", clientTuned],
  ["queued.min.messages", clientTuned],
  ["queued.max.messages.kbytes", clientTuned],
  ["retries", "rivulet retries a request for a time, not a count: set message.timeout.ms"],
  [
    "message.send.max.retries",
    "rivulet retries a request for a time, not a count: set message.timeout.ms",
  ],
  ["reconnect.backoff.ms", clientTuned],
  ["reconnect.backoff.max.ms", clientTuned],
  ["socket.keepalive.enable", clientTuned],
  ["api.version.request", clientTuned],
  ["broker.version.fallback", clientTuned],
  ["debug", "rivulet has its own logging"],
  ["log_level", "rivulet has its own logging"],
  ["statistics.interval.ms", "rivulet has its own logging"],
  ["ssl.cipher.suites", "the TLS library chooses cipher suites"],
  ["ssl.curves.list", "the TLS library chooses curves"],
  ["ssl.sigalgs.list", "the TLS library chooses signature algorithms"],
  ["ssl.keystore.location", "use ssl.certificate.location and ssl.key.location (PEM)"],
  ["ssl.keystore.password", "use ssl.certificate.location and ssl.key.location (PEM)"],
  ...[
    "sasl.oauthbearer.client.id",
    "sasl.oauthbearer.client.secret",
    "sasl.oauthbearer.token.endpoint.url",
    "sasl.oauthbearer.scope",
    "sasl.oauthbearer.extensions",
  ].map((key): [string, string] => [
    key,
    "rivulet does not fetch OIDC tokens itself: give a command that prints one in rivulet.sasl.oauthbearer.token.command",
  ]),
]);

/** Keys whose values are secrets: never shown in a message, a warning or a log. */
const secretKeys: ReadonlySet<string> = new Set([
  "sasl.password",
  "ssl.key.password",
  "ssl.key.pem",
  "ssl.keystore.password",
  "sasl.oauthbearer.client.secret",
]);

/** Whether a key's value must never be shown (also any key that looks like a secret). */
export function isSecretKey(key: string): boolean {
  return secretKeys.has(key) || /password|secret|credential|token/i.test(key);
}

/** The translated key closest to a misspelt one, if one is close enough to suggest. */
export function closestKey(key: string): string | undefined {
  // More than three edits is a different word, not a typo.
  return closest(key.toLowerCase(), translatedKeys, Math.min(3, Math.floor(key.length / 3)));
}
