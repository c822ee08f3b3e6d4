/**
 * Keeps @platformatic/kafka from filtering aborted transactions itself: the
 * adapter's `toBatch` does it, as Kafka's Java client does.
 *
 * Why: the library (2.12.1, `Consumer#filterUncommittedMessages`, run on
 * every read_committed fetch) makes one range per producer id, from the
 * aborted transaction's first offset to the *last* ABORT marker of that
 * producer in the response, and drops every batch of the producer in it:
 * data, COMMIT markers and the first ABORT marker included. A restarted
 * transactional id keeps its producer id (only the epoch grows), so when one
 * fetch response holds two aborted transactions of the same id with committed
 * transactions between them (a pipeline killed twice), all those committed
 * transactions were dropped. That lost the changelog records of every process
 * between two kills, and exactly-once restored a state older than the
 * group's committed offsets (the crash test's `StaleStateError`).
 *
 * How: the Fetch API function the library gets is wrapped so that each
 * partition's `abortedTransactions` is moved to {@linkcode abortedTransactionsOf}'s
 * key before the library sees the response; the library then finds none to
 * filter, and the adapter reads them from there.
 *
 * @module
 */
import type { Consumer as PlatformaticConsumer } from "@platformatic/kafka";
import { getApiSymbol } from "./produce_request.ts";

/** An aborted transaction as a Fetch response lists it. */
export interface AbortedTransaction {
  readonly producerId: bigint;
  readonly firstOffset: bigint;
}

/** Where a partition's aborted transactions are kept, out of the library's sight. */
const abortedKey = Symbol("rivulet.abortedTransactions");

type FetchApi = ((connection: unknown, ...args: unknown[]) => void) & {
  key: number;
  version: number;
};
type GetApi = (name: string, callback: (error: unknown, api?: FetchApi) => void) => void;

interface FetchedPartitionShape {
  abortedTransactions?: AbortedTransaction[] | null;
  [abortedKey]?: readonly AbortedTransaction[];
}

/** A partition's aborted transactions from a fetch through a consumer {@linkcode keepAbortedTransactions} wrapped. */
export function abortedTransactionsOf(partition: object): readonly AbortedTransaction[] {
  const shape = partition as FetchedPartitionShape;
  return shape[abortedKey] ?? shape.abortedTransactions ?? [];
}

/** Moves each partition's aborted transactions out of the library's sight. */
function hideAborted(response: unknown): void {
  const responses = (response as { responses?: { partitions?: FetchedPartitionShape[] }[] })
    ?.responses;
  if (!Array.isArray(responses)) return;
  for (const topic of responses) {
    for (const partition of topic.partitions ?? []) {
      const aborted = partition.abortedTransactions;
      if (aborted === undefined || aborted === null) continue;
      partition[abortedKey] = aborted;
      partition.abortedTransactions = [];
    }
  }
}

/**
 * Wraps `consumer`'s Fetch API so that the library does not filter aborted
 * transactions (see the module's comment). Returns false, changing nothing,
 * when this version of the library lacks the hook; `toBatch` still filters
 * then, but the library's own filter runs first.
 */
export function keepAbortedTransactions(consumer: PlatformaticConsumer): boolean {
  const symbol = getApiSymbol(consumer);
  if (symbol === undefined) return false;
  const target = consumer as unknown as Record<symbol, GetApi>;
  const getApi = target[symbol];
  if (typeof getApi !== "function") return false;
  const wrapped = new Map<FetchApi, FetchApi>();
  target[symbol] = function (this: unknown, name, callback) {
    if (name !== "Fetch") return getApi.call(this, name, callback);
    getApi.call(this, name, (error, api) => {
      if (error || api === undefined) {
        callback(error, api);
        return;
      }
      let replacement = wrapped.get(api);
      if (replacement === undefined) {
        const original = api;
        replacement = Object.assign((connection: unknown, ...args: unknown[]) => {
          const done = typeof args.at(-1) === "function"
            ? args.pop() as (error: unknown, response?: unknown) => void
            : () => {};
          original(connection, ...args, (error: unknown, response?: unknown) => {
            hideAborted(response);
            done(error, response);
          });
        }, { key: original.key, version: original.version });
        wrapped.set(api, replacement);
      }
      callback(null, replacement);
    });
  };
  return true;
}
