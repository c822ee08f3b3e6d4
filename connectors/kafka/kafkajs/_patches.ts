/**
 * Two repairs of kafkajs 2.2.4 internals, applied for their side effect when
 * `kafkajs.ts` is imported (it imports this module before kafkajs itself).
 * Both keep kafkajs' behaviour and change only what is named here; the version
 * is pinned in deno.json, so the internals they touch do not move.
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
 *    replacement goes into the CommonJS module cache first; if kafkajs was
 *    already loaded by someone else, kafkajs stays as it was (only slower).
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
 *
 * @module
 */
// @ts-types="./_kafkajs_request_queue.d.ts"
import RequestQueue from "kafkajs/src/network/requestQueue/index.js";
// @ts-types="./_kafkajs_encoder.d.ts"
import Encoder from "kafkajs/src/protocol/encoder.js";
import { createRequire } from "node:module";
import { setTimeout } from "node:timers";
import { Buffer } from "node:buffer";

// kafkajs' CHECK_PENDING_REQUESTS_INTERVAL: how soon queued requests are retried.
const checkPendingRequestsIntervalMs = 10;

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

const require = createRequire(import.meta.resolve("kafkajs"));
const groupingPath = require.resolve("./src/producer/groupMessagesPerPartition.js");
require(groupingPath);
const cached = require.cache[groupingPath];
if (cached !== undefined) cached.exports = groupMessagesPerPartition;

interface RecordInput {
  offsetDelta?: number;
  timestampDelta?: unknown;
  key?: Uint8Array | string | null;
  value?: Uint8Array | string | null;
  headers?: Record<string, unknown>;
}

const recordPath = require.resolve("./src/protocol/recordBatch/record/v0/index.js");
const kafkajsRecord = require(recordPath) as (input: RecordInput) => Encoder;

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

function encodeRecord(input: RecordInput): Encoder {
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

const cachedRecord = require.cache[recordPath];
if (cachedRecord !== undefined) cachedRecord.exports = encodeRecord;

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
