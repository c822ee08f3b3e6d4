/**
 * Snappy, LZ4 and zstd for kafkajs, which ships only gzip: each codec is
 * registered in kafkajs' codec table when the kafkajs adapter loads, so every
 * kafkajs producer can write it and every consumer reads it. Private to the
 * kafkajs adapter; other clients bring their own codecs.
 *
 * - snappy: `snappyjs` (pure JavaScript). Written in the xerial framing the
 *   Java client writes; read framed or unframed (librdkafka and kafkajs-snappy
 *   write unframed).
 * - lz4: `lz4js` (pure JavaScript), the LZ4 frame format Kafka uses since
 *   message format v1.
 * - zstd: `@bokuweb/zstd-wasm` (the reference zstd compiled to WebAssembly;
 *   its .wasm file ships in the npm package, so `deno compile` embeds it).
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { CompressionCodecs, CompressionTypes } from "kafkajs";
import * as snappy from "snappyjs";
import * as lz4 from "lz4js";
import * as zstd from "@bokuweb/zstd-wasm";

/** What kafkajs calls with a codec: compress an encoder's buffer, decompress bytes. */
interface Codec {
  compress(encoder: { buffer: Buffer }): Promise<Buffer>;
  decompress(buffer: Buffer): Promise<Buffer>;
}

// xerial snappy-java's stream header: magic, then version 1 and compatible version 1.
const xerialMagic = [0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00];
const xerialHeaderLength = 16;
const xerialBlockSize = 32 * 1024;

const snappyCodec: Codec = {
  compress({ buffer }) {
    const blocks: Buffer[] = [Buffer.from([...xerialMagic, 0, 0, 0, 1, 0, 0, 0, 1])];
    for (let start = 0; start < buffer.length || start === 0; start += xerialBlockSize) {
      const block = snappy.compress(buffer.subarray(start, start + xerialBlockSize));
      const length = Buffer.alloc(4);
      length.writeInt32BE(block.length);
      blocks.push(length, Buffer.from(block.buffer, block.byteOffset, block.byteLength));
      if (buffer.length === 0) break;
    }
    return Promise.resolve(Buffer.concat(blocks));
  },
  decompress(buffer) {
    if (!isXerial(buffer)) return Promise.resolve(asBuffer(snappy.uncompress(buffer)));
    const parts: Buffer[] = [];
    let at = xerialHeaderLength;
    while (at + 4 <= buffer.length) {
      const length = buffer.readInt32BE(at);
      at += 4;
      parts.push(asBuffer(snappy.uncompress(buffer.subarray(at, at + length))));
      at += length;
    }
    return Promise.resolve(Buffer.concat(parts));
  },
};

function isXerial(buffer: Buffer): boolean {
  if (buffer.length < xerialHeaderLength) return false;
  for (let i = 0; i < xerialMagic.length; i++) if (buffer[i] !== xerialMagic[i]) return false;
  return true;
}

const lz4Codec: Codec = {
  compress({ buffer }) {
    return Promise.resolve(asBuffer(lz4.compress(buffer)));
  },
  decompress(buffer) {
    return Promise.resolve(asBuffer(lz4.decompress(buffer)));
  },
};

let zstdReady: Promise<void> | undefined;

const zstdCodec: Codec = {
  async compress({ buffer }) {
    await (zstdReady ??= zstd.init());
    // Level 3: zstd's own default, as librdkafka's and the Java client's.
    return asBuffer(zstd.compress(buffer, 3));
  },
  async decompress(buffer) {
    await (zstdReady ??= zstd.init());
    return asBuffer(zstd.decompress(buffer));
  },
};

function asBuffer(bytes: Uint8Array | number[]): Buffer {
  if (Array.isArray(bytes)) return Buffer.from(bytes);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

const codecs = CompressionCodecs as unknown as Record<number, () => Codec>;
codecs[CompressionTypes.Snappy] = () => snappyCodec;
codecs[CompressionTypes.LZ4] = () => lz4Codec;
codecs[CompressionTypes.ZSTD] = () => zstdCodec;

/** Whether the codecs took their place in kafkajs' table (checked by the adapter's tests). */
export function codecsRegistered(): boolean {
  return codecs[CompressionTypes.Snappy]() === snappyCodec &&
    codecs[CompressionTypes.LZ4]() === lz4Codec && codecs[CompressionTypes.ZSTD]() === zstdCodec;
}
