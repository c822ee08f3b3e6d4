/**
 * Retries a produce call while the failure can heal (a broker restarting, a
 * leader moving), with exponential backoff and a log line per attempt.
 * Private to the Kafka connectors.
 *
 * @module
 */
import { KafkaClientError } from "./client.ts";
import type { Logger } from "../types.ts";

/** Options for {@linkcode retryWhileRetriable}. */
export interface RetryOptions {
  readonly logger: Logger;
  /** Who is retrying, for the log line (e.g. `kafka:sum`). */
  readonly name: string;
  /** Give up when the next attempt would start after this many milliseconds. */
  readonly retryForMs: number;
  /** First pause (default 500 ms); each later one doubles, up to 30 s. */
  readonly initialDelayMs?: number;
}

/** Runs `attempt` until it succeeds, fails for good, or `retryForMs` has passed. */
export async function retryWhileRetriable(
  attempt: () => Promise<void>,
  options: RetryOptions,
): Promise<void> {
  const deadline = Date.now() + options.retryForMs;
  let delayMs = options.initialDelayMs ?? 500;
  for (let attempts = 1;; attempts++) {
    try {
      return await attempt();
    } catch (error) {
      const retriable = error instanceof KafkaClientError && error.retriable;
      if (!retriable || Date.now() + delayMs > deadline) throw error;
      options.logger.warn("Kafka is unavailable; retrying", {
        connector: options.name,
        error: error.message,
        attempts,
        retryInMs: delayMs,
      });
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      delayMs = Math.min(delayMs * 2, 30_000);
    }
  }
}

/**
 * The Kafka errors (by name) on which a group offset lookup is asked again:
 * UNSTABLE_OFFSET_COMMIT, and a group coordinator that is loading its
 * partition or has moved (a broker just started or restarted). Error codes
 * 14, 15 and 16 under both their names: Kafka's (and @platformatic/kafka's)
 * and the older ones kafkajs uses.
 */
export const offsetLookupWaitsFor: readonly string[] = [
  "UNSTABLE_OFFSET_COMMIT",
  "COORDINATOR_LOAD_IN_PROGRESS",
  "GROUP_LOAD_IN_PROGRESS",
  "COORDINATOR_NOT_AVAILABLE",
  "GROUP_COORDINATOR_NOT_AVAILABLE",
  "NOT_COORDINATOR",
  "NOT_COORDINATOR_FOR_GROUP",
];

/**
 * Runs `lookup` again while its error is one `unstable` recognises: a group
 * offset lookup with `require_stable` that the broker answers with
 * UNSTABLE_OFFSET_COMMIT, because a transaction's offsets are pending (its
 * commit marker not applied by the group coordinator yet, or the transaction
 * still open), or one of the others in {@linkcode offsetLookupWaitsFor}.
 * Gives up after `waitForMs` (default 120 s, longer than a transaction's
 * default timeout of 60 s), throwing the last error.
 */
export async function untilOffsetsStable<T>(
  lookup: () => Promise<T>,
  unstable: (error: unknown) => boolean,
  waitForMs = 120_000,
): Promise<T> {
  const deadline = Date.now() + waitForMs;
  for (let delayMs = 50;; delayMs = Math.min(delayMs * 2, 1_000)) {
    try {
      return await lookup();
    } catch (error) {
      if (!unstable(error) || Date.now() + delayMs > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
}
