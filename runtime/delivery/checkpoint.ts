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
import type { Position } from "../../connectors/types.ts";
import type { Time } from "../../engine/types.ts";
import type { StateIdentity } from "../state_identity.ts";

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
  /** What the state belongs to (absent in checkpoints written before it was recorded). */
  readonly identity?: StateIdentity;
}

const FILE = "checkpoint.bin";
/** Exactly-once mode: the checkpoint of a transaction not known to be committed yet. */
const PENDING_FILE = "checkpoint.pending.bin";

/** The checkpoints exactly-once mode chooses from on a restart. */
export interface CheckpointCandidates {
  /** The checkpoint of the last transaction known to be committed. */
  readonly current?: Checkpoint;
  /** The checkpoint of a transaction that was about to commit when the process stopped. */
  readonly pending?: Checkpoint;
}

/** Reads and writes the checkpoint of one pipeline in `dir`. */
export class CheckpointStore {
  readonly dir: string;
  constructor(dir: string) {
    this.dir = dir;
  }

  /** Removes the checkpoints of `dir` (`--reset-state`); resolves to the paths removed. */
  static async discard(dir: string): Promise<string[]> {
    return await removeFiles(dir, [FILE, PENDING_FILE, `${FILE}.tmp`, `${PENDING_FILE}.tmp`]);
  }

  /** The last checkpoint written, or `undefined` for a first start. */
  load(): Promise<Checkpoint | undefined> {
    return this.#read(FILE);
  }

  /** Replaces the checkpoint atomically. */
  save(checkpoint: Checkpoint): Promise<void> {
    return this.#write(FILE, checkpoint);
  }

  /** Both checkpoints of exactly-once mode, where they exist. */
  async loadCandidates(): Promise<CheckpointCandidates> {
    const [current, pending] = await Promise.all([this.#read(FILE), this.#read(PENDING_FILE)]);
    return {
      ...(current === undefined ? {} : { current }),
      ...(pending === undefined ? {} : { pending }),
    };
  }

  /** Writes the checkpoint of a transaction about to commit, atomically, beside the current one. */
  savePending(checkpoint: Checkpoint): Promise<void> {
    return this.#write(PENDING_FILE, checkpoint);
  }

  /** The pending checkpoint's transaction committed: it becomes the current one. */
  async promotePending(): Promise<void> {
    await Deno.rename(`${this.dir}/${PENDING_FILE}`, `${this.dir}/${FILE}`);
  }

  /** The pending checkpoint's transaction was aborted: it is forgotten. */
  async discardPending(): Promise<void> {
    try {
      await Deno.remove(`${this.dir}/${PENDING_FILE}`);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }

  async #read(name: string): Promise<Checkpoint | undefined> {
    const path = `${this.dir}/${name}`;
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw error;
    }
    let checkpoint: Checkpoint;
    try {
      checkpoint = deserialize(bytes) as Checkpoint;
    } catch (error) {
      throw new Error(`Cannot read the checkpoint "${path}": ${String(error)}`);
    }
    if (checkpoint?.version !== 1) {
      throw new Error(`The checkpoint "${path}" has an unknown version`);
    }
    return checkpoint;
  }

  async #write(name: string, checkpoint: Checkpoint): Promise<void> {
    await Deno.mkdir(this.dir, { recursive: true });
    const temporary = `${this.dir}/${name}.tmp`;
    const file = await Deno.open(temporary, { write: true, create: true, truncate: true });
    try {
      const bytes = serialize(checkpoint);
      let written = 0;
      while (written < bytes.length) written += await file.write(bytes.subarray(written));
      await file.sync();
    } finally {
      file.close();
    }
    await Deno.rename(temporary, `${this.dir}/${name}`);
  }
}

/** Removes those of `names` that exist in `dir`; resolves to the paths removed. */
export async function removeFiles(dir: string, names: readonly string[]): Promise<string[]> {
  const removed: string[] = [];
  for (const name of names) {
    const path = `${dir}/${name}`;
    try {
      await Deno.remove(path);
      removed.push(path);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
  return removed;
}
