/**
 * Classifies @platformatic/kafka's errors the way the kafkajs adapter does: a
 * {@linkcode KafkaClientError} whose `retriable` says whether the same call
 * may succeed later, with a message naming what failed and no secret in it.
 *
 * @platformatic/kafka marks each error with `canRetry` (network errors,
 * timeouts and the protocol errors Kafka documents as retriable) and nests
 * them (`MultipleErrors.errors`, `cause`); an authentication failure is an
 * `AuthenticationError` (`PLT_KFK_AUTHENTICATION`), never retriable.
 *
 * @module
 */
import { KafkaClientError } from "../client.ts";

/** Replaces every secret in a text (a broker's message could echo one). */
export function scrub(text: string, secrets: readonly string[]): string {
  let result = text;
  for (const secret of secrets) {
    if (secret !== "") result = result.split(secret).join("***");
  }
  return result;
}

interface PlatformaticErrorShape {
  readonly code?: unknown;
  readonly apiId?: unknown;
  readonly canRetry?: unknown;
  readonly needsRejoin?: unknown;
  readonly errors?: unknown;
  readonly cause?: unknown;
  readonly message?: unknown;
}

/** The error and every error nested in it (depth first, bounded). */
export function nestedErrors(error: unknown): PlatformaticErrorShape[] {
  const found: PlatformaticErrorShape[] = [];
  const visit = (inner: unknown, depth: number) => {
    if (depth > 8 || inner === null || typeof inner !== "object") return;
    const shaped = inner as PlatformaticErrorShape;
    found.push(shaped);
    if (Array.isArray(shaped.errors)) { for (const e of shaped.errors) visit(e, depth + 1); }
    if (shaped.cause !== undefined) visit(shaped.cause, depth + 1);
  };
  visit(error, 0);
  return found;
}

// Kafka protocol errors a broker restart or a moving leader heals, which the
// library does not mark as retriable: the group coordinator moved or is
// loading, or the member must rejoin after a rebalance.
const healingApiIds: ReadonlySet<string> = new Set([
  "COORDINATOR_NOT_AVAILABLE",
  "COORDINATOR_LOAD_IN_PROGRESS",
  "NOT_COORDINATOR",
  "REBALANCE_IN_PROGRESS",
  "NOT_ENOUGH_REPLICAS",
  "NOT_ENOUGH_REPLICAS_AFTER_APPEND",
  "REQUEST_TIMED_OUT",
  "NETWORK_EXCEPTION",
  "LEADER_NOT_AVAILABLE",
  "NOT_LEADER_OR_FOLLOWER",
]);

// Failures retrying never heals, whatever else is nested beside them.
const fatalCodes: ReadonlySet<string> = new Set([
  "PLT_KFK_AUTHENTICATION",
  "PLT_KFK_UNSUPPORTED_API",
  "PLT_KFK_UNSUPPORTED",
  "PLT_KFK_UNSUPPORTED_COMPRESSION",
  "PLT_KFK_UNSUPPORTED_FORMAT",
]);
const fatalApiIds: ReadonlySet<string> = new Set([
  "SASL_AUTHENTICATION_FAILED",
  "UNSUPPORTED_SASL_MECHANISM",
  "ILLEGAL_SASL_STATE",
  "TOPIC_AUTHORIZATION_FAILED",
  "GROUP_AUTHORIZATION_FAILED",
  "CLUSTER_AUTHORIZATION_FAILED",
  "TRANSACTIONAL_ID_AUTHORIZATION_FAILED",
  "MESSAGE_TOO_LARGE",
  "RECORD_LIST_TOO_LARGE",
  "INVALID_RECORD",
  "PRODUCER_FENCED",
  "INVALID_PRODUCER_EPOCH",
  "TRANSACTIONAL_ID_NOT_FOUND",
  "INVALID_TXN_STATE",
]);

/**
 * Whether the failure can heal: nothing in it is fatal (credentials,
 * authorization, a record too large, a fenced producer) and something in it
 * says a retry may succeed (network, timeout, a retriable protocol error).
 */
export function isRetriable(error: unknown): boolean {
  const all = nestedErrors(error);
  if (all.some((e) => fatalCodes.has(String(e.code)) || fatalApiIds.has(String(e.apiId)))) {
    return false;
  }
  if (all.some((e) => /certificate|self[- ]signed|SSL|TLS|handshake/i.test(String(e.message)))) {
    // A TLS verification or handshake failure never heals by retrying.
    return false;
  }
  return all.some((e) =>
    e.canRetry === true || e.needsRejoin === true || healingApiIds.has(String(e.apiId)) ||
    e.code === "PLT_KFK_NETWORK" || e.code === "PLT_KFK_TIMEOUT"
  );
}

/** The protocol error identifiers (`MESSAGE_TOO_LARGE`, ...) anywhere in the error. */
export function apiIds(error: unknown): string[] {
  return nestedErrors(error).map((e) => e.apiId).filter((id): id is string =>
    typeof id === "string"
  );
}

/**
 * The error's own words and those of every nested error, one sentence each,
 * without repeats: @platformatic/kafka often says "joinGroup failed 4 times."
 * at the top and the reason only inside.
 */
export function errorWords(error: unknown): string {
  const words: string[] = [];
  for (const e of nestedErrors(error)) {
    const message = typeof e.message === "string" ? e.message.trim() : "";
    if (message !== "" && !words.includes(message)) words.push(message);
  }
  return words.join(" ");
}

/**
 * Turns a @platformatic/kafka error into a {@linkcode KafkaClientError} with a
 * scrubbed message naming what failed. The cause stays attached so that
 * `connection_failure.ts` can read the nested words.
 */
export function clientError(
  what: string,
  error: unknown,
  secrets: readonly string[],
): KafkaClientError {
  if (error instanceof KafkaClientError) return error;
  const cause = error instanceof Error ? error : new Error(String(error));
  const message = scrub(errorWords(cause) || cause.name, secrets);
  return new KafkaClientError(`Kafka ${what} failed: ${message}`, {
    retriable: isRetriable(cause),
    cause,
  });
}

/** Runs `run`; any failure becomes a classified {@linkcode KafkaClientError}. */
export async function guarded<T>(
  what: string,
  secrets: readonly string[],
  run: () => Promise<T>,
): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw clientError(what, error, secrets);
  }
}
