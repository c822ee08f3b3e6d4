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
import type { KafkaErrorClassification, KafkaErrorKind } from "../client.ts";
import { KafkaClientError } from "../client.ts";
import {
  kindOfText,
  memberFencedErrors,
  neverRetriable,
  scrubSecrets,
  settingFor,
  strongerKind,
} from "../error_classification.ts";

/** Replaces every secret in a text (a broker's message could echo one). */
export function scrub(text: string, secrets: readonly string[]): string {
  return scrubSecrets(text, secrets, "***");
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
  // A broker that has just restarted answers this until its metadata is loaded.
  "UNKNOWN_TOPIC_OR_PARTITION",
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
  // The library's own words for a topic its (possibly stale) metadata lacks,
  // as after a broker restart; Kafka calls that retriable too.
  if (all.some((e) => /^Unknown topic /.test(String(e.message)))) return true;
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

/** How a failed call's errors are read. */
export interface PlatformaticErrorContext {
  /**
   * The call was a transactional offset commit with the consumer group's
   * metadata: ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID and
   * STALE_MEMBER_EPOCH say the member was rebalanced out (kind `fenced`).
   */
  readonly memberChecked?: boolean;
}

/** What the library's own words and error codes say (the neutral words are read elsewhere). */
function platformaticKind(
  error: unknown,
  text: string,
  context: PlatformaticErrorContext,
): KafkaErrorKind {
  const ids = apiIds(error);
  if (ids.includes("PRODUCER_FENCED") || ids.includes("INVALID_PRODUCER_EPOCH")) return "fenced";
  if (context.memberChecked === true && ids.some((id) => memberFencedErrors.includes(id))) {
    return "fenced";
  }
  if (ids.includes("UNSUPPORTED_SASL_MECHANISM")) return "sasl_mechanism";
  if (ids.includes("SASL_AUTHENTICATION_FAILED")) return "authentication";
  if (ids.some((id) => id.endsWith("_AUTHORIZATION_FAILED"))) return "authorization";
  if (ids.includes("MESSAGE_TOO_LARGE") || ids.includes("RECORD_LIST_TOO_LARGE")) {
    return "too_large";
  }
  // A TLS listener answered a plaintext client: the library recognises the TLS
  // record. kafkajs only sees the connection closed; the explanation is the same.
  if (/Broker requires TLS/i.test(text)) return "connection_closed";
  if (/TLS handshake failed/i.test(text)) return "tls_mismatch";
  // The broker closed the connection before offering mechanisms (a SASL client
  // on a TLS port): the closed connection explains it, not the mechanism.
  if (/Cannot find a suitable SASL mechanism/i.test(text)) {
    return /Connection closed/i.test(text) ? "connection_closed" : "sasl_mechanism";
  }
  if (
    nestedErrors(error).some((e) => e.code === "PLT_KFK_AUTHENTICATION") ||
    /SASL authentication failed/i.test(text)
  ) {
    return "authentication";
  }
  if (/Connection to .* timed out/i.test(text)) return "unreachable";
  return "unknown";
}

/**
 * Classifies a @platformatic/kafka error: its kind (from the library's words
 * and protocol error codes, then the neutral words of the protocol, broker,
 * socket and TLS layers), the setting to check, the library's words as the
 * reason, and whether the call may be retried.
 */
export function classifyPlatformaticError(
  error: unknown,
  secrets: readonly string[],
  context: PlatformaticErrorContext = {},
): KafkaErrorClassification {
  const words = errorWords(error);
  const codes = nestedErrors(error).flatMap((e) =>
    [e.code, e.apiId].filter((c): c is string => typeof c === "string")
  );
  const text = scrub([words, ...codes].join(" | "), secrets);
  const neutral = kindOfText(text);
  const kind = strongerKind(platformaticKind(error, text, context), neutral.kind);
  const setting = settingFor(kind);
  return {
    kind,
    retriable: !neverRetriable.has(kind) && isRetriable(error),
    reason: scrub(words || String(error), secrets),
    ...(setting === undefined ? {} : { setting }),
    ...(kind === "client_certificate_rejected" && neutral.alert !== undefined
      ? { alert: neutral.alert }
      : {}),
  };
}

/**
 * Turns a @platformatic/kafka error into a {@linkcode KafkaClientError} with a
 * scrubbed message naming what failed and the neutral classification that
 * `connection_failure.ts` explains, the same for every client.
 */
export function clientError(
  what: string,
  error: unknown,
  secrets: readonly string[],
  context: PlatformaticErrorContext = {},
): KafkaClientError {
  if (error instanceof KafkaClientError) return error;
  // rivulet's own, raised inside the library (a TxnOffsetCommit a broker cannot take).
  const own = nestedErrors(error).find((e) => e instanceof KafkaClientError);
  if (own instanceof KafkaClientError) return own;
  const cause = error instanceof Error ? error : new Error(String(error));
  const classification = classifyPlatformaticError(cause, secrets, context);
  return new KafkaClientError(`Kafka ${what} failed: ${classification.reason}`, {
    ...classification,
    cause,
  });
}

/** Runs `run`; any failure becomes a classified {@linkcode KafkaClientError}. */
export async function guarded<T>(
  what: string,
  secrets: readonly string[],
  run: () => Promise<T>,
  context: PlatformaticErrorContext = {},
): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw clientError(what, error, secrets, context);
  }
}
