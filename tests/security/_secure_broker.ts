/**
 * The secure broker for security tests: scripts/kafka.sh with KAFKA_SECURITY=1
 * on its own port (RIVULET_SECURE_KAFKA_PORT, else a free block of seven), so the
 * everyday plaintext broker on 9092 stays as it is. Also librdkafka settings for
 * each security mode, so a test (or the seed pipeline) can run over any of them.
 *
 * @module
 */
import { freePortBlock } from "../support/ports.ts";

const script = new URL("../../scripts/kafka.sh", import.meta.url).pathname;

/** The connection modes the secure broker offers, as the issue lists them. */
export type SecurityMode =
  | "tls"
  | "sasl_plain"
  | "scram_sha_256"
  | "scram_sha_512"
  | "scram_over_tls"
  | "mutual_tls";

/** Every mode, in the order. */
export const securityModes: readonly SecurityMode[] = [
  "tls",
  "sasl_plain",
  "scram_sha_256",
  "scram_sha_512",
  "scram_over_tls",
  "mutual_tls",
];

/** The secrets the broker script generated (never committed anywhere). */
export interface BrokerSecrets {
  readonly username: string;
  readonly password: string;
  readonly keyPassword: string;
}

/** A running secure broker: its ports, test material, and settings per mode. */
export interface SecureBroker {
  /** The plaintext port; the secure ones follow it (see {@linkcode SecureBroker.ports}). */
  readonly port: number;
  readonly ports: {
    readonly plaintext: number;
    readonly ssl: number;
    readonly saslPlaintext: number;
    readonly saslSsl: number;
    readonly mutualTls: number;
    readonly expiredCertificate: number;
  };
  /** Folder of the generated certificates and keys (PEM). */
  readonly dir: string;
  readonly secrets: BrokerSecrets;
  /** librdkafka settings (strings, file paths) that connect in the given mode. */
  settings(mode: SecurityMode): Record<string, string>;
  /** Stops the broker if {@linkcode startSecureBroker} started it; leaves it running otherwise. */
  stop(): Promise<void>;
}

const givenPort = Deno.env.get("RIVULET_SECURE_KAFKA_PORT");
/**
 * The port of the secure broker the tests use: RIVULET_SECURE_KAFKA_PORT, else
 * the first of seven free ports (plaintext, controller, five secure listeners),
 * for this test process only.
 */
export const securePort: number = givenPort === undefined ? freePortBlock(7) : Number(givenPort);
/** A broker on a port chosen here lives in a temporary folder, not in .kafka/<port>. */
const home: string | undefined = givenPort === undefined
  ? Deno.makeTempDirSync({ prefix: "rivulet-secure-kafka-" })
  : undefined;

async function kafkaSh(command: string): Promise<{ code: number; text: string }> {
  const output = await new Deno.Command("bash", {
    args: [script, command],
    env: {
      KAFKA_PORT: String(securePort),
      KAFKA_SECURITY: "1",
      ...(home === undefined ? {} : { KAFKA_HOME_DIR: home }),
    },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return { code: output.code, text: decoder.decode(output.stdout) + decoder.decode(output.stderr) };
}

/**
 * Starts the secure broker (about five seconds), or uses the one already
 * running on {@linkcode securePort}.
 */
export async function startSecureBroker(): Promise<SecureBroker> {
  const started = await kafkaSh("start");
  if (started.code !== 0) throw new Error(`Could not start the secure broker:\n${started.text}`);
  const weStartedIt = !/already running/.test(started.text);
  const dir = /material in (\S+)/.exec(started.text)?.[1] ??
    (home === undefined
      ? new URL(`../../.kafka/${securePort}/security`, import.meta.url).pathname
      : `${home}/security`);
  const env = Object.fromEntries(
    Deno.readTextFileSync(`${dir}/secrets.env`).trim().split("\n").map((line) => {
      const at = line.indexOf("=");
      return [line.slice(0, at), line.slice(at + 1)];
    }),
  );
  const secrets: BrokerSecrets = {
    username: env.SASL_USERNAME,
    password: env.SASL_PASSWORD,
    keyPassword: env.KEY_PASSWORD,
  };
  const port = securePort;
  const ports = {
    plaintext: port,
    ssl: port + 2,
    saslPlaintext: port + 3,
    saslSsl: port + 4,
    mutualTls: port + 5,
    expiredCertificate: port + 6,
  };
  return {
    port,
    ports,
    dir,
    secrets,
    settings: (mode) => modeSettings(mode, { ports, dir, secrets }),
    stop: async () => {
      if (!weStartedIt) return;
      const stopped = await kafkaSh("stop");
      if (stopped.code !== 0) throw new Error(`Could not stop the secure broker:\n${stopped.text}`);
      if (home !== undefined) await Deno.remove(home, { recursive: true }).catch(() => {});
    },
  };
}

function modeSettings(
  mode: SecurityMode,
  broker: Pick<SecureBroker, "ports" | "dir" | "secrets">,
): Record<string, string> {
  const { ports, dir, secrets } = broker;
  const at = (port: number) => ({ "bootstrap.servers": `127.0.0.1:${port}` });
  const sasl = (mechanism: string) => ({
    "sasl.mechanism": mechanism,
    "sasl.username": secrets.username,
    "sasl.password": secrets.password,
  });
  const ca = { "ssl.ca.location": `${dir}/ca.pem` };
  switch (mode) {
    case "tls":
      return { ...at(ports.ssl), "security.protocol": "ssl", ...ca };
    case "sasl_plain":
      return {
        ...at(ports.saslPlaintext),
        "security.protocol": "sasl_plaintext",
        ...sasl("PLAIN"),
      };
    case "scram_sha_256":
      return {
        ...at(ports.saslPlaintext),
        "security.protocol": "sasl_plaintext",
        ...sasl("SCRAM-SHA-256"),
      };
    case "scram_sha_512":
      return {
        ...at(ports.saslPlaintext),
        "security.protocol": "sasl_plaintext",
        ...sasl("SCRAM-SHA-512"),
      };
    case "scram_over_tls":
      // The seed's own configuration.
      return {
        ...at(ports.saslSsl),
        "security.protocol": "sasl_ssl",
        ...sasl("SCRAM-SHA-256"),
        ...ca,
      };
    case "mutual_tls":
      return {
        ...at(ports.mutualTls),
        "security.protocol": "ssl",
        ...ca,
        "ssl.certificate.location": `${dir}/client-cert.pem`,
        "ssl.key.location": `${dir}/client-key-encrypted.pem`,
        "ssl.key.password": secrets.keyPassword,
      };
  }
}
