/**
 * Turns a failed connection to Kafka into a sentence a user can act on, and
 * says whether retrying can help. A wrong password, an untrusted or expired
 * certificate, a rejected client certificate or a TLS client on a plaintext
 * port (and the reverse) never heal by retrying: the pipeline should stop at
 * once with this message and a non-zero exit. An unreachable broker may come
 * back, so it is retried.
 *
 * Client libraries report these failures in their own words ("Closed
 * connection", "unable to verify the first certificate"); this module
 * recognises the words of kafkajs on Deno and of the TLS layer. No secret of the
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

/** What went wrong, as far as the client's error tells. */
export type ConnectionFailureKind =
  | "authentication" // SASL user name or password refused
  | "sasl_mechanism" // the broker does not offer the mechanism
  | "untrusted_certificate" // the broker's certificate failed verification
  | "client_certificate_rejected" // the broker refused (or missed) the client certificate
  | "tls_mismatch" // TLS spoken to a listener that does not speak it
  | "connection_closed" // the broker hung up: often a plaintext client on a TLS or SASL port
  | "unreachable" // nothing answers at the address
  | "unknown";

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

/**
 * Explains a failed connection: the kind, whether it is fatal, and a message
 * without secrets.
 */
export async function explainConnectionFailure(
  error: unknown,
  options: ExplainOptions,
): Promise<ConnectionFailure> {
  const { config } = options;
  const explainedBefore = alreadyExplained(error);
  if (explainedBefore !== undefined) return explainedBefore;
  // The library's words are quoted in messages: remove any secret a broker or
  // library might have echoed (none is known to, this is a second line of defence).
  const secrets = [config.sasl?.password, config.tls?.keyPassword, config.tls?.key];
  let text = scrub(errorText(error), secrets);
  let probed: string | undefined;
  if (config.tls !== undefined && options.probeTls !== false && !saslFailure.test(text)) {
    const reason = await probeTls(config, config.tls);
    probed = reason === undefined ? undefined : scrub(reason, secrets);
    if (probed !== undefined) text = `${text} | ${probed}`;
  }
  const brokers = config.brokers.join(", ");
  const explained = (kind: ConnectionFailureKind, fatal: boolean, message: string) => ({
    kind,
    fatal,
    message,
  });

  if (/unsupported sasl mechanism|UNSUPPORTED_SASL_MECHANISM|not enabled mechanism/i.test(text)) {
    return explained(
      "sasl_mechanism",
      true,
      `The Kafka broker at ${brokers} does not accept sasl.mechanism ${mechanismName(config)}: ${
        reasonFrom(text)
      }`,
    );
  }
  if (saslFailure.test(text)) {
    return explained(
      "authentication",
      true,
      `The Kafka broker at ${brokers} refused SASL ${mechanismName(config)} authentication as ${
        JSON.stringify(config.sasl?.username ?? "")
      }: the user is unknown or the password is wrong (check sasl.username and sasl.password)`,
    );
  }
  const alert =
    /alert:? ?(BadCertificate|CertificateUnknown|CertificateRequired|UnknownCA|CertificateExpired|bad certificate|certificate required|unknown ca|certificate expired)/i
      .exec(text);
  if (alert !== null) {
    const message = config.tls?.cert === undefined
      ? `The Kafka broker at ${brokers} requires a client certificate (mutual TLS; it answered ${
        alert[1]
      }): set ssl.certificate.location and ssl.key.location`
      : `The Kafka broker at ${brokers} rejected rivulet's client certificate (it answered ${
        alert[1]
      }): the certificate may have expired or be signed by a CA the broker does not trust (check ssl.certificate.location)`;
    return explained("client_certificate_rejected", true, message);
  }
  if (
    /UNABLE_TO_VERIFY|unable to verify|self[- ]signed certificate|unable to get local issuer|certificate has expired|CERT_HAS_EXPIRED|CERT_NOT_YET_VALID|Hostname\/IP does not match|ERR_TLS_CERT_ALTNAME_INVALID|invalid peer certificate/i
      .test(text)
  ) {
    const detail = (probed === undefined ? undefined : describeCertificateError(probed)) ??
      reasonFrom(text);
    return explained(
      "untrusted_certificate",
      true,
      `The certificate of the Kafka broker at ${brokers} is not trusted: ${detail}. Check ssl.ca.location (the CA that signed the broker's certificate) and that the address matches the certificate`,
    );
  }
  if (
    /disconnected before secure TLS connection|wrong version number|unsupported protocol|packet length too long|InvalidContentType|CorruptMessage|EPROTO/i
      .test(text) ||
    (config.tls !== undefined && /unexpected end of file/i.test(probed ?? ""))
  ) {
    const message = config.tls === undefined
      ? `The connection to the Kafka broker at ${brokers} failed (${
        reasonFrom(text)
      }): check security.protocol and the port`
      : `The TLS handshake with the Kafka broker at ${brokers} failed (${
        reasonFrom(text)
      }): this listener probably does not use TLS; check security.protocol (${
        config.sasl === undefined ? "ssl" : "sasl_ssl"
      } here) and the port`;
    return explained("tls_mismatch", true, message);
  }
  // "Broker requires TLS": @platformatic/kafka's words when a TLS listener answers plaintext.
  if (
    /Closed connection|ECONNRESET|socket hang up|Connection closed|Broker requires TLS/i.test(text)
  ) {
    const first = options.firstConnection ?? true;
    const expected = config.tls === undefined
      ? " the listener may expect TLS (security.protocol ssl or sasl_ssl)" +
        (config.sasl === undefined ? " or SASL (sasl_plaintext)" : "")
      : " the listener may expect SASL (security.protocol sasl_ssl) or a client certificate";
    return explained(
      "connection_closed",
      first,
      `The Kafka broker at ${brokers} closed the connection before answering:${expected}; check security.protocol and the port`,
    );
  }
  if (
    /ECONNREFUSED|ENOTFOUND|ETIMEDOUT|EHOSTUNREACH|Connection timeout|getaddrinfo|refused/i.test(
      text,
    )
  ) {
    return explained(
      "unreachable",
      false,
      `No Kafka broker answers at ${brokers} (${reasonFrom(text)})`,
    );
  }
  return explained(
    "unknown",
    false,
    `The connection to Kafka at ${brokers} failed: ${reasonFrom(text)}`,
  );
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

const saslFailure =
  /SASL .*authentication failed|Authentication failed|invalid credentials|SASL_AUTHENTICATION_FAILED/i;

/** Every message and code in the error and its causes (kafkajs nests them as `originalError`). */
function errorText(error: unknown): string {
  const parts: string[] = [];
  const seen = new Set<unknown>();
  let current: unknown = error;
  while (current !== undefined && current !== null && !seen.has(current) && parts.length < 10) {
    seen.add(current);
    if (current instanceof Error) {
      parts.push(current.message);
      const { code, cause, originalError } = current as Error & {
        code?: unknown;
        originalError?: unknown;
      };
      if (typeof code === "string") parts.push(code);
      current = originalError ?? cause;
    } else {
      parts.push(String(current));
      break;
    }
  }
  return parts.join(" | ");
}

/** The innermost library reason, without kafkajs' wrappers. */
function reasonFrom(text: string): string {
  const first = text.split(" | ")[0];
  return first.replace(/^Kafka [\w ]+ failed: /, "").replace(/^Connection error: /, "");
}

function mechanismName(config: ClientConfig): string {
  return (config.sasl?.mechanism ?? "none").toUpperCase();
}

function scrub(text: string, secrets: readonly (string | undefined)[]): string {
  let result = text;
  for (const secret of secrets) {
    if (secret !== undefined && secret !== "") result = result.split(secret).join("[redacted]");
  }
  return result;
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
