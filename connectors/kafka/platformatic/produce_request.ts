/**
 * Produce requests encoded in one pass into one buffer, for the
 * @platformatic/kafka producer.
 *
 * The library encodes each record with a `Writer` of its own: a small
 * `Buffer` per field (six or more per record), gathered into a list, then
 * concatenated for the CRC and again for the socket. Under Deno a `Buffer`
 * costs far more than the few bytes it holds, so producing through the
 * library spent most of its time there (a V8 profile of
 * `bench/kafka/adapter_produce.ts`: `CreateTypedArray`, `TypedArray.set`,
 * `appendFrom`). This encoder writes the same bytes (the byte-for-byte test
 * is `tests/connectors/kafka/platformatic_produce_request_test.ts`) with two
 * passes over the records: sizes, then bytes into one buffer.
 *
 * {@linkcode useFastProduceRequests} puts it under one producer: the
 * library picks the Produce version as always (ApiVersions with the broker),
 * and this encoder takes over only the versions whose request it writes
 * (9 to 11, the flexible ones without topic ids) and only uncompressed
 * batches; anything else stays with the library. The library's response
 * parser, retries, idempotent sequences and transactions are untouched.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import {
  crc32c,
  Producer as PlatformaticProducer,
  produceV10,
  produceV11,
  produceV9,
  Writer,
} from "@platformatic/kafka";

/** A message as the library hands it to its Produce API (serialized, partition known). */
export interface ProduceApiMessage {
  readonly topic: string;
  partition?: number;
  /**
   * The key's bytes; a string only where {@linkcode useFastProduceRequests}
   * is in place (it writes ASCII text without a `Buffer`, and turns any
   * string into bytes before a request the library encodes itself).
   */
  key?: Uint8Array | string | null;
  /** The value's bytes, or a string as the key. */
  value?: Uint8Array | string | null;
  readonly headers?: Map<Uint8Array | null | undefined, Uint8Array | null | undefined>;
  timestamp?: bigint | number;
}

/** The options the library passes with them (see its `createRecordsBatch`). */
export interface ProduceApiOptions {
  readonly compression?: string;
  readonly producerId?: bigint;
  readonly producerEpoch?: number;
  readonly partitionLeaderEpoch?: number;
  readonly transactionalId?: string | null;
  readonly sequences?: { getWithDefault(key: string, fallback: number): number };
}

const isTransactional = 1 << 4;
const recordBatchMagic = 2;
/** baseOffset, batchLength, partitionLeaderEpoch, magic, crc. */
const batchPrefixBytes = 8 + 4 + 4 + 1 + 4;
/** attributes ... records count: the part the CRC starts at. */
const batchHeaderBytes = 2 + 4 + 8 + 8 + 8 + 2 + 4 + 4;

/** Bytes of a zigzag varint (Kafka's varint and varlong) of a safe integer. */
function varintBytes(value: number): number {
  let zigzag = value >= 0 ? value * 2 : -value * 2 - 1;
  let bytes = 1;
  while (zigzag >= 0x80) {
    zigzag = Math.floor(zigzag / 128);
    bytes++;
  }
  return bytes;
}

/** Writes a zigzag varint of a safe integer at `at`; returns the next position. */
function writeVarint(buffer: Uint8Array, at: number, value: number): number {
  let zigzag = value >= 0 ? value * 2 : -value * 2 - 1;
  while (zigzag >= 0x80) {
    buffer[at++] = (zigzag % 128) | 0x80;
    zigzag = Math.floor(zigzag / 128);
  }
  buffer[at++] = zigzag;
  return at;
}

/** Bytes of an unsigned varint (the compact lengths of flexible requests). */
function uvarintBytes(value: number): number {
  let bytes = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 128);
    bytes++;
  }
  return bytes;
}

function writeUvarint(buffer: Uint8Array, at: number, value: number): number {
  while (value >= 0x80) {
    buffer[at++] = (value % 128) | 0x80;
    value = Math.floor(value / 128);
  }
  buffer[at++] = value;
  return at;
}

const utf8 = new TextEncoder();

/** Whether every character of `text` is ASCII: then its UTF-8 bytes are its char codes. */
function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7f) return false;
  return true;
}

/**
 * A key or value ready for the size pass: bytes, ASCII text, or null. Other
 * text is encoded here (on the message too, so a retry does not encode it again).
 */
function settledField(
  message: ProduceApiMessage,
  field: "key" | "value",
): Uint8Array | string | null {
  const content = message[field];
  if (content == null) return null;
  if (typeof content !== "string" || isAscii(content)) return content;
  return message[field] = utf8.encode(content);
}

/** Bytes of the nullable bytes field: its varint length, then the bytes. */
function fieldBytes(content: Uint8Array | string | null | undefined): number {
  return content == null ? 1 : varintBytes(content.length) + content.length;
}

/** Writes a nullable bytes field (bytes, or ASCII text); returns the next position. */
function writeField(
  buffer: Buffer,
  at: number,
  content: Uint8Array | string | null | undefined,
): number {
  if (content == null) return writeVarint(buffer, at, -1);
  at = writeVarint(buffer, at, content.length);
  if (typeof content === "string") {
    for (let i = 0; i < content.length; i++) buffer[at++] = content.charCodeAt(i);
  } else if (content.length > 0) {
    buffer.set(content, at);
    at += content.length;
  }
  return at;
}

/** Replaces any string key or value by its UTF-8 bytes, for the library's own encoder. */
export function messagesAsBytes(messages: readonly ProduceApiMessage[]): void {
  for (const message of messages) {
    if (typeof message.key === "string") message.key = Buffer.from(message.key);
    if (typeof message.value === "string") message.value = Buffer.from(message.value);
  }
}

/**
 * One record batch (magic 2, uncompressed) of messages of one partition, as
 * the library's `createRecordsBatch` writes it. Messages without a timestamp
 * get `now` (the library sets it on the message too).
 */
export function encodeRecordBatch(
  messages: readonly ProduceApiMessage[],
  options: ProduceApiOptions,
  now: bigint,
): Buffer {
  const count = messages.length;
  const bodySizes = new Array<number>(count);
  const firstTimestamp = BigInt(messages[0].timestamp ?? now);
  let maxTimestamp = firstTimestamp;
  const deltas = new Array<number>(count);
  let size = batchPrefixBytes + batchHeaderBytes;
  let previousTimestamp = firstTimestamp;
  let previousDelta = 0;
  for (let i = 0; i < count; i++) {
    const message = messages[i];
    let timestamp = message.timestamp ?? now;
    if (typeof timestamp === "number") timestamp = BigInt(timestamp);
    message.timestamp = timestamp;
    // Records of one request mostly share one timestamp: no BigInt arithmetic for them.
    if (timestamp !== previousTimestamp) {
      if (timestamp > maxTimestamp) maxTimestamp = timestamp;
      previousDelta = Number(timestamp - firstTimestamp);
      previousTimestamp = timestamp;
    }
    const delta = previousDelta;
    deltas[i] = delta;
    const key = settledField(message, "key");
    const value = settledField(message, "value");
    let body = 1 + varintBytes(delta) + varintBytes(i) + fieldBytes(key) + fieldBytes(value) +
      varintBytes(message.headers?.size ?? 0);
    if (message.headers !== undefined) {
      for (const [name, value] of message.headers) body += fieldBytes(name) + fieldBytes(value);
    }
    bodySizes[i] = body;
    size += varintBytes(body) + body;
  }
  const buffer = Buffer.allocUnsafe(size);
  const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  view.setBigInt64(0, 0n);
  view.setInt32(8, size - 12);
  view.setInt32(12, options.partitionLeaderEpoch ?? 0);
  view.setInt8(16, recordBatchMagic);
  // The CRC (offset 17) is written last, over attributes to the end.
  let at = batchPrefixBytes;
  view.setInt16(at, options.transactionalId ? isTransactional : 0);
  view.setInt32(at + 2, count - 1);
  view.setBigInt64(at + 6, firstTimestamp);
  view.setBigInt64(at + 14, maxTimestamp);
  view.setBigInt64(at + 22, options.producerId ?? -1n);
  view.setInt16(at + 30, options.producerEpoch ?? 0);
  const first = messages[0];
  view.setInt32(
    at + 32,
    options.sequences?.getWithDefault(`${first.topic}:${first.partition}`, 0) ?? 0,
  );
  view.setInt32(at + 36, count);
  at += batchHeaderBytes;
  for (let i = 0; i < count; i++) {
    const message = messages[i];
    at = writeVarint(buffer, at, bodySizes[i]);
    buffer[at++] = 0; // record attributes
    at = writeVarint(buffer, at, deltas[i]);
    at = writeVarint(buffer, at, i);
    at = writeField(buffer, at, message.key);
    at = writeField(buffer, at, message.value);
    at = writeVarint(buffer, at, message.headers?.size ?? 0);
    if (message.headers !== undefined) {
      for (const [name, value] of message.headers) {
        at = writeField(buffer, at, name);
        at = writeField(buffer, at, value);
      }
    }
  }
  view.setUint32(17, crc32c(buffer.subarray(batchPrefixBytes)));
  return buffer;
}

/** The library's grouping (an object's keys: integer-like keys come first, ascending). */
function groupBy<T>(entries: readonly T[], property: (entry: T) => string | number) {
  const buckets: Record<string, T[]> = Object.create(null);
  for (const entry of entries) (buckets[property(entry)] ||= []).push(entry);
  return Object.entries(buckets);
}

/**
 * The Produce request body (versions 9 to 11) the library's `createRequest`
 * writes, in one buffer inside one of the library's `Writer`s, as the
 * connection expects.
 */
export function encodeProduceRequest(
  acks: number,
  timeout: number,
  messages: readonly ProduceApiMessage[],
  options: ProduceApiOptions,
): InstanceType<typeof Writer> {
  const now = BigInt(Date.now());
  for (const message of messages) message.partition ??= 0;
  const topics = groupBy(messages, (m) => m.topic).map(([topic, forTopic]) => ({
    name: Buffer.from(topic),
    partitions: groupBy(forTopic, (m) => m.partition!).map(([partition, forPartition]) => ({
      index: Number(partition),
      records: encodeRecordBatch(forPartition, options, now),
    })),
  }));
  const transactionalId = options.transactionalId == null
    ? undefined
    : Buffer.from(options.transactionalId);
  let size =
    (transactionalId === undefined
      ? 1
      : uvarintBytes(transactionalId.length + 1) + transactionalId.length) +
    2 + 4 + uvarintBytes(topics.length + 1) + 1;
  for (const topic of topics) {
    size += uvarintBytes(topic.name.length + 1) + topic.name.length +
      uvarintBytes(topic.partitions.length + 1) + 1;
    for (const { records } of topic.partitions) {
      size += 4 + uvarintBytes(records.length + 1) + records.length + 1;
    }
  }
  const buffer = Buffer.allocUnsafe(size);
  let at = 0;
  if (transactionalId === undefined) {
    buffer[at++] = 0;
  } else {
    at = writeUvarint(buffer, at, transactionalId.length + 1);
    buffer.set(transactionalId, at);
    at += transactionalId.length;
  }
  at = buffer.writeInt16BE(acks, at);
  at = buffer.writeInt32BE(timeout, at);
  at = writeUvarint(buffer, at, topics.length + 1);
  for (const topic of topics) {
    at = writeUvarint(buffer, at, topic.name.length + 1);
    buffer.set(topic.name, at);
    at += topic.name.length;
    at = writeUvarint(buffer, at, topic.partitions.length + 1);
    for (const { index, records } of topic.partitions) {
      at = buffer.writeInt32BE(index, at);
      at = writeUvarint(buffer, at, records.length + 1);
      buffer.set(records, at);
      at += records.length;
      buffer[at++] = 0; // the partition's tagged fields
    }
    buffer[at++] = 0; // the topic's tagged fields
  }
  buffer[at++] = 0; // the request's tagged fields
  const writer = Writer.create().append(buffer);
  if (acks === 0) writer.context.noResponse = true;
  return writer;
}

/** The library's Produce API function: `api(connection, acks, timeout, messages, options, callback)`. */
type ProduceApi = ((connection: unknown, ...args: unknown[]) => void) & {
  readonly key: number;
  readonly version: number;
};

interface Connection {
  send(
    apiKey: number,
    apiVersion: number,
    createPayload: () => unknown,
    parseResponse: unknown,
    hasRequestHeaderTaggedFields: boolean,
    hasResponseHeaderTaggedFields: boolean,
    callback: unknown,
  ): void;
}

const responseParsers = new Map<number, unknown>([
  [9, produceV9.parseResponse],
  [10, produceV10.parseResponse],
  [11, produceV11.parseResponse],
]);

/**
 * The library's Produce API `original`, its requests encoded here when it is
 * a version this module writes and the batch is uncompressed; otherwise the
 * library encodes them, string keys and values turned into bytes first.
 */
function fastProduceApi(original: ProduceApi): ProduceApi {
  const parseResponse = responseParsers.get(original.version);
  const api = (connection: unknown, ...args: unknown[]) => {
    const [acks, timeout, messages, options, callback] = args as [
      number,
      number,
      ProduceApiMessage[],
      ProduceApiOptions,
      unknown,
    ];
    if (parseResponse === undefined || (options?.compression ?? "none") !== "none") {
      messagesAsBytes(messages);
      original(connection, ...args);
      return;
    }
    (connection as Connection).send(
      original.key,
      original.version,
      () => encodeProduceRequest(acks ?? 1, timeout ?? 0, messages, options ?? {}),
      parseResponse,
      true,
      true,
      typeof callback === "function" ? callback : () => {},
    );
  };
  return Object.assign(api, { key: original.key, version: original.version });
}

/**
 * The library's private method that hands out the API functions
 * (`[kGetApi](name, callback)` of its base client), found by its symbol's
 * description on the prototypes of `target`.
 */
export function getApiSymbol(target: object): symbol | undefined {
  let proto: object | null = target;
  while (proto !== null) {
    const found = Object.getOwnPropertySymbols(proto).find((symbol) =>
      symbol.description === "plt.kafka.base.getApi"
    );
    if (found !== undefined) return found;
    proto = Object.getPrototypeOf(proto);
  }
  return undefined;
}

/**
 * Whether this version of the library has what
 * {@linkcode useFastProduceRequests} relies on (its test fails when an
 * upgrade takes it away, rather than every producer silently slowing down).
 */
export function fastProduceRequestsAvailable(): boolean {
  const symbol = getApiSymbol(PlatformaticProducer.prototype);
  return symbol !== undefined &&
    typeof (PlatformaticProducer.prototype as unknown as Record<symbol, unknown>)[symbol] ===
      "function" &&
    [...responseParsers.values()].every((parse) => typeof parse === "function");
}

type GetApi = (name: string, callback: (error: unknown, api?: ProduceApi) => void) => void;

/**
 * Makes `producer` encode its Produce requests with
 * {@linkcode encodeProduceRequest} where the negotiated version is one it
 * writes (9 to 11) and the batch is uncompressed. Returns true when it did:
 * only then may the producer be sent string keys and values of records
 * whose partition is given (strings skip a `Buffer` each; the library would
 * hash a string key for a partition, and its own encoder takes bytes only,
 * so they get bytes before any request it encodes). Returns false, changing
 * nothing, when the library lacks the private method this relies on (a
 * version other than the pinned 2.12.1): the producer then works as the
 * library alone does.
 */
export function useFastProduceRequests(
  producer: PlatformaticProducer<Buffer | string, Buffer | string, string, Buffer>,
): boolean {
  const symbol = getApiSymbol(producer);
  if (symbol === undefined) return false;
  const target = producer as unknown as Record<symbol, GetApi>;
  const getApi = target[symbol];
  if (typeof getApi !== "function") return false;
  const fast = new Map<ProduceApi, ProduceApi>();
  target[symbol] = function (this: unknown, name, callback) {
    if (name !== "Produce") return getApi.call(this, name, callback);
    getApi.call(this, name, (error, api) => {
      if (error || api === undefined) {
        callback(error, api);
        return;
      }
      let replacement = fast.get(api);
      if (replacement === undefined) fast.set(api, replacement = fastProduceApi(api));
      callback(null, replacement);
    });
  };
  return true;
}

/**
 * The same request as the library's own encoder writes it (for the
 * byte-for-byte test: tests import no client library themselves).
 */
export function libraryProduceRequest(
  version: 9 | 10 | 11,
  acks: number,
  timeout: number,
  messages: ProduceApiMessage[],
  options: ProduceApiOptions,
): Buffer {
  const encoders = { 9: produceV9, 10: produceV10, 11: produceV11 };
  const createRequest = encoders[version].createRequest as unknown as (
    ...args: unknown[]
  ) => InstanceType<typeof Writer>;
  return createRequest(acks, timeout, messages, options).buffer;
}
