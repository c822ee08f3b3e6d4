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
import type { PartitionOffsets } from "../../connectors/kafka/client.ts";
import { removeFiles } from "./checkpoint.ts";
import { messageOf } from "./delivery.ts";

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
      return decodeCache(bytes);
    } catch (error) {
      return { unusable: `the local cache "${this.path}" cannot be read: ${messageOf(error)}` };
    }
  }

  /** Replaces the cache atomically (a temporary file, synced, renamed over the old one). */
  async save(cache: ChangelogCache): Promise<void> {
    await Deno.mkdir(this.dir, { recursive: true });
    const temporary = `${this.path}.tmp`;
    const file = await Deno.open(temporary, { write: true, create: true, truncate: true });
    try {
      const bytes = encodeCache(cache);
      let written = 0;
      while (written < bytes.length) written += await file.write(bytes.subarray(written));
      await file.sync();
    } finally {
      file.close();
    }
    await Deno.rename(temporary, this.path);
  }
}

/** The file's first bytes: what it is and the format's version. */
const MAGIC = "rivulet-changelog-cache/1\n";

/**
 * The file: the magic line, a 4-byte length and the JSON of everything but
 * the entries (and their count), then per entry a 4-byte key length, the key (UTF-8), a 4-byte
 * value length and the value. One buffer written at once: 100,000 entries
 * take milliseconds, where `v8.serialize` of the Map took most of a second.
 */
export function encodeCache(cache: ChangelogCache): Uint8Array {
  const encoder = new TextEncoder();
  const { entries, ...rest } = cache;
  // The count is checked on reading: a file cut between two entries is refused too.
  const head = encoder.encode(JSON.stringify({ ...rest, count: entries.size }));
  const keys: Uint8Array[] = [];
  let size = MAGIC.length + 4 + head.length;
  for (const [key, value] of entries) {
    const bytes = encoder.encode(key);
    keys.push(bytes);
    size += 8 + bytes.length + value.length;
  }
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let at = encoder.encodeInto(MAGIC, out).written;
  view.setUint32(at, head.length);
  out.set(head, at += 4);
  at += head.length;
  let index = 0;
  for (const value of entries.values()) {
    const key = keys[index++];
    view.setUint32(at, key.length);
    out.set(key, at += 4);
    at += key.length;
    view.setUint32(at, value.length);
    out.set(value, at += 4);
    at += value.length;
  }
  return out;
}

/** Reads what {@linkcode encodeCache} wrote; throws on anything else (or a cut file). */
export function decodeCache(bytes: Uint8Array): ChangelogCache {
  const decoder = new TextDecoder();
  if (decoder.decode(bytes.subarray(0, MAGIC.length)) !== MAGIC) {
    throw new Error("not a changelog cache of this version");
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = MAGIC.length;
  const take = (): Uint8Array => {
    if (at + 4 > bytes.length) throw new Error("the file is cut short");
    const length = view.getUint32(at);
    at += 4;
    if (at + length > bytes.length) throw new Error("the file is cut short");
    const part = bytes.subarray(at, at + length);
    at += length;
    return part;
  };
  const { count, ...rest } = JSON.parse(decoder.decode(take())) as
    & Omit<ChangelogCache, "entries">
    & { readonly count: number };
  if (rest?.version !== 1) throw new Error("unknown version");
  const entries = new Map<string, Uint8Array>();
  while (at < bytes.length) {
    const key = decoder.decode(take());
    // A copy: the value must not keep the whole file's buffer alive.
    entries.set(key, take().slice());
  }
  if (entries.size !== count) throw new Error("the file is cut short");
  return { ...rest, entries };
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
