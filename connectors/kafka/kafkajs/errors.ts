/**
 * kafkajs' errors in rivulet's neutral terms: walks kafkajs' chain of causes
 * (a `KafkaJSNumberOfRetriesExceeded` around a `KafkaJSConnectionError` around
 * the socket's error), reads kafkajs' own words and error names, lets
 * `error_classification.ts` read the protocol, broker, socket and TLS words,
 * and decides whether retrying can help by kafkajs' own rule. The result is a
 * {@linkcode KafkaClientError} whose classification `connection_failure.ts`
 * turns into the message a user sees, the same for every client.
 *
 * @example
 * ```ts ignore
 * try {
 *   await producer.sendBatch(request);
 * } catch (error) {
 *   throw kafkajsClientError("produce request", error, secrets);
 * }
 * ```
 *
 * @module
 */
import type { KafkaErrorClassification, KafkaErrorKind } from "../client.ts";
import { KafkaClientError } from "../client.ts";
import {
  kindOfText,
  mentionsMemberFencing,
  neverRetriable,
  scrubSecrets,
  settingFor,
  strongerKind,
} from "../error_classification.ts";

/** How a failed call's errors are read. */
export interface KafkajsErrorContext {
  /**
   * The call was a transactional offset commit with the consumer group's
   * metadata: ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID and
   * STALE_MEMBER_EPOCH say the member was rebalanced out (kind `fenced`).
   */
  readonly memberChecked?: boolean;
}

/** Turns a kafkajs error into a {@linkcode KafkaClientError} with a scrubbed message naming what failed. */
export function kafkajsClientError(
  what: string,
  error: unknown,
  secrets: readonly string[],
  context: KafkajsErrorContext = {},
): KafkaClientError {
  // rivulet's own (a TxnOffsetCommit v3 a broker cannot take), thrown inside kafkajs.
  if (error instanceof KafkaClientError) return error;
  const cause = error instanceof Error ? error : new Error(String(error));
  const classification = classifyKafkajsError(cause, secrets, context);
  // The cause stays attached for debugging: kafkajs never puts a secret in one.
  return new KafkaClientError(
    `Kafka ${what} failed: ${scrubSecrets(cause.message, secrets, "***")}`,
    {
      ...classification,
      cause,
    },
  );
}

/**
 * Classifies a kafkajs error: its kind (from kafkajs' words and error names,
 * then the neutral words of the protocol, broker, socket and TLS layers), the
 * setting to check, the outermost message as the reason, and whether the
 * call may be retried.
 */
export function classifyKafkajsError(
  error: unknown,
  secrets: readonly string[],
  context: KafkajsErrorContext = {},
): KafkaErrorClassification {
  const chain = causes(error);
  const text = scrubSecrets(chain.flatMap(wordsOf).join(" | "), secrets, "***");
  const neutral = kindOfText(text);
  const fencedMember = context.memberChecked === true && mentionsMemberFencing(text);
  const kind = strongerKind(fencedMember ? "fenced" : kafkajsKind(chain, text), neutral.kind);
  const first = chain[0];
  const message = first instanceof Error ? first.message : String(first);
  const reason = scrubSecrets(message, secrets, "***").replace(/^Connection error: /, "");
  const setting = settingFor(kind);
  return {
    kind,
    retriable: !neverRetriable.has(kind) && kafkajsRetriable(chain),
    reason,
    ...(setting === undefined ? {} : { setting }),
    ...(kind === "client_certificate_rejected" && neutral.alert !== undefined
      ? { alert: neutral.alert }
      : {}),
  };
}

/** The error and its causes, outermost first (kafkajs nests them as `cause`; older code as `originalError`). */
function causes(error: unknown): unknown[] {
  const chain: unknown[] = [];
  const seen = new Set<unknown>();
  let current: unknown = error;
  while (current !== undefined && current !== null && !seen.has(current) && chain.length < 10) {
    seen.add(current);
    chain.push(current);
    if (!(current instanceof Error)) break;
    const { cause, originalError } = current as Error & { originalError?: unknown };
    current = originalError ?? cause;
  }
  return chain;
}

/** A link's message, the socket's code and the protocol error's name (`SASL_AUTHENTICATION_FAILED`). */
function wordsOf(link: unknown): string[] {
  if (!(link instanceof Error)) return [String(link)];
  const words = [link.message];
  const { code, type } = link as Error & { code?: unknown; type?: unknown };
  if (typeof code === "string") words.push(code);
  if (typeof type === "string") words.push(type);
  return words;
}

/** What kafkajs' own words and error names say (the neutral words are read elsewhere). */
function kafkajsKind(chain: readonly unknown[], text: string): KafkaErrorKind {
  if (/mechanism is not supported by the server|Unsupported SASL mechanism/i.test(text)) {
    return "sasl_mechanism";
  }
  if (/SASL .*authentication failed/i.test(text)) return "authentication";
  const names = chain.map((link) => (link as { name?: unknown }).name);
  if (names.includes("KafkaJSConnectionClosedError") || /Closed connection/.test(text)) {
    return "connection_closed";
  }
  if (/Connection timeout/.test(text)) return "unreachable";
  return "unknown";
}

// kafkajs' own rule (consumer restarts): its retries ran out on an error that
// could heal, or the innermost error says it can.
function kafkajsRetriable(chain: readonly unknown[]): boolean {
  const first = chain[0] as { name?: unknown } | undefined;
  if (first?.name === "KafkaJSNumberOfRetriesExceeded") return true;
  if (chain.some((link) => healingErrors.has((link as { name?: unknown }).name as string))) {
    return true;
  }
  return (chain.at(-1) as { retriable?: unknown } | undefined)?.retriable === true;
}

// Errors kafkajs calls non-retriable that a broker restart heals: its own lookup of the group
// coordinator (or of a lock) ran out of time while the broker was away.
const healingErrors: ReadonlySet<string> = new Set([
  "KafkaJSGroupCoordinatorNotFound",
  "KafkaJSLockTimeout",
  "KafkaJSTimeout",
]);
