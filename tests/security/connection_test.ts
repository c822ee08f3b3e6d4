/**
 * End to end against a broker that really demands TLS, SASL or client
 * certificates (scripts/kafka.sh with KAFKA_SECURITY=1 on its own port):
 * rivulet's settings translation and Kafka client produce and consume over
 * every mode, and each kind of wrong credential or certificate fails with a
 * clear message in which no password appears.
 */
import assert from "node:assert/strict";
import { explainConnectionFailure } from "../../connectors/kafka/connection_failure.ts";
import type { ClientConfig } from "../../connectors/kafka/config.ts";
import { makeTestClient, testClientName } from "../support/kafka.ts";
import { platformaticWasmFile } from "../../connectors/kafka/platformatic/wasm_file.ts";
import { SettingsError, translateSettings } from "../../connectors/kafka/settings.ts";
import type { Logger } from "../../connectors/types.ts";
import { type SecureBroker, securityModes, startSecureBroker } from "./_secure_broker.ts";

const noEnv = { env: () => undefined };
/** A guard against hanging, far above the few hundred milliseconds a failure takes. */
const hangGuardMs = 60_000;

/** A logger that keeps every line, so a test can search it for secrets. */
function capturingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const keep = (level: string) => (message: string, fields?: Record<string, unknown>) =>
    lines.push(`${level} ${message} ${JSON.stringify(fields ?? {})}`);
  return {
    lines,
    debug: keep("debug"),
    info: keep("info"),
    warn: keep("warn"),
    error: keep("error"),
  };
}

async function withinGuard<T>(what: string, work: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} hung for ${hangGuardMs} ms`)), hangGuardMs);
  });
  try {
    return await Promise.race([work, guard]);
  } finally {
    clearTimeout(timer);
  }
}

/** Produces three records and reads them back through rivulet's client. */
async function roundTrip(config: ClientConfig, label: string): Promise<string[]> {
  const logger = capturingLogger();
  const client = makeTestClient(config, logger);
  const topic = `security-${label}-${crypto.randomUUID().slice(0, 8)}`;
  const admin = client.admin();
  await admin.connect();
  await admin.createTopic({ topic });
  await admin.disconnect();

  const producer = client.producer();
  await producer.connect();
  const sent = ["a", "b", "c"].map((v) => `${label}:${v}`);
  await producer.send([{ topic, records: sent.map((value) => ({ key: null, value })) }]);
  await producer.disconnect();

  const consumer = client.consumer({
    groupId: `security-${label}-${crypto.randomUUID().slice(0, 8)}`,
    topics: [topic],
    autoOffsetReset: "earliest",
  });
  const received: string[] = [];
  let allArrived!: () => void;
  const arrived = new Promise<void>((resolve) => (allArrived = resolve));
  await consumer.connect();
  await consumer.run({
    onBatch: (batch) => {
      for (const message of batch.messages) {
        received.push(new TextDecoder().decode(message.value ?? new Uint8Array()));
      }
      if (received.length >= sent.length) allArrived();
      return Promise.resolve();
    },
  });
  await withinGuard(`reading ${topic}`, arrived);
  await consumer.disconnect();
  return received;
}

/** Connects with settings that must fail; returns the error, the explanation and all output. */
async function failingConnection(settings: Record<string, string>) {
  const { config, warnings } = translateSettings(settings, noEnv);
  const logger = capturingLogger();
  const admin = makeTestClient(config, logger).admin();
  const started = performance.now();
  const error = await withinGuard(
    "a failing connection",
    admin.connect().then(
      () => undefined,
      (reason: unknown) => reason,
    ),
  );
  const elapsedMs = Math.round(performance.now() - started);
  await admin.disconnect().catch(() => {});
  assert.ok(error instanceof Error, "the connection must fail");
  // kafkajs logs each retry of a connection with its count: a failure that
  // retrying cannot heal must not be retried (it fails in milliseconds).
  const retried = logger.lines.filter((line) => /"retryCount":[1-9]/.test(line));
  assert.deepEqual(retried, [], "a fatal connection failure is not retried");
  const failure = await explainConnectionFailure(error, { config });
  const output = [
    error.message,
    error.stack ?? "",
    Deno.inspect(error, { depth: 10 }),
    failure.message,
    ...warnings,
    ...logger.lines,
  ].join("\n");
  console.log(`  ${failure.kind} after ${elapsedMs} ms: ${failure.message}`);
  return { error, failure, output, elapsedMs };
}

/** Files the chosen client reads when it loads: part of the narrowest --allow-read. */
const clientLoadReads = testClientName === "platformatic" ? [platformaticWasmFile()] : [];
const connectCheck = new URL("./_connect_check.ts", import.meta.url).pathname;
const deno = new URL("../../scripts/deno", import.meta.url).pathname;
/** Environment variables kafkajs reads when it loads: part of the narrowest --allow-env. */
const kafkajsEnv = [
  "NODE_ENV",
  "KAFKAJS_NO_PARTITIONER_WARNING",
  "KAFKAJS_DEBUG_PROTOCOL_BUFFERS",
  "KAFKAJS_DEBUG_EXTENDED_PROTOCOL_BUFFERS",
  "KAFKAJS_LOG_LEVEL",
];

/** Options for {@linkcode runConnectCheck}. */
interface ConnectCheck {
  readonly settings: Record<string, string>;
  /** Host and port `--allow-net` grants. */
  readonly net: string;
  /** Files `--allow-read` grants besides the settings file. */
  readonly read: readonly string[];
  /** Variables set for the program and granted with `--allow-env`. */
  readonly env: Record<string, string>;
  /** Grant `--allow-env` for `env` (default true). */
  readonly grantEnv?: boolean;
}

/** Runs _connect_check.ts in its own process with the narrowest permissions; all output together. */
async function runConnectCheck(check: ConnectCheck): Promise<{ code: number; output: string }> {
  const dir = await Deno.makeTempDir({ prefix: "rivulet-security-cli-" });
  const file = `${dir}/kafka.json`;
  await Deno.writeTextFile(file, JSON.stringify(check.settings));
  const envNames = [...Object.keys(check.env), ...kafkajsEnv].join(",");
  const result = await new Deno.Command(deno, {
    args: [
      "run",
      "--no-prompt",
      `--allow-net=${check.net}`,
      `--allow-read=${[file, ...check.read].join(",")}`,
      ...(check.grantEnv === false
        ? [`--allow-env=${kafkajsEnv.join(",")}`]
        : [`--allow-env=${envNames}`]),
      connectCheck,
      file,
      testClientName,
    ],
    env: { ...check.env, NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  await Deno.remove(dir, { recursive: true });
  const decoder = new TextDecoder();
  return {
    code: result.code,
    output: decoder.decode(result.stdout) + decoder.decode(result.stderr),
  };
}

function assertNoSecret(output: string, secrets: readonly string[]) {
  for (const secret of secrets) {
    assert.ok(!output.includes(secret), `a secret leaked into the output:\n${output}`);
  }
}

Deno.test({
  name: "secure listeners: round trips in every mode, and clear failures without secrets",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    let broker: SecureBroker | undefined;
    try {
      broker = await startSecureBroker();
      const b = broker;
      const secrets = [b.secrets.password, b.secrets.keyPassword];

      for (const mode of securityModes) {
        await t.step(`produces and consumes over ${mode}`, async () => {
          const { config, warnings } = translateSettings(b.settings(mode), noEnv);
          assert.deepEqual(warnings, []);
          const received = await roundTrip(config, mode);
          assert.deepEqual(received, [`${mode}:a`, `${mode}:b`, `${mode}:c`]);
        });
      }

      await t.step(
        "a wrong SCRAM password over TLS fails with an authentication message",
        async () => {
          const wrong = "Wrong-Pass-8812-not-this-one";
          const { failure, output } = await failingConnection({
            ...b.settings("scram_over_tls"),
            "sasl.password": wrong,
          });
          assert.equal(failure.kind, "authentication");
          assert.ok(failure.fatal);
          assert.match(failure.message, /refused SASL SCRAM-SHA-256 authentication as "alice"/);
          assertNoSecret(output, [...secrets, wrong]);
        },
      );

      await t.step("a wrong PLAIN password fails with an authentication message", async () => {
        const wrong = "Wrong-Plain-5521-not-this-one";
        const { failure, output } = await failingConnection({
          ...b.settings("sasl_plain"),
          "sasl.password": wrong,
        });
        assert.equal(failure.kind, "authentication");
        assert.match(failure.message, /refused SASL PLAIN authentication as "alice"/);
        assertNoSecret(output, [...secrets, wrong]);
      });

      await t.step(
        "an unknown SCRAM-SHA-512 user fails with an authentication message",
        async () => {
          const { failure, output } = await failingConnection({
            ...b.settings("scram_sha_512"),
            "sasl.username": "mallory",
          });
          assert.equal(failure.kind, "authentication");
          assert.match(failure.message, /SCRAM-SHA-512 authentication as "mallory"/);
          assertNoSecret(output, secrets);
        },
      );

      await t.step("a CA that did not sign the broker's certificate is refused", async () => {
        const { failure, output } = await failingConnection({
          ...b.settings("scram_over_tls"),
          "ssl.ca.location": `${b.dir}/other-ca.pem`,
        });
        assert.equal(failure.kind, "untrusted_certificate");
        assert.ok(failure.fatal);
        assert.match(failure.message, /not signed by a CA that rivulet trusts.*ssl\.ca\.location/);
        assertNoSecret(output, secrets);
      });

      await t.step("an expired broker certificate is refused, saying it expired", async () => {
        const { failure, output } = await failingConnection({
          ...b.settings("tls"),
          "bootstrap.servers": `127.0.0.1:${b.ports.expiredCertificate}`,
        });
        assert.equal(failure.kind, "untrusted_certificate");
        assert.match(failure.message, /expired on 2020-01-02T00:00:00\.000Z/);
        assertNoSecret(output, secrets);
      });

      await t.step(
        "a plaintext client on the TLS listener is told to check security.protocol",
        async () => {
          const { failure, output } = await failingConnection({
            "bootstrap.servers": `127.0.0.1:${b.ports.ssl}`,
          });
          assert.ok(failure.fatal);
          assert.match(failure.message, /may expect TLS.*check security\.protocol/);
          assertNoSecret(output, secrets);
        },
      );

      await t.step(
        "a SASL client without TLS on the SASL_SSL listener is told the same",
        async () => {
          const { failure, output } = await failingConnection({
            ...b.settings("scram_sha_256"),
            "bootstrap.servers": `127.0.0.1:${b.ports.saslSsl}`,
          });
          assert.ok(failure.fatal);
          assert.match(failure.message, /security\.protocol/);
          assertNoSecret(output, secrets);
        },
      );

      await t.step(
        "a TLS client on the plaintext listener is told the listener has no TLS",
        async () => {
          const { failure, output } = await failingConnection({
            ...b.settings("scram_over_tls"),
            "bootstrap.servers": `127.0.0.1:${b.ports.plaintext}`,
          });
          assert.equal(failure.kind, "tls_mismatch");
          assert.match(failure.message, /does not use TLS; check security\.protocol/);
          assertNoSecret(output, secrets);
        },
      );

      await t.step("the mutual-TLS listener refuses a client without a certificate", async () => {
        const { failure, output } = await failingConnection({
          ...b.settings("tls"),
          "bootstrap.servers": `127.0.0.1:${b.ports.mutualTls}`,
        });
        assert.equal(failure.kind, "client_certificate_rejected");
        assert.match(failure.message, /requires a client certificate.*ssl\.certificate\.location/);
        assertNoSecret(output, secrets);
      });

      await t.step("the mutual-TLS listener refuses a certificate from another CA", async () => {
        const { "ssl.key.password": _unused, ...mutualTls } = b.settings("mutual_tls");
        const { failure, output } = await failingConnection({
          ...mutualTls,
          "ssl.certificate.location": `${b.dir}/other-client-cert.pem`,
          "ssl.key.location": `${b.dir}/other-client-key.pem`,
        });
        assert.equal(failure.kind, "client_certificate_rejected");
        assert.match(failure.message, /rejected rivulet's client certificate/);
        assertNoSecret(output, secrets);
      });

      await t.step("an expired or mismatched client certificate fails before connecting", () => {
        for (
          const [cert, key, reason] of [
            ["expired-client-cert.pem", "expired-client-key.pem", /expired on 2020-01-02/],
            ["client-cert.pem", "other-client-key.pem", /does not belong to the certificate/],
          ] as const
        ) {
          const { "ssl.key.password": _unused, ...mutualTls } = b.settings("mutual_tls");
          const settings = {
            ...mutualTls,
            "ssl.certificate.location": `${b.dir}/${cert}`,
            "ssl.key.location": `${b.dir}/${key}`,
          };
          assert.throws(() => translateSettings(settings, noEnv), (error: unknown) => {
            assert.ok(error instanceof SettingsError);
            assert.match(error.message, reason);
            assertNoSecret(error.message, secrets);
            return true;
          });
        }
      });

      // The seed's configuration as a user should write it: the password in an
      // environment variable, the program granted only what it needs.
      const seedFile = () => ({
        ...b.settings("scram_over_tls"),
        "group.id": "rivulet-security-cli",
        "session.timeout.ms": "6000",
        "sasl.password": "${RIVULET_KAFKA_PASSWORD}",
      });
      const narrow = {
        net: `127.0.0.1:${b.ports.saslSsl}`,
        // The platformatic client also reads its WebAssembly file when it loads (wasm_file.ts).
        read: [`${b.dir}/ca.pem`, ...clientLoadReads],
      };

      await t.step(
        "a program with the narrowest permissions connects over SCRAM and TLS",
        async () => {
          const { code, output } = await runConnectCheck({
            ...narrow,
            settings: seedFile(),
            env: { RIVULET_KAFKA_PASSWORD: b.secrets.password },
          });
          assert.equal(code, 0, output);
          assert.match(output, /^connected$/m);
          assertNoSecret(output, secrets);
        },
      );

      await t.step(
        "a wrong password exits non-zero with a clear message and no password in any output",
        async () => {
          const wrong = "Wrong-Cli-3390-not-this-one";
          const { code, output } = await runConnectCheck({
            ...narrow,
            settings: seedFile(),
            env: { RIVULET_KAFKA_PASSWORD: wrong },
          });
          assert.equal(code, 1, output);
          assert.match(
            output,
            /error: The Kafka broker at 127\.0\.0\.1:\d+ refused SASL SCRAM-SHA-256 authentication as "alice"/,
          );
          assertNoSecret(output, [...secrets, wrong]);
        },
      );

      await t.step(
        "a password variable the program may not read is an error saying what to grant",
        async () => {
          const { code, output } = await runConnectCheck({
            ...narrow,
            settings: seedFile(),
            env: { RIVULET_KAFKA_PASSWORD: b.secrets.password },
            grantEnv: false,
          });
          assert.equal(code, 2, output);
          assert.match(
            output,
            /Setting "sasl\.password" refers to environment variable RIVULET_KAFKA_PASSWORD, which rivulet may not read: grant it with --allow-env=RIVULET_KAFKA_PASSWORD/,
          );
          assertNoSecret(output, secrets);
        },
      );

      await t.step(
        "a CA file the program may not read is an error saying what to grant",
        async () => {
          const { code, output } = await runConnectCheck({
            ...narrow,
            read: clientLoadReads,
            settings: seedFile(),
            env: { RIVULET_KAFKA_PASSWORD: b.secrets.password },
          });
          assert.equal(code, 2, output);
          assert.match(
            output,
            /Setting "ssl\.ca\.location" names a file rivulet may not read: ".*ca\.pem" \(grant it with --allow-read=/,
          );
          assertNoSecret(output, secrets);
        },
      );

      await t.step({
        name: "the platformatic client without its WebAssembly file granted says what to grant",
        ignore: testClientName !== "platformatic",
        fn: async () => {
          const { code, output } = await runConnectCheck({
            ...narrow,
            read: [`${b.dir}/ca.pem`],
            settings: seedFile(),
            env: { RIVULET_KAFKA_PASSWORD: b.secrets.password },
          });
          assert.notEqual(code, 0, output);
          assert.match(
            output,
            /The platformatic Kafka client reads its WebAssembly helpers .* grant it with --allow-read=\/\S*native\.wasm/,
          );
          assertNoSecret(output, secrets);
        },
      });
    } finally {
      await broker?.stop();
    }
  },
});
