/**
 * Durable pipeline state in a local directory: operator state, source
 * positions, decoder state (csv headers) and the last logical time, written
 * atomically (a temporary file, synced, then renamed over the old one) so
 * that a process killed at any instant leaves either the old checkpoint or
 * the new one, never a mix.
 *
 * @module
 */
import { deserialize, serialize } from "node:v8";
import type { Position } from "../connectors/types.ts";
import type { Time } from "../engine/types.ts";

/** What one source saves. */
export interface SourceCheckpoint {
  readonly name: string;
  /** Where to resume: after the last applied and acknowledged commit of each partition. */
  readonly positions: readonly Position[];
  /** Decoder state per topic (a csv header). */
  readonly decoders: Readonly<Record<string, unknown>>;
}

/** Everything a restart needs, taken at one commit boundary. */
export interface Checkpoint {
  readonly version: 1;
  /** The logical time of the last applied commit. */
  readonly time: Time;
  /** The engine's state (Graph.snapshot). */
  readonly graph: unknown;
  readonly sources: readonly SourceCheckpoint[];
}

const FILE = "checkpoint.bin";

/** Reads and writes the checkpoint of one pipeline in `dir`. */
export class CheckpointStore {
  readonly dir: string;
  constructor(dir: string) {
    this.dir = dir;
  }

  /** The last checkpoint written, or `undefined` for a first start. */
  async load(): Promise<Checkpoint | undefined> {
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(`${this.dir}/${FILE}`);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw error;
    }
    let checkpoint: Checkpoint;
    try {
      checkpoint = deserialize(bytes) as Checkpoint;
    } catch (error) {
      throw new Error(`Cannot read the checkpoint "${this.dir}/${FILE}": ${String(error)}`);
    }
    if (checkpoint?.version !== 1) {
      throw new Error(`The checkpoint "${this.dir}/${FILE}" has an unknown version`);
    }
    return checkpoint;
  }

  /** Replaces the checkpoint atomically. */
  async save(checkpoint: Checkpoint): Promise<void> {
    await Deno.mkdir(this.dir, { recursive: true });
    const temporary = `${this.dir}/${FILE}.tmp`;
    const file = await Deno.open(temporary, { write: true, create: true, truncate: true });
    try {
      const bytes = serialize(checkpoint);
      let written = 0;
      while (written < bytes.length) written += await file.write(bytes.subarray(written));
      await file.sync();
    } finally {
      file.close();
    }
    await Deno.rename(temporary, `${this.dir}/${FILE}`);
  }
}
