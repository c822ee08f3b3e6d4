/**
 * TxnOffsetCommit v3 (KIP-447) as rivulet adds it to kafkajs: the request's
 * bytes field by field, the response's decoding, the choice of version by
 * what the broker offers and whether metadata was given, and the
 * classification of the refusals as `fenced`. No broker: the contract
 * (contract.ts) runs the same against a real one.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createRequire } from "node:module";
// The adapter first: it repairs kafkajs before kafkajs loads.
import "../../../connectors/kafka/kafkajs/client.ts";
import {
  decodeTxnOffsetCommitV3,
  encodeTxnOffsetCommitV3,
  withGroupMetadata,
} from "../../../connectors/kafka/kafkajs/_txn_offset_commit.ts";
import { kafkajsClientError } from "../../../connectors/kafka/kafkajs/errors.ts";
import { KafkaClientError } from "../../../connectors/kafka/client.ts";

const require = createRequire(import.meta.resolve("kafkajs"));
const kafkajs = (path: string) => require(require.resolve(`./src/${path}`));
const { createErrorFromCode } = kafkajs("protocol/error.js") as {
  createErrorFromCode(code: number): Error & { type: string };
};
const txnOffsetCommit = kafkajs("protocol/requests/txnOffsetCommit/index.js") as {
  versions: string[];
  protocol(options: { version: number }): (args: unknown) => {
    request: { apiVersion: number; encode(): Promise<{ buffer: Uint8Array }> };
    response: { parse(data: unknown): Promise<unknown> };
  };
};

const metadata = { groupId: "g", generationId: 7, memberId: "m-1" } as const;
const args = {
  transactionalId: "tx",
  groupId: "g",
  producerId: "5",
  producerEpoch: 2,
  topics: [{ topic: "in", partitions: [{ partition: 3, offset: "42" }] }],
};

/** Big-endian integers of `bytes` bytes. */
function int(value: number, bytes: number): number[] {
  const out = new Array<number>(bytes);
  for (let i = bytes - 1; i >= 0; i--) {
    out[i] = value & 0xff;
    value = Math.floor(value / 256);
  }
  return out;
}
/** A COMPACT_STRING: its length + 1 as an unsigned varint (all short here), then UTF-8. */
const compact = (text: string) => [text.length + 1, ...new TextEncoder().encode(text)];

Deno.test("TxnOffsetCommit v3's request carries the member's generation, member id and no instance id, in the flexible encoding", () => {
  const bytes = (encodeTxnOffsetCommitV3(args, metadata) as unknown as { buffer: Uint8Array })
    .buffer;
  assert.deepEqual([...bytes], [
    0, // the request header's tagged fields
    ...compact("tx"),
    ...compact("g"),
    ...int(0, 4),
    ...int(5, 4), // producer_id (int64)
    ...int(2, 2), // producer_epoch
    ...int(7, 4), // generation_id
    ...compact("m-1"),
    0, // group_instance_id: null
    2, // one topic
    ...compact("in"),
    2, // one partition
    ...int(3, 4),
    ...int(0, 4),
    ...int(42, 4), // committed_offset (int64)
    0xff,
    0xff,
    0xff,
    0xff, // committed_leader_epoch -1
    0, // committed_metadata: null
    0, // the partition's tagged fields
    0, // the topic's
    0, // the request's
  ]);
  const withInstance =
    (encodeTxnOffsetCommitV3(args, { ...metadata, groupInstanceId: "i" }) as unknown as {
      buffer: Uint8Array;
    }).buffer;
  const at = 1 + 3 + 2 + 8 + 2 + 4 + 4;
  assert.deepEqual([...withInstance.subarray(at, at + 2)], compact("i"));
});

/** A v3 response: header tags, throttle time, one topic with one partition's error code. */
function response(errorCode: number): Buffer {
  return Buffer.from([
    0,
    ...int(12, 4),
    2,
    ...compact("in"),
    2,
    ...int(3, 4),
    ...int(errorCode, 2),
    0,
    0,
    0,
  ]);
}

Deno.test("TxnOffsetCommit v3's response is decoded in kafkajs' shape; a refusal is a member fenced, only for a commit with metadata", async () => {
  assert.deepEqual(decodeTxnOffsetCommitV3(response(0)), {
    throttleTime: 0,
    clientSideThrottleTime: 12,
    topics: [{ topic: "in", partitions: [{ partition: 3, errorCode: 0 }] }],
  });
  const { parse } = txnOffsetCommit.protocol({ version: 3 })(args).response;
  await parse(decodeTxnOffsetCommitV3(response(0)));
  for (
    const [code, type] of [[22, "ILLEGAL_GENERATION"], [25, "UNKNOWN_MEMBER_ID"], [
      82,
      "FENCED_INSTANCE_ID",
    ], [113, "STALE_MEMBER_EPOCH"]] as const
  ) {
    const refusal = await parse(decodeTxnOffsetCommitV3(response(code))).then(
      () => assert.fail(`error code ${code} was not thrown`),
      (error: Error & { type?: string }) => error,
    );
    assert.equal(refusal.type, type);
    const checked = kafkajsClientError("transactional offset commit", refusal, [], {
      memberChecked: true,
    });
    assert.equal(checked.classification.kind, "fenced", checked.message);
    assert.equal(checked.retriable, false);
    // From a consumer's own commit or heartbeat the same words mean "rejoin", not "fenced".
    const unchecked = kafkajsClientError("offset commit", refusal, []);
    assert.notEqual(unchecked.classification.kind, "fenced", unchecked.message);
  }
});

Deno.test("kafkajs' transactional offset commits: v3 only with metadata and a broker that has it; without metadata kafkajs' own v1", async () => {
  assert.ok(txnOffsetCommit.versions.includes("3"), "kafkajs' brokers may pick v3");
  const lookUp = (brokerMax: number) => txnOffsetCommit.protocol({ version: brokerMax })(args);
  assert.equal(lookUp(3).request.apiVersion, 1, "no metadata: as kafkajs sends it");
  assert.equal(lookUp(5).request.apiVersion, 1);
  assert.equal(
    await withGroupMetadata(metadata, () => Promise.resolve(lookUp(3).request.apiVersion)),
    3,
  );
  // A broker before Kafka 2.5: refused with a clear error, never sent without the member.
  await assert.rejects(
    withGroupMetadata(metadata, () => Promise.resolve().then(() => lookUp(2))),
    (error: unknown) => {
      assert.ok(error instanceof KafkaClientError, String(error));
      assert.equal(error.retriable, false);
      assert.match(error.message, /newest TxnOffsetCommit is v2.*Kafka 2\.5/);
      // The adapter passes rivulet's own error on as it is.
      assert.equal(kafkajsClientError("transactional offset commit", error, []), error);
      return true;
    },
  );
});

Deno.test("a fenced transactional producer's protocol errors are of kind fenced, never retriable", () => {
  for (const [code, type] of [[90, "PRODUCER_FENCED"], [47, "INVALID_PRODUCER_EPOCH"]] as const) {
    const error = createErrorFromCode(code);
    assert.equal(error.type, type, `kafkajs knows error code ${code}`);
    const classified = kafkajsClientError("transaction commit", error, []);
    assert.equal(classified.classification.kind, "fenced", classified.message);
    assert.equal(classified.retriable, false);
  }
});
