/**
 * Turns the messages of one source into closed batches: decodes each message
 * with the source's format, keeps the rows of each topic-partition until its
 * `*COMMIT*` marker (or the commit interval) closes them, and applies the bad
 * input policy. Knows nothing of operators: a closed batch is a list of input
 * updates for the engine.
 *
 * @module
 */
import { BadInputError, type InputIssue, type IssueCode } from "../engine/errors.ts";
import type { Row, RowId, Value } from "../engine/types.ts";
import type { Decoder, Format, FormatOptions, MessageInfo } from "../formats/format.ts";
import { isFormatError } from "../formats/format.ts";
import type {
  DeadLetterSink,
  ErrorPolicy,
  Logger,
  Position,
  SourceMessage,
} from "../connectors/types.ts";
import { hashValues, type InputTable } from "../engine/mod.ts";
import { type CompiledColumn, ConversionError, convertRow } from "../formats/schema.ts";

/** How an update changes the input table. */
export const enum UpdateKind {
  /** A new row (append-only sources). */
  Insert,
  /** Replaces the current row of the id (primary key). */
  Upsert,
  /** Retracts a row given in full (a `diff` of -1 without a primary key). */
  Retract,
  /** Removes the current row of the id (a `diff` of -1 with a primary key). */
  Remove,
}

/** One row-level update of an input table, with the message it came from. */
export interface InputUpdate {
  readonly kind: UpdateKind;
  readonly id: RowId;
  readonly row: Row;
  readonly message: SourceMessage;
}

/**
 * The updates of a partition between two commit points, column by column:
 * one array per field rather than an object per update, so that a commit of
 * 10,000 messages keeps four arrays alive until it is applied, not 10,000
 * more objects for the garbage collector to move.
 */
export class InputUpdates {
  readonly kinds: UpdateKind[] = [];
  readonly ids: RowId[] = [];
  readonly rows: Row[] = [];
  /** The message each update came from (error reports name its offset). */
  readonly messages: SourceMessage[] = [];

  /** The number of updates. */
  get length(): number {
    return this.ids.length;
  }

  /** Adds an update at the end. */
  push(kind: UpdateKind, id: RowId, row: Row, message: SourceMessage): void {
    this.kinds.push(kind);
    this.ids.push(id);
    this.rows.push(row);
    this.messages.push(message);
  }

  /** The update at `index` as one object. */
  at(index: number): InputUpdate {
    return {
      kind: this.kinds[index],
      id: this.ids[index],
      row: this.rows[index],
      message: this.messages[index],
    };
  }

  /** Maps each update, as one object, in order. */
  map<T>(fn: (update: InputUpdate, index: number) => T): T[] {
    const out: T[] = new Array(this.length);
    for (let i = 0; i < out.length; i++) out[i] = fn(this.at(i), i);
    return out;
  }

  /** The message of the first update of row `id`, if any. */
  messageOf(id: RowId): SourceMessage | undefined {
    const index = this.ids.indexOf(id);
    return index === -1 ? undefined : this.messages[index];
  }
}

/** Pushes the updates of a closed batch into an input table, to be committed at one time. */
export function applyUpdates(input: InputTable<Row>, updates: InputUpdates): void {
  const { kinds, ids, rows } = updates;
  for (let i = 0; i < kinds.length; i++) {
    switch (kinds[i]) {
      case UpdateKind.Insert:
        input.insert(ids[i], rows[i]);
        break;
      case UpdateKind.Upsert:
        input.upsert(ids[i], rows[i]);
        break;
      case UpdateKind.Retract:
        input.retract(ids[i], rows[i]);
        break;
      case UpdateKind.Remove:
        input.remove(ids[i]);
        break;
    }
  }
}

/** The rows of one topic-partition between two commit points. */
export interface ClosedBatch {
  readonly topic: string;
  readonly partition: number;
  readonly updates: InputUpdates;
  /** The offset to resume at once this batch is applied and acknowledged. */
  readonly nextOffset: string;
  /** Milliseconds: the marker's timestamp, or the newest message's (interval mode). */
  readonly timestamp: number;
}

/** When the rows of a partition are applied. */
export type CommitMode =
  /** At each `*COMMIT*` message (the default). */
  | { readonly kind: "marker" }
  /** Every `intervalMs`, whatever has arrived (for producers that send no markers). */
  | { readonly kind: "interval"; readonly intervalMs: number };

/** Options of {@linkcode SourceReader}. */
export interface SourceReaderOptions {
  readonly name: string;
  readonly format: Format;
  readonly formatOptions: FormatOptions;
  /** Columns whose values make the row id; later rows with the same key replace earlier ones. */
  readonly primaryKey?: readonly string[];
  /** Adds a `_metadata` column: topic, partition, offset, timestamp, key, headers. */
  readonly withMetadata?: boolean;
  /** Reads a `diff` column (1 or -1) as insertion or retraction, as written by a rivulet sink. */
  readonly diffColumn?: boolean;
  readonly errorPolicy: ErrorPolicy;
  readonly deadLetter?: DeadLetterSink;
  readonly logger: Logger;
  /** Saved decoder state per topic (a restart). */
  readonly savedDecoders?: Readonly<Record<string, unknown>>;
  /** Messages larger than this (key and value bytes) are bad input (default {@linkcode DEFAULT_MAX_MESSAGE_BYTES}). */
  readonly maxMessageBytes?: number;
  /** Typed columns: each row's values are converted; one that does not convert is bad input. */
  readonly schema?: readonly CompiledColumn[];
  /**
   * The Kafka key is the row id: a later message with the same key replaces
   * the row, a tombstone (no value) deletes it, a message without a key is
   * bad input. Compacted topics read as tables.
   */
  readonly keyAsRowId?: boolean;
  /**
   * Columns taken from the message key, which is decoded by the source's
   * format with these as its value columns (csv: the key's fields in this
   * order). A message without a key is bad input.
   */
  readonly keyColumns?: readonly string[];
}

/**
 * The default limit on a message's size: Kafka's own default
 * `message.max.bytes` (1 MiB plus record overhead), so a message a default
 * broker accepts is never refused here.
 */
export const DEFAULT_MAX_MESSAGE_BYTES = 1_048_588;

const COMMIT_MARKER = "*COMMIT*";
const textDecoder = new TextDecoder();
const empty = new Uint8Array(0);

const markerBytes = new TextEncoder().encode(COMMIT_MARKER);

function isAsciiSpace(byte: number): boolean {
  return byte === 0x20 || (byte >= 0x09 && byte <= 0x0d);
}

/** Whether a message value is exactly `*COMMIT*`, surrounding white space ignored. */
export function isCommitMarker(value: Uint8Array | null): boolean {
  if (value === null || value.length < markerBytes.length || value.length > 64) return false;
  // Compared as bytes: this runs on every message. Non-ASCII bytes (Unicode white space)
  // take the exact path through the decoder.
  let start = 0;
  let end = value.length;
  while (start < end && isAsciiSpace(value[start])) start++;
  while (end > start && isAsciiSpace(value[end - 1])) end--;
  if (end - start !== markerBytes.length) {
    for (let i = 0; i < value.length; i++) {
      if (value[i] >= 0x80) return textDecoder.decode(value).trim() === COMMIT_MARKER;
    }
    return false;
  }
  for (let i = 0; i < markerBytes.length; i++) {
    if (value[start + i] !== markerBytes[i]) return false;
  }
  return true;
}

class PartitionState {
  updates = new InputUpdates();
  /** Messages that cannot be decoded yet (csv rows before the header), markers included. */
  waiting: SourceMessage[] = [];
  lastOffset: string | undefined;
  lastTimestamp = 0;
  /** Messages were taken since the last close (rows, or bad input that was skipped). */
  taken = false;
  /** The first half of the ids of this partition's unkeyed rows (the rest is offset and index). */
  readonly idPrefix: string;
  /** `idPrefix` and the offset's hex digits above the last four, for offsets below `idHighEnd`. */
  idHighPrefix = "";
  idHighStart = 0;
  idHighEnd = 0;
  constructor(readonly topic: string, readonly partition: number) {
    this.idPrefix = hashValues([topic, partition]).slice(0, 16);
  }
}

/** Counters a reader keeps, for the status line and metrics. */
export interface ReaderCounters {
  messages: number;
  rows: number;
  badInput: number;
  deadLettered: number;
}

/** Decodes messages of one source into closed batches. */
export class SourceReader {
  readonly name: string;
  readonly counters: ReaderCounters = { messages: 0, rows: 0, badInput: 0, deadLettered: 0 };
  readonly #options: SourceReaderOptions;
  readonly #decoders = new Map<string, Decoder>();
  /** Decoders of message keys, per topic (keyColumns). */
  readonly #keyDecoders = new Map<string, Decoder>();
  readonly #partitions = new Map<string, PartitionState>();
  /** Dead-letter sends not yet acknowledged; a batch's positions wait for them. */
  #deadLetters: Promise<void>[] = [];
  /** Some partition holds messages its decoder could not take yet. */
  #someWaiting = false;
  /** The partition of the previous message. */
  #lastPartition: PartitionState | undefined;
  #retrying = false;
  readonly #maxMessageBytes: number;

  /** Throws when the options contradict each other (before anything is read). */
  constructor(options: SourceReaderOptions) {
    if (options.diffColumn && options.withMetadata && options.primaryKey === undefined) {
      // A retraction without a key must repeat the row it retracts, and the
      // metadata of the retracting message (its offset) never matches.
      throw new Error(
        `Source ${JSON.stringify(options.name)} cannot combine withMetadata and diffColumn ` +
          `without a primaryKey: give the primary key columns, or drop withMetadata`,
      );
    }
    if (options.keyAsRowId && options.primaryKey !== undefined) {
      throw new Error(
        `Source ${JSON.stringify(options.name)} cannot have both keyAsRowId and a primaryKey: ` +
          `the row id is the Kafka key, or the primary key columns, not both`,
      );
    }
    if (options.keyAsRowId && options.diffColumn) {
      throw new Error(
        `Source ${JSON.stringify(options.name)} cannot combine keyAsRowId and diffColumn: ` +
          `with the key as row id a tombstone deletes a row`,
      );
    }
    this.name = options.name;
    this.#options = options;
    this.#maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  }

  /** Decodes messages (of any partitions, each partition in offset order); returns the batches they closed, in order. */
  accept(messages: readonly SourceMessage[], closed: ClosedBatch[] = []): ClosedBatch[] {
    for (const message of messages) {
      this.counters.messages++;
      const state = this.#partition(message.topic, message.partition);
      if (state.waiting.length > 0) {
        state.waiting.push(message);
      } else {
        this.#take(state, message, closed);
      }
    }
    return closed;
  }

  /** Closes every partition's open rows (interval mode); returns the batches. */
  closeAll(closed: ClosedBatch[] = []): ClosedBatch[] {
    for (const state of this.#partitions.values()) {
      // A partition that only had skipped bad input closes too, so that its
      // offset moves on and a restart does not report the same messages again.
      if (state.taken && state.waiting.length === 0) {
        closed.push(this.#close(state, null));
      }
    }
    return closed;
  }

  /** Forgets the open rows of partitions this source no longer reads (a rebalance). */
  dropPartitions(partitions: readonly { topic: string; partition: number }[]): void {
    this.#lastPartition = undefined;
    for (const { topic, partition } of partitions) {
      this.#partitions.delete(`${topic}\0${partition}`);
    }
  }

  /** Decoder state per topic, for a checkpoint. */
  saveDecoders(): Record<string, unknown> {
    // Topics not read since the restart keep the state they were restored with.
    const saved: Record<string, unknown> = { ...this.#options.savedDecoders };
    for (const [topic, decoder] of this.#decoders) saved[topic] = decoder.save();
    return saved;
  }

  /** Resolves when every dead-letter record sent so far is acknowledged. */
  async deadLettersAcknowledged(): Promise<void> {
    const pending = this.#deadLetters;
    this.#deadLetters = [];
    await Promise.all(pending);
  }

  /** Rows read but not yet closed by a marker, over all partitions. */
  get openRows(): number {
    let rows = 0;
    for (const state of this.#partitions.values()) {
      rows += state.updates.length + state.waiting.length;
    }
    return rows;
  }

  #partition(topic: string, partition: number): PartitionState {
    // Messages come in runs of one partition: skip the key string and the map lookup.
    const last = this.#lastPartition;
    if (last !== undefined && last.partition === partition && last.topic === topic) return last;
    const key = `${topic}\0${partition}`;
    let state = this.#partitions.get(key);
    if (state === undefined) {
      state = new PartitionState(topic, partition);
      this.#partitions.set(key, state);
    }
    this.#lastPartition = state;
    return state;
  }

  #decoder(topic: string): Decoder {
    let decoder = this.#decoders.get(topic);
    if (decoder === undefined) {
      const saved = this.#options.savedDecoders?.[topic];
      decoder = this.#options.format.open(topic, this.#options.formatOptions, saved);
      this.#decoders.set(topic, decoder);
    }
    return decoder;
  }

  #keyDecoder(topic: string): Decoder {
    let decoder = this.#keyDecoders.get(topic);
    if (decoder === undefined) {
      const columns = this.#options.keyColumns!;
      decoder = this.#options.format.open(topic, { valueColumns: columns, header: columns });
      this.#keyDecoders.set(topic, decoder);
    }
    return decoder;
  }

  /** The columns a message's key holds (keyColumns); undefined after reporting bad input. */
  #keyRow(message: SourceMessage): Row | undefined {
    if (message.key === null) {
      this.#bad(message, "missing_key", "the message has no key, but key columns are read from it");
      return undefined;
    }
    try {
      const result = this.#keyDecoder(message.topic).decode(message.key, message);
      if (result.kind === "rows" && result.rows.length === 1) return result.rows[0];
      this.#bad(
        message,
        "malformed",
        result.kind === "wait"
          ? "the message key cannot be decoded on its own"
          : `the message key holds ${result.rows.length} rows, not one`,
      );
    } catch (error) {
      if (!isFormatError(error)) throw error;
      this.#bad(message, error.code, `the message key: ${error.message}`, error.column);
    }
    return undefined;
  }

  /** keyAsRowId: a message without a value deletes the row of its key. */
  #tombstone(state: PartitionState, message: SourceMessage): void {
    if (message.key === null) {
      this.#bad(message, "missing_key", "a tombstone without a key names no row to delete");
      return;
    }
    this.counters.rows++;
    state.updates.push(UpdateKind.Remove, keyRowId(message.key), {}, message);
  }

  /** Takes one message of a partition with nothing waiting; false when it had to wait. */
  #take(state: PartitionState, message: SourceMessage, closed: ClosedBatch[]): boolean {
    state.lastOffset = message.offset;
    state.taken = true;
    const timestamp = Number(message.timestamp);
    if (timestamp > state.lastTimestamp) state.lastTimestamp = timestamp;
    const size = (message.value?.length ?? 0) + (message.key?.length ?? 0);
    if (size > this.#maxMessageBytes) {
      this.#bad(
        message,
        "too_large",
        `the message is ${size} bytes, over the limit of ${this.#maxMessageBytes} bytes ` +
          `(maxMessageBytes, --max-message-bytes)`,
      );
      return true;
    }
    if (isCommitMarker(message.value)) {
      closed.push(this.#close(state, message));
      return true;
    }
    if (message.value === null && this.#options.keyAsRowId) {
      this.#tombstone(state, message);
      return true;
    }
    const info: MessageInfo = message;
    let rows: readonly Row[] | undefined;
    let single: Row | undefined;
    try {
      const decoder = this.#decoder(message.topic);
      // The usual message, one row: without decode()'s result object and arrays.
      if (decoder.decodeRow !== undefined && this.#options.keyColumns === undefined) {
        single = decoder.decodeRow(message.value ?? empty, info);
      }
      if (single === undefined) {
        const result = decoder.decode(message.value ?? empty, info);
        if (result.kind === "wait") {
          state.waiting.push(message);
          this.#someWaiting = true;
          return false;
        }
        rows = result.rows;
      }
    } catch (error) {
      if (!isFormatError(error)) throw error;
      this.#bad(message, error.code, error.message, error.column);
      // A bad csv header ends the wait of other partitions' rows: they are
      // offered again and reported (header_missing) rather than kept silently.
      if (this.#someWaiting && !this.#retrying) this.#retryWaiting(message.topic, closed);
      return true;
    }
    if (single !== undefined) {
      this.#addRow(state, message, single, 0);
    } else {
      if (this.#options.keyColumns !== undefined && rows!.length > 0) {
        const keyRow = this.#keyRow(message);
        if (keyRow === undefined) return true;
        rows = rows!.map((row) => ({ ...row, ...keyRow }));
      }
      for (let i = 0; i < rows!.length; i++) this.#addRow(state, message, rows![i], i);
    }
    if (this.#someWaiting && !this.#retrying) this.#retryWaiting(message.topic, closed);
    return true;
  }

  /** After a message that may have taught the decoder something (a csv header), retries partitions that wait. */
  #retryWaiting(topic: string, closed: ClosedBatch[]): void {
    this.#retrying = true;
    try {
      let stillWaiting = false;
      for (const state of this.#partitions.values()) {
        if (state.waiting.length === 0) continue;
        if (state.topic === topic) {
          const waiting = state.waiting;
          state.waiting = [];
          for (let i = 0; i < waiting.length; i++) {
            if (state.waiting.length > 0) {
              state.waiting.push(waiting[i]);
            } else {
              this.#take(state, waiting[i], closed);
            }
          }
        }
        if (state.waiting.length > 0) stillWaiting = true;
      }
      this.#someWaiting = stillWaiting;
    } finally {
      // Bad input under `stop` throws out of a retry; later retries must still run.
      this.#retrying = false;
    }
  }

  #addRow(state: PartitionState, message: SourceMessage, decoded: Row, index: number): void {
    const options = this.#options;
    let row = decoded;
    let retraction = false;
    if (options.diffColumn) {
      const diff = diffOf(row.diff);
      if (diff === undefined) {
        this.#bad(
          message,
          "malformed",
          `column "diff" must be 1 or -1, not ${describeValue(row.diff)}`,
          "diff",
        );
        return;
      }
      retraction = diff === -1;
      const { diff: _diff, time: _time, ...rest } = row;
      row = rest;
    }
    if (options.schema !== undefined) {
      try {
        row = convertRow(options.schema, row);
      } catch (error) {
        if (!(error instanceof ConversionError)) throw error;
        this.#bad(message, "invalid_value", error.message, error.column);
        return;
      }
    }
    if (options.withMetadata) row = { ...row, _metadata: metadataOf(message) };
    let id: RowId;
    let kind: UpdateKind;
    if (options.keyAsRowId) {
      if (message.key === null) {
        this.#bad(message, "missing_key", "the message has no key, and the key is the row id");
        return;
      }
      id = index === 0 ? keyRowId(message.key) : hashValues([message.key, index]);
      kind = UpdateKind.Upsert;
    } else if (options.primaryKey !== undefined) {
      const values: Value[] = [];
      for (const column of options.primaryKey) {
        const value = row[column];
        if (value === undefined) {
          this.#bad(
            message,
            "missing_column",
            `primary key column ${JSON.stringify(column)} is missing`,
            column,
          );
          return;
        }
        values.push(value);
      }
      id = hashValues(values);
      kind = retraction ? UpdateKind.Remove : UpdateKind.Upsert;
    } else {
      const key = options.diffColumn && message.key !== null ? textDecoder.decode(message.key) : "";
      id = key !== "" && /^[0-9a-f]{32}$/.test(key) ? key : unkeyedId(state, message.offset, index);
      kind = retraction ? UpdateKind.Retract : UpdateKind.Insert;
    }
    this.counters.rows++;
    state.updates.push(kind, id, row, message);
  }

  #close(state: PartitionState, marker: SourceMessage | null): ClosedBatch {
    const batch: ClosedBatch = {
      topic: state.topic,
      partition: state.partition,
      updates: state.updates,
      nextOffset: String(BigInt(marker?.offset ?? state.lastOffset ?? "-1") + 1n),
      timestamp: marker === null ? state.lastTimestamp : Number(marker.timestamp),
    };
    state.updates = new InputUpdates();
    state.taken = false;
    return batch;
  }

  /** Applies the bad input policy to one message; throws under `stop`. */
  #bad(message: SourceMessage, code: IssueCode, reason: string, column?: string): void {
    const issue: InputIssue = {
      code,
      reason,
      location: { topic: message.topic, partition: message.partition, offset: message.offset },
      ...(column === undefined ? {} : { column }),
      input: message.value ?? empty,
    };
    reportBadInput(issue, message, this.#options, this.counters, this.#deadLetters);
  }
}

/** Applies a bad input policy: throws (stop), logs and counts (skip), or sends to the dead-letter topic. */
export function reportBadInput(
  issue: InputIssue,
  message: SourceMessage | undefined,
  options: Pick<SourceReaderOptions, "errorPolicy" | "deadLetter" | "logger">,
  counters: ReaderCounters,
  deadLetters: Promise<void>[],
): void {
  const error = new BadInputError([issue]);
  if (options.errorPolicy === "stop") throw error;
  counters.badInput++;
  if (
    options.errorPolicy === "dead-letter" && options.deadLetter !== undefined &&
    message !== undefined
  ) {
    counters.deadLettered++;
    options.logger.warn(`${error.message}; sent to the dead-letter topic`, { code: issue.code });
    deadLetters.push(options.deadLetter.send(message, error.message));
    return;
  }
  options.logger.warn(`${error.message}; skipped`, { code: issue.code });
}

/** A `diff` column's value as 1 or -1 (csv gives the text "1" or "-1"); absent means 1. */
function diffOf(value: Value | undefined): 1 | -1 | undefined {
  if (value === undefined || value === 1 || value === "1") return 1;
  if (value === -1 || value === "-1") return -1;
  return undefined;
}

function describeValue(value: Value | undefined): string {
  return typeof value === "bigint" ? `${value}n` : JSON.stringify(value) ?? String(value);
}

const maxOffsetInId = 2 ** 48;

/**
 * The id of an unkeyed row: the partition's prefix, the offset in 12 hex
 * digits and the row's index in the message in 4; a hash where those do not
 * fit. Deterministic, so a replay gives the same ids, and cheap: no hash per
 * message.
 */
function unkeyedId(state: PartitionState, offset: string, index: number): RowId {
  const position = Number(offset);
  if (index === 0 && position >= state.idHighStart && position < state.idHighEnd) {
    // The first (usually only) row of a message, in the run of 65,536 offsets
    // of the partition's last one: two parts made once, one string per row.
    return state.idHighPrefix + lowIdSuffix(position - state.idHighStart);
  }
  if (position < maxOffsetInId && index < 0xffff) {
    if (index === 0) {
      const high = Math.floor(position / 0x10000);
      state.idHighStart = high * 0x10000;
      state.idHighEnd = state.idHighStart + 0x10000;
      state.idHighPrefix = state.idPrefix + high.toString(16).padStart(8, "0");
      return state.idHighPrefix + lowIdSuffix(position - state.idHighStart);
    }
    return state.idPrefix + position.toString(16).padStart(12, "0") +
      index.toString(16).padStart(4, "0");
  }
  return hashValues([state.topic, state.partition, offset, index]);
}

/** The last four hex digits of an offset and a first row's index (0000), made once each. */
const lowIdSuffixes: string[] = new Array(0x10000).fill("");

function lowIdSuffix(low: number): string {
  let suffix = lowIdSuffixes[low];
  if (suffix === "") {
    suffix = lowIdSuffixes[low] = low.toString(16).padStart(4, "0") + "0000";
  }
  return suffix;
}

/** The row id of a Kafka key (keyAsRowId): the same key always gives the same id. */
function keyRowId(key: Uint8Array): RowId {
  return hashValues([key]);
}

/**
 * The `_metadata` column, in Pathway's shape: offset, partition, topic,
 * timestamp_millis, the key as text (null when none) and the headers as
 * [name, value] pairs in message order.
 */
function metadataOf(message: SourceMessage): Row {
  const timestamp = Number(message.timestamp);
  return {
    offset: Number(message.offset),
    partition: message.partition,
    topic: message.topic,
    timestamp_millis: Number.isFinite(timestamp) && timestamp >= 0 ? timestamp : null,
    key: message.key === null ? null : textDecoder.decode(message.key),
    headers: Object.entries(message.headers).map(([name, value]) => [name, value]),
  };
}

/** Positions as Kafka wants them, from a map keyed `topic\0partition`. */
export function positionsOf(offsets: ReadonlyMap<string, string>): Position[] {
  const positions: Position[] = [];
  for (const [key, offset] of offsets) {
    const [topic, partition] = key.split("\0");
    positions.push({ topic, partition: Number(partition), offset });
  }
  return positions;
}
