/**
 * The result table rebuilt from a rivulet output topic: each record is a
 * JSON object with the row's columns plus `diff` and `time`, keyed by row id.
 * Pure, so the rebuild is testable without a broker.
 *
 * @module
 */
import type { Row, Value } from "../engine/types.ts";

/** What one record was. */
export type RecordKind = "change" | "marker" | "not-a-change";

/** A record as read from the topic. */
export interface TailRecord {
  /** The record's key: the row id (null when the record has none). */
  readonly key: string | null;
  /** The record's value as text. */
  readonly value: string;
}

/**
 * The current rows of a result table, by row id.
 *
 * @example
 * ```ts
 * import { ResultTable } from "./tail_table.ts";
 * const table = new ResultTable();
 * table.apply({ key: "a", value: '{"sum":0,"diff":1,"time":1}' });
 * table.apply({ key: "a", value: '{"sum":0,"diff":-1,"time":2}' });
 * table.apply({ key: "a", value: '{"sum":1,"diff":1,"time":2}' });
 * table.rows(); // [{ sum: 1 }]
 * ```
 */
export class ResultTable {
  /** The logical time of the last change applied (0 before any). */
  time = 0;
  /** Records that were neither a change nor a `*COMMIT*` marker. */
  skipped = 0;
  readonly #rows = new Map<string, { row: Row; text: string }>();
  readonly #columns: string[] = [];

  /** Applies one record: an insertion (`diff` 1) or a retraction (`diff` -1) of a row. */
  apply(record: TailRecord): RecordKind {
    if (record.value.trim() === "*COMMIT*") return "marker";
    let parsed: unknown;
    try {
      parsed = JSON.parse(record.value);
    } catch {
      this.skipped++;
      return "not-a-change";
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      this.skipped++;
      return "not-a-change";
    }
    const { diff, time, ...row } = parsed as Record<string, Value>;
    if ((diff !== 1 && diff !== -1) || typeof time !== "number") {
      this.skipped++;
      return "not-a-change";
    }
    const text = JSON.stringify(row);
    // Without a key (not written by rivulet), the row's values identify it.
    const id = record.key ?? text;
    if (diff === 1) {
      this.#rows.set(id, { row, text });
      for (const column of Object.keys(row)) {
        if (!this.#columns.includes(column)) this.#columns.push(column);
      }
    } else if (this.#rows.get(id)?.text === text) {
      this.#rows.delete(id);
    }
    if (time > this.time) this.time = time;
    return "change";
  }

  /** The column names, in the order they first appeared. */
  columns(): readonly string[] {
    return this.#columns;
  }

  /** The current rows, ordered by their values (stable between redraws). */
  rows(): Row[] {
    return [...this.#rows.values()].sort((a, b) => (a.text < b.text ? -1 : a.text > b.text ? 1 : 0))
      .map((entry) => entry.row);
  }

  /** How many rows the table has. */
  get size(): number {
    return this.#rows.size;
  }
}

/**
 * The table as a block of plain lines: `time T: N rows`, then each row as
 * JSON (for pipes and files).
 */
export function renderPlain(table: ResultTable): string {
  const rows = table.rows();
  const lines = [`time ${table.time}: ${rows.length} row${rows.length === 1 ? "" : "s"}`];
  for (const row of rows) lines.push(JSON.stringify(row));
  return lines.join("\n");
}

/** The table as aligned columns under a title line, cut to `height` lines (for terminals). */
export function renderGrid(
  table: ResultTable,
  options: { title: string; height: number; width: number },
): string {
  const columns = table.columns();
  const rows = table.rows();
  const cells = rows.map((row) => columns.map((c) => cellText(row[c])));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i].length)));
  const line = (values: readonly string[]) =>
    values.map((v, i) => v.padEnd(widths[i])).join("  ").trimEnd();
  const title = `${options.title} · time ${table.time} · ${rows.length} row${
    rows.length === 1 ? "" : "s"
  }`;
  const body = [line(columns), line(widths.map((w) => "-".repeat(w))), ...cells.map(line)];
  const room = Math.max(1, options.height - 2);
  const shown = body.length > room
    ? [...body.slice(0, room - 1), `… ${body.length - room + 1} more rows`]
    : body;
  return [title, ...shown].map((l) => l.slice(0, options.width)).join("\n");
}

function cellText(value: Value | undefined): string {
  if (value === undefined) return "";
  if (typeof value === "string") return value;
  return JSON.stringify(value) ?? String(value);
}
