/**
 * Five repairs of kafkajs 2.2.4 internals, applied for their side effect when
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

/** The encoded length of a key or value: -1 for null, undefined when kafkajs must encode it. */
function fieldLength(field: Uint8Array | string | null | undefined): number | undefined {
  if (field === null || field === undefined) return -1;
  if (typeof field !== "string") return Buffer.isBuffer(field) ? field.length : undefined;
  for (let i = 0; i < field.length; i++) if (field.charCodeAt(i) > 0x7f) return undefined;
  return field.length;
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

function writeField(
  encoder: Encoder,
  field: Uint8Array | string | null | undefined,
  length: number,
) {
  encoder.writeVarInt(length);
  if (length <= 0) return;
  if (typeof field === "string") {
    const buf = encoder.buf;
    let offset = encoder.offset;
    for (let i = 0; i < length; i++) buf[offset++] = field.charCodeAt(i);
    encoder.offset = offset;
  } else {
    encoder.writeBufferInternal(field as Buffer);
  }
}

/** The replacement of kafkajs' record encoder (exported for the test that compares their bytes). */
export function encodeRecord(input: RecordInput): Encoder {
  const { offsetDelta = 0, timestampDelta = 0, key, value, headers } = input;
  if (headers !== undefined) {
    for (const _ in headers) return kafkajsRecord(input);
  }
  const keyLength = fieldLength(key);
  const valueLength = fieldLength(value);
  // Deltas in int32 range have the same zig-zag varint whether 32 or 64 bits wide.
  if (
    keyLength === undefined || valueLength === undefined || typeof timestampDelta !== "number" ||
    (timestampDelta | 0) !== timestampDelta
  ) {
    return kafkajsRecord(input);
  }
  const bodySize = 1 + varIntSize(timestampDelta) + varIntSize(offsetDelta) +
    varIntSize(keyLength) + Math.max(0, keyLength) +
    varIntSize(valueLength) + Math.max(0, valueLength) +
    1; // no headers: a zero count
  const encoder = new Encoder(varIntSize(bodySize) + bodySize);
  encoder.writeVarInt(bodySize).writeInt8(0).writeVarInt(timestampDelta).writeVarInt(offsetDelta);
  writeField(encoder, key, keyLength);
  writeField(encoder, value, valueLength);
  encoder.writeVarInt(0);
  return encoder;
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

// The modules that capture repairs 2 and 4 load now, while the module cache
// holds the replacements.
require(modulePath("producer/sendMessages.js"));
require(modulePath("protocol/requests/produce/v3/request.js"));
// The record batch decoder captures repair 5.
require(modulePath("protocol/recordBatch/v0/decoder.js"));

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
