/**
 * Explaining connection failures: the kafkajs adapter classifies kafkajs'
 * words (`kafkajs/errors.ts`), `connection_failure.ts` formats the neutral
 * classification; without a broker (the end-to-end tests cover the real errors).
 */
import assert from "node:assert/strict";
import { explainConnectionFailure } from "../../connectors/kafka/connection_failure.ts";
import type { ClientConfig } from "../../connectors/kafka/config.ts";
import { KafkaClientError, type KafkaErrorKind } from "../../connectors/kafka/client.ts";
import { kafkajsClientError } from "../../connectors/kafka/kafkajs/errors.ts";
import {
  connectExplained,
  firstConnection,
  KafkaConnectionError,
} from "../../connectors/kafka/connection_error.ts";

const password = "pw-Heron-2291-never-shown";
const plaintext: ClientConfig = {
  brokers: ["k1:9092"],
  clientId: "t",
  autoOffsetReset: "earliest",
};
const saslSsl: ClientConfig = {
  ...plaintext,
  tls: { verifyCertificates: true },
  sasl: { mechanism: "scram-sha-256", username: "alice", password },
};

/**
 * What the kafkajs adapter throws for a kafkajs-like error (its own message,
 * the socket's error as `cause`), classified by the adapter.
 */
function kafkajsError(message: string, original?: string): KafkaClientError {
  const error = new Error(message, original === undefined ? {} : { cause: new Error(original) });
  return kafkajsClientError("admin connection", error, [password]);
}

/** What any adapter throws: a client error carrying a neutral classification. */
function classified(kind: KafkaErrorKind, reason: string, alert?: string): KafkaClientError {
  return new KafkaClientError(`Kafka admin connection failed: ${reason}`, {
    retriable: kind === "unreachable",
    kind,
    reason,
    ...(alert === undefined ? {} : { alert }),
  });
}

Deno.test("kafkajs' failures are classified by the adapter, and only unreachable ones are retried", async () => {
  const cases: [ClientConfig, Error, string, boolean, RegExp][] = [
    [
      saslSsl,
      kafkajsError("SASL SCRAM SHA256 authentication failed: invalid credentials"),
      "authentication",
      true,
      /refused SASL SCRAM-SHA-256 authentication as "alice"/,
    ],
    [
      saslSsl,
      kafkajsError("Unsupported SASL mechanism SCRAM-SHA-256"),
      "sasl_mechanism",
      true,
      /does not accept sasl\.mechanism SCRAM-SHA-256/,
    ],
    [
      saslSsl,
      kafkajsError("Connection error: self-signed certificate in certificate chain"),
      "untrusted_certificate",
      true,
      /k1:9092 is not trusted: self-signed certificate in certificate chain.*ssl\.ca\.location/,
    ],
    [
      saslSsl,
      kafkajsError("Connection error: received fatal alert: BadCertificate"),
      "client_certificate_rejected",
      true,
      /requires a client certificate/,
    ],
    [
      saslSsl,
      kafkajsError(
        "Connection error: Client network socket disconnected before secure TLS connection was established",
      ),
      "tls_mismatch",
      true,
      /does not use TLS; check security\.protocol \(sasl_ssl here\)/,
    ],
    [
      plaintext,
      kafkajsError("Closed connection"),
      "connection_closed",
      true,
      /may expect TLS .* or SASL/,
    ],
    [
      plaintext,
      kafkajsError("Connection error: connect ECONNREFUSED 127.0.0.1:9092"),
      "unreachable",
      false,
      /No Kafka broker answers at k1:9092/,
    ],
    [plaintext, kafkajsError("Something new"), "unknown", false, /failed: Something new/],
  ];
  for (const [config, error, kind, fatal, message] of cases) {
    const failure = await explainConnectionFailure(error, { config, probeTls: false });
    assert.equal(failure.kind, kind, error.message);
    assert.equal(failure.fatal, fatal, error.message);
    assert.match(failure.message, message);
  }
});

Deno.test("a closed connection after the client had connected is not fatal", async () => {
  const failure = await explainConnectionFailure(kafkajsError("Closed connection"), {
    config: plaintext,
    firstConnection: false,
  });
  assert.equal(failure.kind, "connection_closed");
  assert.equal(failure.fatal, false);
});

Deno.test("the reason is found in a nested error", async () => {
  const failure = await explainConnectionFailure(
    kafkajsError("Connection error", "certificate has expired"),
    { config: saslSsl, probeTls: false },
  );
  assert.equal(failure.kind, "untrusted_certificate");
});

Deno.test("a neutral classification becomes the same message whichever adapter made it", async () => {
  const cases: [ClientConfig, KafkaClientError, boolean, RegExp][] = [
    [saslSsl, classified("authentication", "any words"), true, /refused SASL SCRAM-SHA-256/],
    [saslSsl, classified("sasl_mechanism", "not offered"), true, /sasl\.mechanism SCRAM-SHA-256/],
    [
      saslSsl,
      classified("untrusted_certificate", "self-signed certificate"),
      true,
      /is not trusted: self-signed certificate\. Check ssl\.ca\.location/,
    ],
    [
      saslSsl,
      classified("client_certificate_rejected", "alert", "CertificateRequired"),
      true,
      /requires a client certificate \(mutual TLS; it answered CertificateRequired\)/,
    ],
    [saslSsl, classified("tls_mismatch", "EPROTO"), true, /failed \(EPROTO\).*sasl_ssl here/],
    [plaintext, classified("connection_closed", "hung up"), true, /closed the connection/],
    [plaintext, classified("unreachable", "nobody home"), false, /answers at k1:9092 \(nobody/],
    [saslSsl, classified("authorization", "CLUSTER_AUTHORIZATION_FAILED"), true, /denied "alice"/],
    [plaintext, classified("too_large", "MESSAGE_TOO_LARGE"), true, /message\.max\.bytes/],
    [plaintext, classified("unknown", "Something new"), false, /failed: Something new$/],
  ];
  for (const [config, error, fatal, message] of cases) {
    const failure = await explainConnectionFailure(error, { config, probeTls: false });
    assert.equal(failure.kind, error.classification.kind);
    assert.equal(failure.fatal, fatal, error.message);
    assert.match(failure.message, message);
  }
});

Deno.test("an error no adapter classified is explained as unknown", async () => {
  const failure = await explainConnectionFailure(new TypeError("boom"), {
    config: plaintext,
    probeTls: false,
  });
  assert.deepEqual(failure, {
    kind: "unknown",
    fatal: false,
    message: "The connection to Kafka at k1:9092 failed: boom",
  });
});

Deno.test("a password echoed by a library or broker is removed from the explanation", async () => {
  const viaKafkajs = await explainConnectionFailure(
    kafkajsError(`Something odd about ${password}`),
    { config: saslSsl, probeTls: false },
  );
  assert.ok(!viaKafkajs.message.includes(password), viaKafkajs.message);
  // An adapter that forgot to remove it: the explanation removes it again.
  const forgotten = await explainConnectionFailure(
    classified("unknown", `Something odd about ${password}`),
    { config: saslSsl, probeTls: false },
  );
  assert.ok(!forgotten.message.includes(password), forgotten.message);
  assert.match(forgotten.message, /\[redacted\]/);
});

Deno.test("an error explained before is returned as it is, not quoted in itself", async () => {
  const explained = new KafkaConnectionError(
    'The Kafka broker at k1:9092 refused SASL SCRAM-SHA-256 authentication as "alice"',
    "authentication",
    true,
    { cause: new Error("SASL SCRAM SHA256 authentication failed: invalid credentials") },
  );
  const failure = await explainConnectionFailure(explained, { config: saslSsl, probeTls: false });
  assert.deepEqual(failure, {
    kind: "authentication",
    fatal: true,
    message: explained.message,
  });
});

Deno.test("a first connection that cannot heal rejects with the explanation; one that can resolves false", async () => {
  await assert.rejects(
    firstConnection({
      config: saslSsl,
      attempt: () =>
        Promise.reject(
          kafkajsError("SASL SCRAM SHA256 authentication failed: invalid credentials"),
        ),
    }),
    (error: unknown) => {
      assert.ok(error instanceof KafkaConnectionError);
      assert.equal(error.kind, "authentication");
      assert.equal(error.fatal, true);
      assert.match(error.message, /refused SASL SCRAM-SHA-256 authentication as "alice"/);
      return true;
    },
  );
  assert.equal(
    await firstConnection({
      config: plaintext,
      attempt: () => Promise.reject(kafkajsError("Connection error: connect ECONNREFUSED k1:9092")),
    }),
    false,
  );
  assert.equal(
    await firstConnection({ config: plaintext, attempt: () => Promise.resolve() }),
    true,
  );
});

Deno.test("connectExplained explains a client's error and passes any other through", async () => {
  const explained = new KafkaConnectionError("Explained before", "unknown", false);
  await assert.rejects(connectExplained(() => Promise.reject(explained), plaintext), (error) => {
    assert.equal(error, explained);
    return true;
  });
  const notLoaded = new Error("The Kafka client is not available");
  await assert.rejects(connectExplained(() => Promise.reject(notLoaded), plaintext), (error) => {
    assert.equal(error, notLoaded);
    return true;
  });
  await assert.rejects(
    connectExplained(() => Promise.reject(kafkajsError("Closed connection")), plaintext),
    (error: unknown) => {
      assert.ok(error instanceof KafkaConnectionError);
      assert.equal(error.kind, "connection_closed");
      assert.ok(error.cause instanceof Error);
      return true;
    },
  );
});
