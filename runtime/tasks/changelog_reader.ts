/**
 * Reads a partitioned run's changelog topic (`<group.id>-tasks-changelog`)
 * with `read_committed`, from its start, and keeps reading while open: the
 * last committed state entries of every task, and each task's hand-off
 * marker (who claimed it last, or that it was released).
 *
 * Record keys: `<task id>/<entry key>` for a state entry (a null value
 * deletes it), `hand-off:<task id>` for a hand-off marker, and
 * `restore-end` for the end markers a reader writes to know it has read
 * everything committed before it asked ({@linkcode ChangelogReader.readToEnd}).
 *
 * @module
 */
import type { KafkaClient, ProduceRecord } from "../../connectors/kafka/client.ts";

const END_MARKER_KEY = "restore-end";
const HAND_OFF_PREFIX = "hand-off:";

/**
 * Where a task stands between owners, as its last hand-off marker says:
 * claimed by a member (it runs the task, or did until it stopped without
 * handing it over), or released by its last owner after its last checkpoint.
 */
export type HandOff =
  | { readonly state: "claimed"; readonly member: string }
  | { readonly state: "released" };

/** The changelog record of a hand-off marker (in the task's changelog partition). */
export function handOffRecord(taskId: string, handOff: HandOff, partition: number): ProduceRecord {
  return { key: `${HAND_OFF_PREFIX}${taskId}`, value: JSON.stringify(handOff), partition };
}

/** Options of {@linkcode ChangelogReader}. */
export interface ChangelogReaderOptions {
  readonly client: KafkaClient;
  /** The pipeline's group id: the reader's own group is named after it. */
  readonly groupId: string;
  readonly topic: string;
  readonly partitions: number;
  /** Sends the end markers (retrying while Kafka heals). */
  readonly send: (records: ProduceRecord[]) => Promise<void>;
}

/** A changelog read from its start and followed while open. */
export class ChangelogReader {
  readonly #options: ChangelogReaderOptions;
  readonly #states = new Map<string, Map<string, Uint8Array>>();
  readonly #handOffs = new Map<string, HandOff>();
  readonly #decoder = new TextDecoder();
  #consumer: ReturnType<KafkaClient["consumer"]> | undefined;
  /** The end markers waited for: their nonce and the partitions that reached one. */
  #ending: { nonce: string; ended: Set<number>; done: () => void } | undefined;
  /** Rejects when the consumer fails for good. */
  readonly #failed = Promise.withResolvers<never>();
  /** Called after each batch read (and on a failure). */
  #changed: () => void = () => {};

  constructor(options: ChangelogReaderOptions) {
    this.#options = options;
    this.#failed.promise.catch(() => {}); // rejected while nobody waits: the next wait rejects
  }

  /** Joins a group of its own and reads from the start. */
  async open(): Promise<void> {
    const { client, groupId, topic } = this.#options;
    const consumer = this.#consumer = client.consumer({
      groupId: `${groupId}-restore-${crypto.randomUUID().slice(0, 8)}`,
      topics: [topic],
      isolation: "read_committed",
      autoOffsetReset: "earliest",
    });
    await consumer.connect();
    await consumer.run({
      onBatch: (batch) => {
        for (const message of batch.messages) {
          const key = message.key === null ? "" : this.#decoder.decode(message.key);
          this.#apply(batch.partition, key, message.value);
        }
        this.#changed();
        return Promise.resolve();
      },
      onFatal: (error) => this.#failed.reject(error),
    });
  }

  /** Resolves once everything committed to the changelog before the call has been read. */
  async readToEnd(): Promise<void> {
    const nonce = crypto.randomUUID();
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#ending = { nonce, ended: new Set(), done: resolve };
    const markers: ProduceRecord[] = [];
    for (let partition = 0; partition < this.#options.partitions; partition++) {
      markers.push({ key: END_MARKER_KEY, value: nonce, partition });
    }
    await this.#options.send(markers);
    await this.#until(() => promise);
    this.#ending = undefined;
  }

  /** Waits until the next batch is read, or `ms` passed. */
  async changed(ms: number): Promise<void> {
    await this.#until(() =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, ms);
        this.#changed = () => {
          clearTimeout(timer);
          resolve();
        };
      })
    );
    this.#changed = () => {};
  }

  /** A task's last committed state entries; undefined if it has none. */
  state(taskId: string): Map<string, Uint8Array> | undefined {
    return this.#states.get(taskId);
  }

  /** A task's last hand-off marker; undefined if it never had an owner that claimed it. */
  handOff(taskId: string): HandOff | undefined {
    return this.#handOffs.get(taskId);
  }

  async close(): Promise<void> {
    const consumer = this.#consumer;
    this.#consumer = undefined;
    consumer?.pause();
    await consumer?.disconnect().catch(() => {});
  }

  /** Waits for `wait()`, or rejects with the consumer's failure (or a marker it cannot read). */
  async #until(wait: () => Promise<void>): Promise<void> {
    await Promise.race([wait(), this.#failed.promise]);
  }

  #apply(partition: number, key: string, value: Uint8Array | null): void {
    if (key === END_MARKER_KEY) {
      const ending = this.#ending;
      if (ending !== undefined && value !== null && this.#decoder.decode(value) === ending.nonce) {
        ending.ended.add(partition);
        if (ending.ended.size === this.#options.partitions) ending.done();
      }
      return;
    }
    if (key.startsWith(HAND_OFF_PREFIX)) {
      const task = key.slice(HAND_OFF_PREFIX.length);
      if (value === null) {
        this.#handOffs.delete(task);
        return;
      }
      const text = this.#decoder.decode(value);
      const handOff = parseHandOff(text);
      if (handOff !== undefined) this.#handOffs.set(task, handOff);
      else {
        this.#failed.reject(
          new Error(
            `Changelog ${
              JSON.stringify(this.#options.topic)
            } partition ${partition}: the hand-off ` +
              `marker of task ${task} is not one rivulet writes: ${
                JSON.stringify(text.slice(0, 200))
              }`,
          ),
        );
      }
      return;
    }
    const slash = key.indexOf("/");
    if (slash < 0) return;
    const task = key.slice(0, slash);
    let entries = this.#states.get(task);
    if (entries === undefined) this.#states.set(task, entries = new Map());
    // A copy: a fetched value may be a view of the whole fetch response.
    if (value === null) entries.delete(key.slice(slash + 1));
    else entries.set(key.slice(slash + 1), new Uint8Array(value));
  }
}

function parseHandOff(text: string): HandOff | undefined {
  try {
    const value = JSON.parse(text) as Partial<Record<string, unknown>>;
    if (value.state === "released") return { state: "released" };
    if (value.state === "claimed" && typeof value.member === "string") {
      return { state: "claimed", member: value.member };
    }
  } catch {
    // not JSON
  }
  return undefined;
}
