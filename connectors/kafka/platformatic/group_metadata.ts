/**
 * The consumer group metadata of KIP-447 on @platformatic/kafka: what the
 * library does not expose or check itself.
 *
 * - A KIP-848 member's epoch (its generation under `group.protocol=consumer`)
 *   is private to the library's consumer; {@linkcode recordMemberEpochs}
 *   reads it from each ConsumerGroupHeartbeat answer, as the library does.
 * - The library sends a transaction's offsets with TxnOffsetCommit at the
 *   highest version the broker and it share, and versions before 3 drop the
 *   generation and member silently: {@linkcode checkMemberOffsetCommits}
 *   refuses a commit that carries a member to a broker that cannot check it
 *   (before Kafka 2.5), and fills in the member's group instance id, which
 *   the library always sends as null.
 *
 * Both wrap the API functions the library's private `[kGetApi]` hands out,
 * as `fetch_aborted.ts` does for Fetch.
 *
 * @module
 */
import { KafkaClientError } from "../client.ts";
import { getApiSymbol } from "./produce_request.ts";

type ApiFunction = ((connection: unknown, ...args: unknown[]) => void) & {
  key: number;
  version: number;
};
type GetApi = (name: string, callback: (error: unknown, api?: ApiFunction) => void) => void;

/**
 * Replaces the API function `name` that `client`'s private `[kGetApi]` hands
 * out by `wrap(original)` (made once per original). False, changing nothing,
 * when this version of the library lacks the hook.
 */
function wrapApi(
  client: object,
  name: string,
  wrap: (original: ApiFunction) => (connection: unknown, ...args: unknown[]) => void,
): boolean {
  const symbol = getApiSymbol(client);
  if (symbol === undefined) return false;
  const target = client as unknown as Record<symbol, GetApi>;
  const getApi = target[symbol];
  if (typeof getApi !== "function") return false;
  const wrapped = new Map<ApiFunction, ApiFunction>();
  target[symbol] = function (this: unknown, requested, callback) {
    if (requested !== name) return getApi.call(this, requested, callback);
    getApi.call(this, requested, (error, api) => {
      if (error || api === undefined) {
        callback(error, api);
        return;
      }
      let replacement = wrapped.get(api);
      if (replacement === undefined) {
        replacement = Object.assign(wrap(api), { key: api.key, version: api.version });
        wrapped.set(api, replacement);
      }
      callback(null, replacement);
    });
  };
  return true;
}

/** Splits the trailing callback off a library API call's arguments. */
function withCallback(
  args: unknown[],
): [unknown[], (error: unknown, response?: unknown) => void] {
  const done = typeof args.at(-1) === "function"
    ? args.pop() as (error: unknown, response?: unknown) => void
    : () => {};
  return [args, done];
}

/**
 * Calls `record(memberEpoch, memberId)` with every successful
 * ConsumerGroupHeartbeat answer `consumer` gets (KIP-848), before the library
 * applies the assignment it carries. Returns false when the hook is missing.
 */
export function recordMemberEpochs(
  consumer: object,
  record: (memberEpoch: number, memberId: string | undefined) => void,
): boolean {
  return wrapApi(consumer, "ConsumerGroupHeartbeat", (original) => (connection, ...rest) => {
    const [args, done] = withCallback(rest);
    original(connection, ...args, (error: unknown, response?: unknown) => {
      if (!error && response !== undefined) {
        const { memberEpoch, memberId } = response as { memberEpoch?: unknown; memberId?: unknown };
        if (typeof memberEpoch === "number" && memberEpoch >= 0) {
          record(
            memberEpoch,
            typeof memberId === "string" && memberId !== "" ? memberId : undefined,
          );
        }
      }
      done(error, response);
    });
  });
}

/** The first TxnOffsetCommit version with the member's generation (KIP-447, Kafka 2.5). */
export const memberCheckedTxnOffsetCommitVersion = 3;

// The library calls TxnOffsetCommit with (transactional id, group, producer id, producer epoch,
// generation, member, group instance id, topics, callback).
const generationArg = 4;
const memberArg = 5;
const instanceArg = 6;

/**
 * Makes `producer`'s transactional offset commits that carry a member
 * (generation >= 0 or a member id) fail with a non-retriable
 * {@linkcode KafkaClientError} on a broker whose newest TxnOffsetCommit is
 * older than v3, instead of going out without the member; and sends the
 * group instance id `instanceIds` holds for the group and member. Returns
 * false when the hook is missing (the library alone then decides).
 */
export function checkMemberOffsetCommits(
  producer: object,
  instanceIds: ReadonlyMap<string, string>,
): boolean {
  return wrapApi(producer, "TxnOffsetCommit", (original) => (connection, ...rest) => {
    const [args, done] = withCallback(rest);
    const generationId = args[generationArg];
    const memberId = args[memberArg];
    const withMember = (typeof generationId === "number" && generationId >= 0) ||
      (typeof memberId === "string" && memberId !== "");
    if (withMember && original.version < memberCheckedTxnOffsetCommitVersion) {
      done(
        new KafkaClientError(
          `Kafka transactional offset commit failed: the broker's newest TxnOffsetCommit is v${original.version}, ` +
            `which cannot carry the consumer group's generation (v${memberCheckedTxnOffsetCommitVersion}, Kafka 2.5 and later, KIP-447)`,
          { retriable: false, reason: `TxnOffsetCommit v${original.version} has no generation` },
        ),
      );
      return;
    }
    const instanceId = withMember
      ? instanceIds.get(memberKey(String(args[1]), String(memberId)))
      : undefined;
    if (instanceId !== undefined) args[instanceArg] = instanceId;
    original(connection, ...args, done);
  });
}

/** The key of a group's member in the map {@linkcode checkMemberOffsetCommits} reads. */
export function memberKey(groupId: string, memberId: string): string {
  return `${groupId}\u0000${memberId}`;
}
