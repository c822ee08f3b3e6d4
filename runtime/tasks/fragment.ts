/**
 * Fragments: how the changes of one commit travel from a task to the task
 * downstream that owns their keys, through a repartition topic. Each commit
 * of a task sends each downstream partition at most one fragment: the
 * changes routed there, tagged with the sending task and the commit's
 * sequence number (the offset its input resumes at, which only grows), so a
 * receiver applies a fragment once however often it is sent again (an
 * upstream task that replays after a crash sends the same fragments with the
 * same numbers). A fragment larger than a record may be is cut into parts
 * written one after another; the receiver applies it when the last part
 * arrives.
 *
 * @module
 */
import { deserialize, serialize } from "node:v8";
import type { Change, Row, RowId, Time } from "../../engine/types.ts";

/** The format tag of a fragment record's value. */
const FRAGMENT_FORMAT = "rivulet-fragment/1";

/** One change of a fragment: the exchange it enters by, and the change. */
export type FragmentChange = readonly [exchange: number, id: RowId, row: Row, diff: number];

/** One part of a fragment, as written to a repartition topic. */
export interface FragmentPart {
  /** The sending task's id. */
  readonly from: string;
  /** The sending commit's sequence number (per sending task, increasing). */
  readonly seq: number;
  /** The sending commit's logical time. */
  readonly time: Time;
  readonly part: number;
  readonly parts: number;
  readonly changes: readonly FragmentChange[];
}

/** Bytes of changes above which a fragment is cut into parts (a record must stay below 1 MB). */
export const FRAGMENT_PART_BYTES = 256 * 1024;

/** The record values of one fragment: one part, or several when it is large. */
export function encodeFragment(
  from: string,
  seq: number,
  time: Time,
  changes: readonly FragmentChange[],
  partBytes = FRAGMENT_PART_BYTES,
): Uint8Array[] {
  const whole = serialize({ format: FRAGMENT_FORMAT, from, seq, time, part: 0, parts: 1, changes });
  if (whole.byteLength <= partBytes || changes.length <= 1) return [whole];
  const parts = Math.min(changes.length, Math.ceil(whole.byteLength / partBytes) + 1);
  const size = Math.ceil(changes.length / parts);
  const values: Uint8Array[] = [];
  for (let part = 0; part < parts; part++) {
    values.push(serialize({
      format: FRAGMENT_FORMAT,
      from,
      seq,
      time,
      part,
      parts,
      changes: changes.slice(part * size, (part + 1) * size),
    }));
  }
  return values;
}

/** A record of a repartition topic that is not a fragment this version wrote. */
export class FragmentFormatError extends Error {
  constructor(where: string, reason: string) {
    super(`${where} is not a rivulet fragment: ${reason}`);
    this.name = "FragmentFormatError";
  }
}

/** Reads a fragment part; `where` names the record for errors (topic-partition@offset). */
export function decodeFragment(value: Uint8Array | null, where: string): FragmentPart {
  if (value === null) throw new FragmentFormatError(where, "it has no value");
  let decoded: Partial<FragmentPart> & { format?: unknown };
  try {
    decoded = deserialize(value);
  } catch (error) {
    throw new FragmentFormatError(where, (error as Error).message);
  }
  if (decoded?.format !== FRAGMENT_FORMAT || !Array.isArray(decoded.changes)) {
    throw new FragmentFormatError(where, `expected format ${FRAGMENT_FORMAT}`);
  }
  return decoded as FragmentPart;
}

/** The changes of one fragment as the exchanges take them: per exchange index. */
export function changesByExchange(changes: readonly FragmentChange[]): Map<number, Change[]> {
  const byExchange = new Map<number, Change[]>();
  for (const [exchange, id, row, diff] of changes) {
    let list = byExchange.get(exchange);
    if (list === undefined) byExchange.set(exchange, list = []);
    list.push({ id, row, diff });
  }
  return byExchange;
}
