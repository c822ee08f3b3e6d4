/**
 * Changelog topics: where state that lives in Kafka is written, one
 * compacted topic per state store, named from the pipeline's consumer group
 * (`<group.id>-<store>-changelog`, as Kafka Streams names its
 * `<application.id>-<store>-changelog`), with the partition count of the work
 * it belongs to. Created on the first start; checked on every later one, so a
 * topic someone created by hand with another partition count or without
 * compaction (whose size would grow with the state's history instead of
 * following the state) is refused by name instead of silently misused.
 *
 * {@linkcode ChangelogStore} writes a pipeline's state there and reads it
 * back (exactly-once mode, `stateStore: "kafka"`).
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { deserialize, serialize } from "node:v8";
import {
  type Admin,
  type KafkaClient,
  KafkaClientError,
  type ProduceRecord,
  type TopicDescription,
  type TopicRecords,
} from "../../connectors/kafka/client.ts";
import type { Logger } from "../../connectors/types.ts";
import { snapshotEntries, snapshotFromEntries } from "../../engine/snapshot_entries.ts";
import type { Checkpoint } from "./checkpoint.ts";
import {
  cacheMisfit,
  type ChangelogCache,
  ChangelogCacheStore,
  type ChangelogIncarnation,
} from "./changelog_cache.ts";
import type { StateIdentity } from "../state_identity.ts";

/** A changelog topic that exists but cannot hold a state store as it is. */
export class ChangelogTopicError extends Error {
  /** The topic refused. */
  readonly topic: string;
  constructor(topic: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ChangelogTopicError";
    this.topic = topic;
  }
}

/**
 * The changelog topic of state store `store` of the pipeline whose consumer
 * group is `groupId`. Characters a topic name cannot hold become `_`.
 */
export function changelogTopicName(groupId: string, store: string): string {
  const name = `${groupId}-${store}-changelog`.replace(/[^a-zA-Z0-9._-]/g, "_");
  if (name.length > 249) {
    throw new Error(
      `The changelog topic name for group ${JSON.stringify(groupId)} and store ${
        JSON.stringify(store)
      } is longer than Kafka's 249 characters`,
    );
  }
  return name;
}

/** Options of {@linkcode ensureChangelogTopic}. */
export interface ChangelogTopicOptions {
  readonly topic: string;
  /** The partition count of the work the state belongs to. */
  readonly partitions: number;
  readonly logger?: Logger;
}

/**
 * Creates the changelog topic (`cleanup.policy=compact`) unless it exists;
 * when it exists, checks its partition count and cleanup policy. Resolves to
 * what it did; rejects with a {@linkcode ChangelogTopicError} naming the
 * topic when it is not fit.
 */
export async function ensureChangelogTopic(
  admin: Admin,
  options: ChangelogTopicOptions,
): Promise<"created" | "checked"> {
  const { topic, partitions } = options;
  if (admin.describeTopic === undefined) {
    throw new Error(
      `The Kafka client cannot describe topics, which changelog topic ${
        JSON.stringify(topic)
      } needs: use another client or --state-store local`,
    );
  }
  let created = false;
  if (!(await admin.listTopics()).includes(topic)) {
    options.logger?.info("Creating the changelog topic", { topic, partitions });
    try {
      await admin.createTopic({ topic, partitions, configs: { "cleanup.policy": "compact" } });
    } catch (error) {
      // A loaded broker can be slow to publish a new topic's metadata: the creation may have
      // succeeded; the description below waits for it. Another instance of the pipeline
      // starting at the same time may have created it first.
      const retriable = error instanceof KafkaClientError && error.retriable;
      if (!retriable && !(await admin.listTopics()).includes(topic)) {
        // Typically no right to create topics: say which topic, and the ways out.
        throw new ChangelogTopicError(
          topic,
          `Cannot create changelog topic ${JSON.stringify(topic)} (state of --state-store kafka): ${
            error instanceof Error ? error.message : String(error)
          }. Grant the right to create it, create it yourself (cleanup.policy=compact, ` +
            `${partitions} partitions), or keep state locally with --state-store local --state-dir DIR`,
          { cause: error },
        );
      }
    }
    created = true;
  }
  const described = await describeWhenReady(admin.describeTopic.bind(admin), topic);
  if (described.partitions !== partitions) {
    throw new ChangelogTopicError(
      topic,
      `Changelog topic ${JSON.stringify(topic)} has ${described.partitions} partitions, ` +
        `the work it belongs to has ${partitions}: delete the topic (its state is rebuilt from ` +
        "the input only if the input is still complete) or use a new group.id",
    );
  }
  const policy = described.configs["cleanup.policy"] ?? "delete";
  if (!policy.split(",").map((p) => p.trim()).includes("compact")) {
    throw new ChangelogTopicError(
      topic,
      `Changelog topic ${JSON.stringify(topic)} has cleanup.policy=${policy}, not compact: ` +
        "its records would be deleted by age, losing state; set cleanup.policy=compact on it",
    );
  }
  return created ? "created" : "checked";
}

/** Describes a topic, retrying for up to 30 s while its metadata is not published yet. */
async function describeWhenReady(
  describe: (topic: string) => Promise<TopicDescription>,
  topic: string,
): Promise<TopicDescription> {
  for (let attempt = 1;; attempt++) {
    try {
      const described = await describe(topic);
      if (described.partitions > 0 || attempt >= 120) return described;
    } catch (error) {
      if (!(error instanceof KafkaClientError) || !error.retriable || attempt >= 120) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** The key of the record holding positions, decoders and the last logical time. */
export const META_KEY = "meta";
/** The key of the record a restore writes to each partition to know where the log ends. */
const END_MARKER_KEY = "restore-end";
/**
 * The key of the record that names this incarnation of the topic: a random
 * id written by every restore from the beginning, never overwritten until
 * the next one, so a local cache can check that the topic it reads the tail
 * of is the one it was taken of (not one deleted and created again since).
 */
const INCARNATION_KEY = "incarnation";
/** The prefix of the keys of engine state entries. */
export const GRAPH_PREFIX = "g/";

/** Positions, decoders, time and identity: what a restart needs beside the operator state. */
export interface ChangelogMeta {
  readonly version: 1;
  readonly time: Checkpoint["time"];
  readonly sources: Checkpoint["sources"];
  /** What the state belongs to, checked on restore as a local checkpoint's is. */
  readonly identity?: StateIdentity;
  /** At-least-once mode: the number of the checkpoint this record closes. */
  readonly checkpoint?: number;
  /** At-least-once mode: the checkpoint is empty state (`--reset-state`), not a state to resume. */
  readonly empty?: boolean;
}

/** FNV-1a of a key: its partition, the same whichever client writes it. */
export function partitionOf(key: string, partitions: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193);
  return (hash >>> 0) % partitions;
}

/**
 * The first byte of a record value that at-least-once mode framed
 * (`changelog_checkpointed.ts`): `v8.serialize` output starts with 0xFF, so
 * exactly-once mode's plain values never start with it.
 */
export const FRAMED_TAG = 0x01;

/**
 * A checkpoint as changelog entries: one per engine state entry (key
 * `g/...`, its `v8.serialize`d value) and the meta record (positions,
 * decoders, time, identity and `extraMeta`).
 */
export function checkpointEntries(
  checkpoint: Checkpoint,
  extraMeta: Readonly<Record<string, unknown>> = {},
): Map<string, Uint8Array> {
  const entries = new Map<string, Uint8Array>();
  for (const [key, value] of snapshotEntries(checkpoint.graph)) {
    entries.set(GRAPH_PREFIX + key, serialize(value));
  }
  const meta: ChangelogMeta = {
    ...extraMeta,
    version: 1,
    time: checkpoint.time,
    sources: checkpoint.sources,
    ...(checkpoint.identity === undefined ? {} : { identity: checkpoint.identity }),
  };
  entries.set(META_KEY, serialize(meta));
  return entries;
}

/** The checkpoint of changelog entries (`g/...` keys; others are ignored) and their meta record. */
export function checkpointFromEntries(
  entries: ReadonlyMap<string, Uint8Array>,
  meta: ChangelogMeta,
): Checkpoint {
  const graph = new Map<string, unknown>();
  for (const [key, value] of entries) {
    if (key.startsWith(GRAPH_PREFIX)) graph.set(key.slice(GRAPH_PREFIX.length), deserialize(value));
  }
  return {
    version: 1,
    time: meta.time,
    graph: snapshotFromEntries(graph),
    sources: meta.sources,
    ...(meta.identity === undefined ? {} : { identity: meta.identity }),
  };
}

/** Options of {@linkcode ChangelogStore}. */
export interface ChangelogStoreOptions {
  readonly client: KafkaClient;
  /** The pipeline's consumer group: names the topic and the restore's throwaway group. */
  readonly groupId: string;
  /** The topics of the work, whose largest partition count the changelog gets. */
  readonly inputTopics: readonly string[];
  readonly logger: Logger;
  /**
   * A state directory kept as a local cache (`changelog_cache.ts`): restores
   * read only the changelog's tail after it, where it fits.
   */
  readonly cacheDir?: string;
}

/** How far a restore has come: records read of the changelog. */
export interface RestoreProgress {
  restoring: boolean;
  records: number;
  /** Where the last restore started: the local cache (its tail only) or the changelog's beginning. */
  from?: "cache" | "beginning";
}

/** The changelog's entries after one checkpoint: what the local cache saves once it is committed. */
export type ChangelogEntries = ReadonlyMap<string, Uint8Array>;

/** What one read of the changelog gave: its entries, or why the cache it started from does not fit. */
type ReadResult =
  | { readonly entries: Map<string, Uint8Array>; readonly incarnation?: ChangelogIncarnation }
  | { readonly misfit: string };

/**
 * A pipeline's state in a compacted changelog topic: each checkpoint is
 * written as the records of the entries that changed since the last one
 * (deleted entries as tombstones) and a meta record (positions, decoders,
 * time). Exactly-once mode sends them in the transaction that carries the
 * outputs and the input offsets, so the log's committed records are always
 * one checkpoint, read back with `read_committed`. With a local cache, each
 * committed checkpoint's entries are saved locally with the changelog's
 * offsets after them, and a restart reads only what follows.
 */
export class ChangelogStore {
  readonly topic: string;
  readonly progress: RestoreProgress = { restoring: false, records: 0 };
  readonly #options: ChangelogStoreOptions;
  readonly #cache: ChangelogCacheStore | undefined;
  #partitions = 1;
  /** Connected from the restore to {@linkcode close}: the cache asks it for the log's end. */
  #admin: Admin | undefined;
  /** The topic's incarnation record, once read: saved with each cache. */
  #incarnation: ChangelogIncarnation | undefined;
  /** Each entry's bytes as last written: what a checkpoint compares with. */
  #written = new Map<string, Uint8Array>();
  /** Per partition, where the last restore's read ended (its end marker's offset), for the log. */
  #readEnd: readonly string[] = [];
  /** The cache files being written, one after another. */
  #cacheWriting: Promise<void> = Promise.resolve();
  /** The newest cache not yet being written. */
  #nextCache: ChangelogCache | undefined;

  constructor(options: ChangelogStoreOptions) {
    this.#options = options;
    this.topic = changelogTopicName(options.groupId, "state");
    this.#cache = options.cacheDir === undefined
      ? undefined
      : new ChangelogCacheStore(options.cacheDir);
  }

  /** Whether committed checkpoints are saved to a local cache ({@linkcode saveCache}). */
  get caching(): boolean {
    return this.#cache !== undefined;
  }

  /**
   * Creates or checks the topic, then reads it to its end: resolves to the
   * checkpoint it holds (undefined on a first start). With a local cache
   * that fits, starts from it and reads only the changelog's tail after it;
   * otherwise (no cache, or one that does not fit, said in a log line) reads
   * the whole changelog. Call after the transactional producer connected,
   * which settles open transactions, and pass `writeEndMarkers`, which
   * commits one marker record per partition in a transaction: everything
   * before a partition's marker is its log.
   */
  async restore(
    writeEndMarkers: (records: TopicRecords) => Promise<void>,
  ): Promise<Checkpoint | undefined> {
    const entries = await this.restoreEntries(writeEndMarkers);
    const meta = entries.get(META_KEY);
    if (meta === undefined) return undefined;
    for (const value of entries.values()) {
      if (value[0] === FRAMED_TAG) {
        throw new ChangelogTopicError(
          this.topic,
          `Changelog topic ${JSON.stringify(this.topic)} was written by at-least-once mode, ` +
            "whose records exactly-once mode cannot read: run without --exactly-once, " +
            "or start over with --reset-state (or a new group.id)",
        );
      }
    }
    return checkpointFromEntries(entries, deserialize(meta) as ChangelogMeta);
  }

  /**
   * Creates or checks the topic, then reads it to its end as
   * {@linkcode restore} does, and resolves to each key's last record as the
   * log holds it (what a delivery mode that frames its records decodes
   * itself). The entries are also what {@linkcode records} compares with.
   */
  async restoreEntries(
    writeEndMarkers: (records: TopicRecords) => Promise<void>,
  ): Promise<Map<string, Uint8Array>> {
    const { client, logger } = this.#options;
    const admin = this.#admin = client.admin();
    await admin.connect();
    const existing = new Set(await admin.listTopics());
    let partitions = 1;
    for (const topic of this.#options.inputTopics) {
      if (!existing.has(topic)) continue;
      partitions = Math.max(partitions, (await admin.partitionOffsets(topic)).length);
    }
    this.#partitions = partitions;
    await ensureChangelogTopic(admin, { topic: this.topic, partitions, logger });
    const cache = await this.#fittingCache(admin);
    if (this.#cache === undefined) await this.close(); // only the cache asks it more
    const started = performance.now();
    let read = cache === undefined ? undefined : await this.#read(writeEndMarkers, cache);
    if (read !== undefined && "misfit" in read) {
      logger.info("Restoring state from the whole changelog, not from the local cache", {
        topic: this.topic,
        reason: read.misfit,
      });
      read = undefined;
    }
    read ??= await this.#read(writeEndMarkers, undefined);
    if ("misfit" in read) throw new Error(read.misfit); // a full read has no cache to misfit
    const entries = read.entries;
    this.#incarnation = read.incarnation;
    if (this.#cache !== undefined && read.incarnation === undefined) {
      logger.warn("The changelog's incarnation record was not read back: no local cache is saved", {
        topic: this.topic,
      });
    }
    const seconds = (performance.now() - started) / 1000;
    logger.info("restored state from the changelog", {
      topic: this.topic,
      from: this.progress.from ?? "beginning",
      // Where the tail read after the cache started, per partition (p@offset).
      ...(this.progress.from === "cache" && cache !== undefined
        ? { tail: cache.offsets.map((offset, partition) => `${partition}@${offset}`).join(",") }
        : {}),
      // Where the read ended, per partition (the offsets of this restore's end markers).
      end: this.#readEnd.map((offset, partition) => `${partition}@${offset}`).join(","),
      records: this.progress.records,
      entries: entries.size,
      recordsPerSecond: Math.round(this.progress.records / Math.max(seconds, 1e-3)),
    });
    this.#written = entries;
    return entries;
  }

  /** The topic's partition count, known once {@linkcode restoreEntries} created or checked it. */
  get partitions(): number {
    return this.#partitions;
  }

  /** The local cache when there is one that fits the changelog as it is now; logs why not otherwise. */
  async #fittingCache(admin: Admin): Promise<ChangelogCache | undefined> {
    if (this.#cache === undefined) return undefined;
    const loaded = await this.#cache.load();
    let reason: string | undefined;
    if ("unusable" in loaded) reason = loaded.unusable;
    else {
      const offsets = [...await admin.partitionOffsets(this.topic)]
        .sort((a, b) => a.partition - b.partition);
      const { configs } = await admin.describeTopic!(this.topic);
      reason = cacheMisfit(loaded, this.topic, offsets, configs, Date.now());
      if (reason === undefined) return loaded;
    }
    this.#options.logger.info(
      "Restoring state from the whole changelog, not from the local cache",
      { topic: this.topic, reason },
    );
    return undefined;
  }

  /**
   * Writes end markers (and, reading from the beginning, a new incarnation
   * record), then reads the committed records up to the markers: from the
   * beginning onto empty state, or from `cache`'s offsets onto its entries
   * (after checking its incarnation record is where it was).
   */
  async #read(
    writeEndMarkers: (records: TopicRecords) => Promise<void>,
    cache: ChangelogCache | undefined,
  ): Promise<ReadResult> {
    const { client } = this.#options;
    const topic = this.topic;
    const nonce = crypto.randomUUID();
    const incarnationId = cache?.incarnation.id ?? crypto.randomUUID();
    const markers: ProduceRecord[] = [];
    if (cache === undefined) {
      // Before the markers: read back below, which tells its offset.
      markers.push({
        key: INCARNATION_KEY,
        value: incarnationId,
        partition: partitionOf(INCARNATION_KEY, this.#partitions),
      });
    }
    for (let partition = 0; partition < this.#partitions; partition++) {
      markers.push({ key: END_MARKER_KEY, value: nonce, partition });
    }
    await writeEndMarkers({ topic, records: markers });
    this.progress.restoring = true;
    this.progress.records = 0;
    this.progress.from = cache === undefined ? "beginning" : "cache";
    const entries = new Map<string, Uint8Array>(cache?.entries ?? []);
    let incarnation = cache?.incarnation;
    let misfit: string | undefined;
    // The tail starts at the cache's offsets; the incarnation record's partition a little
    // earlier, at that record, which must be the first record read there.
    const tailStart = cache?.offsets.map((offset) => BigInt(offset));
    let incarnationChecked = cache === undefined;
    const startAt = cache?.offsets.map((offset, partition) => ({
      topic,
      partition,
      offset: partition === cache.incarnation.partition ? cache.incarnation.offset : offset,
    }));
    const consumer = client.consumer({
      groupId: `${this.#options.groupId}-restore-${nonce.slice(0, 8)}`,
      topics: [topic],
      isolation: "read_committed",
      autoOffsetReset: "earliest",
    });
    const ended = new Set<number>();
    /** Per partition, the offset of this read's end marker: where the read stopped. */
    const endOffsets: string[] = [];
    const { promise: done, resolve, reject } = Promise.withResolvers<void>();
    const decoder = new TextDecoder();
    const text = (bytes: Uint8Array | null) => bytes === null ? null : decoder.decode(bytes);
    await consumer.connect();
    try {
      await consumer.run({
        onBatch: (batch) => {
          if (misfit !== undefined) return Promise.resolve();
          const { partition } = batch;
          for (const message of batch.messages) {
            const key = message.key === null ? "" : decoder.decode(message.key);
            if (!incarnationChecked && partition === cache!.incarnation.partition) {
              const expected = cache!.incarnation;
              if (
                message.offset !== expected.offset || key !== INCARNATION_KEY ||
                text(message.value) !== expected.id
              ) {
                misfit = `the changelog's incarnation record is not at ${topic}-${partition}` +
                  `@${expected.offset} any more (found offset ${message.offset}): ` +
                  "was the topic created again, or restored from the beginning by another run?";
                resolve();
                return Promise.resolve();
              }
              incarnationChecked = true;
              const tail = cache!.offsets[partition];
              if (BigInt(tail) > BigInt(message.offset) + 1n) {
                consumer.seek([{ topic, partition, offset: tail }]);
              }
              continue;
            }
            // Before the tail (the incarnation's partition): already in the cache.
            if (tailStart !== undefined && BigInt(message.offset) < tailStart[partition]) continue;
            if (key === END_MARKER_KEY) {
              if (text(message.value) === nonce) {
                endOffsets[partition] = message.offset;
                ended.add(partition);
                if (ended.size === this.#partitions) resolve();
              }
              continue;
            }
            if (key === INCARNATION_KEY) {
              if (text(message.value) === incarnationId) {
                incarnation = { partition, offset: message.offset, id: incarnationId };
              }
              continue;
            }
            this.progress.records++;
            if (message.value === null) entries.delete(key);
            // A copy: a fetched value may be a view of the whole fetch response, which
            // would stay in memory (and be copied by each deserialize of a view).
            else entries.set(key, new Uint8Array(message.value));
          }
          return Promise.resolve();
        },
        onFatal: reject,
      }, startAt === undefined ? {} : { startAt });
      await done;
    } finally {
      consumer.pause();
      await consumer.disconnect().catch(() => {});
      this.progress.restoring = false;
    }
    if (misfit !== undefined) return { misfit };
    this.#readEnd = endOffsets;
    return { entries, ...(incarnation === undefined ? {} : { incarnation }) };
  }

  /** The records that bring the changelog from the last checkpoint written to `checkpoint`. */
  records(checkpoint: Checkpoint): TopicRecords {
    const now = checkpointEntries(checkpoint);
    const records: ProduceRecord[] = [];
    for (const [key, value] of now) {
      const before = this.#written.get(key);
      if (before !== undefined && Buffer.compare(before, value) === 0) continue;
      records.push({ key, value, partition: partitionOf(key, this.#partitions) });
      this.#written.set(key, value);
    }
    for (const key of this.#written.keys()) {
      if (now.has(key)) continue;
      records.push({ key, value: null, partition: partitionOf(key, this.#partitions) });
      this.#written.delete(key);
    }
    return { topic: this.topic, records };
  }

  /** The entries as of the last {@linkcode records}: pass them to {@linkcode saveCache} once committed. */
  entries(): ChangelogEntries {
    return new Map(this.#written);
  }

  /**
   * Saves `entries` (a committed checkpoint's, and nothing was written to the
   * changelog after them) to the local cache with the changelog's end
   * offsets. Resolves once the offsets are read (before anything more is
   * written to the changelog); the file is written in the background, one
   * at a time, a newer cache replacing one still waiting. A failure is
   * logged: the cache is a shortcut, the state is in the changelog.
   */
  async saveCache(entries: ChangelogEntries): Promise<void> {
    const admin = this.#admin;
    const incarnation = this.#incarnation;
    const store = this.#cache;
    if (store === undefined || admin === undefined || incarnation === undefined) return;
    let cache: ChangelogCache;
    try {
      const savedAtMs = Date.now();
      const offsets = [...await admin.partitionOffsets(this.topic)]
        .sort((a, b) => a.partition - b.partition)
        .map((p) => p.high);
      cache = { version: 1, topic: this.topic, offsets, incarnation, savedAtMs, entries };
    } catch (error) {
      this.#cacheFailed(error);
      return;
    }
    const waiting = this.#nextCache !== undefined;
    this.#nextCache = cache;
    if (waiting) return; // the write already queued takes the newer cache
    this.#cacheWriting = this.#cacheWriting.then(async () => {
      const next = this.#nextCache!;
      this.#nextCache = undefined;
      await store.save(next).catch((error) => this.#cacheFailed(error));
    });
  }

  #cacheFailed(error: unknown): void {
    this.#options.logger.warn("Cannot save the local cache of the changelog", {
      path: this.#cache?.path ?? null,
      error: error instanceof Error ? error.message : String(error),
    });
  }

  /** Waits for the cache's last write, then disconnects the admin the cache used. */
  async close(): Promise<void> {
    await this.#cacheWriting;
    await this.#admin?.disconnect().catch(() => {});
    this.#admin = undefined;
  }
}
