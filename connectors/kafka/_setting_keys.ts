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
  "group.protocol",
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
]);

const offsetsManaged = "rivulet commits offsets itself, after the outputs that depend on them";
const clientTuned = "rivulet's Kafka client chooses this itself";

/** librdkafka keys that exist but rivulet does not use, with the reason. */
export const ignoredKeys: ReadonlyMap<string, string> = new Map([
  ["enable.auto.commit", offsetsManaged],
  ["auto.commit.interval.ms", offsetsManaged],
  ["enable.auto.offset.store", offsetsManaged],
  ["enable.partition.eof", "rivulet reads until it is stopped"],
  ["isolation.level", clientTuned],
  ["partition.assignment.strategy", clientTuned],
  ["group.instance.id", clientTuned],
  ["max.poll.interval.ms", clientTuned],
  ["fetch.min.bytes", clientTuned],
  ["fetch.max.bytes", clientTuned],
  ["fetch.wait.max.ms", clientTuned],
  ["max.partition.fetch.bytes", clientTuned],
  ["queued.min.messages", clientTuned],
  ["queued.max.messages.kbytes", clientTuned],
  ["linger.ms", "the sink's commit_frequency_in_messages and linger option decide batching"],
  [
    "queue.buffering.max.ms",
    "the sink's commit_frequency_in_messages and linger option decide batching",
  ],
  ["batch.num.messages", "the sink's commit_frequency_in_messages decides batching"],
  ["batch.size", "the sink's commit_frequency_in_messages decides batching"],
  ["compression.type", clientTuned],
  ["compression.codec", clientTuned],
  ["acks", "rivulet's sink sets acknowledgements itself"],
  ["request.required.acks", "rivulet's sink sets acknowledgements itself"],
  ["enable.idempotence", clientTuned],
  ["retries", clientTuned],
  ["message.send.max.retries", clientTuned],
  ["retry.backoff.ms", clientTuned],
  ["reconnect.backoff.ms", clientTuned],
  ["reconnect.backoff.max.ms", clientTuned],
  ["request.timeout.ms", clientTuned],
  ["message.timeout.ms", clientTuned],
  ["socket.timeout.ms", clientTuned],
  ["socket.keepalive.enable", clientTuned],
  ["metadata.max.age.ms", clientTuned],
  ["topic.metadata.refresh.interval.ms", clientTuned],
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
