/**
 * The local cache of state that lives in Kafka: with `--state-store kafka`
 * and a `--state-dir`, each committed checkpoint's changelog entries are
 * also written to the state directory together with the changelog offsets
 * they correspond to, so that a restart restores the cache and then reads
 * only the changelog's tail after those offsets (as Kafka Streams does with a
 * local state store and its `.checkpoint` file) instead of the whole topic.
 *
 * A cache is only a shortcut: {@linkcode cacheMisfit} says why one cannot be
 * used (another topic, records after it deleted, tombstones after it possibly
 * compacted away), and the restore then reads the changelog from the
 * beginning. The changelog's incarnation record (see `changelog.ts`) proves
 * during the read that the topic is the one the cache was taken of.
 *
 * @module
 */
import { deserialize, serialize } from "node:v8";
import type { PartitionOffsets } from "../../connectors/kafka/client.ts";
import { removeFiles } from "./checkpoint.ts";

const FILE = "changelog-cache.bin";

/** Where the changelog's incarnation record is: the topic the cache was taken of. */
export interface ChangelogIncarnation {
  readonly partition: number;
  readonly offset: string;
  /** The record's value: a random id written when the changelog was last restored in full. */
  readonly id: string;
}

/** The entries of one committed checkpoint and the changelog offsets right after them. */
export interface ChangelogCache {
  readonly version: 1;
  readonly topic: string;
  /** Per partition (index = partition), the offset the changelog's tail starts at. */
  readonly offsets: readonly string[];
  readonly incarnation: ChangelogIncarnation;
  /** Wall-clock time of the save (ms since the epoch): tombstones younger than it are still in the log. */
  readonly savedAtMs: number;
  /** Changelog key to record value, as the changelog holds them after the cache's checkpoint. */
  readonly entries: ReadonlyMap<string, Uint8Array>;
}

/** Reads and writes the changelog cache of one pipeline in `dir`. */
export class ChangelogCacheStore {
  readonly dir: string;
  readonly path: string;

  constructor(dir: string) {
    this.dir = dir;
    this.path = `${dir}/${FILE}`;
  }

  /** Removes the cache of `dir` (`--reset-state`); resolves to the paths removed. */
  static async discard(dir: string): Promise<string[]> {
    return await removeFiles(dir, [FILE, `${FILE}.tmp`]);
  }

  /** The cache, or the reason there is none that can be read (missing, unreadable). */
  async load(): Promise<ChangelogCache | { readonly unusable: string }> {
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(this.path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return { unusable: "there is no local cache" };
      throw error;
    }
    try {
      const cache = deserialize(bytes) as ChangelogCache;
      if (cache?.version !== 1 || !(cache.entries instanceof Map)) {
        return { unusable: `the local cache "${this.path}" has an unknown version` };
      }
      return cache;
    } catch (error) {
      return { unusable: `the local cache "${this.path}" cannot be read: ${String(error)}` };
    }
  }

  /** Replaces the cache atomically (a temporary file, synced, renamed over the old one). */
  async save(cache: ChangelogCache): Promise<void> {
    await Deno.mkdir(this.dir, { recursive: true });
    const temporary = `${this.path}.tmp`;
    const file = await Deno.open(temporary, { write: true, create: true, truncate: true });
    try {
      const bytes = serialize(cache);
      let written = 0;
      while (written < bytes.length) written += await file.write(bytes.subarray(written));
      await file.sync();
    } finally {
      file.close();
    }
    await Deno.rename(temporary, this.path);
  }
}

/** Kafka's default `delete.retention.ms`: how long tombstones outlive compaction (24 h). */
const DEFAULT_DELETE_RETENTION_MS = 86_400_000;

/**
 * Why `cache` cannot be restored from the changelog as it is now (`offsets`,
 * its `configs`), or `undefined` when its tail can be read after it.
 */
export function cacheMisfit(
  cache: ChangelogCache,
  topic: string,
  offsets: readonly PartitionOffsets[],
  configs: Readonly<Record<string, string>>,
  nowMs: number,
): string | undefined {
  if (cache.topic !== topic) return `the local cache is of changelog topic "${cache.topic}"`;
  if (cache.offsets.length !== offsets.length) {
    return `the local cache has ${cache.offsets.length} partitions, the changelog ${offsets.length}`;
  }
  for (const { partition, low, high } of offsets) {
    const at = BigInt(cache.offsets[partition] ?? "-1");
    if (at < BigInt(low)) {
      return `the changelog's partition ${partition} starts at offset ${low}, after the cache's ${at}: ` +
        "records after the cache were deleted";
    }
    if (at > BigInt(high)) {
      return `the changelog's partition ${partition} ends at offset ${high}, before the cache's ${at}: ` +
        "was the topic created again?";
    }
  }
  const retention = Number(configs["delete.retention.ms"] ?? DEFAULT_DELETE_RETENTION_MS);
  const age = nowMs - cache.savedAtMs;
  if (!(age < retention)) {
    return `the local cache is ${Math.round(age / 1000)} s old, more than the changelog's ` +
      `delete.retention.ms (${retention} ms): deletions after it may have been compacted away`;
  }
  return undefined;
}
