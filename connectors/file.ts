/**
 * Local sources and sinks for runs without a broker: a file or standard input
 * with one message per line (`*COMMIT*` lines included), and standard output
 * with one JSON change per line, the same records the Kafka sink writes.
 *
 * @module
 */
import type { Batch, Change, Row, Time } from "../engine/types.ts";
import type { MessageHandler, Position, Sink, Source, SourceMessage } from "./types.ts";

/** Options for {@linkcode LineSource}. */
export interface LineSourceOptions {
  /** A file path, or `-` for standard input. */
  readonly path: string;
  /** A stable name for logs and saved state (default: `file:` and the path, `stdin` for `-`). */
  readonly name?: string;
  /** The topic name messages carry (default: the path, `stdin` for `-`). */
  readonly topic?: string;
  /** Lines handed to the handler at once (default 10,000). */
  readonly batchSize?: number;
}

const encoder = new TextEncoder();
const noHeaders: Readonly<Record<string, string>> = Object.freeze({});

/**
 * Reads a file or standard input line by line. Each line is one message on
 * partition 0; its offset is the line's index (0-based), so a resume position
 * skips lines already processed.
 *
 * @example
 * ```ts ignore
 * const source = new LineSource({ path: "examples/connector_example.txt" });
 * ```
 */
export class LineSource implements Source {
  readonly name: string;
  readonly finished: Promise<void>;
  readonly #path: string;
  readonly #topic: string;
  readonly #batchSize: number;
  #finish!: () => void;
  #fail!: (error: unknown) => void;
  #stopped = false;

  constructor(options: LineSourceOptions) {
    this.#path = options.path;
    this.#topic = options.topic ?? (options.path === "-" ? "stdin" : options.path);
    this.#batchSize = options.batchSize ?? 10_000;
    this.name = options.name ?? (options.path === "-" ? "stdin" : `file:${options.path}`);
    this.finished = new Promise((resolve, reject) => {
      this.#finish = resolve;
      this.#fail = reject;
    });
  }

  start(handler: MessageHandler, from?: readonly Position[]): Promise<void> {
    const resumeAt = Number(from?.find((p) => p.topic === this.#topic)?.offset ?? 0);
    this.#read(handler, resumeAt).then(() => this.#finish(), (error) => this.#fail(error));
    return Promise.resolve();
  }

  async #read(handler: MessageHandler, resumeAt: number): Promise<void> {
    const input = this.#path === "-" ? Deno.stdin.readable : (await Deno.open(this.#path)).readable;
    const chunks = input.pipeThrough(new TextDecoderStream()).pipeThrough(new LineSplitter());
    let offset = 0;
    // Each read's lines are handed over at once (at most batchSize at a time), so a live
    // stream on standard input is processed as it arrives.
    for await (const lines of chunks) {
      let batch: SourceMessage[] = [];
      for (const line of lines) {
        if (offset >= resumeAt) batch.push(this.#message(offset, line));
        offset++;
        if (batch.length >= this.#batchSize) {
          if (this.#stopped) return;
          await handler(batch);
          batch = [];
        }
      }
      if (this.#stopped) return;
      if (batch.length > 0) await handler(batch);
    }
  }

  #message(offset: number, line: string): SourceMessage {
    return {
      topic: this.#topic,
      partition: 0,
      offset: String(offset),
      timestamp: "0",
      key: null,
      value: encoder.encode(line),
      headers: noHeaders,
    };
  }

  commit(_positions: readonly Position[]): Promise<void> {
    // A file has no group to commit to; durable positions live in the state directory.
    return Promise.resolve();
  }

  stop(): Promise<void> {
    this.#stopped = true;
    return Promise.resolve();
  }
}

/** Splits text into the lines of each chunk (`\n` or `\r\n`); a last line without a newline counts. */
class LineSplitter extends TransformStream<string, string[]> {
  constructor() {
    let rest = "";
    const trim = (line: string) => line.endsWith("\r") ? line.slice(0, -1) : line;
    super({
      transform(chunk, controller) {
        const parts = (rest + chunk).split("\n");
        rest = parts.pop() ?? "";
        if (parts.length > 0) controller.enqueue(parts.map(trim));
      },
      flush(controller) {
        if (rest !== "") controller.enqueue([trim(rest)]);
      },
    });
  }
}

/** Turns one change at a time into the text of one output record. */
export type ChangeEncoder = (change: Change, time: Time) => string;

/** Options for {@linkcode LineSink}. */
export interface LineSinkOptions {
  readonly encode: ChangeEncoder;
  /** Where lines go (default: standard output). */
  readonly writable?: WritableStream<Uint8Array>;
  /** Also write a `*COMMIT*` line after each commit. */
  readonly commitMarkers?: boolean;
}

/**
 * Writes every change as one line, in commit order: the local stand-in for
 * the Kafka sink, with the same record values.
 */
export class LineSink<R extends Row = Row> implements Sink<R> {
  readonly name = "stdout";
  readonly #encode: ChangeEncoder;
  readonly #commitMarkers: boolean;
  readonly #writable: WritableStream<Uint8Array>;
  #writer: WritableStreamDefaultWriter<Uint8Array> | undefined;

  constructor(options: LineSinkOptions) {
    this.#encode = options.encode;
    this.#commitMarkers = options.commitMarkers ?? false;
    this.#writable = options.writable ?? Deno.stdout.writable;
  }

  open(): Promise<void> {
    this.#writer = this.#writable.getWriter();
    return Promise.resolve();
  }

  write(batch: Batch<R>): Promise<void> {
    let text = "";
    for (const change of batch.changes) text += this.#encode(change, batch.time) + "\n";
    if (this.#commitMarkers) text += "*COMMIT*\n";
    if (this.#writer === undefined) throw new Error("LineSink.write called before open");
    return this.#writer.write(encoder.encode(text));
  }

  async flush(): Promise<void> {
    await this.#writer?.ready;
  }

  async close(): Promise<void> {
    await this.#writer?.ready;
    this.#writer?.releaseLock();
    this.#writer = undefined;
  }
}
