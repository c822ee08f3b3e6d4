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
import type { StateIdentity } from "../state_identity.ts";

/** A changelog topic that exists but cannot hold a state store as it is. */
export class ChangelogTopicError extends Error {
  /** The topic refused. */
  readonly topic: string;
  constructor(topic: string, message: string) {
    super(message);
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
      // succeeded; the description below waits for it.
      if (!(error instanceof KafkaClientError) || !error.retriable) throw error;
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
const META_KEY = "meta";
/** The key of the record a restore writes to each partition to know where the log ends. */
const END_MARKER_KEY = "restore-end";
/** The prefix of the keys of engine state entries. */
const GRAPH_PREFIX = "g/";

/** Positions, decoders, time and identity: what a restart needs beside the operator state. */
interface ChangelogMeta {
  readonly version: 1;
  readonly time: Checkpoint["time"];
  readonly sources: Checkpoint["sources"];
  /** What the state belongs to, checked on restore as a local checkpoint's is. */
  readonly identity?: StateIdentity;
}

/** FNV-1a of a key: its partition, the same whichever client writes it. */
function partitionOf(key: string, partitions: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193);
  return (hash >>> 0) % partitions;
}

/** Options of {@linkcode ChangelogStore}. */
export interface ChangelogStoreOptions {
  readonly client: KafkaClient;
  /** The pipeline's consumer group: names the topic and the restore's throwaway group. */
  readonly groupId: string;
  /** The topics of the work, whose largest partition count the changelog gets. */
  readonly inputTopics: readonly string[];
  readonly logger: Logger;
}

/** How far a restore has come: records read of the changelog. */
export interface RestoreProgress {
  restoring: boolean;
  records: number;
}

/**
 * A pipeline's state in a compacted changelog topic: each checkpoint is
 * written as the records of the entries that changed since the last one
 * (deleted entries as tombstones) and a meta record (positions, decoders,
 * time). Exactly-once mode sends them in the transaction that carries the
 * outputs and the input offsets, so the log's committed records are always
 * one checkpoint, read back with `read_committed`.
 */
export class ChangelogStore {
  readonly topic: string;
  readonly progress: RestoreProgress = { restoring: false, records: 0 };
  readonly #options: ChangelogStoreOptions;
  #partitions = 1;
  /** Each entry's bytes as last written: what a checkpoint compares with. */
  readonly #written = new Map<string, Uint8Array>();

  constructor(options: ChangelogStoreOptions) {
    this.#options = options;
    this.topic = changelogTopicName(options.groupId, "state");
  }

  /**
   * Creates or checks the topic, then reads it to its end: resolves to the
   * checkpoint it holds (undefined on a first start). Call after the
   * transactional producer connected, which settles open transactions, and
   * pass `writeEndMarkers`, which commits one marker record per partition
   * in a transaction: everything before a partition's marker is its log.
   */
  async restore(
    writeEndMarkers: (records: TopicRecords) => Promise<void>,
  ): Promise<Checkpoint | undefined> {
    const { client, logger } = this.#options;
    const admin = client.admin();
    await admin.connect();
    try {
      const existing = new Set(await admin.listTopics());
      let partitions = 1;
      for (const topic of this.#options.inputTopics) {
        if (!existing.has(topic)) continue;
        partitions = Math.max(partitions, (await admin.partitionOffsets(topic)).length);
      }
      this.#partitions = partitions;
      await ensureChangelogTopic(admin, { topic: this.topic, partitions, logger });
    } finally {
      await admin.disconnect().catch(() => {});
    }
    const nonce = crypto.randomUUID();
    await writeEndMarkers({
      topic: this.topic,
      records: Array.from({ length: this.#partitions }, (_, partition) => ({
        key: END_MARKER_KEY,
        value: nonce,
        partition,
      })),
    });
    this.progress.restoring = true;
    const started = performance.now();
    const entries = new Map<string, Uint8Array>();
    const consumer = client.consumer({
      groupId: `${this.#options.groupId}-restore-${nonce.slice(0, 8)}`,
      topics: [this.topic],
      isolation: "read_committed",
      autoOffsetReset: "earliest",
    });
    const ended = new Set<number>();
    const { promise: done, resolve, reject } = Promise.withResolvers<void>();
    const decoder = new TextDecoder();
    await consumer.connect();
    try {
      await consumer.run({
        onBatch: (batch) => {
          for (const message of batch.messages) {
            const key = message.key === null ? "" : decoder.decode(message.key);
            if (key === END_MARKER_KEY) {
              if (message.value !== null && decoder.decode(message.value) === nonce) {
                ended.add(batch.partition);
                if (ended.size === this.#partitions) resolve();
              }
              continue;
            }
            this.progress.records++;
            if (message.value === null) entries.delete(key);
            else entries.set(key, message.value);
          }
          return Promise.resolve();
        },
        onFatal: reject,
      });
      await done;
    } finally {
      consumer.pause();
      await consumer.disconnect().catch(() => {});
      this.progress.restoring = false;
    }
    const seconds = (performance.now() - started) / 1000;
    logger.info("restored state from the changelog", {
      topic: this.topic,
      records: this.progress.records,
      entries: entries.size,
      recordsPerSecond: Math.round(this.progress.records / Math.max(seconds, 1e-3)),
    });
    for (const [key, value] of entries) this.#written.set(key, value);
    const meta = entries.get(META_KEY);
    if (meta === undefined) return undefined;
    const graph = new Map<string, unknown>();
    for (const [key, value] of entries) {
      if (key.startsWith(GRAPH_PREFIX)) {
        graph.set(key.slice(GRAPH_PREFIX.length), deserialize(value));
      }
    }
    const saved = deserialize(meta) as ChangelogMeta;
    return {
      version: 1,
      time: saved.time,
      graph: snapshotFromEntries(graph),
      sources: saved.sources,
      ...(saved.identity === undefined ? {} : { identity: saved.identity }),
    };
  }

  /** The records that bring the changelog from the last checkpoint written to `checkpoint`. */
  records(checkpoint: Checkpoint): TopicRecords {
    const now = new Map<string, Uint8Array>();
    for (const [key, value] of snapshotEntries(checkpoint.graph)) {
      now.set(GRAPH_PREFIX + key, serialize(value));
    }
    const meta: ChangelogMeta = {
      version: 1,
      time: checkpoint.time,
      sources: checkpoint.sources,
      ...(checkpoint.identity === undefined ? {} : { identity: checkpoint.identity }),
    };
    now.set(META_KEY, serialize(meta));
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
}
