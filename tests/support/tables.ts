/**
 * Test observers: a sink that keeps every batch it is given, and the table
 * state rebuilt from a stream of changes. Observers, not fakes: the pipeline
 * under test is real.
 *
 * @module
 */
import type { Batch, Row, Sink } from "../../mod.ts";

/** Keeps every batch written to it; acknowledges at once. */
export class CollectingSink implements Sink<Row> {
  readonly name = "collecting";
  readonly batches: Batch<Row>[] = [];
  #waiters: { count: number; resolve: () => void }[] = [];

  open(): Promise<void> {
    return Promise.resolve();
  }
  write(batch: Batch<Row>): Promise<void> {
    this.batches.push(batch);
    this.#waiters = this.#waiters.filter((w) => {
      if (this.batches.length < w.count) return true;
      w.resolve();
      return false;
    });
    return Promise.resolve();
  }
  flush(): Promise<void> {
    return Promise.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }

  /** Resolves once `count` batches arrived; rejects after `timeoutMs`. */
  waitFor(count: number, timeoutMs = 20_000): Promise<void> {
    if (this.batches.length >= count) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(`Only ${this.batches.length} of ${count} batches arrived in ${timeoutMs} ms`),
          ),
        timeoutMs,
      );
      this.#waiters.push({
        count,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }

  /** The table after each batch, as sorted lists of rows. */
  tables(): Row[][] {
    const state = new TableState();
    return this.batches.map((batch) => {
      for (const change of batch.changes) state.apply(change.id, change.row, change.diff);
      return state.rows();
    });
  }
}

/** A table rebuilt from changes: id → row with multiplicity 1. */
export class TableState {
  readonly #rows = new Map<string, Row>();

  /** Applies one change; throws on a retraction of a row that is not there. */
  apply(id: string, row: Row, diff: number): void {
    if (diff === 1) {
      if (this.#rows.has(id)) throw new Error(`Row ${id} inserted twice`);
      this.#rows.set(id, row);
    } else if (diff === -1) {
      const current = this.#rows.get(id);
      if (current === undefined) throw new Error(`Row ${id} retracted but absent`);
      if (JSON.stringify(current) !== JSON.stringify(row)) {
        throw new Error(
          `Row ${id} retracted with other values: ${JSON.stringify(row)} != ${
            JSON.stringify(current)
          }`,
        );
      }
      this.#rows.delete(id);
    } else {
      throw new Error(`Bad diff ${diff}`);
    }
  }

  /** The rows, sorted by their JSON text, for comparisons. */
  rows(): Row[] {
    return [...this.#rows.values()].sort((a, b) => JSON.stringify(a) < JSON.stringify(b) ? -1 : 1);
  }
}

/** Parses output records (`{...columns, diff, time}`) into rebuilt tables per distinct time. */
export function tablesFromRecords(records: { key: string | null; value: string }[]): Row[][] {
  const state = new TableState();
  const tables: Row[][] = [];
  let lastTime: number | undefined;
  for (const record of records) {
    if (record.value.trim() === "*COMMIT*") continue;
    const { diff, time, ...row } = JSON.parse(record.value);
    if (lastTime !== undefined && time !== lastTime) tables.push(state.rows());
    lastTime = time;
    state.apply(record.key ?? "", row, diff);
  }
  if (lastTime !== undefined) tables.push(state.rows());
  return tables;
}
