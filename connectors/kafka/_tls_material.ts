/**
 * Checks of TLS material before connecting: a CA file holds certificates, a
 * client certificate is valid now, its key decrypts and belongs to it. Each
 * problem is a {@linkcode SettingsError} that names the key and the file, so a
 * bad file is reported at start-up rather than as an obscure handshake failure.
 * Private to `connectors/kafka/`.
 *
 * @module
 */
import { createPrivateKey, type KeyObject, X509Certificate } from "node:crypto";
import { SettingsError } from "./_settings_error.ts";

/** PEM text with where it came from, for messages. */
export interface PemMaterial {
  /** The setting it came from, e.g. `ssl.ca.location`. */
  readonly key: string;
  readonly text: string;
  /** How a message names it: `file "/etc/ca.pem"` or `the inline value`. */
  readonly origin: string;
}

const certificateBlock = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Parses every certificate in the PEM text; at least one must be there. */
export function parseCertificates(material: PemMaterial): X509Certificate[] {
  const blocks = material.text.match(certificateBlock) ?? [];
  if (blocks.length === 0) {
    throw new SettingsError(
      material.key,
      `names ${material.origin}, which holds no PEM certificate`,
    );
  }
  return blocks.map((block) => {
    try {
      return new X509Certificate(block);
    } catch (error) {
      throw new SettingsError(
        material.key,
        `names ${material.origin}, which holds a certificate that cannot be parsed (${
          messageOf(error)
        })`,
      );
    }
  });
}

/** Options for {@linkcode checkClientIdentity}. */
export interface ClientIdentity {
  readonly certificate: PemMaterial;
  readonly key: PemMaterial;
  /** `ssl.key.password`; a secret, never shown. */
  readonly keyPassword?: string;
  readonly now: Date;
}

/**
 * Checks a mutual-TLS client identity: the certificate is valid now, the key
 * decrypts with the password and belongs to the certificate.
 */
export function checkClientIdentity(identity: ClientIdentity): void {
  const [leaf] = parseCertificates(identity.certificate);
  const { certificate } = identity;
  const validFrom = new Date(leaf.validFrom);
  const validTo = new Date(leaf.validTo);
  if (identity.now > validTo) {
    throw new SettingsError(
      certificate.key,
      `names ${certificate.origin}, whose certificate expired on ${validTo.toISOString()}`,
    );
  }
  if (identity.now < validFrom) {
    throw new SettingsError(
      certificate.key,
      `names ${certificate.origin}, whose certificate is not valid before ${validFrom.toISOString()}`,
    );
  }
  const privateKey = decryptKey(identity.key, identity.keyPassword);
  if (!leaf.checkPrivateKey(privateKey)) {
    throw new SettingsError(
      identity.key.key,
      `names ${identity.key.origin}, a key that does not belong to the certificate in ${certificate.origin}`,
    );
  }
}

function decryptKey(material: PemMaterial, password: string | undefined): KeyObject {
  const encrypted = /-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(
    material.text,
  );
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(material.text)) {
    throw new SettingsError(
      material.key,
      `names ${material.origin}, which holds no PEM private key`,
    );
  }
  if (encrypted && password === undefined) {
    throw new SettingsError(
      "ssl.key.password",
      `is required: the key in ${material.origin} is encrypted`,
    );
  }
  try {
    return createPrivateKey(
      encrypted ? { key: material.text, passphrase: password } : { key: material.text },
    );
  } catch (error) {
    if (encrypted) {
      // The library's reason says nothing useful and the password is a secret.
      throw new SettingsError("ssl.key.password", `does not decrypt the key in ${material.origin}`);
    }
    throw new SettingsError(
      material.key,
      `names ${material.origin}, whose private key cannot be parsed (${messageOf(error)})`,
    );
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
