/**
 * Kafka's default partitioner for keyed records, bit for bit as the Java
 * client computes it (`Utils.toPositive(Utils.murmur2(keyBytes)) % numPartitions`),
 * so that a key lands on the same partition whichever client wrote it and a
 * Java (or kafka-streams) reader joining on that key finds it where it expects.
 *
 * @example
 * ```ts
 * import { keyPartition, murmur2 } from "./murmur2.ts";
 * murmur2(new TextEncoder().encode("21")); // -973932308, as org.apache.kafka.common.utils.Utils.murmur2
 * keyPartition(new TextEncoder().encode("21"), 7); // 3
 * ```
 *
 * @module
 */

const seed = 0x9747b28c;
const m = 0x5bd1e995;

/**
 * MurmurHash2 (32-bit) with Kafka's seed, as `org.apache.kafka.common.utils.Utils.murmur2`:
 * a signed 32-bit result, like Java's `int`.
 */
export function murmur2(data: Uint8Array): number {
  const length = data.length;
  let h = (seed ^ length) | 0;
  const whole = length & ~3;
  for (let i = 0; i < whole; i += 4) {
    let k = data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24);
    k = Math.imul(k, m);
    k ^= k >>> 24;
    k = Math.imul(k, m);
    h = Math.imul(h, m) ^ k;
  }
  const tail = length & 3;
  if (tail > 0) {
    if (tail === 3) h ^= data[whole + 2] << 16;
    if (tail >= 2) h ^= data[whole + 1] << 8;
    h ^= data[whole];
    h = Math.imul(h, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h | 0;
}

/** `Utils.toPositive`: clears the sign bit (not `Math.abs`, which Java's partitioner avoids). */
export function toPositive(n: number): number {
  return n & 0x7fffffff;
}

/** The partition the Java client's default partitioner gives a record with these key bytes. */
export function keyPartition(key: Uint8Array, partitions: number): number {
  if (!Number.isInteger(partitions) || partitions < 1) {
    throw new RangeError(`A topic has at least one partition, not ${partitions}`);
  }
  return partitions === 1 ? 0 : toPositive(murmur2(key)) % partitions;
}
