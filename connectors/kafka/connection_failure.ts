/**
 * Turns a failed connection to Kafka into a sentence a user can act on, and
 * says whether retrying can help. A wrong password, an untrusted or expired
 * certificate, a rejected client certificate or a TLS client on a plaintext
 * port (and the reverse) never heal by retrying: the pipeline should stop at
 * once with this message and a non-zero exit. An unreachable broker may come
 * back, so it is retried.
 *
 * Each client adapter classifies its library's errors itself (a
 * {@linkcode KafkaClientError} with a {@linkcode KafkaErrorClassification});
 * this module only formats that classification, refined by a TLS probe of its
 * own, so the messages are the same whichever client runs. No secret of the
 * configuration ever appears in the result.
 *
 * @example
 * ```ts ignore
 * try {
 *   await admin.connect();
 * } catch (error) {
 *   const failure = await explainConnectionFailure(error, { config });
 *   if (failure.fatal) throw new Error(failure.message);
 * }
 * ```
 *
 * @module
 */
import { createPrivateKey } from "node:crypto";
import type { ClientConfig, TlsConfig } from "./config.ts";
import { KafkaClientError, type KafkaErrorClassification, type KafkaErrorKind } from "./client.ts";
import { kindOfText, scrubSecrets, strongerKind } from "./error_classification.ts";

/** What went wrong, as far as the client's error tells (see {@linkcode KafkaErrorKind}). */
export type ConnectionFailureKind = KafkaErrorKind;

/** A connection failure explained. */
export interface ConnectionFailure {
  /** What went wrong. */
  readonly kind: ConnectionFailureKind;
  /** True when retrying cannot help: stop with {@linkcode ConnectionFailure.message}. */
  readonly fatal: boolean;
  /** One or two sentences naming the broker, the cause and the setting to check. */
  readonly message: string;
}

/** Options for {@linkcode explainConnectionFailure}. */
export interface ExplainOptions {
  /** The configuration the failed client used. */
  readonly config: ClientConfig;
  /**
   * For a TLS configuration, connect once more with Deno's own TLS to learn
   * what the client library's error hides: why the broker's certificate failed
   * (expired, wrong host, unknown issuer) or which alert the broker sent about
   * the client certificate. Default true; uses the network permission the
   * client already has. Takes up to a second when the handshake succeeds.
   */
  readonly probeTls?: boolean;
  /**
   * True (the default) when the client never got an answer from the broker:
   * then a closed connection means a protocol mismatch, not a restart.
   */
  readonly firstConnection?: boolean;
}

/** Kinds whose failure shows the TLS handshake worked: no probe can tell more. */
const pastTls: ReadonlySet<KafkaErrorKind> = new Set<KafkaErrorKind>([
  "authentication",
  "sasl_mechanism",
  "authorization",
  "too_large",
  "fenced",
]);

/**
 * Explains a failed connection: the kind, whether it is fatal, and a message
 * without secrets. The error is a client adapter's {@linkcode KafkaClientError};
 * any other error is explained as of an unknown kind.
 */
export async function explainConnectionFailure(
  error: unknown,
  options: ExplainOptions,
): Promise<ConnectionFailure> {
  const { config } = options;
  const explainedBefore = alreadyExplained(error);
  if (explainedBefore !== undefined) return explainedBefore;
  // The adapter removed the secrets it knows; a library or broker echoing one
  // is not known to happen, this is a second line of defence.
  const secrets = [config.sasl?.password, config.tls?.keyPassword, config.tls?.key];
  const classified = classificationOf(error);
  const reason = scrubSecrets(classified.reason, secrets);
  let kind = classified.kind;
  let alert = classified.alert;
  let probed: string | undefined;
  if (config.tls !== undefined && options.probeTls !== false && !pastTls.has(kind)) {
    const probeError = await probeTls(config, config.tls);
    probed = probeError === undefined ? undefined : scrubSecrets(probeError, secrets);
    if (probed !== undefined) {
      const fromProbe = /unexpected end of file/i.test(probed)
        ? { kind: "tls_mismatch" as const }
        : kindOfText(probed);
      const stronger = strongerKind(kind, fromProbe.kind);
      if (stronger !== kind) {
        kind = stronger;
        alert = fromProbe.alert;
      }
    }
  }
  const brokers = config.brokers.join(", ");
  const explained = (fatal: boolean, message: string) => ({ kind, fatal, message });

  switch (kind) {
    case "sasl_mechanism":
      return explained(
        true,
        `The Kafka broker at ${brokers} does not accept sasl.mechanism ${
          mechanismName(config)
        }: ${reason}`,
      );
    case "authentication":
      return explained(
        true,
        config.sasl?.mechanism === "oauthbearer"
          ? `The Kafka broker at ${brokers} refused the OAUTHBEARER token (${reason}): check where the token comes from (rivulet.sasl.oauthbearer.token.file or .command, or sasl.oauthbearer.config)`
          : `The Kafka broker at ${brokers} refused SASL ${
            mechanismName(config)
          } authentication as ${
            JSON.stringify(config.sasl?.username ?? "")
          }: the user is unknown or the password is wrong (check sasl.username and sasl.password)`,
      );
    case "authorization":
      return explained(
        true,
        `The Kafka broker at ${brokers} denied ${
          config.sasl === undefined ? "this client" : JSON.stringify(config.sasl.username)
        } access: ${reason} (check the broker's ACLs for this user, or sasl.username)`,
      );
    case "too_large":
      return explained(
        true,
        `The Kafka broker at ${brokers} refused a request as too large: ${reason} (check message.max.bytes)`,
      );
    case "fenced":
      return explained(
        true,
        `Another instance took over this one's work on the Kafka cluster at ${brokers} (a newer producer with the same transactional id, or a rebalance moved the group's partitions): ${reason}`,
      );
    case "client_certificate_rejected":
      return explained(
        true,
        config.tls?.cert === undefined
          ? `The Kafka broker at ${brokers} requires a client certificate (mutual TLS; it answered ${alert}): set ssl.certificate.location and ssl.key.location`
          : `The Kafka broker at ${brokers} rejected rivulet's client certificate (it answered ${alert}): the certificate may have expired or be signed by a CA the broker does not trust (check ssl.certificate.location)`,
      );
    case "untrusted_certificate": {
      const detail = (probed === undefined ? undefined : describeCertificateError(probed)) ??
        reason;
      return explained(
        true,
        `The certificate of the Kafka broker at ${brokers} is not trusted: ${detail}. Check ssl.ca.location (the CA that signed the broker's certificate) and that the address matches the certificate`,
      );
    }
    case "tls_mismatch":
      return explained(
        true,
        config.tls === undefined
          ? `The connection to the Kafka broker at ${brokers} failed (${reason}): check security.protocol and the port`
          : `The TLS handshake with the Kafka broker at ${brokers} failed (${reason}): this listener probably does not use TLS; check security.protocol (${
            config.sasl === undefined ? "ssl" : "sasl_ssl"
          } here) and the port`,
      );
    case "connection_closed": {
      const expected = config.tls === undefined
        ? " the listener may expect TLS (security.protocol ssl or sasl_ssl)" +
          (config.sasl === undefined ? " or SASL (sasl_plaintext)" : "")
        : " the listener may expect SASL (security.protocol sasl_ssl) or a client certificate";
      return explained(
        options.firstConnection ?? true,
        `The Kafka broker at ${brokers} closed the connection before answering:${expected}; check security.protocol and the port`,
      );
    }
    case "unreachable":
      return explained(false, `No Kafka broker answers at ${brokers} (${reason})`);
    case "unknown":
      return explained(false, `The connection to Kafka at ${brokers} failed: ${reason}`);
  }
}

/** The adapter's classification; an error no adapter classified is of an unknown kind. */
function classificationOf(error: unknown): KafkaErrorClassification {
  if (error instanceof KafkaClientError) return error.classification;
  return {
    kind: "unknown",
    retriable: false,
    reason: error instanceof Error ? error.message : String(error),
  };
}

/**
 * A KafkaConnectionError (connection_error.ts, which imports this module) is
 * this module's own explanation: explaining it again would quote it in itself.
 */
function alreadyExplained(error: unknown): ConnectionFailure | undefined {
  if (!(error instanceof Error) || error.name !== "KafkaConnectionError") return undefined;
  const { kind, fatal } = error as Error & { kind?: unknown; fatal?: unknown };
  if (typeof kind !== "string" || typeof fatal !== "boolean") return undefined;
  return { kind: kind as ConnectionFailureKind, fatal, message: error.message };
}

function mechanismName(config: ClientConfig): string {
  return (config.sasl?.mechanism ?? "none").toUpperCase();
}

/**
 * Connects to the first broker with Deno's own TLS (rustls) and the same CA,
 * client certificate and key, then waits briefly for the broker's verdict on
 * the client certificate (sent after the handshake in TLS 1.3). Returns the
 * TLS layer's error message, or undefined when the connection is fine.
 */
async function probeTls(config: ClientConfig, tls: TlsConfig): Promise<string | undefined> {
  const broker = config.brokers[0];
  const at = broker?.lastIndexOf(":") ?? -1;
  if (broker === undefined || at < 0) return undefined;
  const hostname = broker.slice(0, at).replace(/^\[|\]$/g, "");
  const port = Number(broker.slice(at + 1));
  let connection: Deno.TlsConn | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    connection = await Deno.connectTls({
      hostname,
      port,
      caCerts: tls.ca === undefined ? undefined : [tls.ca],
      ...clientIdentity(tls),
    });
    await connection.handshake();
    const open = connection;
    // A broker that accepts the client waits for a request: stop listening then.
    timer = setTimeout(() => open.close(), 1000);
    await open.read(new Uint8Array(1));
    return undefined;
  } catch (error) {
    if (error instanceof Deno.errors.Interrupted || error instanceof Deno.errors.BadResource) {
      return undefined;
    }
    return error instanceof Error ? error.message : String(error);
  } finally {
    clearTimeout(timer);
    try {
      connection?.close();
    } catch {
      // Already closed.
    }
  }
}

/** The client certificate and key for Deno's TLS, which wants the key unencrypted. */
function clientIdentity(tls: TlsConfig): { cert?: string; key?: string } {
  if (tls.cert === undefined || tls.key === undefined) return {};
  try {
    const key = createPrivateKey(
      tls.keyPassword === undefined ? tls.key : { key: tls.key, passphrase: tls.keyPassword },
    ).export({ type: "pkcs8", format: "pem" }).toString();
    return { cert: tls.cert, key };
  } catch {
    // The settings translation checked the key; without it the probe still tells about the broker.
    return {};
  }
}

function describeCertificateError(message: string): string | undefined {
  const expired = /certificate expired.*not valid after (\d+)/i.exec(message);
  if (expired !== null) {
    return `its certificate expired on ${new Date(Number(expired[1]) * 1000).toISOString()}`;
  }
  const notYet = /certificate not valid yet.*not valid before (\d+)/i.exec(message);
  if (notYet !== null) {
    return `its certificate is not valid before ${
      new Date(Number(notYet[1]) * 1000).toISOString()
    }`;
  }
  if (/UnknownIssuer|unknown issuer/i.test(message)) {
    return "its certificate is not signed by a CA that rivulet trusts";
  }
  if (/NotValidForName|not valid for name/i.test(message)) {
    return `its certificate is not issued for this host name (${message.replace(/^.*?: /, "")})`;
  }
  if (/invalid peer certificate/i.test(message)) {
    return message.replace(/^invalid peer certificate: /, "");
  }
  return undefined;
}
