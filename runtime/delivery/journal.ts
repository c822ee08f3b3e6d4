/**
 * The order in which batches of different partitions were applied since the
 * last checkpoint, so that an at-least-once restart replays them in the same
 * order and its repeated changes are exact (same time, same values) also when
 * a source reads several partitions.
 *
 * Lines are written (one write call per {@linkcode ApplyJournal.flush}, no
 * sync) before the batches' outputs can leave: the pipeline flushes before it
 * yields to the event loop, and sinks send asynchronously, so a process killed
 * at any instant leaves in the file every batch whose outputs may have
 * reached Kafka. (A machine crash may lose the
 * last lines; then the replay of those batches is in free order.) The file is
 * rewritten without the batches a new checkpoint covers.
 *
 * @module
 */
import type { Position } from "../../connectors/types.ts";
import { removeFiles } from "./checkpoint.ts";

/** One applied batch: which source and partition, and the offset after it. */
export interface JournalEntry {
  readonly source: number;
  readonly topic: string;
  readonly partition: number;
  readonly nextOffset: string;
}

const FILE = "order.log";
const encoder = new TextEncoder();

function line(entry: JournalEntry): string {
  return `${JSON.stringify([entry.source, entry.topic, entry.partition, entry.nextOffset])}\n`;
}

/** Whether a checkpoint's positions already cover an entry. */
export function covered(entry: JournalEntry, positions: readonly (readonly Position[])[]): boolean {
  const position = positions[entry.source]?.find((p) =>
    p.topic === entry.topic && p.partition === entry.partition
  );
  return position !== undefined && BigInt(entry.nextOffset) <= BigInt(position.offset);
}

/** The apply order of one pipeline's batches since its last checkpoint, in `dir`. */
export class ApplyJournal {
  readonly #path: string;
  readonly #dir: string;
  #file: Deno.FsFile;
  #entries: JournalEntry[];
  /** Lines recorded but not yet written. */
  #unwritten = "";

  private constructor(dir: string, file: Deno.FsFile, entries: JournalEntry[]) {
    this.#dir = dir;
    this.#path = `${dir}/${FILE}`;
    this.#file = file;
    this.#entries = entries;
  }

  /** Removes the journal of `dir` (`--reset-state`); resolves to the paths removed. */
  static discard(dir: string): Promise<string[]> {
    return removeFiles(dir, [FILE, `${FILE}.tmp`]);
  }

  /**
   * Opens the journal of `dir`; returns it with the entries a restart must
   * replay in order (those after the restored checkpoint's `positions`).
   */
  static open(
    dir: string,
    positions: readonly (readonly Position[])[],
  ): { journal: ApplyJournal; replay: JournalEntry[] } {
    Deno.mkdirSync(dir, { recursive: true });
    const path = `${dir}/${FILE}`;
    let text = "";
    try {
      text = Deno.readTextFileSync(path);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    const replay: JournalEntry[] = [];
    for (const row of text.split("\n")) {
      if (row === "") continue;
      let fields: unknown;
      try {
        fields = JSON.parse(row);
      } catch {
        break; // A line cut short by the crash: nothing after it was written.
      }
      const [source, topic, partition, nextOffset] = fields as [number, string, number, string];
      const entry = { source, topic, partition, nextOffset };
      if (!covered(entry, positions)) replay.push(entry);
    }
    const journal = new ApplyJournal(dir, Deno.openSync(path, { append: true, create: true }), []);
    journal.#rewrite([...replay]);
    return { journal, replay };
  }

  /** Records that a batch is applied; {@linkcode flush} before its outputs can leave. */
  record(entry: JournalEntry): void {
    this.#entries.push(entry);
    this.#unwritten += line(entry);
  }

  /** Writes what was recorded (one write call). */
  flush(): void {
    if (this.#unwritten === "") return;
    const bytes = encoder.encode(this.#unwritten);
    this.#unwritten = "";
    let written = 0;
    while (written < bytes.length) written += this.#file.writeSync(bytes.subarray(written));
  }

  /** Forgets the entries a saved checkpoint covers. */
  compact(positions: readonly (readonly Position[])[]): void {
    this.#unwritten = "";
    this.#rewrite(this.#entries.filter((entry) => !covered(entry, positions)));
  }

  #rewrite(entries: JournalEntry[]): void {
    const temporary = `${this.#dir}/${FILE}.tmp`;
    Deno.writeTextFileSync(temporary, entries.map(line).join(""));
    Deno.renameSync(temporary, this.#path);
    this.#file.close();
    this.#file = Deno.openSync(this.#path, { append: true, create: true });
    this.#entries = entries;
  }

  /** Flushes and closes the file. */
  close(): void {
    this.flush();
    this.#file.close();
  }
}
