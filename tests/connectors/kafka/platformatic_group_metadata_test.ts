/**
 * What the platformatic adapter adds around the library's TxnOffsetCommit and
 * ConsumerGroupHeartbeat calls (group_metadata.ts), on a stand-in for the
 * library's private API lookup: a commit carrying a member is refused on a
 * broker without v3 instead of going out without it, carries the member's
 * group instance id, and a KIP-848 member's epoch is read from heartbeats.
 * The contract (contract.ts) runs the library itself against a real broker.
 */
import assert from "node:assert/strict";
import {
  checkMemberOffsetCommits,
  memberKey,
  recordMemberEpochs,
} from "../../../connectors/kafka/platformatic/group_metadata.ts";
import { KafkaClientError } from "../../../connectors/kafka/client.ts";

type Callback = (error: unknown, response?: unknown) => void;

/** A stand-in client whose private `[kGetApi]` hands out one API function of `version`. */
function fakeClient(name: string, version: number, answer: unknown = { ok: true }) {
  const calls: unknown[][] = [];
  const api = Object.assign((_connection: unknown, ...args: unknown[]) => {
    const done = args.pop() as Callback;
    calls.push(args);
    done(null, answer);
  }, { key: 28, version });
  const client = {
    [Symbol("plt.kafka.base.getApi")](requested: string, callback: Callback) {
      callback(requested === name ? null : new Error(`no ${requested}`), api);
    },
  };
  const getApi = (requested: string) =>
    new Promise<(connection: unknown, ...args: unknown[]) => void>((resolve, reject) => {
      const symbol = Object.getOwnPropertySymbols(client)[0];
      (client as unknown as Record<symbol, (n: string, c: Callback) => void>)[symbol](
        requested,
        (error, found) => error ? reject(error) : resolve(found as never),
      );
    });
  return { client, calls, getApi };
}

/** Calls a wrapped API function and resolves with what its callback got. */
function call(api: (connection: unknown, ...args: unknown[]) => void, args: unknown[]) {
  return new Promise<{ error: unknown; response: unknown }>((resolve) =>
    api("connection", ...args, (error: unknown, response?: unknown) => resolve({ error, response }))
  );
}

const commitArgs = (generationId: number, memberId: string) => [
  "tx",
  "group",
  5n,
  2,
  generationId,
  memberId,
  null,
  [{ name: "in", partitions: [] }],
];

Deno.test("a transactional offset commit carrying a member is refused by a broker without TxnOffsetCommit v3; one without a member goes out", async () => {
  const { client, calls, getApi } = fakeClient("TxnOffsetCommit", 2);
  assert.ok(checkMemberOffsetCommits(client, new Map()));
  const api = await getApi("TxnOffsetCommit");
  const refused = await call(api, commitArgs(7, "m-1"));
  assert.ok(refused.error instanceof KafkaClientError, String(refused.error));
  assert.equal(refused.error.retriable, false);
  assert.match(refused.error.message, /newest TxnOffsetCommit is v2.*Kafka 2\.5/);
  assert.equal(calls.length, 0, "nothing was sent without the member");
  const sent = await call(api, commitArgs(-1, ""));
  assert.equal(sent.error, null);
  assert.deepEqual(calls, [commitArgs(-1, "")]);
});

Deno.test("a transactional offset commit carrying a member goes out on v3 and later with the member's group instance id", async () => {
  const { client, calls, getApi } = fakeClient("TxnOffsetCommit", 4);
  const instanceIds = new Map([[memberKey("group", "m-1"), "instance-a"]]);
  assert.ok(checkMemberOffsetCommits(client, instanceIds));
  const api = await getApi("TxnOffsetCommit");
  assert.equal((await call(api, commitArgs(7, "m-1"))).error, null);
  assert.equal((await call(api, commitArgs(7, "m-2"))).error, null);
  assert.deepEqual(calls.map((args) => args.slice(4, 7)), [
    [7, "m-1", "instance-a"],
    [7, "m-2", null],
  ]);
});

Deno.test("a KIP-848 member's epoch and id are read from each successful heartbeat answer", async () => {
  const { client, getApi } = fakeClient("ConsumerGroupHeartbeat", 0, {
    memberEpoch: 4,
    memberId: "m-9",
  });
  const seen: [number, string | undefined][] = [];
  assert.ok(recordMemberEpochs(client, (epoch, memberId) => void seen.push([epoch, memberId])));
  const api = await getApi("ConsumerGroupHeartbeat");
  const answered = await call(api, ["group", "m-9", 3]);
  assert.deepEqual(answered, { error: null, response: { memberEpoch: 4, memberId: "m-9" } });
  assert.deepEqual(seen, [[4, "m-9"]]);
  // Other APIs pass through untouched.
  await assert.rejects(getApi("Fetch"), /no Fetch/);
});
