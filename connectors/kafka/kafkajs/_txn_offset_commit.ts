/**
 * Offsets committed in a transaction with the consumer group metadata of the
 * member that read them (KIP-447), which kafkajs 2.2.4 cannot send: it
 * speaks TxnOffsetCommit v0–v1, whose request has no generation and no
 * member, so the group coordinator checks the producer's epoch only. With
 * one transactional id per instance (EOS v2), the epoch does not tell a
 * zombie whose partitions moved to another member from their new owner;
 * the member's generation does. This module adds three things to kafkajs:
 *
 * 1. TxnOffsetCommit v3 (Kafka 2.5 and later) in kafkajs' request table,
 *    used for the offset commits made inside {@linkcode withGroupMetadata}
 *    (the adapter's `sendOffsets` with metadata). It carries the member's
 *    generation id, member id and group instance id; the broker answers
 *    ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID or FENCED_INSTANCE_ID (or, for a
 *    KIP-848 member, STALE_MEMBER_EPOCH) when they are not the group's
 *    current ones. Commits without metadata keep kafkajs' own v0–v1. A broker
 *    whose newest TxnOffsetCommit is older than v3 cannot check a member:
 *    such a commit with metadata fails with a {@linkcode KafkaClientError}
 *    saying so, rather than being sent unchecked.
 * 2. The generation id of each member's last join: kafkajs' GROUP_JOIN event
 *    names the member but not its generation, so the consumer group's sync
 *    step is wrapped to record it ({@linkcode takeJoinedGeneration}).
 * 3. PRODUCER_FENCED (90, Kafka 2.7's answer to a fenced transactional
 *    producer) and STALE_MEMBER_EPOCH (113) in kafkajs' table of protocol
 *    errors, which lacks them: a fenced producer failed with "Unknown error
 *    code 90", which no one could tell from any other failure.
 *
 * v3 is a flexible version: the request header carries an empty tagged-field
 * section after the client id, and the response header one after the
 * correlation id; kafkajs writes and reads header versions 1 and 0, so the
 * request body starts with that empty section and the response decoder reads
 * it first, as `_stable_offsets.ts` does for OffsetFetch v7.
 *
 * @module
 */
import { createRequire } from "node:module";
import type { Buffer } from "node:buffer";
import { AsyncLocalStorage } from "node:async_hooks";
import { type ConsumerGroupMetadata, KafkaClientError } from "../client.ts";

const require = createRequire(import.meta.resolve("kafkajs"));
const modulePath = (path: string) => require.resolve(`./src/${path}`);

/** kafkajs' protocol encoder, the methods used here. */
interface KafkajsEncoder {
  writeUVarInt(value: number): KafkajsEncoder;
  writeUVarIntString(value: string | null): KafkajsEncoder;
  writeInt16(value: number): KafkajsEncoder;
  writeInt32(value: number): KafkajsEncoder;
  writeInt64(value: unknown): KafkajsEncoder;
  writeUVarIntArray(values: readonly KafkajsEncoder[]): KafkajsEncoder;
}

/** kafkajs' protocol decoder, the methods used here. */
interface KafkajsDecoder {
  readTaggedFields(): unknown;
  readInt16(): number;
  readInt32(): number;
  readUVarIntString(): string | null;
  readUVarIntArray<T>(reader: (decoder: KafkajsDecoder) => T): T[] | null;
}

/** What kafkajs' transactional producer passes to its TxnOffsetCommit request. */
export interface TxnOffsetCommitArguments {
  readonly transactionalId: string;
  readonly groupId: string;
  readonly producerId: unknown;
  readonly producerEpoch: number;
  readonly topics: readonly {
    readonly topic: string;
    readonly partitions: readonly {
      readonly partition: number;
      readonly offset: string;
      readonly metadata?: string | null;
    }[];
  }[];
}

interface TxnOffsetCommitProtocol {
  request: {
    apiKey: number;
    apiVersion: number;
    apiName: string;
    encode(): Promise<KafkajsEncoder>;
  };
  response: { decode(raw: Buffer): Promise<unknown>; parse(data: unknown): Promise<unknown> };
}

interface TxnOffsetCommitDefinition {
  versions: string[];
  protocol(
    options: { version: number },
  ): (args: TxnOffsetCommitArguments) => TxnOffsetCommitProtocol;
}

const Encoder = require(modulePath("protocol/encoder.js")) as new () => KafkajsEncoder;
const Decoder = require(modulePath("protocol/decoder.js")) as new (raw: Buffer) => KafkajsDecoder;
const apiKeys = require(modulePath("protocol/requests/apiKeys.js")) as { TxnOffsetCommit: number };
const txnOffsetCommit = require(
  modulePath("protocol/requests/txnOffsetCommit/index.js"),
) as TxnOffsetCommitDefinition;
// v0's parse: the first partition-level error, thrown as a kafkajs protocol error.
const { parse } = require(modulePath("protocol/requests/txnOffsetCommit/v0/response.js")) as {
  parse(data: unknown): Promise<unknown>;
};

/** The TxnOffsetCommit version added here: the first with the member's generation (KIP-447). */
export const memberCheckedTxnOffsetCommitVersion = 3;

/** Set inside {@linkcode withGroupMetadata}: the offset commits made there carry it. */
const metadataScope = new AsyncLocalStorage<ConsumerGroupMetadata>();

/** Runs `commit` with its kafkajs transactional offset commits carrying `metadata` (v3). */
export function withGroupMetadata<T>(
  metadata: ConsumerGroupMetadata,
  commit: () => Promise<T>,
): Promise<T> {
  return metadataScope.run(metadata, commit);
}

/** TxnOffsetCommit v3's request after an empty request-header tag section. */
export function encodeTxnOffsetCommitV3(
  args: TxnOffsetCommitArguments,
  metadata: ConsumerGroupMetadata,
): KafkajsEncoder {
  return new Encoder()
    .writeUVarInt(0)
    .writeUVarIntString(args.transactionalId)
    .writeUVarIntString(args.groupId)
    .writeInt64(args.producerId)
    .writeInt16(args.producerEpoch)
    .writeInt32(metadata.generationId)
    .writeUVarIntString(metadata.memberId)
    .writeUVarIntString(metadata.groupInstanceId ?? null)
    .writeUVarIntArray(args.topics.map(({ topic, partitions }) =>
      new Encoder()
        .writeUVarIntString(topic)
        .writeUVarIntArray(partitions.map(({ partition, offset, metadata }) =>
          new Encoder()
            .writeInt32(partition)
            .writeInt64(offset)
            .writeInt32(-1) // committed_leader_epoch: unknown
            .writeUVarIntString(metadata ?? null)
            .writeUVarInt(0)
        ))
        .writeUVarInt(0)
    ))
    .writeUVarInt(0);
}

/** TxnOffsetCommit v3's response, in the shape of kafkajs' v1 decoder. */
export function decodeTxnOffsetCommitV3(raw: Buffer) {
  const decoder = new Decoder(raw);
  decoder.readTaggedFields(); // the response header's
  const throttleTime = decoder.readInt32();
  const topics = decoder.readUVarIntArray((topicDecoder) => {
    const topic = topicDecoder.readUVarIntString() ?? "";
    const partitions = topicDecoder.readUVarIntArray((partitionDecoder) => {
      const partition = partitionDecoder.readInt32();
      const errorCode = partitionDecoder.readInt16();
      partitionDecoder.readTaggedFields();
      return { partition, errorCode };
    }) ?? [];
    topicDecoder.readTaggedFields();
    return { topic, partitions };
  }) ?? [];
  decoder.readTaggedFields();
  return { throttleTime: 0, clientSideThrottleTime: throttleTime, topics };
}

/** A commit with metadata to a broker that cannot check members (before Kafka 2.5). */
function unsupportedBroker(brokerVersion: number): KafkaClientError {
  return new KafkaClientError(
    `Kafka transactional offset commit failed: the broker's newest TxnOffsetCommit is v${brokerVersion}, ` +
      `which cannot carry the consumer group's generation (v${memberCheckedTxnOffsetCommitVersion}, Kafka 2.5 and later, KIP-447)`,
    { retriable: false, reason: `TxnOffsetCommit v${brokerVersion} has no generation` },
  );
}

const kafkajsProtocol = txnOffsetCommit.protocol;
// kafkajs asks for min(the broker's newest, the newest it has): 3 from brokers of Kafka 2.5 and
// later. Decided when kafkajs builds the request, inside the caller's async context.
txnOffsetCommit.protocol = ({ version }) => (args) => {
  const metadata = metadataScope.getStore();
  if (metadata === undefined) return kafkajsProtocol({ version: Math.min(version, 1) })(args);
  if (version < memberCheckedTxnOffsetCommitVersion) throw unsupportedBroker(version);
  return {
    request: {
      apiKey: apiKeys.TxnOffsetCommit,
      apiVersion: memberCheckedTxnOffsetCommitVersion,
      apiName: "TxnOffsetCommit",
      encode: () => Promise.resolve(encodeTxnOffsetCommitV3(args, metadata)),
    },
    response: { decode: (raw) => Promise.resolve(decodeTxnOffsetCommitV3(raw)), parse },
  };
};
txnOffsetCommit.versions.push(String(memberCheckedTxnOffsetCommitVersion));

// Loaded for the check below: the table kafkajs' brokers look requests up in is this module.
const { requests } = require(modulePath("protocol/requests/index.js")) as {
  requests: { TxnOffsetCommit: TxnOffsetCommitDefinition };
};
if (
  requests.TxnOffsetCommit !== txnOffsetCommit ||
  !requests.TxnOffsetCommit.versions.includes(String(memberCheckedTxnOffsetCommitVersion))
) {
  throw new Error(
    "rivulet's kafkajs adapter could not add TxnOffsetCommit v3 (KIP-447) to kafkajs' requests",
  );
}

// 2. The generation of each member's last join.
interface KafkajsConsumerGroup {
  memberId: string | null;
  generationId: number | null;
}

/** Generation ids recorded at the end of a sync, by member id, until the join's event reads them. */
const joinedGenerations = new Map<string, number>();

const ConsumerGroup = require(modulePath("consumer/consumerGroup.js")) as {
  prototype: Record<symbol, (this: KafkajsConsumerGroup) => Promise<void>>;
};
const syncSymbol = Object.getOwnPropertySymbols(ConsumerGroup.prototype).find((symbol) =>
  symbol.description === "private:ConsumerGroup:sync"
);
if (syncSymbol === undefined || typeof ConsumerGroup.prototype[syncSymbol] !== "function") {
  throw new Error("rivulet's kafkajs adapter could not find kafkajs' consumer group sync step");
}
const kafkajsSync = ConsumerGroup.prototype[syncSymbol];
// kafkajs emits GROUP_JOIN right after its join and sync steps, with no await in between: the
// generation recorded here is the one of the assignment that event carries.
ConsumerGroup.prototype[syncSymbol] = async function (this: KafkajsConsumerGroup) {
  await kafkajsSync.call(this);
  if (this.memberId !== null && this.generationId !== null) {
    joinedGenerations.set(this.memberId, this.generationId);
  }
};

/**
 * The generation id of `memberId`'s last completed join (read once, at the
 * GROUP_JOIN event that follows it); undefined when none was recorded.
 */
export function takeJoinedGeneration(memberId: string): number | undefined {
  const generation = joinedGenerations.get(memberId);
  joinedGenerations.delete(memberId);
  return generation;
}

// 3. Protocol errors kafkajs does not know.
const { errorCodes } = require(modulePath("protocol/error.js")) as {
  errorCodes: { type: string; code: number; retriable: boolean; message: string }[];
};
const missingErrors = [
  {
    type: "PRODUCER_FENCED",
    code: 90,
    retriable: false,
    message: "There is a newer producer with the same transactional id which fences this one",
  },
  {
    type: "STALE_MEMBER_EPOCH",
    code: 113,
    retriable: false,
    message: "The member epoch is stale: the member must rejoin the group",
  },
];
for (const error of missingErrors) {
  if (!errorCodes.some(({ code }) => code === error.code)) errorCodes.push(error);
}
