/**
 * Seven repairs of kafkajs 2.2.4 internals, applied for their side effect when
 * `client.ts` is imported (it imports this module before kafkajs itself).
 * Each keeps kafkajs' behaviour and changes only what is named here; the
 * version is pinned in deno.json, so the internals they touch do not move.
 *
 * Each repair checks at import that it took effect and throws a
 * {@linkcode KafkajsPatchError} when it did not: another kafkajs version, or
 * kafkajs' producer loaded before this module (so it kept the functions the
 * repairs replace in the module cache), would otherwise leave rivulet silently
 * slower or warning. Import kafkajs only through `client.ts`.
 *
 * 1. "TimeoutNegativeWarning: -1795586848468 is a negative number" under Deno:
 *    the request queue schedules its pending-request check at
 *    `throttledUntil - Date.now()`, and `throttledUntil` starts at -1, so the
 *    delay is minus the epoch time whenever the broker is not throttling.
 *    Node clamps it to 1 ms; Deno warns while doing so. The replacement clamps
 *    the delay at 0 itself.
 * 2. Producing is quadratic in the records per partition of one request:
 *    `groupMessagesPerPartition` copies the partition's array for every record
 *    (`[...current, message]`), so 10,000 records cost 50 million copies and a
 *    large request took longer than ten small ones. The replacement appends.
 *    kafkajs captures that function when its producer module loads, so the
 *    replacement goes into the CommonJS module cache first, before kafkajs'
 *    producer loads it.
 * 3. Every varint of every record (lengths, offset and timestamp deltas) was
 *    written through a temporary array and `Buffer.from`, the largest cost of
 *    a produce request under Deno. The replacements write the same bytes into
 *    the encoder's buffer directly.
 * 4. Each record of a produce request got its own zero-filled 512-byte
 *    buffer, its timestamp delta's size was computed with 64-bit `Long`
 *    objects, and each string key and value cost two calls into Deno's
 *    runtime (byte length, then write). The replacement record encoder sizes
 *    the buffer to the record, and writes ASCII strings and int32 deltas in
 *    plain JavaScript; anything else (headers, non-ASCII text, huge deltas)
 *    goes through kafkajs' own encoder. The bytes are the same. It is put in
 *    the module cache like (2), before kafkajs' produce request loads it.
 * 5. Every fetched record's offset and timestamp were computed with 64-bit
 *    `Long`s (BigInts): its timestamp delta read byte by byte into a `Long`,
 *    then the batch's first offset and timestamp parsed from text, added and
 *    turned back into text, about ten BigInt objects a record, the largest
 *    cost of a fetch after the bytes themselves. The replacement record
 *    decoder parses the batch's first offset and timestamp once and adds the
 *    deltas as numbers (exact below 2^53; larger values and any odd record go
 *    through kafkajs' own decoder). The record is the same. It is put in the
 *    module cache before kafkajs' record batch decoder loads it.
 * 6. A produce request copied every message into a new object, gave each
 *    record its own encoder and buffer (repair 4), copied every record into
 *    the batch, the batch twice more, and checksummed it one byte at a time.
 *    The replacement produce request (v3, which v4–v7 wrap) writes each
 *    record of a partition straight into the batch's one buffer (records it
 *    cannot write, with headers or non-ASCII text, through kafkajs' own
 *    record encoder) and checksums it with a slicing-by-8 CRC-32C. The bytes
 *    are the same; compressed requests go through kafkajs' own request. It
 *    is put in the module cache before kafkajs' produce v4–v7 load it.
 * 7. A fetch's messages before the fetched offset were filtered out with two
 *    `Long`s (a BigInt parsed from text) per message. The replacement `Batch`
 *    constructor compares the offsets as numbers where both are exact (below
 *    2^53), as `Long`s otherwise; the rest of the constructor and every
 *    method are kafkajs' own. It is put in the module cache before kafkajs'
 *    consumer group loads it.
 *
 * @module
 */
// @ts-types="./_request_queue.d.ts"
import RequestQueue from "kafkajs/src/network/requestQueue/index.js";
// @ts-types="./_encoder.d.ts"
import Encoder from "kafkajs/src/protocol/encoder.js";
import { createRequire } from "node:module";
import { setTimeout } from "node:timers";
import { Buffer } from "node:buffer";

/** The only kafkajs version whose internals these repairs know. */
export const patchedKafkajsVersion = "2.2.4";

/** A repair of kafkajs did not take effect: rivulet refuses to run on an unrepaired kafkajs. */
export class KafkajsPatchError extends Error {
  constructor(repair: string, problem: string) {
    super(
      `rivulet's kafkajs repair "${repair}" did not take effect: ${problem}. ` +
        `rivulet's kafkajs adapter (connectors/kafka/kafkajs/) must be the first to load kafkajs ` +
        `${patchedKafkajsVersion}, the version pinned in deno.json`,
    );
    this.name = "KafkajsPatchError";
  }
}

const require = createRequire(import.meta.resolve("kafkajs"));
const kafkajsVersion = (require("./package.json") as { version?: unknown }).version;
if (kafkajsVersion !== patchedKafkajsVersion) {
  throw new KafkajsPatchError(
    "all",
    `kafkajs is version ${JSON.stringify(kafkajsVersion)}, not ${patchedKafkajsVersion}`,
  );
}

/** A kafkajs module's path inside its package, resolved. */
const modulePath = (path: string) => require.resolve(`./src/${path}`);

/**
 * The module kafkajs loads by `require` is the one imported here: otherwise a
 * prototype repaired here would not be the one kafkajs uses.
 */
function assertSameModule(repair: string, path: string, imported: unknown): void {
  if (require(modulePath(path)) !== imported) {
    throw new KafkajsPatchError(repair, `kafkajs' src/${path} is loaded twice`);
  }
}

/**
 * Modules that capture a replaced function when they load must not be loaded
 * yet; loading them right after the replacement makes them capture it.
 */
function assertNotLoadedYet(repair: string, capturing: readonly string[]): void {
  for (const path of capturing) {
    if (require.cache[modulePath(path)] !== undefined) {
      throw new KafkajsPatchError(
        repair,
        `kafkajs' src/${path} was loaded before the repair, so it keeps kafkajs' own function`,
      );
    }
  }
}

/** Puts `replacement` in the module cache in place of a kafkajs module's exports, and checks it. */
function replaceModule(repair: string, path: string, replacement: unknown): void {
  const resolved = modulePath(path);
  require(resolved);
  const cached = require.cache[resolved];
  if (cached === undefined) {
    throw new KafkajsPatchError(repair, `kafkajs' src/${path} is not in the module cache`);
  }
  cached.exports = replacement;
  if (require(resolved) !== replacement) {
    throw new KafkajsPatchError(repair, `the module cache still returns kafkajs' src/${path}`);
  }
}

// Repair 1. kafkajs' CHECK_PENDING_REQUESTS_INTERVAL: how soon queued requests are retried.
const checkPendingRequestsIntervalMs = 10;

assertSameModule("request queue timeout", "network/requestQueue/index.js", RequestQueue);
RequestQueue.prototype.scheduleCheckPendingRequests = function () {
  if (this.throttleCheckTimeoutId) return;
  const throttledForMs = this.throttledUntil - Date.now();
  const delayMs = this.pending.length > 0 && throttledForMs <= 0
    ? checkPendingRequestsIntervalMs
    : Math.max(0, throttledForMs);
  this.throttleCheckTimeoutId = setTimeout(() => {
    this.throttleCheckTimeoutId = null;
    this.checkPendingRequests();
  }, delayMs);
};

// Repair 2.
interface GroupingInput<M> {
  topic: string;
  partitionMetadata: readonly unknown[];
  messages: readonly M[];
  partitioner: (
    input: { topic: string; partitionMetadata: readonly unknown[]; message: M },
  ) => number;
}

function groupMessagesPerPartition<M>(
  { topic, partitionMetadata, messages, partitioner }: GroupingInput<M>,
): Record<number, M[]> {
  const result: Record<number, M[]> = {};
  if (partitionMetadata.length === 0) return result;
  for (const message of messages) {
    const partition = partitioner({ topic, partitionMetadata, message });
    (result[partition] ??= []).push(message);
  }
  return result;
}

assertNotLoadedYet("produce grouping", ["producer/sendMessages.js"]);
replaceModule(
  "produce grouping",
  "producer/groupMessagesPerPartition.js",
  groupMessagesPerPartition,
);

// Repair 4 (repair 3 below changes the encoder it writes with).
/** What kafkajs' produce request hands its record encoder. */
export interface RecordInput {
  offsetDelta?: number;
  timestampDelta?: unknown;
  key?: Uint8Array | string | null;
  value?: Uint8Array | string | null;
  headers?: Record<string, unknown>;
}

const recordModule = "protocol/recordBatch/record/v0/index.js";
assertNotLoadedYet("record encoder", ["protocol/requests/produce/v3/request.js"]);
const kafkajsRecord = require(modulePath(recordModule)) as (input: RecordInput) => Encoder;

/**
 * The encoded length of a key or value if it is ASCII text (its length) or
 * bytes, -1 for null, undefined when kafkajs must encode it. Rather than
 * checking each character first, the writer checks the text as it copies it
 * (`writeField` returns false on a character past ASCII).
 */
function assumedLength(field: Uint8Array | string | null | undefined): number | undefined {
  if (field === null || field === undefined) return -1;
  if (typeof field === "string") return field.length;
  return Buffer.isBuffer(field) ? field.length : undefined;
}

function varIntSize(value: number): number {
  let rest = Encoder.encodeZigZag(value);
  let bytes = 1;
  while ((rest & 0xffffff80) !== 0) {
    bytes++;
    rest >>>= 7;
  }
  return bytes;
}

/** Writes a field's length and bytes; false when a string holds a character past ASCII. */
function writeField(
  encoder: Encoder,
  field: Uint8Array | string | null | undefined,
  length: number,
): boolean {
  encoder.writeVarInt(length);
  if (length <= 0) return true;
  if (typeof field === "string") {
    const buf = encoder.buf;
    let offset = encoder.offset;
    let high = 0;
    for (let i = 0; i < length; i++) {
      const code = field.charCodeAt(i);
      high |= code;
      buf[offset++] = code;
    }
    encoder.offset = offset;
    return high <= 0x7f;
  }
  encoder.writeBufferInternal(field as Buffer);
  return true;
}

/**
 * Writes one record at the end of `encoder` (growing it), as kafkajs' record
 * encoder writes it; false, with nothing written, when the record needs
 * kafkajs' own encoder (headers, non-ASCII text, a delta beyond int32).
 */
function writeRecordInto(
  encoder: Encoder,
  offsetDelta: number,
  timestampDelta: unknown,
  key: Uint8Array | string | null | undefined,
  value: Uint8Array | string | null | undefined,
  headers: Record<string, unknown> | undefined,
): boolean {
  if (headers !== undefined) {
    for (const _ in headers) return false;
  }
  const keyLength = assumedLength(key);
  const valueLength = assumedLength(value);
  // Deltas in int32 range have the same zig-zag varint whether 32 or 64 bits wide.
  if (
    keyLength === undefined || valueLength === undefined || typeof timestampDelta !== "number" ||
    (timestampDelta | 0) !== timestampDelta
  ) {
    return false;
  }
  const bodySize = 1 + varIntSize(timestampDelta) + varIntSize(offsetDelta) +
    varIntSize(keyLength) + Math.max(0, keyLength) +
    varIntSize(valueLength) + Math.max(0, valueLength) +
    1; // no headers: a zero count
  encoder.ensureAvailable(varIntSize(bodySize) + bodySize);
  const start = encoder.offset;
  encoder.writeVarInt(bodySize).writeInt8(0).writeVarInt(timestampDelta).writeVarInt(offsetDelta);
  // Text is taken as ASCII, and checked while it is copied: otherwise the
  // record is taken back and left to kafkajs' encoder.
  if (!writeField(encoder, key, keyLength) || !writeField(encoder, value, valueLength)) {
    encoder.offset = start;
    return false;
  }
  encoder.writeVarInt(0);
  return true;
}

/** The replacement of kafkajs' record encoder (exported for the test that compares their bytes). */
export function encodeRecord(input: RecordInput): Encoder {
  // At least the record's size: five varints of up to 5 bytes, the attributes
  // and the header count, the key and the value.
  const keyLength = assumedLength(input.key) ?? 0;
  const valueLength = assumedLength(input.value) ?? 0;
  const encoder = new Encoder(27 + Math.max(0, keyLength) + Math.max(0, valueLength));
  const { offsetDelta = 0, timestampDelta = 0, key, value, headers } = input;
  return writeRecordInto(encoder, offsetDelta, timestampDelta, key, value, headers)
    ? encoder
    : kafkajsRecord(input);
}

replaceModule("record encoder", recordModule, encodeRecord);

// Repair 3.
assertSameModule("varint writer", "protocol/encoder.js", Encoder);
const kafkajsWriters = {
  writeUVarInt: Encoder.prototype.writeUVarInt,
  writeVarLong: Encoder.prototype.writeVarLong,
};

// LEB128 with zig-zag sign folding, as kafkajs writes it: 7 bits a byte, high bit = more.
Encoder.prototype.writeUVarInt = function (value: number) {
  this.ensureAvailable(5);
  const buf = this.buf;
  let offset = this.offset;
  while ((value & 0xffffff80) !== 0) {
    buf[offset++] = (value & 0x7f) | 0x80;
    value >>>= 7;
  }
  buf[offset++] = value & 0x7f;
  this.offset = offset;
  return this;
};

Encoder.prototype.writeVarLong = function (value: unknown) {
  this.ensureAvailable(10);
  const buf = this.buf;
  let offset = this.offset;
  let rest = BigInt.asUintN(64, Encoder.encodeZigZag64(value).value);
  while (rest > 0x7fn) {
    buf[offset++] = Number(rest & 0x7fn) | 0x80;
    rest >>= 7n;
  }
  buf[offset++] = Number(rest);
  this.offset = offset;
  return this;
};

const repairedWriters = {
  writeUVarInt: Encoder.prototype.writeUVarInt,
  writeVarLong: Encoder.prototype.writeVarLong,
};

// Repair 5.
/** The part of kafkajs' protocol decoder the record decoder reads through. */
export interface RecordDecoderInput {
  buffer: Buffer;
  offset: number;
  readVarIntArray<T>(reader: (decoder: RecordDecoderInput) => T): T[];
}

/** What kafkajs' record batch decoder hands its record decoder (the fields read here). */
export interface RecordBatchContext {
  firstOffset?: string;
  firstTimestamp?: string;
  magicByte?: number;
  isControlBatch?: boolean;
  timestampType?: number;
  maxTimestamp?: string;
}

/** A record as kafkajs' record decoder returns it. */
export interface DecodedRecord {
  magicByte: number | undefined;
  attributes: number;
  timestamp: string;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, unknown>;
  isControlRecord: boolean;
  batchContext: RecordBatchContext;
}

const recordDecoderModule = "protocol/recordBatch/record/v0/decoder.js";
assertNotLoadedYet("record decoder", ["protocol/recordBatch/v0/decoder.js"]);
const kafkajsDecodeRecord = require(modulePath(recordDecoderModule)) as (
  decoder: RecordDecoderInput,
  batchContext?: RecordBatchContext,
) => DecodedRecord;
const headerDecoder = require(modulePath("protocol/recordBatch/header/v0/decoder.js")) as (
  decoder: RecordDecoderInput,
) => { key: string; value: Buffer | null };
const logAppendTime = 1;

/** The batch whose first offset and timestamp are parsed below: one parse per batch. */
let parsedContext: RecordBatchContext | undefined;
let firstOffset = NaN;
let firstTimestamp = NaN;

/** kafkajs' reduction of a record's headers to an object (a repeated name gets an array). */
function headersObject(headers: readonly { key: string; value: Buffer | null }[]) {
  return headers.reduce(
    (obj: Record<string, unknown>, { key, value }) => ({
      ...obj,
      [key]: obj[key] === undefined
        ? value
        : Array.isArray(obj[key])
        ? (obj[key] as unknown[]).concat([value])
        : [obj[key], value],
    }),
    {},
  );
}

/**
 * The replacement of kafkajs' record decoder (exported for the test that
 * compares their records): the same record, with the offset and timestamp
 * computed as numbers instead of 64-bit `Long`s (a timestamp delta of up to 7
 * varint bytes, sums within 2^53); anything else goes to kafkajs' decoder.
 */
export function decodeRecord(
  decoder: RecordDecoderInput,
  batchContext: RecordBatchContext = {},
): DecodedRecord {
  if (batchContext !== parsedContext) {
    parsedContext = batchContext;
    firstOffset = Number(batchContext.firstOffset);
    firstTimestamp = Number(batchContext.firstTimestamp);
  }
  const buf = decoder.buffer;
  const start = decoder.offset;
  if (start >= buf.length) return kafkajsDecodeRecord(decoder, batchContext);
  let pos = start;
  const attributes = (buf[pos++] << 24) >> 24;
  // Timestamp delta: a zig-zag varlong, read as a number while it fits 49 bits.
  let unsigned = 0;
  let scale = 1;
  let byte: number;
  let bytes = 0;
  let longer: boolean;
  do {
    byte = buf[pos++];
    unsigned += (byte & 0x7f) * scale;
    scale *= 128;
    longer = byte >= 0x80;
  } while (longer && ++bytes < 7);
  if (longer) {
    decoder.offset = start;
    return kafkajsDecodeRecord(decoder, batchContext);
  }
  // Offset delta: a zig-zag varint, the same arithmetic as kafkajs' readVarInt.
  let result = 0;
  let shift = 0;
  do {
    byte = buf[pos++];
    result += (byte & 0x7f) << shift;
    shift += 7;
  } while (byte >= 0x80);
  const timestampDelta = unsigned % 2 === 0 ? unsigned / 2 : -(unsigned + 1) / 2;
  const offset = firstOffset + ((result >>> 1) ^ -(result & 1));
  const { timestampType, maxTimestamp } = batchContext;
  const appendTime = timestampType === logAppendTime && maxTimestamp;
  const timestamp = firstTimestamp + timestampDelta;
  if (!Number.isSafeInteger(offset) || (!appendTime && !Number.isSafeInteger(timestamp))) {
    decoder.offset = start;
    return kafkajsDecodeRecord(decoder, batchContext);
  }
  const key = readBytes(decoder, buf, pos);
  pos = decoder.offset;
  const value = readBytes(decoder, buf, pos);
  pos = decoder.offset;
  let headers: Record<string, unknown>;
  if (buf[pos] === 0 || buf[pos] === 1) {
    // A count of 0 (varint 0) or -1 (varint 1): no headers.
    decoder.offset = pos + 1;
    headers = {};
  } else {
    headers = headersObject(decoder.readVarIntArray(headerDecoder));
  }
  return {
    magicByte: batchContext.magicByte,
    attributes,
    timestamp: appendTime ? maxTimestamp : String(timestamp),
    offset: String(offset),
    key,
    value,
    headers,
    isControlRecord: batchContext.isControlBatch ?? false,
    batchContext,
  };
}

/** kafkajs' readVarIntBytes from `pos`: null for length -1, else a view of the bytes. */
function readBytes(decoder: RecordDecoderInput, buf: Buffer, pos: number): Buffer | null {
  let result = 0;
  let shift = 0;
  let byte: number;
  do {
    byte = buf[pos++];
    result += (byte & 0x7f) << shift;
    shift += 7;
  } while (byte >= 0x80);
  const length = (result >>> 1) ^ -(result & 1);
  if (length === -1) {
    decoder.offset = pos;
    return null;
  }
  decoder.offset = pos + length;
  return buf.slice(pos, pos + length);
}

replaceModule("record decoder", recordDecoderModule, decodeRecord);

/** kafkajs' own record decoder, which repair 5 replaced (for the test that compares the two). */
export function decodeRecordWithKafkajs(
  decoder: RecordDecoderInput,
  batchContext: RecordBatchContext,
): DecodedRecord {
  return kafkajsDecodeRecord(decoder, batchContext);
}

// Repair 6.
/** A message of a produce request, as kafkajs' producer hands it on. */
export interface ProduceMessage {
  key?: Uint8Array | string | null;
  value?: Uint8Array | string | null;
  headers?: Record<string, unknown>;
  timestamp?: number | string | null;
}

/** What kafkajs' producer passes to its produce request (v3; v4–v7 pass the same to v3). */
export interface ProduceRequestInput {
  acks: number;
  timeout: number;
  transactionalId?: string | null;
  producerId?: unknown;
  producerEpoch?: number;
  compression?: number;
  topicData: readonly {
    topic: string;
    partitions: readonly {
      partition: number;
      firstSequence?: number;
      messages: readonly ProduceMessage[];
    }[];
  }[];
}

/** kafkajs' produce request: the protocol fields and the body's encoder. */
interface ProduceRequest {
  apiKey: number;
  apiVersion: number;
  apiName: string;
  expectResponse: () => boolean;
  encode: () => Promise<Encoder>;
}

const produceModule = "protocol/requests/produce/v3/request.js";
assertNotLoadedYet(
  "produce request",
  ["v4", "v5", "v6", "v7"].map((v) => `protocol/requests/produce/${v}/request.js`),
);
const kafkajsProduceV3 = require(modulePath(produceModule)) as (
  input: ProduceRequestInput,
) => ProduceRequest;
const kafkajsLong = require(modulePath("utils/long.js")) as { fromInt(value: number): unknown };
const produceApiKey = (require(modulePath("protocol/requests/apiKeys.js")) as { Produce: number })
  .Produce;
const noCompression =
  (require(modulePath("protocol/message/compression/index.js")) as { Types: { None: number } })
    .Types.None;

/** CRC-32C (Castagnoli) tables for eight bytes a step ("slicing by 8"). */
const crcTables = (() => {
  const tables = new Int32Array(256 * 8);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    tables[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    for (let t = 1; t < 8; t++) {
      const previous = tables[(t - 1) * 256 + n];
      tables[t * 256 + n] = (previous >>> 8) ^ tables[previous & 0xff];
    }
  }
  return tables;
})();

/**
 * CRC-32C of `bytes[start, end)`, unsigned: the checksum of a record batch,
 * the same number as kafkajs' byte-at-a-time `crc32C`, about 2.5× faster.
 */
export function crc32c(bytes: Uint8Array, start = 0, end = bytes.length): number {
  const t = crcTables;
  let crc = -1;
  let i = start;
  const stop = end - ((end - start) & 7);
  for (; i < stop; i += 8) {
    const low = crc ^
      (bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24));
    crc = t[1792 + (low & 0xff)] ^ t[1536 + ((low >>> 8) & 0xff)] ^
      t[1280 + ((low >>> 16) & 0xff)] ^ t[1024 + (low >>> 24)] ^
      t[768 + bytes[i + 4]] ^ t[512 + bytes[i + 5]] ^ t[256 + bytes[i + 6]] ^ t[bytes[i + 7]];
  }
  for (; i < end; i++) crc = t[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ -1) >>> 0;
}

/** A string's length: bytes for ASCII, an estimate otherwise (the encoder grows). */
function roughLength(field: Uint8Array | string | null | undefined): number {
  return field === null || field === undefined ? 0 : field.length;
}

/**
 * One partition's part of a produce request (partition, size, record batch),
 * as kafkajs' `partitionsEncoder` and `RecordBatch` write it without
 * compression, but with every record written straight into the batch's one
 * buffer instead of an encoder, a buffer and a copied message object each.
 */
function encodePartition(
  partition: number,
  firstSequence: number | undefined,
  messages: readonly ProduceMessage[],
  transactionalId: string | null,
  producerId: unknown,
  producerEpoch: number,
): Encoder {
  const dateNow = Date.now();
  // kafkajs sorts the timestamps given with the default (text) order: kept as is.
  const given: (number | string)[] = [];
  let estimate = 64;
  for (let i = 0; i < messages.length; i++) {
    const message = messages[i];
    if (message.timestamp != null) given.push(message.timestamp);
    estimate += 27 + roughLength(message.key) + roughLength(message.value);
  }
  given.sort();
  const timestamps = given.length === 0 ? [dateNow] : given;
  const firstTimestamp = timestamps[0];
  const maxTimestamp = timestamps[timestamps.length - 1];
  const body = new Encoder(estimate)
    .writeInt16(transactionalId ? 16 : 0) // attributes: no compression, create time
    .writeInt32(messages.length - 1) // last offset delta
    .writeInt64(firstTimestamp)
    .writeInt64(maxTimestamp)
    .writeInt64(producerId)
    .writeInt16(producerEpoch)
    .writeInt32(firstSequence as number)
    .writeInt32(messages.length);
  for (let i = 0; i < messages.length; i++) {
    const message = messages[i];
    const timestampDelta = ((message.timestamp || dateNow) as number) - (firstTimestamp as number);
    const { key, value, headers } = message;
    if (!writeRecordInto(body, i, timestampDelta, key, value, headers)) {
      body.writeEncoder(kafkajsRecord({ ...message, offsetDelta: i, timestampDelta }));
    }
  }
  const bodyLength = body.offset;
  // partition, size | first offset, length | leader epoch, magic, crc | body
  const out = new Encoder(4 + 4 + 8 + 4 + 4 + 1 + 4 + bodyLength)
    .writeInt32(partition)
    .writeInt32(8 + 4 + 9 + bodyLength)
    .writeInt64(0)
    .writeInt32(9 + bodyLength)
    .writeInt32(0)
    .writeInt8(2)
    .writeUInt32(crc32c(body.buf, 0, bodyLength));
  out.buf.set(body.buf.subarray(0, bodyLength), out.offset);
  out.offset += bodyLength;
  return out;
}

/** The replacement of kafkajs' produce request v3 (and so of v4–v7, which build on it). */
export function produceRequest(input: ProduceRequestInput): ProduceRequest {
  const {
    acks,
    timeout,
    transactionalId = null,
    producerId = kafkajsLong.fromInt(-1),
    producerEpoch = 0,
    compression = noCompression,
    topicData,
  } = input;
  if (compression !== noCompression) return kafkajsProduceV3(input);
  return {
    apiKey: produceApiKey,
    apiVersion: 3,
    apiName: "Produce",
    expectResponse: () => acks !== 0,
    // deno-lint-ignore require-await
    encode: async () => {
      const topics: Encoder[] = [];
      for (const { topic, partitions } of topicData) {
        const encoded: Encoder[] = [];
        for (const { partition, firstSequence, messages } of partitions) {
          encoded.push(
            encodePartition(
              partition,
              firstSequence,
              messages,
              transactionalId,
              producerId,
              producerEpoch,
            ),
          );
        }
        topics.push(new Encoder().writeString(topic).writeArray(encoded));
      }
      return new Encoder()
        .writeString(transactionalId)
        .writeInt16(acks)
        .writeInt32(timeout)
        .writeArray(topics);
    },
  };
}

replaceModule("produce request", produceModule, produceRequest);

/**
 * The body of a produce request encoded by the replacement and by kafkajs'
 * own produce request (with repair 4's record encoder, compared on its own
 * elsewhere): the bytes must be the same (the encoder test compares them).
 */
export async function encodeProduceBothWays(
  input: ProduceRequestInput,
): Promise<{ readonly rivulet: Uint8Array; readonly kafkajs: Uint8Array }> {
  const rivulet = (await produceRequest(input).encode()).buffer;
  const kafkajs = (await kafkajsProduceV3(input).encode()).buffer;
  return { rivulet, kafkajs };
}

// Repair 7.
/** The fields of a fetched message the batch's offset filter reads. */
interface FetchedMessage {
  offset: string;
  isControlRecord?: boolean;
}

/** The partition data kafkajs' fetch hands to its `Batch`. */
interface FetchedPartition {
  partition: number;
  highWatermark: string;
  abortedTransactions?: unknown[];
  messages: FetchedMessage[];
}

const batchModule = "consumer/batch.js";
assertNotLoadedYet("batch offset filter", ["consumer/consumerGroup.js"]);
const kafkajsBatch = require(modulePath(batchModule)) as { prototype: object };
const filterAbortedMessages = require(modulePath("consumer/filterAbortedMessages.js")) as (
  input: { messages: FetchedMessage[]; abortedTransactions?: unknown[] },
) => FetchedMessage[];
const batchLong = require(modulePath("utils/long.js")) as {
  fromValue(value: unknown): { gte(other: unknown): boolean };
};

/**
 * kafkajs' filter of a fetch's messages at or after the fetched offset,
 * comparing numbers where both offsets are exact as numbers (below 2^53)
 * and `Long`s otherwise, as kafkajs does for every message.
 */
export function messagesWithinOffset(
  messages: readonly FetchedMessage[],
  fetchedOffset: string,
): FetchedMessage[] {
  const first = Number(fetchedOffset);
  if (!Number.isSafeInteger(first)) {
    const long = batchLong.fromValue(fetchedOffset);
    return messages.filter((message) => batchLong.fromValue(message.offset).gte(long));
  }
  const within: FetchedMessage[] = [];
  for (let i = 0; i < messages.length; i++) {
    const message = messages[i];
    const offset = Number(message.offset);
    const keep = Number.isSafeInteger(offset)
      ? offset >= first
      : batchLong.fromValue(message.offset).gte(batchLong.fromValue(fetchedOffset));
    if (keep) within.push(message);
  }
  return within;
}

/** The replacement of kafkajs' consumer `Batch` constructor: the same fields, the same prototype. */
function Batch(
  this: Record<string, unknown>,
  topic: string,
  fetchedOffset: string,
  partitionData: FetchedPartition,
): void {
  this.fetchedOffset = fetchedOffset;
  const { abortedTransactions, messages } = partitionData;
  this.topic = topic;
  this.partition = partitionData.partition;
  this.highWatermark = partitionData.highWatermark;
  this.rawMessages = messages;
  const within = messagesWithinOffset(messages, fetchedOffset);
  this.messagesWithinOffset = within;
  this.messages = filterAbortedMessages({ messages: within, abortedTransactions })
    .filter((message) => !message.isControlRecord);
}
Batch.prototype = kafkajsBatch.prototype;

replaceModule("batch offset filter", batchModule, Batch);

// The modules that capture repairs 2 and 4 load now, while the module cache
// holds the replacements.
require(modulePath("producer/sendMessages.js"));
require(modulePath("protocol/requests/produce/v3/request.js"));
// The record batch decoder captures repair 5.
require(modulePath("protocol/recordBatch/v0/decoder.js"));
// The consumer group captures repair 7.
require(modulePath("consumer/consumerGroup.js"));

/**
 * Encodes one record with rivulet's repaired record encoder, and with
 * kafkajs' own record encoder and varint writers as they were before the
 * repairs: the bytes must be the same (the encoder test compares them).
 *
 * @example
 * ```ts ignore
 * const { rivulet, kafkajs } = encodeRecordBothWays({ key: "k", value: "v", offsetDelta: 3 });
 * ```
 */
export function encodeRecordBothWays(
  input: RecordInput,
): { readonly rivulet: Uint8Array; readonly kafkajs: Uint8Array } {
  const rivulet = encodeRecord(input).buffer;
  Object.assign(Encoder.prototype, kafkajsWriters);
  try {
    return { rivulet, kafkajs: kafkajsRecord(input).buffer };
  } finally {
    Object.assign(Encoder.prototype, repairedWriters);
  }
}
