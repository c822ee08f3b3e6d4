/**
 * SASL/OAUTHBEARER against a broker that demands it: scripts/kafka.sh with
 * KAFKA_OAUTH=1 opens a listener that accepts only OAUTHBEARER, validated by
 * Kafka's unsecured JWT validator. rivulet's sink and source connect through
 * it with a token from a file, from a command, or built as librdkafka's
 * unsecured JWT; a bad token or no SASL is refused; the token never appears
 * in a log line or an error.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import * as rw from "../../mod.ts";
import { translateSettings } from "../../connectors/kafka/settings.ts";
import { KafkaSource } from "../../connectors/kafka/source.ts";
import { oauthBearerToken } from "../../connectors/kafka/oauthbearer_token.ts";
import type { LogFields, Logger } from "../../connectors/types.ts";
import { Collector, text } from "../connectors/kafka/_support.ts";
import { makeTestClient, uniqueTopic } from "../support/kafka.ts";
import { freePortBlock } from "../support/ports.ts";

const script = new URL("../../scripts/kafka.sh", import.meta.url).pathname;
const givenPort = Deno.env.get("RIVULET_OAUTH_KAFKA_PORT");
/**
 * The OAUTHBEARER broker's plaintext port (RIVULET_OAUTH_KAFKA_PORT, else the
 * first of eight free ports); the OAUTHBEARER listener is this + 7.
 */
const oauthPort = givenPort === undefined ? freePortBlock(8) : Number(givenPort);
/** A broker on ports chosen here lives in a temporary folder, not in .kafka/<port>. */
const home: string | undefined = givenPort === undefined
  ? Deno.makeTempDirSync({ prefix: "rivulet-oauth-kafka-" })
  : undefined;
const listener = `127.0.0.1:${oauthPort + 7}`;

async function kafkaSh(command: string): Promise<string> {
  const output = await new Deno.Command("bash", {
    args: [script, command],
    env: {
      KAFKA_PORT: String(oauthPort),
      KAFKA_OAUTH: "1",
      ...(home === undefined ? {} : { KAFKA_HOME_DIR: home }),
    },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const said = new TextDecoder().decode(output.stdout) + new TextDecoder().decode(output.stderr);
  if (output.code !== 0) throw new Error(`scripts/kafka.sh ${command} failed:\n${said}`);
  return said;
}

/** An unsigned JWT as Kafka's unsecured validator takes it. */
function unsecuredJwt(subject: string): string {
  const now = Date.now() / 1000;
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
  return `${part({ alg: "none" })}.${part({ sub: subject, iat: now, exp: now + 3600 })}.`;
}

/** A logger that keeps every line and field, to look for secrets in. */
function recordingLogger(): Logger & { text(): string } {
  const lines: string[] = [];
  const keep = (level: string) => (message: string, fields?: LogFields) =>
    void lines.push(`${level} ${message} ${JSON.stringify(fields ?? {})}`);
  return {
    debug: keep("debug"),
    info: keep("info"),
    warn: keep("warn"),
    error: keep("error"),
    text: () => lines.join("\n"),
  };
}

const oauthSettings = (extra: Record<string, string>) => ({
  "bootstrap.servers": listener,
  "security.protocol": "SASL_PLAINTEXT",
  "sasl.mechanism": "OAUTHBEARER",
  ...extra,
});

/** Writes three rows through the OAUTHBEARER listener, then reads them back through it. */
async function roundTrip(settings: Record<string, string>, logger: Logger): Promise<string[]> {
  const topic = uniqueTopic("oauth");
  const file = await Deno.makeTempFile({ suffix: ".txt" });
  await Deno.writeTextFile(file, "one\ntwo\nthree\n*COMMIT*\n");
  try {
    const pipeline = new rw.Pipeline({ logger });
    const t = rw.io.read(file, { format: "plaintext", pipeline });
    rw.kafka.write(t, settings, {
      topicName: topic,
      format: "plaintext",
      value: "data",
      key: "data",
      pipeline,
    });
    await pipeline.run();
  } finally {
    await Deno.remove(file);
  }
  const { config } = translateSettings({ ...settings, "group.id": uniqueTopic("oauth-group") });
  // The client under test (RIVULET_KAFKA_CLIENT): its OAUTHBEARER exchange is the one tested here.
  const source = new KafkaSource({
    config,
    client: makeTestClient(config, logger),
    topics: [topic],
    logger,
  });
  const collector = new Collector();
  await source.start(collector.handler);
  try {
    await collector.waitFor(3);
  } finally {
    await source.stop();
  }
  return collector.messages.map((m) => text(m.value)).sort();
}

let started = false;

Deno.test({
  name: "OAUTHBEARER: the broker with KAFKA_OAUTH=1 starts",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const said = await kafkaSh("start");
    started = !/already running/.test(said);
    assert.match(said, started ? /OAUTHBEARER listener/ : /already running/);
  },
});

Deno.test({
  name:
    "OAUTHBEARER: a token from a file, from a command, and librdkafka's unsecured JWT all write and read",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "rivulet-oauth-" });
    try {
      const token = unsecuredJwt("alice");
      await Deno.writeTextFile(`${dir}/token`, `${token}\n`);
      const sources: [string, Record<string, string>][] = [
        ["file", { "rivulet.sasl.oauthbearer.token.file": `${dir}/token` }],
        ["command", { "rivulet.sasl.oauthbearer.token.command": `cat ${dir}/token` }],
        ["unsecured JWT", {
          "enable.sasl.oauthbearer.unsecure.jwt": "true",
          "sasl.oauthbearer.config": "principal=bob lifeSeconds=600",
        }],
      ];
      for (const [name, extra] of sources) {
        const logger = recordingLogger();
        assert.deepEqual(
          await roundTrip(oauthSettings(extra), logger),
          ["one", "three", "two"],
          name,
        );
        assert.ok(!logger.text().includes(token), `${name}: the token is never logged`);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "OAUTHBEARER: the broker refuses a token it cannot validate, and the error never shows it",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "rivulet-oauth-" });
    try {
      // A JWT without the "sub" claim the validator requires.
      const now = Date.now() / 1000;
      const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
      const bad = `${part({ alg: "none" })}.${part({ iat: now, exp: now + 60, who: "x" })}.`;
      await Deno.writeTextFile(`${dir}/token`, bad);
      const logger = recordingLogger();
      const settings = oauthSettings({ "rivulet.sasl.oauthbearer.token.file": `${dir}/token` });
      const error = await roundTrip(settings, logger).then(
        () => assert.fail("the broker accepted a token without a subject"),
        (e: Error) => e,
      );
      const shown = `${error.message}\n${String(error.cause ?? "")}\n${logger.text()}`;
      assert.match(error.message, /refused the OAUTHBEARER token.*invalid_token/);
      assert.ok(!shown.includes(bad), "the token is not in the error or the log");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "OAUTHBEARER: the listener demands it (a plaintext client is turned away)",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const { config } = translateSettings({
      "bootstrap.servers": listener,
      "socket.connection.setup.timeout.ms": "3000",
    });
    const admin = makeTestClient(config).admin();
    // The broker answers ApiVersions before authentication, then closes the
    // connection at the first request of a client that did not authenticate.
    await assert.rejects(admin.connect().then(() => admin.listTopics()));
    await admin.disconnect().catch(() => {});
  },
});

Deno.test({
  name: "OAUTHBEARER: a token command that fails is an error naming the command, not its output",
  fn: async () => {
    await assert.rejects(
      oauthBearerToken({ kind: "command", command: ["sh", "-c", "echo secret-ish; exit 3"] }),
      (error: Error) =>
        /"sh".*exited with code 3/.test(error.message) &&
        !error.message.includes("secret-ish"),
    );
    await assert.rejects(
      oauthBearerToken({ kind: "file", path: "/nonexistent/token" }),
      /token file "\/nonexistent\/token".*NotFound/,
    );
  },
});

Deno.test({
  name: "OAUTHBEARER: the broker is stopped if this file started it",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    if (started) await kafkaSh("stop");
    if (home !== undefined) await Deno.remove(home, { recursive: true });
  },
});
