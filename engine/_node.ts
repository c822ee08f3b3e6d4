/**
 * The dataflow underneath tables: operator nodes in creation order (which is
 * a topological order, since a node only reads nodes created before it), the
 * changes waiting at each node's input ports, and user-function error routing.
 *
 * @module
 */

import { UserFunctionError } from "./errors.ts";
import type { Change, Row, RowId, Time } from "./types.ts";

/** Where a partitioned graph's exchanges hand the changes that leave their task (`_exchange.ts`). */
export type ExchangeHandler = (
  exchange: { readonly index: number; readonly stage: number; route(change: Change): string },
  changes: Change[],
  time: Time,
) => void;

/** A mutable change as operators build it; `diff` may be any non-zero integer inside the engine. */
export interface Delta {
  id: RowId;
  row: Row;
  diff: number;
}

/** Changes that reached one input port this commit, as the chunks their producers emitted. */
export type Pending = Change[][];

/** One operator of the dataflow. */
export abstract class Node {
  /** A name for snapshots and errors: "input", "select", "reduce", ... */
  abstract readonly kind: string;
  /** Changes waiting at each input port since the last commit. */
  readonly pending: Pending[];
  /** Where this node's output goes. */
  readonly downstream: { node: Node; port: number }[] = [];
  /**
   * Whether every output of one run is already consolidated (no id has a
   * retraction and an insertion of equal rows), so outputs can skip that work.
   */
  consolidated = false;

  constructor(ports: number) {
    this.pending = Array.from({ length: ports }, () => []);
  }

  /** Consumes the pending changes and returns this node's output changes at `time`. */
  abstract run(time: Time): Change[];

  /** State for a snapshot (plain data, structured-cloneable); null when stateless. */
  snapshot(): unknown {
    return null;
  }

  /** Restores what {@linkcode snapshot} returned. */
  restore(_state: unknown): void {}

  /** Takes the pending chunks of a port, leaving it empty. */
  protected take(port: number): Pending {
    const chunks = this.pending[port];
    if (chunks.length === 0) return chunks;
    this.pending[port] = [];
    return chunks;
  }
}

/** The nodes of one graph and how user-function errors are handled. */
export class Dataflow {
  readonly nodes: Node[] = [];
  readonly #onError: (error: UserFunctionError) => void;
  /**
   * Set in a partitioned graph: stateful operators are then fed through
   * exchange nodes, which hand their changes here.
   */
  readonly exchangeHandler: ExchangeHandler | undefined;
  /** Exchange nodes made so far (their count numbers the next one). */
  exchanges = 0;
  /** Stages made so far; stage 0 reads the inputs. */
  stages = 1;

  constructor(
    onError: ((error: UserFunctionError) => void) | undefined,
    exchangeHandler?: ExchangeHandler,
  ) {
    this.#onError = onError ?? ((error) => {
      throw error;
    });
    this.exchangeHandler = exchangeHandler;
  }

  /** Adds a node fed by `inputs` (port i reads inputs[i]). */
  add<N extends Node>(node: N, inputs: readonly Node[]): N {
    inputs.forEach((input, port) => input.downstream.push({ node, port }));
    this.nodes.push(node);
    return node;
  }

  /**
   * Reports that a user function threw on a row. Only insertions are
   * reported: the retraction of a row that failed fails again and is dropped
   * silently, since its insertion was reported and dropped already.
   */
  reportError(operation: string, id: RowId, row: Row, cause: unknown, diff: number): void {
    if (diff < 0) return;
    this.#onError(new UserFunctionError({ operation, id, row, cause }));
  }
}

/** Number of changes in a set of chunks. */
export function countChanges(chunks: Pending): number {
  let n = 0;
  for (const chunk of chunks) n += chunk.length;
  return n;
}

/**
 * Consolidates changes: per id, diffs of equal rows are summed and zeros
 * dropped; each id's retractions come before its insertions; ids keep the
 * order of their first change. `diff` may stay larger than 1 in magnitude.
 */
export function consolidate(chunks: Pending, equal: (a: Row, b: Row) => boolean): Change[] {
  if (chunks.length === 1 && chunks[0].length === 1) return chunks[0];
  if (chunks.length === 0) return [];
  const byId = new Map<RowId, Change | Delta[]>();
  for (const chunk of chunks) {
    for (const change of chunk) {
      const seen = byId.get(change.id);
      if (seen === undefined) byId.set(change.id, change);
      else if (Array.isArray(seen)) addTo(seen, change, equal);
      else {
        const list: Delta[] = [{ id: seen.id, row: seen.row, diff: seen.diff }];
        addTo(list, change, equal);
        byId.set(change.id, list);
      }
    }
  }
  const out: Change[] = [];
  for (const entry of byId.values()) {
    if (!Array.isArray(entry)) {
      if (entry.diff !== 0) out.push(entry);
      continue;
    }
    for (const delta of entry) if (delta.diff < 0) out.push(delta);
    for (const delta of entry) if (delta.diff > 0) out.push(delta);
  }
  return out;
}

function addTo(list: Delta[], change: Change, equal: (a: Row, b: Row) => boolean): void {
  for (const delta of list) {
    if (delta.row === change.row || equal(delta.row, change.row)) {
      delta.diff += change.diff;
      return;
    }
  }
  list.push({ id: change.id, row: change.row, diff: change.diff });
}
