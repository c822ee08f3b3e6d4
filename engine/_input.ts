/**
 * Input nodes: where rows enter. A keyed input remembers each id's current
 * row so that upsert and remove can retract it; an unkeyed one keeps nothing.
 *
 * @module
 */

import { Node } from "./_node.ts";
import type { Change, Row, RowId } from "./types.ts";
import { equalRows } from "./value.ts";

/** The changes pushed into an input since the last commit. */
export class InputNode extends Node {
  readonly kind = "input";
  #changes: Change[] = [];
  readonly #current: Map<RowId, Row> | undefined;

  constructor(readonly name: string, keyed: boolean) {
    super(0);
    this.#current = keyed ? new Map() : undefined;
  }

  insert(id: RowId, row: Row): void {
    if (this.#current === undefined) this.#changes.push({ id, row, diff: 1 });
    else this.upsert(id, row);
  }

  upsert(id: RowId, row: Row): void {
    const current = this.#keyed("upsert");
    const old = current.get(id);
    if (old !== undefined) {
      if (equalRows(old, row)) return;
      this.#changes.push({ id, row: old, diff: -1 });
    }
    current.set(id, row);
    this.#changes.push({ id, row, diff: 1 });
  }

  remove(id: RowId): void {
    const current = this.#keyed("remove");
    const old = current.get(id);
    if (old === undefined) return;
    current.delete(id);
    this.#changes.push({ id, row: old, diff: -1 });
  }

  retract(id: RowId, row: Row): void {
    if (this.#current === undefined) {
      this.#changes.push({ id, row, diff: -1 });
      return;
    }
    const old = this.#current.get(id);
    if (old !== undefined && equalRows(old, row)) this.remove(id);
  }

  /** Whether changes wait for the next commit. */
  get dirty(): boolean {
    return this.#changes.length > 0;
  }

  run(): Change[] {
    const changes = this.#changes;
    if (changes.length > 0) this.#changes = [];
    return changes;
  }

  override snapshot(): unknown {
    return this.#current === undefined ? null : new Map(this.#current);
  }

  override restore(state: unknown): void {
    this.#changes = [];
    if (this.#current === undefined) return;
    this.#current.clear();
    for (const [id, row] of state as Map<RowId, Row>) this.#current.set(id, row);
  }

  #keyed(operation: string): Map<RowId, Row> {
    if (this.#current === undefined) {
      throw new Error(
        `Cannot ${operation} in input ${JSON.stringify(this.name)}: it is not keyed ` +
          `(create it with graph.input({ name, keyed: true }))`,
      );
    }
    return this.#current;
  }
}
