/**
 * Explaining connection failures from the words of kafkajs and the TLS layer,
 * without a broker (the end-to-end tests cover the real errors).
 */
import assert from "node:assert/strict";
import { explainConnectionFailure } from "../../connectors/kafka/connection_failure.ts";
import type { ClientConfig } from "../../connectors/kafka/config.ts";
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

/** A kafkajs-like error: its own message, the socket's error as `originalError`. */
function kafkajsError(message: string, original?: string): Error {
  const error = new Error(message) as Error & { originalError?: Error };
  if (original !== undefined) error.originalError = new Error(original);
  return error;
}

Deno.test("failures are classified by the client's words, and only unreachable ones are retried", async () => {
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

Deno.test("a password echoed by a library or broker is removed from the explanation", async () => {
  const failure = await explainConnectionFailure(
    kafkajsError(`Something odd about ${password}`),
    { config: saslSsl, probeTls: false },
  );
  assert.ok(!failure.message.includes(password), failure.message);
  assert.match(failure.message, /\[redacted\]/);
});

Deno.test("an error explained before is returned as it is, not quoted in itself", async () => {
  const explained = new KafkaConnectionError(
    'The Kafka broker at k1:9092 refused SASL SCRAM-SHA-256 authentication as "alice"',
    "authentication",
    true,
    { cause: kafkajsError("SASL SCRAM SHA256 authentication failed: invalid credentials") },
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

Deno.test("connectExplained passes an explained error through and explains any other", async () => {
  const explained = new KafkaConnectionError("Explained before", "unknown", false);
  await assert.rejects(connectExplained(() => Promise.reject(explained), plaintext), (error) => {
    assert.equal(error, explained);
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
