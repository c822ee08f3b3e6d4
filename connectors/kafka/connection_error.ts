/**
 * Connects a client part and, when that fails, rejects with a sentence a user
 * can act on (wrong password, untrusted certificate, nothing listening) from
 * `connection_failure.ts`. A first attempt without retries lets a failure that
 * retrying cannot heal stop a pipeline in milliseconds instead of after the
 * client's retries.
 *
 * @module
 */
import { explainConnectionFailure } from "./connection_failure.ts";
import type { ConnectionFailureKind } from "./connection_failure.ts";
import type { ClientConfig } from "./config.ts";
import { KafkaClientError } from "./client.ts";

/** A connection to Kafka failed; the message names the cause and never a secret. */
export class KafkaConnectionError extends Error {
  /** What went wrong (see {@linkcode ConnectionFailureKind}). */
  readonly kind: ConnectionFailureKind;
  /** True when retrying cannot help (credentials, certificates, protocol). */
  readonly fatal: boolean;
  /**
   * Creates the error.
   *
   * @param message the explanation, without secrets
   * @param kind what went wrong
   * @param fatal whether retrying cannot help
   * @param options the client's own error, for debugging
   */
  constructor(
    message: string,
    kind: ConnectionFailureKind,
    fatal: boolean,
    options?: { readonly cause?: unknown },
  ) {
    super(message, options);
    this.name = "KafkaConnectionError";
    this.kind = kind;
    this.fatal = fatal;
  }
}

/**
 * Runs `connect`; a client's failure (a {@linkcode KafkaClientError}) becomes a
 * {@linkcode KafkaConnectionError}. Any other error passes through unchanged:
 * one that already is explained, or one that is not about the connection
 * (a client that cannot be loaded).
 *
 * @example
 * ```ts ignore
 * await connectExplained(() => admin.connect(), config);
 * ```
 */
export async function connectExplained(
  connect: () => Promise<void>,
  config: ClientConfig,
): Promise<void> {
  try {
    await connect();
  } catch (error) {
    if (!(error instanceof KafkaClientError)) throw error;
    const failure = await explainConnectionFailure(error, { config });
    throw new KafkaConnectionError(failure.message, failure.kind, failure.fatal, { cause: error });
  }
}

/** Options for {@linkcode firstConnection}. */
export interface FirstConnectionOptions {
  /** One connection attempt that the client does not retry; it cleans up after itself. */
  readonly attempt: () => Promise<void>;
  /** The configuration the attempt used, to explain its failure. */
  readonly config: ClientConfig;
}

/**
 * Makes one connection attempt without retries, before a client's first real
 * connection. Resolves true when it connected. A failure that retrying cannot
 * heal (credentials, certificates, a protocol mismatch) rejects at once with a
 * {@linkcode KafkaConnectionError}; one that may heal (nothing listening yet)
 * resolves false, leaving it to the real connection to retry with backoff.
 *
 * @example
 * ```ts ignore
 * if (!(await firstConnection({ attempt: connectWithoutRetries, config }))) {
 *   // The broker may be starting: connect with retries as usual.
 * }
 * ```
 */
export async function firstConnection(options: FirstConnectionOptions): Promise<boolean> {
  try {
    await options.attempt();
    return true;
  } catch (error) {
    const failure = await explainConnectionFailure(error, { config: options.config });
    if (!failure.fatal) return false;
    throw new KafkaConnectionError(failure.message, failure.kind, true, { cause: error });
  }
}
