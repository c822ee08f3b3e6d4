/**
 * A task: one partition's share of one stage of a partitioned pipeline, with
 * its own engine graph (the whole transform, built again for the task, in
 * which only the stage's operators ever see changes), its own position in the
 * topic-partition it reads, and its own state, saved as one record of the
 * tasks' changelog. A task of stage 0 reads an input partition with a
 * {@linkcode SourceReader} and applies each closed batch as one commit; a
 * task of a later stage reads a repartition partition and applies each
 * fragment (`fragment.ts`) as one commit, once: it remembers, per sending
 * task, the last fragment it applied.
 *
 * Everything a task does is decided by its input and its saved state, so a
 * task restored from any of its checkpoints on any instance repeats the
 * commits after that checkpoint exactly (same changes, same times, same
 * fragments with the same numbers).
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { deserialize, serialize } from "node:v8";
import { Graph, type InputTable, type Table } from "../../engine/mod.ts";
import { snapshotEntries, snapshotFromEntries } from "../../engine/snapshot_entries.ts";
import type { UserFunctionError } from "../../engine/errors.ts";
import type { Batch, Change, Row, Time } from "../../engine/types.ts";
import type { SourceMessage } from "../../connectors/types.ts";
import { applyUpdates, SourceReader, type SourceReaderOptions } from "../reader.ts";
import { changesByExchange, decodeFragment, type FragmentPart } from "./fragment.ts";

const TASK_STATE_FORMAT = "rivulet-task/1";

/**
 * What a task saves at a checkpoint beside its operator state: the entry
 * {@linkcode META_ENTRY} of its state entries.
 */
export interface TaskMeta {
  readonly format: typeof TASK_STATE_FORMAT;
  readonly id: string;
  /** The offset to read next, everything before it applied. */
  readonly position: string;
  readonly time: Time;
  /** Per sending task, the sequence number of the last fragment applied. */
  readonly applied: Readonly<Record<string, number>>;
  /** The input decoders' state (a csv header), stage 0 only. */
  readonly decoders?: Readonly<Record<string, unknown>>;
}

/** The entry of a task's state that holds its {@linkcode TaskMeta}. */
export const META_ENTRY = "meta";
/** The prefix of the entries of its operator state (`engine/snapshot_entries.ts`), one per row or group. */
const GRAPH_PREFIX = "g/";

/**
 * A task's state as entries (a key each, `v8`-serialized values): written to
 * the changelog per entry that changed, so that a checkpoint costs what
 * changed, and no record grows with the state.
 */
export type TaskEntries = ReadonlyMap<string, Uint8Array>;

/** The changes that leave a task in one commit. */
export interface TaskCommit {
  /** The commit's sequence number: the offset its input resumes at (grows with every commit). */
  readonly seq: number;
  readonly time: Time;
  /** The output table's changes, when it changed. */
  readonly output: Batch<Row> | undefined;
  /** What reached the exchanges: sent on to the tasks that own the keys. */
  readonly exchanged: readonly ExchangedChanges[];
}

/** Changes that reached one exchange in one commit. */
export interface ExchangedChanges {
  readonly index: number;
  readonly stage: number;
  readonly route: (change: Change) => string;
  readonly changes: readonly Change[];
}

/** Builds the transform on a task's input table; returns the table to write. */
export type BuildTransform = (input: Table<Row>) => Table<Row>;

/** Options of {@linkcode Task}. */
export interface TaskOptions {
  /** The task's name: `<topic>:<partition>` of what it reads. */
  readonly id: string;
  readonly topic: string;
  readonly partition: number;
  /** 0: reads input messages; above: reads fragments of that stage's repartition topic. */
  readonly stage: number;
  readonly build: BuildTransform;
  /** The input's name and whether its rows are keyed (upserts), as the source's. */
  readonly inputName: string;
  readonly keyed: boolean;
  /** Stage 0: how messages become rows (decoders are restored from the saved state). */
  readonly reader?: Omit<SourceReaderOptions, "savedDecoders">;
  /** What a throwing user function does: throw to stop, return to drop the row. */
  readonly onUserFunctionError: (error: UserFunctionError) => void;
}

/** A partial fragment: parts received so far from one sender. */
interface Assembling {
  readonly seq: number;
  readonly parts: FragmentPart[];
  /** The offset of its first part: a checkpoint's position stays before it. */
  readonly firstOffset: number;
}

/** One partition's share of one stage. */
export class Task {
  readonly id: string;
  readonly topic: string;
  readonly partition: number;
  readonly stage: number;
  readonly graph: Graph;
  readonly #input: InputTable<Row>;
  readonly #options: TaskOptions;
  #reader: SourceReader | undefined;
  /** The next offset after the last applied commit (or skipped record). */
  #position = 0;
  /** The next offset after the last message taken (applied or still open). */
  #read = 0;
  #time: Time = 0;
  readonly #applied = new Map<string, number>();
  readonly #assembling = new Map<string, Assembling>();
  /** Filled during a commit by the graph's callbacks. */
  #output: Batch<Row> | undefined;
  #exchanged: ExchangedChanges[] = [];
  /** Whether anything changed since the last checkpoint. */
  dirty = false;
  /** Commits applied, rows taken. */
  commits = 0;

  constructor(options: TaskOptions) {
    this.id = options.id;
    this.topic = options.topic;
    this.partition = options.partition;
    this.stage = options.stage;
    this.#options = options;
    this.graph = new Graph({
      onError: options.onUserFunctionError,
      onExchange: (exchange, changes) => {
        this.#exchanged.push({
          index: exchange.index,
          stage: exchange.stage,
          route: exchange.route,
          changes,
        });
      },
    });
    this.#input = this.graph.input<Row>({ name: options.inputName, keyed: options.keyed });
    const output = options.build(this.#input);
    this.graph.output(output, (batch) => (this.#output = batch));
    if (options.stage === 0) this.#reader = this.#newReader(undefined);
  }

  /** The offset to read next: messages before it were taken already. */
  get readPosition(): number {
    return this.#read;
  }

  /** The reader's counters (stage 0). */
  get reader(): SourceReader | undefined {
    return this.#reader;
  }

  /** Restores saved state entries; without any, the task starts at `start`. */
  restore(saved: TaskEntries | undefined, start: number): void {
    const metaBytes = saved?.get(META_ENTRY);
    if (saved === undefined || metaBytes === undefined) {
      this.#position = this.#read = start;
      return;
    }
    const meta = deserialize(metaBytes) as TaskMeta;
    if (meta?.format !== TASK_STATE_FORMAT || meta.id !== this.id) {
      throw new Error(
        `The saved state of task ${this.id} is not one this version of rivulet wrote ` +
          `(expected format ${TASK_STATE_FORMAT})`,
      );
    }
    const graph = new Map<string, unknown>();
    for (const [key, value] of saved) {
      if (key.startsWith(GRAPH_PREFIX)) {
        graph.set(key.slice(GRAPH_PREFIX.length), deserialize(value));
      }
    }
    this.graph.restore(snapshotFromEntries(graph));
    this.#position = this.#read = Number(meta.position);
    this.#time = meta.time;
    for (const [from, seq] of Object.entries(meta.applied)) this.#applied.set(from, seq);
    if (this.stage === 0) this.#reader = this.#newReader(meta.decoders);
  }

  /** The state to save now, as entries, and the position it resumes at. */
  checkpoint(): { readonly entries: TaskEntries; readonly position: string } {
    let position = this.#position;
    for (const partial of this.#assembling.values()) {
      position = Math.min(position, partial.firstOffset);
    }
    const meta: TaskMeta = {
      format: TASK_STATE_FORMAT,
      id: this.id,
      position: String(position),
      time: this.#time,
      applied: Object.fromEntries(this.#applied),
      ...(this.#reader === undefined ? {} : { decoders: this.#reader.saveDecoders() }),
    };
    const entries = new Map<string, Uint8Array>();
    for (const [key, value] of snapshotEntries(this.graph.snapshot())) {
      entries.set(GRAPH_PREFIX + key, Buffer.from(serialize(value)));
    }
    entries.set(META_ENTRY, Buffer.from(serialize(meta)));
    this.dirty = false;
    return { entries, position: String(position) };
  }

  /**
   * Takes messages of this task's partition in offset order (those before
   * the read position are dropped: a consumer that restarted reads them
   * again); returns the commits they closed, applied.
   */
  accept(messages: readonly SourceMessage[]): TaskCommit[] {
    let start = 0;
    while (start < messages.length && Number(messages[start].offset) < this.#read) start++;
    if (start === messages.length) return [];
    const taken = start === 0 ? messages : messages.slice(start);
    this.#read = Number(taken[taken.length - 1].offset) + 1;
    return this.stage === 0 ? this.#acceptInput(taken) : this.#acceptFragments(taken);
  }

  /** The consumer passed over records it hands nobody (transaction markers) up to `offset`. */
  skipped(offset: number): void {
    if (offset <= this.#read) return;
    this.#read = offset;
    // Open input rows are read again from the last closed batch after a restore.
    if (this.#reader !== undefined && this.#reader.openRows > 0) return;
    this.#position = offset;
    this.dirty = true;
  }

  #acceptInput(messages: readonly SourceMessage[]): TaskCommit[] {
    const commits: TaskCommit[] = [];
    for (const batch of this.#reader!.accept(messages)) {
      this.#position = Number(batch.nextOffset);
      this.dirty = true;
      if (batch.updates.length === 0) continue;
      applyUpdates(this.#input, batch.updates);
      commits.push(this.#commit(batch.timestamp, this.#position));
    }
    return commits;
  }

  #acceptFragments(messages: readonly SourceMessage[]): TaskCommit[] {
    const commits: TaskCommit[] = [];
    for (const message of messages) {
      const offset = Number(message.offset);
      const part = decodeFragment(
        message.value,
        `Record ${message.topic}-${message.partition}@${message.offset}`,
      );
      // A checkpoint's position stays before fragments still being assembled (`checkpoint`).
      this.#position = offset + 1;
      this.dirty = true;
      const done = this.#applied.get(part.from);
      if (done !== undefined && part.seq <= done) continue;
      let fragment: FragmentPart[] | undefined;
      if (part.parts === 1) fragment = [part];
      else {
        const partial = this.#assembling.get(part.from);
        if (part.part === 0) {
          this.#assembling.set(part.from, { seq: part.seq, parts: [part], firstOffset: offset });
        } else if (
          partial !== undefined && partial.seq === part.seq &&
          partial.parts.length === part.part
        ) {
          partial.parts.push(part);
          if (partial.parts.length === part.parts) {
            fragment = partial.parts;
            this.#assembling.delete(part.from);
          }
        }
        // A part without its beginning is a repeat of a fragment whose first part was dropped above.
      }
      if (fragment === undefined) continue;
      for (const piece of fragment) {
        for (const [index, changes] of changesByExchange(piece.changes)) {
          this.graph.receive(index, changes);
        }
      }
      this.#applied.set(part.from, part.seq);
      commits.push(this.#commit(part.time, offset + 1));
    }
    return commits;
  }

  #commit(timestamp: number, seq: number): TaskCommit {
    const time = Math.max(this.#time + 1, timestamp);
    this.#output = undefined;
    this.#exchanged = [];
    this.graph.commit(time);
    this.#time = time;
    this.commits++;
    return { seq, time, output: this.#output, exchanged: this.#exchanged };
  }

  #newReader(decoders: Readonly<Record<string, unknown>> | undefined): SourceReader {
    const options = this.#options.reader;
    if (options === undefined) throw new Error(`Task ${this.id} reads input but has no reader`);
    return new SourceReader({
      ...options,
      ...(decoders === undefined ? {} : { savedDecoders: decoders }),
    });
  }
}
