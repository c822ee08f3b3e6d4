/**
 * The codecs registered in kafkajs: each takes its place in kafkajs' table and
 * gives back exactly what it compressed, for empty, tiny and multi-block
 * inputs. Against other implementations they are checked on the broker
 * (tests/e2e/compression_test.ts: Kafka's own decoders and librdkafka's).
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { codecsRegistered } from "../../../connectors/kafka/kafkajs/_codecs.ts";
import { CompressionCodecs, CompressionTypes } from "kafkajs";

type Codec = {
  compress(encoder: { buffer: Buffer }): Promise<Buffer>;
  decompress(buffer: Buffer): Promise<Buffer>;
};
const table = CompressionCodecs as unknown as Record<number, () => Codec>;

/** Inputs with repeats at every distance up to 70,000 bytes (past one 64 KiB block). */
function inputs(): Buffer[] {
  let seed = 7;
  const random = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const result = [Buffer.alloc(0), Buffer.from("a"), Buffer.from("hello, hello, hello!")];
  for (const size of [1_000, 65_536, 65_537, 300_000]) {
    const bytes: number[] = [];
    while (bytes.length < size) {
      if (random() < 0.5 && bytes.length > 100) {
        const back = 1 + Math.floor(random() * Math.min(bytes.length, 70_000));
        for (let i = 0; i < 4 + random() * 60; i++) bytes.push(bytes[bytes.length - back]);
      } else bytes.push(Math.floor(random() * 256));
    }
    result.push(Buffer.from(bytes.slice(0, size)));
  }
  return result;
}

Deno.test("snappy, lz4 and zstd are registered in kafkajs' codec table", () => {
  assert.equal(codecsRegistered(), true);
});

for (
  const [name, type] of Object.entries({
    gzip: CompressionTypes.GZIP,
    snappy: CompressionTypes.Snappy,
    lz4: CompressionTypes.LZ4,
    zstd: CompressionTypes.ZSTD,
  })
) {
  Deno.test(`${name} gives back exactly what it compressed (empty to 300 KB)`, async () => {
    const codec = table[type]();
    for (const input of inputs()) {
      const compressed = await codec.compress({ buffer: input });
      const back = await codec.decompress(compressed);
      assert.ok(Buffer.from(back).equals(input), `${name}: ${input.length} bytes`);
    }
  });
}

Deno.test("snappy reads unframed snappy too (as librdkafka and kafkajs-snappy write it)", async () => {
  const snappy = await import("snappyjs");
  const input = Buffer.from("unframed snappy ".repeat(50));
  const raw = snappy.compress(input);
  const back = await table[CompressionTypes.Snappy]().decompress(Buffer.from(raw));
  assert.ok(Buffer.from(back).equals(input));
});
