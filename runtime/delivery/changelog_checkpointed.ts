/**
 * At-least-once delivery with state in Kafka (`--state-store kafka` without
 * `--exactly-once`): the checkpoints of `checkpointed.ts` (operator state,
 * source positions, csv headers, the last logical time), written to the
 * compacted changelog topic of `changelog.ts` instead of a local file, and
 * the apply order of `journal.ts` written to the same topic, so that a
 * restart on an empty disk resumes exactly where a restart from a state
 * directory would. A `--state-dir` is an optional local cache of the
 * changelog (`changelog_cache.ts`), as in exactly-once mode.
 *
 * Without transactions, a process killed while it writes a checkpoint's
 * records leaves some of them in the log and not others. What makes that
 * harmless:
 *
 * - Each checkpoint has a number, and is closed by its meta record (key
 *   `meta`: positions, decoders, time, the number), sent only once every
 *   state record of the checkpoint is acknowledged. The last meta record
 *   read says which checkpoint is the last whole one (C).
 * - Each state record is framed ({@linkcode encodeFrame}): its checkpoint's
 *   number, its new value, and the value the key had at the last closed
 *   checkpoint. On a restore, a key whose last record belongs to a
 *   checkpoint after C takes that previous value: state is C's exactly, even
 *   where compaction already dropped C's own record of the key. Such keys
 *   are written again by the next checkpoint (closed or not, each later
 *   record again carries C's value), so a record of an unclosed checkpoint
 *   is never taken for a closed one's.
 * - A deletion is framed too (a deleted value and the previous one); the
 *   plain tombstone that lets compaction drop the key is sent in the next
 *   checkpoint, once the deletion is closed.
 * - A restart resumes input from C's positions, never from the groups'
 *   offsets (committed after each closed checkpoint, they only show lag).
 *
 * Outputs are acknowledged before the checkpoint that covers them is
 * written, and the apply order of batches with rows is written to the
 * changelog (key `o/<run>/<n>`, partition 0) and acknowledged before their
 * outputs are handed to the sinks, so the replay after a crash repeats the
 * same changes (key, values, diff, time) and loses none. Order records a
 * closed checkpoint covers are tombstoned by the next one.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { deserialize, serialize } from "node:v8";
import type { Batch, Row } from "../../engine/types.ts";
import type { Position, Sink } from "../../connectors/types.ts";
import type { KafkaClient, Producer, ProduceRecord } from "../../connectors/kafka/client.ts";
import type { Checkpoint } from "./checkpoint.ts";
import { type Delivery, type DeliveryContext, PositionCommitter } from "./delivery.ts";
import {
  type ChangelogMeta,
  ChangelogStore,
  checkpointEntries,
  checkpointFromEntries,
  FRAMED_TAG,
  GRAPH_PREFIX,
  META_KEY,
  partitionOf,
  type RestoreProgress,
} from "./changelog.ts";
import { JournalOrder, type OrderLog } from "./checkpointed.ts";
import { covered, type JournalEntry } from "./journal.ts";
import { type TransactionalSource, transactionalSources } from "./transactions.ts";
import { StaleStateError } from "../state_identity.ts";

/** Options of {@linkcode ChangelogCheckpointedDelivery}. */
export interface ChangelogCheckpointedDeliveryOptions {
  /** A local cache of the changelog, so that a restart reads only the changelog's tail. */
  readonly stateDir?: string;
  /** Least time between checkpoints (default 1,000 ms). */
  readonly checkpointIntervalMs?: number;
  /** `--reset-state`: the changelog's state is replaced by empty state before the run starts. */
  readonly resetState?: boolean;
}

/** The prefix of the keys of apply order records. */
const ORDER_PREFIX = "o/";

/** One state record as at-least-once mode writes it. */
export interface Frame {
  /** The number of the checkpoint that wrote it. */
  readonly checkpoint: number;
  /** The key's value at that checkpoint; `null`: deleted. */
  readonly value: Uint8Array | null;
  /** The key's value at the last checkpoint closed before it; `null`: absent. */
  readonly previous: Uint8Array | null;
}

/**
 * A frame's bytes: {@linkcode FRAMED_TAG}, the checkpoint number (float64),
 * a flags byte (1: has value, 2: has previous), the value's length (uint32),
 * the value, then the previous value.
 */
export function encodeFrame(frame: Frame): Uint8Array {
  const value = frame.value ?? new Uint8Array(0);
  const previous = frame.previous ?? new Uint8Array(0);
  const out = new Uint8Array(14 + value.length + previous.length);
  const view = new DataView(out.buffer);
  out[0] = FRAMED_TAG;
  view.setFloat64(1, frame.checkpoint);
  out[9] = (frame.value === null ? 0 : 1) | (frame.previous === null ? 0 : 2);
  view.setUint32(10, value.length);
  out.set(value, 14);
  out.set(previous, 14 + value.length);
  return out;
}

/** Reads what {@linkcode encodeFrame} wrote; throws on anything else. */
export function decodeFrame(bytes: Uint8Array): Frame {
  if (bytes.length < 14 || bytes[0] !== FRAMED_TAG) throw new Error("not a framed state record");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const flags = bytes[9];
  const length = view.getUint32(10);
  if (14 + length > bytes.length) throw new Error("a framed state record cut short");
  return {
    checkpoint: view.getFloat64(1),
    value: flags & 1 ? bytes.slice(14, 14 + length) : null,
    previous: flags & 2 ? bytes.slice(14 + length) : null,
  };
}

/** What the changelog's last records say, resolved to its last closed checkpoint. */
export interface ResolvedChangelog {
  /** The last closed checkpoint's meta record, if any. */
  readonly meta: ChangelogMeta | undefined;
  /** The state entries (`g/...`) at the last closed checkpoint. */
  readonly state: Map<string, Uint8Array>;
  /** Keys whose last record belongs to an unclosed checkpoint: the next checkpoint writes them again. */
  readonly dirty: Set<string>;
  /** Keys whose last record is a closed deletion: the next checkpoint sends their tombstone. */
  readonly deleted: Set<string>;
  /** The apply order records, in log order. */
  readonly order: { readonly key: string; readonly entries: JournalEntry[] }[];
  /** The number the next checkpoint takes: after every one seen, closed or not. */
  readonly next: number;
}

/**
 * Resolves each key's last record (as `ChangelogStore.restoreEntries` read
 * them) to the last closed checkpoint: a state record of a checkpoint after
 * it gives the value the key had before. Plain (unframed) state records,
 * written by exactly-once mode, are whole checkpoints.
 */
export function resolveChangelog(entries: ReadonlyMap<string, Uint8Array>): ResolvedChangelog {
  const metaBytes = entries.get(META_KEY);
  const meta = metaBytes === undefined ? undefined : deserialize(metaBytes) as ChangelogMeta;
  const closed = meta?.checkpoint ?? 0;
  let last = closed;
  const state = new Map<string, Uint8Array>();
  const dirty = new Set<string>();
  const deleted = new Set<string>();
  const order: { key: string; entries: JournalEntry[] }[] = [];
  const decoder = new TextDecoder();
  for (const [key, bytes] of entries) {
    if (key.startsWith(ORDER_PREFIX)) {
      const rows = JSON.parse(decoder.decode(bytes)) as [number, string, number, string][];
      order.push({
        key,
        entries: rows.map(([source, topic, partition, nextOffset]) => ({
          source,
          topic,
          partition,
          nextOffset,
        })),
      });
      continue;
    }
    if (!key.startsWith(GRAPH_PREFIX)) continue;
    if (bytes[0] !== FRAMED_TAG) {
      state.set(key, bytes);
      continue;
    }
    const frame = decodeFrame(bytes);
    last = Math.max(last, frame.checkpoint);
    const isClosed = frame.checkpoint <= closed;
    const value = isClosed ? frame.value : frame.previous;
    if (!isClosed) dirty.add(key);
    else if (frame.value === null) deleted.add(key);
    if (value !== null) state.set(key, value);
  }
  return { meta, state, dirty, deleted, order, next: last + 1 };
}

/** Checkpoints and the apply order in the changelog topic; at-least-once outputs. */
export class ChangelogCheckpointedDelivery implements Delivery {
  readonly #context: DeliveryContext;
  readonly #changelog: ChangelogStore;
  readonly #sources: readonly TransactionalSource[];
  readonly #producer: Producer;
  readonly #intervalMs: number;
  readonly #reset: boolean;
  readonly #committer: PositionCommitter;
  /** Names this run's order records. */
  readonly #runId = crypto.randomUUID().slice(0, 8);
  #due = 0;
  /** The number of the next checkpoint taken. */
  #number = 1;
  /** The state entries at the last closed checkpoint: what a new checkpoint compares with. */
  #closed = new Map<string, Uint8Array>();
  /** What the last closed checkpoint's meta record holds but its number (to skip a checkpoint with no change). */
  #closedCore: Uint8Array | undefined;
  /** Each key's last record as the log holds it: what the local cache saves. */
  #logged = new Map<string, Uint8Array>();
  #dirty = new Set<string>();
  #deleted = new Set<string>();
  /** Order records not yet covered by a closed checkpoint. */
  #orderKeys: { readonly key: string; readonly entries: JournalEntry[] }[] = [];
  /** Order records a closed checkpoint covers: tombstoned by the next one. */
  #coveredOrder: string[] = [];
  #orderCount = 0;
  /** Entries recorded since the last flush. */
  #unflushed: JournalEntry[] = [];
  /** Resolves once the order of the batches being applied is acknowledged: their outputs wait for it. */
  #nextFlush: PromiseWithResolvers<void> | undefined;
  /** The order records' sends, one after another. */
  #flushed: Promise<void> = Promise.resolve();
  /** The checkpoints' writes, one after another. */
  #saving: Promise<void> = Promise.resolve();
  #replay: JournalEntry[] = [];
  /** Batches were applied since the last checkpoint was taken. */
  #appliedSince = false;
  #timer: ReturnType<typeof setInterval> | undefined;
  order: JournalOrder | undefined;

  /** Throws unless every source is a Kafka one and some sink has a Kafka client. */
  constructor(context: DeliveryContext, options: ChangelogCheckpointedDeliveryOptions) {
    this.#context = context;
    this.#intervalMs = options.checkpointIntervalMs ?? 1000;
    this.#reset = options.resetState === true;
    const sources = transactionalSources(
      context.sources,
      "The kafka state store",
      " (use --state-store local)",
    );
    this.#sources = sources;
    const client = context.sinks
      .map((sink) => (sink as { kafkaClient?: KafkaClient }).kafkaClient)
      .find((c) => c !== undefined);
    if (client === undefined) {
      throw new Error(
        "The kafka state store writes its changelog with a Kafka sink's client: add a Kafka sink " +
          "or use --state-store local",
      );
    }
    this.#producer = client.producer({ idempotent: true });
    this.#changelog = new ChangelogStore({
      client,
      groupId: sources[0].groupId,
      inputTopics: sources.flatMap((source) => source.topics ?? []),
      logger: context.logger,
      ...(options.stateDir === undefined ? {} : { cacheDir: options.stateDir }),
    });
    this.#committer = new PositionCommitter(context.sources);
  }

  /** The changelog topic. */
  get changelogTopic(): string {
    return this.#changelog.topic;
  }

  /** The changelog's restore progress, for the status line and metrics. */
  restoreProgress(): RestoreProgress {
    return this.#changelog.progress;
  }

  /**
   * Creates or checks the changelog, reads it and resolves it to its last
   * closed checkpoint. No checkpoint while the groups committed offsets is
   * refused: the state that went with those offsets is lost, and starting
   * there with empty state would write a wrong table.
   */
  async load(): Promise<Checkpoint | undefined> {
    await this.#producer.connect();
    const changelog = this.#changelog;
    const entries = await changelog.restoreEntries((records) => this.#producer.send([records]));
    const resolved = resolveChangelog(entries);
    this.#logged = new Map(entries);
    this.#closed = resolved.state;
    this.#dirty = resolved.dirty;
    this.#deleted = resolved.deleted;
    this.#number = resolved.next;
    this.#orderKeys = resolved.order;
    this.#due = performance.now() + this.#intervalMs;
    if (this.#reset) {
      const number = this.#number++;
      await this.#write(number, new Map(), emptyMeta(number), []);
      // No replay follows empty state: the next checkpoint tombstones every order record.
      this.#coveredOrder.push(...this.#orderKeys.map(({ key }) => key));
      this.#orderKeys = [];
      this.#context.logger.info("discarded the saved state (reset)", { topic: changelog.topic });
      return undefined;
    }
    const meta = resolved.meta;
    if (meta === undefined || meta.empty === true) {
      const committed = await Promise.all(this.#sources.map((s) => s.committedPositions()));
      if (meta === undefined && committed.some((positions) => positions.length > 0)) {
        throw new StaleStateError(undefined, {
          reason: "other_pipeline",
          source: this.#sources[0].name,
          detail:
            `group ${JSON.stringify(this.#sources[0].groupId)} committed offsets (${
              describePositions(committed.flat())
            }) but the changelog holds no state: was the group used without the kafka state store, ` +
            "or the changelog deleted?",
        }, changelog.topic);
      }
      return undefined;
    }
    const checkpoint = checkpointFromEntries(resolved.state, meta);
    this.#closedCore = metaCore(checkpoint);
    const positions = checkpoint.sources.map((saved) => saved.positions);
    for (const { entries: recorded } of this.#orderKeys) {
      for (const entry of recorded) if (!covered(entry, positions)) this.#replay.push(entry);
    }
    return checkpoint;
  }

  /** Follows the recorded order until it is replayed; refuses reordered sources while there is some. */
  restored(_checkpoint: Checkpoint | undefined, savedOrder?: readonly number[]): void {
    if (savedOrder !== undefined && this.#replay.length > 0) {
      throw new Error(
        `The sources of the pipeline were reordered since it last stopped without a clean ` +
          `shutdown (state in changelog topic "${this.#changelog.topic}"): run it once more in ` +
          `the old order and stop it cleanly, then reorder`,
      );
    }
    this.order = new JournalOrder(this.#orderLog(), this.#replay, this.#context.logger);
    this.#replay = [];
  }

  /** Also checkpoints on a timer, so that the last changes of an input gone quiet are saved too. */
  start(): void {
    this.#timer = setInterval(() => {
      if (!this.#appliedSince || this.#context.failed()) return;
      const checkpoint = this.#takeIfDue();
      if (checkpoint === undefined) return;
      // Saved once every batch applied so far has its outputs acknowledged (after their own saves).
      this.#context.acknowledged().then(() => this.#save(checkpoint), () => {});
    }, this.#intervalMs);
  }

  /** Sends the batch once the apply order of what was applied up to it is acknowledged. */
  write(sink: Sink<Row>, batch: Batch<Row>): Promise<void> {
    const gate = this.#nextFlush?.promise ?? this.#flushed;
    return gate.then(() => sink.write(batch));
  }

  /** Takes a checkpoint when one is due; it is written once its outputs are acknowledged. */
  applied(): (() => void) | undefined {
    this.#appliedSince = true;
    const checkpoint = this.#takeIfDue();
    return checkpoint === undefined ? undefined : () => this.#save(checkpoint);
  }

  #takeIfDue(): Checkpoint | undefined {
    const now = performance.now();
    if (now < this.#due) return undefined;
    this.#due = now + this.#intervalMs;
    this.#appliedSince = false;
    return this.#context.capture();
  }

  retrying(): boolean {
    return false;
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Writes a last checkpoint (unless failed), waits for the writes and disconnects. */
  async shutdown(failed: boolean): Promise<void> {
    if (!failed && this.order !== undefined) this.#save(this.#context.capture());
    await this.#saving.catch(() => {});
    await this.#flushed.catch(() => {});
    await this.#producer.disconnect().catch(() => {});
    await this.#changelog.close();
  }

  /** The changelog as the apply order's log: one record per flush, acknowledged before the outputs leave. */
  #orderLog(): OrderLog {
    return {
      record: (entry) => {
        this.#unflushed.push(entry);
        this.#nextFlush ??= Promise.withResolvers<void>();
      },
      flush: () => {
        const gate = this.#nextFlush;
        if (gate === undefined) return;
        this.#nextFlush = undefined;
        const entries = this.#unflushed;
        this.#unflushed = [];
        const key = `${ORDER_PREFIX}${this.#runId}/${this.#orderCount++}`;
        const value = new TextEncoder().encode(
          JSON.stringify(entries.map((e) => [e.source, e.topic, e.partition, e.nextOffset])),
        );
        this.#orderKeys.push({ key, entries });
        const topic = this.#changelog.topic;
        const sent = this.#flushed.then(async () => {
          await this.#producer.send([{ topic, records: [{ key, value, partition: 0 }] }]);
          this.#logged.set(key, value);
        });
        this.#flushed = sent;
        sent.then(gate.resolve, (error) => {
          gate.reject(error);
          this.#context.fail(error);
        });
      },
    };
  }

  /** Writes a checkpoint whose outputs are acknowledged, after the one before it. */
  #save(checkpoint: Checkpoint): void {
    const number = this.#number++;
    const entries = checkpointEntries(checkpoint, { checkpoint: number });
    const meta = entries.get(META_KEY)!;
    entries.delete(META_KEY);
    const core = metaCore(checkpoint);
    const positions = checkpoint.sources.map((saved) => saved.positions);
    this.#saving = this.#saving.then(async () => {
      const unchanged = this.#closedCore !== undefined &&
        Buffer.compare(core, this.#closedCore) === 0;
      await this.#write(number, entries, meta, positions, unchanged);
      this.#closedCore = core;
      await this.#committer.commitProgress(
        checkpoint.sources.map((saved) => saved.positions),
        this.#context.logger,
      );
    });
    this.#saving.catch((error) => this.#context.fail(error));
  }

  /**
   * Sends checkpoint `number`'s state records (framed, with each key's value
   * at the last closed checkpoint), waits for them, then sends its meta
   * record, which closes it; then saves the local cache. `unchanged`: the
   * positions and time are the last closed checkpoint's, so nothing is sent
   * unless records are due.
   */
  async #write(
    number: number,
    entries: Map<string, Uint8Array>,
    meta: Uint8Array,
    positions: readonly (readonly Position[])[],
    unchanged = false,
  ): Promise<void> {
    const partitions = this.#changelog.partitions;
    const records: ProduceRecord[] = [];
    const add = (key: string, value: Uint8Array | null) =>
      records.push({ key, value, partition: partitionOf(key, partitions) });
    const deleted = new Set<string>();
    for (const [key, value] of entries) {
      const before = this.#closed.get(key);
      if (before !== undefined && !this.#dirty.has(key) && Buffer.compare(before, value) === 0) {
        continue;
      }
      add(key, encodeFrame({ checkpoint: number, value, previous: before ?? null }));
    }
    for (const [key, before] of this.#closed) {
      if (entries.has(key)) continue;
      add(key, encodeFrame({ checkpoint: number, value: null, previous: before }));
      deleted.add(key);
    }
    // Absent at the last closed checkpoint and now: a plain tombstone is right whether or not
    // this checkpoint closes, and lets compaction drop the key.
    for (const key of [...this.#dirty, ...this.#deleted]) {
      if (!entries.has(key) && !this.#closed.has(key)) add(key, null);
    }
    for (const key of this.#coveredOrder) add(key, null);
    if (unchanged && records.length === 0) return;
    const topic = this.#changelog.topic;
    if (records.length > 0) await this.#producer.send([{ topic, records }]);
    const close: ProduceRecord = {
      key: META_KEY,
      value: meta,
      partition: partitionOf(META_KEY, partitions),
    };
    await this.#producer.send([{ topic, records: [close] }]);
    for (const record of [...records, close]) {
      const key = record.key as string;
      if (record.value === null) this.#logged.delete(key);
      else this.#logged.set(key, record.value as Uint8Array);
    }
    this.#closed = entries;
    this.#dirty = new Set();
    this.#deleted = deleted;
    this.#coveredOrder = [];
    this.#orderKeys = this.#orderKeys.filter(({ key, entries: recorded }) => {
      if (!recorded.every((entry) => covered(entry, positions))) return true;
      this.#coveredOrder.push(key);
      return false;
    });
    if (this.#changelog.caching) {
      // Taken between two order records' sends (and checkpoints run one at a time): the entries
      // are exactly what the log holds before the offsets the cache reads.
      const cached = this.#flushed.then(() => this.#changelog.saveCache(new Map(this.#logged)));
      this.#flushed = cached.catch(() => {});
      await cached;
    }
  }
}

/** The meta record of empty state (`--reset-state`). */
function emptyMeta(checkpoint: number): Uint8Array {
  const meta: ChangelogMeta = { version: 1, time: 0, sources: [], checkpoint, empty: true };
  return serialize(meta);
}

/** What a checkpoint's meta record holds but its number: the same bytes when nothing was applied. */
function metaCore(checkpoint: Checkpoint): Uint8Array {
  return serialize({ time: checkpoint.time, sources: checkpoint.sources });
}

function describePositions(positions: readonly Position[]): string {
  if (positions.length === 0) return "none";
  return positions.map((p) => `${p.topic}-${p.partition}@${p.offset}`).join(", ");
}
