import assert from "node:assert/strict";
// The adapter first: it repairs kafkajs before kafkajs loads.
import { kafkajsConfig } from "../../../connectors/kafka/kafkajs/client.ts";
import { logLevel } from "kafkajs";
import type { ClientConfig } from "../../../connectors/kafka/config.ts";
import type { LogFields, Logger } from "../../../connectors/types.ts";

const base: ClientConfig = {
  brokers: ["a:9092", "b:9093"],
  clientId: "rivulet-x",
  autoOffsetReset: "earliest",
};

function recordingLogger(): Logger & { lines: [string, string, LogFields | undefined][] } {
  const lines: [string, string, LogFields | undefined][] = [];
  const keep = (level: string) => (message: string, fields?: LogFields) =>
    void lines.push([level, message, fields]);
  return {
    lines,
    debug: keep("debug"),
    info: keep("info"),
    warn: keep("warn"),
    error: keep("error"),
  };
}

Deno.test("kafkajs options carry brokers, client id and connection timeout; plaintext has no ssl or sasl", () => {
  const options = kafkajsConfig({ ...base, connectionTimeoutMs: 2500 }, recordingLogger());
  assert.deepEqual(options.brokers, ["a:9092", "b:9093"]);
  assert.equal(options.clientId, "rivulet-x");
  assert.equal(options.connectionTimeout, 2500);
  assert.equal(options.ssl, undefined);
  assert.equal(options.sasl, undefined);
});

Deno.test("kafkajs options map TLS material and SASL credentials", () => {
  const options = kafkajsConfig({
    ...base,
    tls: { ca: "CA", cert: "CERT", key: "KEY", keyPassword: "kp", verifyCertificates: false },
    sasl: { mechanism: "scram-sha-512", username: "alice", password: "s3cret" },
  }, recordingLogger());
  assert.deepEqual(options.ssl, {
    rejectUnauthorized: false,
    ca: ["CA"],
    cert: "CERT",
    key: "KEY",
    passphrase: "kp",
  });
  assert.deepEqual(options.sasl, {
    mechanism: "scram-sha-512",
    username: "alice",
    password: "s3cret",
  });
});

Deno.test("kafkajs log lines reach the rivulet logger by level, without secrets", () => {
  const logger = recordingLogger();
  const options = kafkajsConfig(base, logger, ["s3cret"]);
  const log = options.logCreator!(logLevel.INFO);
  const timestamp = new Date().toISOString();
  log({
    namespace: "Connection",
    level: logLevel.ERROR,
    label: "ERROR",
    log: {
      timestamp,
      message: "Broker said s3cret is wrong",
      broker: "a:9092",
      password: "s3cret",
    },
  });
  log({
    namespace: "Cluster",
    level: logLevel.WARN,
    label: "WARN",
    log: { timestamp, message: "slow" },
  });
  log({
    namespace: "Consumer",
    level: logLevel.INFO,
    label: "INFO",
    log: { timestamp, message: "joined" },
  });
  assert.deepEqual(logger.lines.map(([level, message]) => [level, message]), [
    ["error", "kafkajs: Broker said *** is wrong"],
    ["warn", "kafkajs: slow"],
    ["debug", "kafkajs: joined"],
  ]);
  assert.deepEqual(logger.lines[0][2], { namespace: "Connection", broker: "a:9092" });
  assert.ok(!JSON.stringify(logger.lines).includes("s3cret"));
});
