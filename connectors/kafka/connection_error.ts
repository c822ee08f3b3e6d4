/**
 * Connects a client part and, when that fails, rejects with a sentence a user
 * can act on (wrong password, untrusted certificate, nothing listening) from
 * `connection_failure.ts`.
 *
 * @module
 */
import { explainConnectionFailure } from "./connection_failure.ts";
import type { ConnectionFailureKind } from "./connection_failure.ts";
import type { ClientConfig } from "./config.ts";

/** A connection to Kafka failed; the message names the cause and never a secret. */
export class KafkaConnectionError extends Error {
  readonly kind: ConnectionFailureKind;
  /** True when retrying cannot help (credentials, certificates, protocol). */
  readonly fatal: boolean;
  constructor(message: string, kind: ConnectionFailureKind, fatal: boolean) {
    super(message);
    this.name = "KafkaConnectionError";
    this.kind = kind;
    this.fatal = fatal;
  }
}

/** Runs `connect`; a failure becomes a {@linkcode KafkaConnectionError}. */
export async function connectExplained(
  connect: () => Promise<void>,
  config: ClientConfig,
): Promise<void> {
  try {
    await connect();
  } catch (error) {
    const failure = await explainConnectionFailure(error, { config });
    throw new KafkaConnectionError(failure.message, failure.kind, failure.fatal);
  }
}
