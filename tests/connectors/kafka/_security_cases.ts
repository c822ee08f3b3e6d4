/**
 * The security suite's failing connections (tests/security/connection_test.ts),
 * for the client contract: each case connects an admin of the client under
 * test with wrong settings and returns the explanation, so the contract can
 * check that every client's failure is classified the same way.
 *
 * @module
 */
import { explainConnectionFailure } from "../../../connectors/kafka/connection_failure.ts";
import type { ConnectionFailureKind } from "../../../connectors/kafka/connection_failure.ts";
import { translateSettings } from "../../../connectors/kafka/settings.ts";
import type { ClientFactory } from "./contract.ts";
import { type SecureBroker, startSecureBroker } from "../../security/_secure_broker.ts";

export { startSecureBroker };

/** One failing connection and what its explanation must say. */
export interface SecurityFailureCase {
  readonly title: string;
  readonly kind: ConnectionFailureKind;
  readonly message: RegExp;
  /** Strings that must not appear in the error, its explanation or its inspection. */
  readonly secrets: readonly string[];
  /** Connects with the client the factory makes; resolves with the explanation and all output. */
  connect(factory: ClientFactory): Promise<
    { kind: ConnectionFailureKind; fatal: boolean; message: string; output: string }
  >;
}

const noEnv = { env: () => undefined };
const hangGuardMs = 60_000;

/** The cases, on a running secure broker. */
export function securityFailureCases(b: SecureBroker): SecurityFailureCase[] {
  const secrets = [b.secrets.password, b.secrets.keyPassword];
  const make = (
    title: string,
    settings: Record<string, string>,
    kind: ConnectionFailureKind,
    message: RegExp,
    extraSecrets: readonly string[] = [],
  ): SecurityFailureCase => ({
    title,
    kind,
    message,
    secrets: [...secrets, ...extraSecrets],
    connect: async (factory) => {
      const { config } = translateSettings(settings, noEnv);
      const admin = factory(config).admin();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const guard = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${title}: hung`)), hangGuardMs);
      });
      let error: unknown;
      try {
        error = await Promise.race([admin.connect().then(() => undefined, (e) => e), guard]);
      } finally {
        clearTimeout(timer);
        await admin.disconnect().catch(() => {});
      }
      if (!(error instanceof Error)) throw new Error(`${title}: the connection did not fail`);
      const failure = await explainConnectionFailure(error, { config });
      const output = [
        error.message,
        error.stack ?? "",
        Deno.inspect(error, { depth: 10 }),
        failure.message,
      ]
        .join("\n");
      return { ...failure, output };
    },
  });
  const wrongScram = "Wrong-Pass-8812-not-this-one";
  const wrongPlain = "Wrong-Plain-5521-not-this-one";
  const { "ssl.key.password": _unused, ...mutualTls } = b.settings("mutual_tls");
  return [
    make(
      "a wrong SCRAM password over TLS",
      { ...b.settings("scram_over_tls"), "sasl.password": wrongScram },
      "authentication",
      /refused SASL SCRAM-SHA-256 authentication as "alice"/,
      [wrongScram],
    ),
    make(
      "a wrong PLAIN password",
      { ...b.settings("sasl_plain"), "sasl.password": wrongPlain },
      "authentication",
      /refused SASL PLAIN authentication as "alice"/,
      [wrongPlain],
    ),
    make(
      "an unknown SCRAM-SHA-512 user",
      { ...b.settings("scram_sha_512"), "sasl.username": "mallory" },
      "authentication",
      /SCRAM-SHA-512 authentication as "mallory"/,
    ),
    make(
      "a CA that did not sign the broker's certificate",
      { ...b.settings("scram_over_tls"), "ssl.ca.location": `${b.dir}/other-ca.pem` },
      "untrusted_certificate",
      /not signed by a CA that rivulet trusts.*ssl\.ca\.location/,
    ),
    make(
      "an expired broker certificate",
      { ...b.settings("tls"), "bootstrap.servers": `127.0.0.1:${b.ports.expiredCertificate}` },
      "untrusted_certificate",
      /expired on 2020-01-02T00:00:00\.000Z/,
    ),
    make(
      "a plaintext client on the TLS listener",
      { "bootstrap.servers": `127.0.0.1:${b.ports.ssl}` },
      "connection_closed",
      /may expect TLS.*check security\.protocol/,
    ),
    make(
      "a SASL client without TLS on the SASL_SSL listener",
      { ...b.settings("scram_sha_256"), "bootstrap.servers": `127.0.0.1:${b.ports.saslSsl}` },
      "connection_closed",
      /security\.protocol/,
    ),
    make(
      "a TLS client on the plaintext listener",
      { ...b.settings("scram_over_tls"), "bootstrap.servers": `127.0.0.1:${b.ports.plaintext}` },
      "tls_mismatch",
      /does not use TLS; check security\.protocol/,
    ),
    make(
      "the mutual-TLS listener and a client without a certificate",
      { ...b.settings("tls"), "bootstrap.servers": `127.0.0.1:${b.ports.mutualTls}` },
      "client_certificate_rejected",
      /requires a client certificate.*ssl\.certificate\.location/,
    ),
    make(
      "the mutual-TLS listener and a certificate from another CA",
      {
        ...mutualTls,
        "ssl.certificate.location": `${b.dir}/other-client-cert.pem`,
        "ssl.key.location": `${b.dir}/other-client-key.pem`,
      },
      "client_certificate_rejected",
      /rejected rivulet's client certificate/,
    ),
  ];
}
