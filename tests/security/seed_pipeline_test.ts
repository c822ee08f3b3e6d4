/**
 * The seed's pipeline (csv `value` → parseInt → sum → json on the output
 * topic) end to end against a broker that really demands TLS, SASL or client
 * certificates, in every mode the issue lists; and the `rivulet` command with
 * wrong credentials or certificates: each fails at once, with a clear
 * message, a non-zero exit and no password in anything it printed.
 */
import assert from "node:assert/strict";
import * as rw from "../../mod.ts";
import type { Logger } from "../../connectors/types.ts";
import { type SecureBroker, securityModes, startSecureBroker } from "./_secure_broker.ts";
import {
  configOf,
  createTopics,
  produceValues,
  readRecords,
  seedStream,
  seedSums,
  uniqueName,
} from "./_secure_topics.ts";
import { passwordVariable, type RunResult, startRun } from "./_command.ts";

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

function assertNoSecret(output: string, secrets: readonly string[]) {
  for (const secret of secrets) {
    assert.ok(!output.includes(secret), `a secret leaked into the output:\n${output}`);
  }
}

/** The sums of a pipeline's output records, checked to be the seed's change stream. */
function assertSeedSums(records: readonly { key: string | null; value: string }[]) {
  const values = records.map((r) => JSON.parse(r.value));
  assert.deepEqual(values.map((v) => [v.sum, v.diff]), seedSums());
  assert.ok(records.every((r) => r.key === records[0].key), "one row: the sum");
  for (let i = 1; i < values.length; i += 2) {
    assert.equal(values[i].time, values[i + 1].time, "a retraction and its insertion share a time");
  }
}

Deno.test({
  name: "the seed's pipeline over TLS, SASL and client certificates, and failures of the command",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    let broker: SecureBroker | undefined;
    try {
      broker = await startSecureBroker();
      const b = broker;
      const secrets = [b.secrets.password, b.secrets.keyPassword];

      for (const mode of securityModes) {
        await t.step(`the seed's pipeline sums the stream over ${mode}`, async () => {
          const settings = {
            ...b.settings(mode),
            "group.id": uniqueName(`seed-${mode}`),
            "session.timeout.ms": "6000",
          };
          const config = configOf(settings);
          const input = uniqueName(`connector_example-${mode}`);
          const output = uniqueName(`sum-${mode}`);
          await createTopics(config, [input, output]);
          await produceValues(config, input, seedStream);

          const logger = capturingLogger();
          const pipeline = new rw.Pipeline({ logger });
          const table = rw.kafka.read(settings, {
            topicNames: [input],
            format: "csv",
            valueColumns: ["value"],
            pipeline,
          });
          const values = table.select({ value: rw.apply((x: string) => parseInt(x), "value") });
          const sum = values.reduce({ sum: rw.reducers.sum("value") });
          rw.kafka.write(sum, settings, { topicName: output, format: "json", pipeline });
          const running = pipeline.run();
          let records;
          try {
            records = await readRecords(config, output, { count: 19, timeoutMs: 60_000 });
          } finally {
            pipeline.stop();
            await running;
          }
          assertSeedSums(records);
          assert.ok(
            logger.lines.length > 0,
            "the pipeline logged (and the search means something)",
          );
          assertNoSecret(logger.lines.join("\n"), secrets);
        });
      }

      // The seed's own configuration, written as a user should: the password
      // in an environment variable, the command granted only what it needs.
      const seedSettings = (overrides: Record<string, string> = {}) => ({
        ...b.settings("scram_over_tls"),
        "group.id": uniqueName("seed-command"),
        "session.timeout.ms": "6000",
        "sasl.password": `\${${passwordVariable}}`,
        ...overrides,
      });

      await t.step(
        "rivulet run computes the seed's sums over SCRAM-SHA-256 and TLS with the narrowest permissions",
        async () => {
          const settings = seedSettings();
          const config = configOf({ ...settings, "sasl.password": b.secrets.password });
          const input = uniqueName("connector_example-command");
          const output = uniqueName("sum-command");
          await createTopics(config, [input, output]);
          await produceValues(config, input, seedStream);
          const run = await startRun({
            settings,
            password: b.secrets.password,
            topic: input,
            outputTopic: output,
          });
          let records;
          let result: RunResult;
          try {
            records = await readRecords(config, output, { count: 19, timeoutMs: 60_000 });
          } finally {
            result = await run.stop();
          }
          assert.equal(result.code, 0, `SIGTERM ends the run with exit 0:\n${result.output}`);
          assertSeedSums(records);
          assertNoSecret(result.output, secrets);
        },
      );

      /** Runs the command with settings that must fail; returns its result and time to fail. */
      const failingRun = async (settings: Record<string, string>, password?: string) => {
        const started = performance.now();
        const run = await startRun({
          settings,
          password,
          topic: uniqueName("never-read"),
          outputTopic: uniqueName("never-written"),
        });
        // A guard against hanging, far above the second a failure takes.
        const guard = setTimeout(() => run.stop(), 60_000);
        const result = await run.finished();
        clearTimeout(guard);
        const elapsedMs = Math.round(performance.now() - started);
        console.log(`  exit ${result.code} after ${elapsedMs} ms: ${result.stderr.trim()}`);
        return result;
      };

      const failures: {
        name: string;
        settings: () => Record<string, string>;
        password?: string;
        code: number;
        message: RegExp;
      }[] = [
        {
          name: "a wrong password",
          settings: () => seedSettings(),
          password: "Wrong-Command-7710-not-this-one",
          code: 1,
          message:
            /error: The Kafka broker at 127\.0\.0\.1:\d+ refused SASL SCRAM-SHA-256 authentication as "alice": the user is unknown or the password is wrong/,
        },
        {
          name: "an unknown user",
          settings: () => seedSettings({ "sasl.username": "mallory" }),
          password: b.secrets.password,
          code: 1,
          message: /refused SASL SCRAM-SHA-256 authentication as "mallory"/,
        },
        {
          name: "a CA that did not sign the broker's certificate",
          settings: () => seedSettings({ "ssl.ca.location": `${b.dir}/other-ca.pem` }),
          password: b.secrets.password,
          code: 1,
          message:
            /The certificate of the Kafka broker at 127\.0\.0\.1:\d+ is not trusted: its certificate is not signed by a CA that rivulet trusts\. Check ssl\.ca\.location/,
        },
        {
          name: "an expired broker certificate",
          settings: () => ({
            ...b.settings("tls"),
            "bootstrap.servers": `127.0.0.1:${b.ports.expiredCertificate}`,
            "group.id": uniqueName("expired"),
          }),
          code: 1,
          message: /is not trusted: its certificate expired on 2020-01-02T00:00:00\.000Z/,
        },
        {
          name: "an expired client certificate",
          settings: () => ({
            ...b.settings("tls"),
            "bootstrap.servers": `127.0.0.1:${b.ports.mutualTls}`,
            "ssl.certificate.location": `${b.dir}/expired-client-cert.pem`,
            "ssl.key.location": `${b.dir}/expired-client-key.pem`,
            "group.id": uniqueName("expired-client"),
          }),
          code: 2,
          message: /ssl\.certificate\.location.*expired on 2020-01-02/,
        },
        {
          name: "a client key that does not match the certificate",
          settings: () => ({
            ...b.settings("tls"),
            "bootstrap.servers": `127.0.0.1:${b.ports.mutualTls}`,
            "ssl.certificate.location": `${b.dir}/client-cert.pem`,
            "ssl.key.location": `${b.dir}/other-client-key.pem`,
            "group.id": uniqueName("mismatched-key"),
          }),
          code: 2,
          message: /does not belong to the certificate/,
        },
        {
          name: "a client certificate signed by a CA the broker does not trust",
          settings: () => ({
            ...b.settings("tls"),
            "bootstrap.servers": `127.0.0.1:${b.ports.mutualTls}`,
            "ssl.certificate.location": `${b.dir}/other-client-cert.pem`,
            "ssl.key.location": `${b.dir}/other-client-key.pem`,
            "group.id": uniqueName("other-ca-client"),
          }),
          code: 1,
          message: /rejected rivulet's client certificate/,
        },
        {
          name: "no client certificate for the mutual-TLS listener",
          settings: () => ({
            ...b.settings("tls"),
            "bootstrap.servers": `127.0.0.1:${b.ports.mutualTls}`,
            "group.id": uniqueName("no-client-cert"),
          }),
          code: 1,
          message: /requires a client certificate.*ssl\.certificate\.location/,
        },
        {
          name: "a plaintext client against the TLS listener",
          settings: () => ({
            "bootstrap.servers": `127.0.0.1:${b.ports.ssl}`,
            "group.id": uniqueName("plaintext-on-tls"),
          }),
          code: 1,
          message:
            /closed the connection before answering: the listener may expect TLS.*check security\.protocol and the port/,
        },
        {
          name: "a SASL client without TLS against the SASL-over-TLS listener",
          settings: () => seedSettings({ "security.protocol": "sasl_plaintext" }),
          password: b.secrets.password,
          code: 1,
          message: /may expect TLS \(security\.protocol ssl or sasl_ssl\)/,
        },
      ];
      for (const failure of failures) {
        await t.step(
          `rivulet run with ${failure.name} exits ${failure.code} at once, saying why, without the password`,
          async () => {
            const settings = failure.settings();
            const result = await failingRun(settings, failure.password);
            assert.equal(result.code, failure.code, result.output);
            assert.match(result.stderr, failure.message);
            assertNoSecret(result.output, [
              ...secrets,
              ...(failure.password === undefined ? [] : [failure.password]),
            ]);
          },
        );
      }
    } finally {
      await broker?.stop();
    }
  },
});
