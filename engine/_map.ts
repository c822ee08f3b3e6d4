/**
 * Stateless operators: select / withColumns, filter and concat. They pass
 * changes through one by one without consolidating (consolidation happens
 * where state is kept and at outputs), so they cost one function call per row.
 *
 * @module
 */

import { type Dataflow, Node } from "./_node.ts";
import { hashValues } from "./hash.ts";
import type { Applied } from "./apply.ts";
import type { SelectSpec } from "./schema.ts";
import type { Change, Row, Value } from "./types.ts";

/** Computes a row from a row; throws when a user function does. */
export type RowMapper = (row: Row) => Row;

/** select and withColumns: a new row per row, same id. */
export class MapNode extends Node {
  constructor(
    readonly kind: string,
    readonly flow: Dataflow,
    readonly map: RowMapper,
  ) {
    super(1);
  }

  run(): Change[] {
    const out: Change[] = [];
    const map = this.map;
    for (const chunk of this.take(0)) {
      for (let i = 0; i < chunk.length; i++) {
        const change = chunk[i];
        let row: Row;
        try {
          row = map(change.row);
        } catch (cause) {
          this.flow.reportError(this.kind, change.id, change.row, cause, change.diff);
          continue;
        }
        out.push({ id: change.id, row, diff: change.diff });
      }
    }
    return out;
  }
}

/** filter: keeps the changes of rows the predicate accepts. */
export class FilterNode extends Node {
  readonly kind = "filter";
  constructor(readonly flow: Dataflow, readonly predicate: (row: Row) => unknown, upstream: Node) {
    super(1);
    // Dropping changes cannot make a retraction and an insertion cancel.
    this.consolidated = upstream.consolidated;
  }

  run(): Change[] {
    const out: Change[] = [];
    const predicate = this.predicate;
    for (const chunk of this.take(0)) {
      for (let i = 0; i < chunk.length; i++) {
        const change = chunk[i];
        let keep: unknown;
        try {
          keep = predicate(change.row);
        } catch (cause) {
          this.flow.reportError("filter", change.id, change.row, cause, change.diff);
          continue;
        }
        if (keep) out.push(change);
      }
    }
    return out;
  }
}

/** concat: the rows of several tables; the id of input i's row is hash([id, i]). */
export class ConcatNode extends Node {
  readonly kind = "concat";
  constructor(ports: number) {
    super(ports);
  }

  run(): Change[] {
    const out: Change[] = [];
    const key: Value[] = ["", 0];
    for (let port = 0; port < this.pending.length; port++) {
      key[1] = port;
      for (const chunk of this.take(port)) {
        for (const change of chunk) {
          key[0] = change.id;
          out.push({ id: hashValues(key), row: change.row, diff: change.diff });
        }
      }
    }
    return out;
  }
}

interface Step {
  name: string;
  column?: string;
  fn?: (row: Row) => Value;
  applied?: Applied;
}

/** Compiles a select / withColumns spec into a row mapper. */
export function compileSpec(spec: SelectSpec<Row>, keepColumns: boolean): RowMapper {
  const steps = Object.entries(spec).map(([name, how]): Step => {
    if (typeof how === "string") return { name, column: how };
    if (typeof how === "function") return { name, fn: how };
    if (how?.kind === "apply") return { name, applied: how };
    throw new Error(
      `Column ${JSON.stringify(name)} must be a column name, a function or apply(...)`,
    );
  });
  return (row) => {
    const out: Row = keepColumns ? { ...row } : {};
    for (let i = 0; i < steps.length; i++) {
      const step = steps[i];
      let value: Value;
      if (step.column !== undefined) value = row[step.column] ?? null;
      else if (step.fn !== undefined) value = step.fn(row);
      else {
        const { fn, columns } = step.applied!;
        value = columns.length === 1
          ? fn(row[columns[0]] ?? null)
          : fn(...columns.map((column) => row[column] ?? null));
      }
      // NaN (parseInt of a stray csv header) would poison every sum and
      // comparison after it and never equal itself: it is the row's error.
      if (value !== value && step.column === undefined) throw nanError(step.name);
      out[step.name] = value;
    }
    return out;
  };
}

function nanError(column: string): TypeError {
  return new TypeError(
    `the function computing column ${JSON.stringify(column)} returned NaN (is the input a ` +
      `number? parseInt of text that is not one gives NaN; a schema, e.g. value:int, ` +
      `reports such input as it is read)`,
  );
}
