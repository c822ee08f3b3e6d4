/**
 * Committed offsets that are final: kafkajs 2.2.4 asks for a group's committed
 * offsets with OffsetFetch v1–v4, which cannot say `require_stable` (KIP-447,
 * OffsetFetch v7). A transaction's offsets become the group's when its commit
 * marker reaches the group coordinator, and the coordinator applies the marker
 * after the transaction coordinator has answered: without `require_stable` a
 * lookup in between returns the offsets from before the transaction.
 *
 * rivulet decides with those offsets whether a transaction whose commit
 * answer was lost committed (runtime/delivery/transactions.ts), and which
 * checkpoint a restart resumes from (exactly_once.ts). A CI run under load saw
 * the first transaction of a pipeline committed, read back as not committed
 * after a broker restart, and sent again: a read_committed reader saw its
 * changes twice. So this module adds OffsetFetch v7 to kafkajs' request table,
 * with `require_stable` set for the lookups made inside
 * {@linkcode withStableOffsets} (the kafkajs admin's `groupPositions`). The
 * broker then answers UNSTABLE_OFFSET_COMMIT, which kafkajs knows as retriable,
 * until the offsets are final. Other lookups (a consumer's own, at a join)
 * use v7 without it, as v4 asked: a consumer that restarts while its pipeline's
 * transaction holds offsets would otherwise be refused until that transaction
 * ends, and kafkajs' consumer gives up and restarts instead of waiting (a
 * fault test saw it go round for minutes). A broker without v7 (before Kafka
 * 2.5) gets v4.
 *
 * v7 is a flexible version: the request header carries an empty tagged-field
 * section after the client id, and the response header one after the
 * correlation id. kafkajs writes and reads header versions 1 and 0, so the
 * request starts with that empty section and the response decoder reads it
 * first, as kafkajs' own flexible requests (AlterPartitionReassignments v0) do.
 *
 * @module
 */
import { createRequire } from "node:module";
import { Buffer } from "node:buffer";
import { AsyncLocalStorage } from "node:async_hooks";

const require = createRequire(import.meta.resolve("kafkajs"));
const modulePath = (path: string) => require.resolve(`./src/${path}`);

/** kafkajs' protocol encoder, the methods used here. */
interface KafkajsEncoder {
  writeUVarInt(value: number): KafkajsEncoder;
  writeUVarIntString(value: string): KafkajsEncoder;
  writeInt32(value: number): KafkajsEncoder;
  writeBoolean(value: boolean): KafkajsEncoder;
  writeUVarIntArray(values: readonly KafkajsEncoder[]): KafkajsEncoder;
}

/** kafkajs' protocol decoder, the methods used here. */
interface KafkajsDecoder {
  readTaggedFields(): unknown;
  readInt16(): number;
  readInt32(): number;
  readInt64(): { toString(): string };
  readUVarIntString(): string | null;
  readUVarIntArray<T>(reader: (decoder: KafkajsDecoder) => T): T[] | null;
}

interface OffsetFetchArguments {
  readonly groupId: string;
  readonly topics?:
    | readonly { topic: string; partitions: readonly { partition: number }[] }[]
    | null;
}

interface OffsetFetchProtocol {
  request: {
    apiKey: number;
    apiVersion: number;
    apiName: string;
    encode(): Promise<KafkajsEncoder>;
  };
  response: { decode(raw: Buffer): Promise<unknown>; parse(data: unknown): Promise<unknown> };
}

interface OffsetFetchDefinition {
  versions: string[];
  protocol(options: { version: number }): (args: OffsetFetchArguments) => OffsetFetchProtocol;
}

const Encoder = require(modulePath("protocol/encoder.js")) as new () => KafkajsEncoder;
const Decoder = require(modulePath("protocol/decoder.js")) as new (raw: Buffer) => KafkajsDecoder;
const apiKeys = require(modulePath("protocol/requests/apiKeys.js")) as { OffsetFetch: number };
const offsetFetch = require(
  modulePath("protocol/requests/offsetFetch/index.js"),
) as OffsetFetchDefinition;
// v2's parse: a group-level error, then the first partition-level error, thrown as kafkajs errors.
const { parse } = require(modulePath("protocol/requests/offsetFetch/v2/response.js")) as {
  parse(data: unknown): Promise<unknown>;
};

/** The OffsetFetch version added here. */
export const stableOffsetFetchVersion = 7;

/** Set inside {@linkcode withStableOffsets}: the offset lookups made there ask for final offsets. */
const stableScope = new AsyncLocalStorage<true>();

/** Runs `lookup` with its kafkajs offset lookups asking for final offsets (`require_stable`). */
export function withStableOffsets<T>(lookup: () => Promise<T>): Promise<T> {
  return stableScope.run(true, lookup);
}

/** OffsetFetch v7's request after an empty request-header tag section. */
export function encodeStableOffsetFetch(
  args: OffsetFetchArguments,
  requireStable: boolean,
): KafkajsEncoder {
  const encoder = new Encoder().writeUVarInt(0).writeUVarIntString(args.groupId);
  if (args.topics === undefined || args.topics === null) {
    encoder.writeUVarInt(0); // null: every topic of the group
  } else {
    encoder.writeUVarIntArray(args.topics.map(({ topic, partitions }) =>
      new Encoder()
        .writeUVarIntString(topic)
        .writeUVarIntArray(partitions.map(({ partition }) => new Encoder().writeInt32(partition)))
        .writeUVarInt(0)
    ));
  }
  return encoder.writeBoolean(requireStable).writeUVarInt(0);
}

/** OffsetFetch v7's response, in the shape of kafkajs' v4 decoder. */
export function decodeStableOffsetFetch(raw: Buffer) {
  const decoder = new Decoder(raw);
  decoder.readTaggedFields(); // the response header's
  const throttleTime = decoder.readInt32();
  const responses = (decoder.readUVarIntArray((topicDecoder) => {
    const topic = topicDecoder.readUVarIntString() ?? "";
    const partitions = topicDecoder.readUVarIntArray((partitionDecoder) => {
      const partition = partitionDecoder.readInt32();
      const offset = partitionDecoder.readInt64().toString();
      partitionDecoder.readInt32(); // committed_leader_epoch
      const metadata = partitionDecoder.readUVarIntString();
      const errorCode = partitionDecoder.readInt16();
      partitionDecoder.readTaggedFields();
      return { partition, offset, metadata, errorCode };
    }) ?? [];
    topicDecoder.readTaggedFields();
    return { topic, partitions };
  })) ?? [];
  const errorCode = decoder.readInt16();
  decoder.readTaggedFields();
  return { throttleTime: 0, clientSideThrottleTime: throttleTime, responses, errorCode };
}

const kafkajsProtocol = offsetFetch.protocol;
const stable = (args: OffsetFetchArguments): OffsetFetchProtocol => {
  // Decided when kafkajs builds the request, inside the caller's async context.
  const requireStable = stableScope.getStore() === true;
  return {
    request: {
      apiKey: apiKeys.OffsetFetch,
      apiVersion: stableOffsetFetchVersion,
      apiName: "OffsetFetch",
      encode: () => Promise.resolve(encodeStableOffsetFetch(args, requireStable)),
    },
    response: { decode: (raw) => Promise.resolve(decodeStableOffsetFetch(raw)), parse },
  };
};
// kafkajs asks for min(the broker's newest, the newest it has): 7 from brokers of Kafka 2.5 and
// later; a broker whose newest is 5 or 6 gets kafkajs' 4.
offsetFetch.protocol = ({ version }) =>
  version >= stableOffsetFetchVersion ? stable : kafkajsProtocol({ version: Math.min(version, 4) });
offsetFetch.versions.push(String(stableOffsetFetchVersion));

// Loaded for the check below: the table kafkajs' brokers look requests up in is this module.
const { requests } = require(modulePath("protocol/requests/index.js")) as {
  requests: { OffsetFetch: OffsetFetchDefinition };
};
if (
  requests.OffsetFetch !== offsetFetch ||
  requests.OffsetFetch.protocol({ version: stableOffsetFetchVersion }) !== stable
) {
  throw new Error(
    "rivulet's kafkajs adapter could not add OffsetFetch v7 (require_stable) to kafkajs' requests",
  );
}
