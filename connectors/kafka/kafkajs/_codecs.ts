/**
 * Snappy, LZ4 and zstd for kafkajs, which ships only gzip: each codec is
 * registered in kafkajs' codec table when the kafkajs adapter loads, so every
 * kafkajs producer can write it and every consumer reads it. Private to the
 * kafkajs adapter; other clients bring their own codecs.
 *
 * - snappy: `snappyjs` (pure JavaScript). Written in the xerial framing the
 *   Java client writes; read framed or unframed (librdkafka and kafkajs-snappy
 *   write unframed).
 * - lz4: blocks compressed by `lz4-wasm-nodejs` (lz4_flex in WebAssembly,
 *   its .wasm in the npm package), in an LZ4 frame written here with
 *   independent 64 KiB blocks and the header checksum Kafka checks; read by
 *   `lz4js` (pure JavaScript), which takes any frame. lz4js' own compressor is
 *   not used: it ends blocks with matches closer to the end than the LZ4 block
 *   format allows, which Kafka's decoder rejects.
 * - zstd: `@bokuweb/zstd-wasm` (the reference zstd compiled to WebAssembly;
 *   its .wasm file ships in the npm package, so `deno compile` embeds it).
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { CompressionCodecs, CompressionTypes } from "kafkajs";
import * as snappy from "snappyjs";
import * as lz4 from "lz4js";
import { hash as xxh32 } from "lz4js/xxh32.js";

// The two WebAssembly codecs read their .wasm file when loaded: they are
// imported on first use, so a pipeline that never meets lz4 or zstd needs no
// read access to them (the narrowest --allow-read stays narrow).
type Lz4Wasm = typeof import("lz4-wasm-nodejs");
type ZstdWasm = typeof import("@bokuweb/zstd-wasm");
let lz4Wasm: Promise<Lz4Wasm> | undefined;
let zstdWasm: Promise<ZstdWasm> | undefined;

function loadZstd(): Promise<ZstdWasm> {
  return zstdWasm ??= import("@bokuweb/zstd-wasm").then(async (zstd) => {
    await zstd.init();
    return zstd;
  });
}

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

// LZ4 frame: magic, FLG (version 01, independent blocks), BD (64 KiB blocks), header checksum.
const lz4Magic = [0x04, 0x22, 0x4d, 0x18];
const lz4Flags = 0x40 | 0x20;
const lz4BlockDescriptor = 4 << 4;
const lz4BlockSize = 64 * 1024;

/** An LZ4 frame of independently compressed 64 KiB blocks, as the Java client writes. */
function lz4Frame(src: Uint8Array, lz4CompressPrependSize: Lz4Wasm["compress"]): Uint8Array {
  const descriptor = Uint8Array.from([lz4Flags, lz4BlockDescriptor]);
  const headerChecksum = (xxh32(0, descriptor, 0, 2) >> 8) & 0xff;
  const parts: Uint8Array[] = [Uint8Array.from([...lz4Magic, ...descriptor, headerChecksum])];
  for (let start = 0; start < src.length; start += lz4BlockSize) {
    const size = Math.min(lz4BlockSize, src.length - start);
    const raw = src.subarray(start, start + size);
    // One block per call: no match reaches into the previous block. The
    // result starts with the uncompressed size (4 bytes), which the frame does not hold.
    const block = lz4CompressPrependSize(raw).subarray(4);
    const length = new Uint8Array(4);
    const view = new DataView(length.buffer);
    if (block.length >= size) {
      view.setUint32(0, (0x80000000 | size) >>> 0, true);
      parts.push(length, raw);
    } else {
      view.setUint32(0, block.length, true);
      parts.push(length, block);
    }
  }
  parts.push(new Uint8Array(4)); // end mark
  return Buffer.concat(parts);
}

const lz4Codec: Codec = {
  async compress({ buffer }) {
    const { compress } = await (lz4Wasm ??= import("lz4-wasm-nodejs"));
    return asBuffer(lz4Frame(buffer, compress));
  },
  decompress(buffer) {
    return Promise.resolve(asBuffer(lz4.decompress(buffer)));
  },
};

const zstdCodec: Codec = {
  async compress({ buffer }) {
    const zstd = await loadZstd();
    // Level 3: zstd's own default, as librdkafka's and the Java client's.
    return asBuffer(zstd.compress(buffer, 3));
  },
  async decompress(buffer) {
    const zstd = await loadZstd();
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
